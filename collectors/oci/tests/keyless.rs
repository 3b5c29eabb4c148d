//! Keyless (Fulcio certificate) signatures against a real registry, verified offline. The test
//! plays Sigstore: it makes its own "Fulcio" CA (rcgen, leaf certificates with the Fulcio issuer
//! extensions and a SAN URI identity), its own "Rekor" key signing each entry's
//! SignedEntryTimestamp, and writes them into a `trusted_root.json`; it signs images the way
//! `cosign sign` does keylessly (certificate, chain and Rekor bundle annotations), pushes them to
//! Debian's `docker-registry` and enriches a snapshot running them.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use envtrail_collect_oci::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION,
    SimpleSigning,
};
use envtrail_collect_oci::keyless::{IdentityRule, TrustedRoot};
use envtrail_collect_oci::testing::{push_image, push_signature};
use envtrail_collect_oci::{Credentials, OciConfig, Registry, enrich};
use envtrail_model::{Digest, Snapshot, VerificationStatus};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType, date_time_ymd,
};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use sigstore::crypto::SigStoreSigner;

use support::*;

const ISSUER: &str = "https://token.actions.example.com";
const RELEASE: &str = "https://git.example.com/acme/app/.github/workflows/release.yml@refs/tags/v1";

/// A test "Fulcio": a self-signed root that issues code-signing leaves.
struct Fulcio {
    issuer: Issuer<'static, KeyPair>,
    root_der: Vec<u8>,
    root_pem: String,
}

impl Fulcio {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.not_before = date_time_ymd(2020, 1, 1);
        p.not_after = date_time_ymd(2035, 1, 1);
        let cert = p.self_signed(&key).unwrap();
        Self {
            root_der: cert.der().to_vec(),
            root_pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A leaf for `identity` from `oidc_issuer`, valid on 2026-03-01 only, and its signer.
    fn leaf(&self, identity: &str, oidc_issuer: &str) -> (String, SigStoreSigner) {
        let signer = signer();
        let pem = signer
            .to_sigstore_keypair()
            .unwrap()
            .private_key_to_pem()
            .unwrap();
        let key = KeyPair::from_pem(&pem).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = vec![SanType::URI(identity.try_into().unwrap())];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.not_before = date_time_ymd(2026, 3, 1);
        p.not_after = date_time_ymd(2026, 3, 2);
        // Fulcio's issuer extensions: v1 raw UTF-8, v2 a DER UTF8String.
        let mut utf8 = vec![0x0c, u8::try_from(oidc_issuer.len()).unwrap()];
        utf8.extend_from_slice(oidc_issuer.as_bytes());
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                oidc_issuer.as_bytes().to_vec(),
            ),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], utf8),
        ];
        (p.signed_by(&key, &self.issuer).unwrap().pem(), signer)
    }
}

/// A test "Rekor": a log key that signs entries' SignedEntryTimestamps.
struct Rekor {
    signer: SigStoreSigner,
    der: Vec<u8>,
}

impl Rekor {
    fn new() -> Self {
        let signer = signer();
        let der = signer
            .to_sigstore_keypair()
            .unwrap()
            .public_key_to_der()
            .unwrap();
        Self { signer, der }
    }

    /// cosign's `dev.sigstore.cosign/bundle` for a hashedrekord entry of `payload` signed by
    /// `cert_pem`, integrated at `integrated_time`.
    fn bundle(
        &self,
        cert_pem: &str,
        payload: &[u8],
        signature: &str,
        integrated_time: i64,
    ) -> String {
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
            "signature": {"content": signature, "publicKey": {"content": BASE64.encode(cert_pem)}}
        }});
        let entry = json!({
            "body": BASE64.encode(serde_json::to_vec(&body).unwrap()),
            "integratedTime": integrated_time,
            "logIndex": 4242,
            "logID": hex::encode(Sha256::digest(&self.der)),
        });
        let set = self
            .signer
            .sign(&serde_json_canonicalizer::to_vec(&entry).unwrap())
            .unwrap();
        json!({"SignedEntryTimestamp": BASE64.encode(set), "Payload": entry}).to_string()
    }
}

fn trusted_root(fulcio: &Fulcio, rekor: &Rekor) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{"baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": BASE64.encode(&rekor.der), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2020-01-01T00:00:00Z"}},
            "logId": {"keyId": BASE64.encode(Sha256::digest(&rekor.der))}}],
        "certificateAuthorities": [{"subject": {"organization": "test", "commonName": "fulcio"},
            "uri": "https://fulcio.test",
            "certChain": {"certificates": [{"rawBytes": BASE64.encode(&fulcio.root_der)}]},
            "validFor": {"start": "2020-01-01T00:00:00Z"}}]
    }))
    .unwrap()
}

/// 2026-03-01T12:00:00Z, inside the leaves' validity.
const NOON: i64 = 1_772_366_400;
/// 2026-03-05T12:00:00Z, after it.
const LATER: i64 = 1_772_712_000;

/// Signs `subject` keylessly with `leaf` and pushes the `.sig` manifest.
async fn sign_keyless(
    c: &Registry,
    repo: &str,
    subject: &Digest,
    leaf: &(String, SigStoreSigner),
    chain: &str,
    rekor: &Rekor,
    integrated_time: i64,
) {
    let payload = serde_json::to_vec(&SimpleSigning::new(
        &format!("{}/{repo}", c.host()),
        subject,
    ))
    .unwrap();
    let signature = BASE64.encode(leaf.1.sign(&payload).unwrap());
    let bundle = rekor.bundle(&leaf.0, &payload, &signature, integrated_time);
    push_signature(
        c,
        repo,
        subject,
        &payload,
        json!({
            SIGNATURE_ANNOTATION: signature,
            CERTIFICATE_ANNOTATION: leaf.0,
            CHAIN_ANNOTATION: chain,
            BUNDLE_ANNOTATION: bundle,
        }),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn keyless_signatures_verify_offline_against_identity_issuer_and_trusted_root() {
    let server = start(&Default::default());
    let reg = plain(&server.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let (fulcio, rekor) = (Fulcio::new("test-fulcio"), Rekor::new());
    let stranger = Fulcio::new("another-ca");

    // One image per case, each in its own repository.
    let cases: [(&str, (String, SigStoreSigner), &str, i64); 4] = [
        (
            "acme/good",
            fulcio.leaf(RELEASE, ISSUER),
            &fulcio.root_pem,
            NOON,
        ),
        (
            "acme/wrong-identity",
            fulcio.leaf(
                "https://git.example.com/mallory/fork/.github/workflows/x.yml@refs/heads/main",
                ISSUER,
            ),
            &fulcio.root_pem,
            NOON,
        ),
        (
            "acme/untrusted-ca",
            stranger.leaf(RELEASE, ISSUER),
            &stranger.root_pem,
            NOON,
        ),
        (
            "acme/late",
            fulcio.leaf(RELEASE, ISSUER),
            &fulcio.root_pem,
            LATER,
        ),
    ];
    let mut snap: Option<Snapshot> = None;
    let mut digests = Vec::new();
    for (repo, leaf, chain, time) in &cases {
        let img = push_image(&c, repo, Some("1"), "linux/amd64", &[], repo)
            .await
            .unwrap();
        sign_keyless(&c, repo, &img.digest, leaf, chain, &rekor, *time).await;
        let image = format!("{}/{repo}:1", server.addr);
        match &mut snap {
            None => {
                snap = Some(snapshot(
                    "prod",
                    "2026-03-10T10:00:00Z",
                    &image,
                    &img.digest,
                ))
            }
            Some(s) => s.workloads[0].containers.push(
                serde_json::from_value(json!({
                    "name": repo.replace('/', "-"), "image": image,
                    "running_digests": [img.digest.to_string()]
                }))
                .unwrap(),
            ),
        }
        digests.push(img.digest);
    }
    let snap = snap.unwrap();

    let cfg = OciConfig {
        trusted_root: Some(TrustedRoot::from_json(&trusted_root(&fulcio, &rekor)).unwrap()),
        identities: vec![
            IdentityRule::new(
                0,
                (Some(RELEASE), None),
                (Some(ISSUER), None),
                &[format!("{}/acme/*", server.addr)],
            )
            .unwrap(),
        ],
        ..config(reg.clone(), &[])
    };
    let out = enrich(snap.clone(), &cfg).await;
    let sig = |d: &Digest| artifact(&out, d).signature.clone().unwrap();

    let good = sig(&digests[0]);
    assert_eq!(good.status, VerificationStatus::Verified, "{good:?}");
    assert_eq!(good.identity.as_deref(), Some(RELEASE));
    let detail = good.reason.as_deref().unwrap();
    assert!(
        detail.contains(ISSUER) && detail.contains("4242"),
        "{detail}"
    );
    assert!(detail.contains("2026-03-01T12:00:00Z"), "{detail}");

    let wrong = sig(&digests[1]);
    assert_eq!(wrong.status, VerificationStatus::Invalid, "{wrong:?}");
    let why = wrong.reason.unwrap();
    assert!(
        why.contains("mallory/fork") && why.contains("not allowed") && why.contains(RELEASE),
        "{why}"
    );

    let untrusted = sig(&digests[2]);
    assert_eq!(
        untrusted.status,
        VerificationStatus::Invalid,
        "{untrusted:?}"
    );
    assert!(
        untrusted
            .reason
            .unwrap()
            .contains("does not chain to a CA of the trusted root")
    );

    let late = sig(&digests[3]);
    assert_eq!(late.status, VerificationStatus::Invalid, "{late:?}");
    let why = late.reason.unwrap();
    assert!(
        why.contains("2026-03-05T12:00:00Z") && why.contains("outside the certificate's validity"),
        "{why}"
    );

    // Without a trusted root, keyless signatures stay unchecked, as before: also when a key is
    // configured (a keyless layer that no key verifies is not thereby invalid).
    let out = enrich(snap, &config(reg, &[("release", &signer())])).await;
    let v = artifact(&out, &digests[0]).signature.clone().unwrap();
    assert_eq!(v.status, VerificationStatus::Unchecked, "{v:?}");
    assert!(v.reason.unwrap().contains("no trusted root is configured"));
}
