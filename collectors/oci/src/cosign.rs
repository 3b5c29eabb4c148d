//! cosign signatures and in-toto attestations, read and checked offline: the `.sig` manifest's
//! simple-signing layers, the `.att` manifest's DSSE envelopes (verified with our own DSSE
//! pre-authentication encoding, since sigstore 0.15 verifies key-based DSSE nowhere), and the SLSA
//! provenance predicate (v0.2 and v1: builder id, source repository, commit).
//!
//! The cryptography is sigstore's [`CosignVerificationKey`]; everything else is plain parsing, so
//! it is tested on real cosign and slsa-github-generator output.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use envtrail_model::Digest;
use serde::{Deserialize, Serialize};
use sigstore::crypto::{CosignVerificationKey, Signature};

/// The media type of a cosign simple-signing layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The media type of a DSSE envelope layer (cosign `attest`).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The media type of a Sigstore bundle layer (cosign 3 with the new bundle format, found as
/// an OCI 1.1 referrer).
pub const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The artifact type cosign gives a signature manifest stored as an OCI 1.1 referrer
/// (`--registry-referrers-mode=oci-1-1`).
pub const COSIGN_SIG_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// The in-toto payload type of a DSSE envelope.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The layer annotation holding the base64 signature of a simple-signing payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation holding a Fulcio certificate (keyless signatures).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The layer annotation holding the certificate's chain (intermediates, root), PEM.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The layer annotation holding the Rekor bundle (SignedEntryTimestamp and entry).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// The cosign tag of `digest`'s signatures (`sha256-<hex>.sig`) or attestations (`.att`).
pub fn cosign_tag(digest: &Digest, suffix: &str) -> String {
    format!("sha256-{}.{suffix}", digest.hex())
}

/// A public key that may sign, with the name it is reported by (`identity` of a verified result).
#[derive(Clone)]
pub struct NamedKey {
    /// The name from the config, e.g. `release`.
    pub name: String,
    /// The key.
    pub key: CosignVerificationKey,
}

impl std::fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedKey({})", self.name)
    }
}

/// One layer of a `.sig` or `.att` manifest: the blob to fetch and what its annotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLayer {
    /// The layer's media type.
    pub media_type: String,
    /// The blob (payload or envelope).
    pub digest: Digest,
    /// The base64 signature annotation (empty for DSSE layers).
    pub signature: Option<String>,
    /// Whether it carries a Fulcio certificate (a keyless signature).
    pub keyless: bool,
    /// The certificate, chain and Rekor bundle of a keyless signature.
    pub material: Option<crate::keyless::Material>,
}

#[derive(Deserialize)]
struct RawSigManifest {
    #[serde(default)]
    layers: Vec<RawLayer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLayer {
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads the layers of a `.sig` or `.att` manifest.
pub fn signed_layers(manifest: &[u8]) -> Result<Vec<SignedLayer>, String> {
    let raw: RawSigManifest =
        serde_json::from_slice(manifest).map_err(|e| format!("not a cosign manifest: {e}"))?;
    raw.layers
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(SignedLayer {
                digest: l
                    .digest
                    .parse()
                    .map_err(|_| format!("layers[{i}].digest is not a sha256 digest"))?,
                signature: l
                    .annotations
                    .get(SIGNATURE_ANNOTATION)
                    .filter(|s| !s.is_empty())
                    .cloned(),
                keyless: l.annotations.contains_key(CERTIFICATE_ANNOTATION),
                material: l.annotations.get(CERTIFICATE_ANNOTATION).map(|c| {
                    crate::keyless::Material {
                        certificate: c.clone(),
                        chain: l.annotations.get(CHAIN_ANNOTATION).cloned(),
                        bundle: l.annotations.get(BUNDLE_ANNOTATION).cloned(),
                    }
                }),
                media_type: l.media_type,
            })
        })
        .collect()
}

/// The cosign simple-signing payload: what a `.sig` signature is a signature of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleSigning {
    /// The signed claims.
    pub critical: Critical,
    /// Free-form annotations.
    #[serde(default)]
    pub optional: Option<serde_json::Value>,
}

/// The `critical` section of a simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// The reference signed.
    pub identity: CriticalIdentity,
    /// The digest signed.
    pub image: CriticalImage,
    /// Always `cosign container image signature`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalIdentity {
    /// The repository (cosign writes the reference it was given, without tag).
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalImage {
    /// The manifest digest the signature covers.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload cosign signs for `digest` in `repository`.
    pub fn new(repository: &str, digest: &Digest) -> Self {
        Self {
            critical: Critical {
                identity: CriticalIdentity {
                    docker_reference: repository.to_owned(),
                },
                image: CriticalImage {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: "cosign container image signature".to_owned(),
            },
            optional: None,
        }
    }
}

/// The result of checking one signature or attestation layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerCheck {
    /// A configured key verified it and it covers the subject: the key's name.
    Verified(String),
    /// It does not verify, or verifies for something else: why.
    Invalid(String),
}

/// Checks a simple-signing layer's payload and base64 signature against `keys`, for `subject`.
pub fn check_simple_signing(
    payload: &[u8],
    signature: Option<&str>,
    keys: &[NamedKey],
    subject: &Digest,
) -> LayerCheck {
    let Some(signature) = signature else {
        return LayerCheck::Invalid("signature layer carries no signature".into());
    };
    let Some(key) = keys.iter().find(|k| {
        k.key
            .verify_signature(Signature::Base64Encoded(signature.as_bytes()), payload)
            .is_ok()
    }) else {
        return LayerCheck::Invalid(format!(
            "signature does not verify with any configured key ({})",
            names(keys)
        ));
    };
    match serde_json::from_slice::<SimpleSigning>(payload) {
        Ok(p) if p.critical.image.docker_manifest_digest == subject.as_str() => {
            LayerCheck::Verified(key.name.clone())
        }
        Ok(p) => LayerCheck::Invalid(format!(
            "signed by {} but for {}, not {}",
            key.name,
            short(&p.critical.image.docker_manifest_digest),
            subject.short()
        )),
        Err(e) => LayerCheck::Invalid(format!("signed payload is not simple signing: {e}")),
    }
}

fn names(keys: &[NamedKey]) -> String {
    keys.iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(digest: &str) -> String {
    match digest.parse::<Digest>() {
        Ok(d) => d.short(),
        Err(_) => "an unreadable digest".into(),
    }
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload's type, `application/vnd.in-toto+json` for attestations.
    pub payload_type: String,
    /// The base64 payload.
    pub payload: String,
    /// The signatures over its PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Optional key id.
    #[serde(default)]
    pub keyid: String,
    /// The base64 signature.
    pub sig: String,
}

/// DSSE's pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Reads an envelope (JSON).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        BASE64
            .decode(self.payload.as_bytes())
            .map_err(|e| format!("DSSE payload is not base64: {e}"))
    }

    /// The name of the first key in `keys` that signed the envelope's PAE.
    pub fn verify(&self, keys: &[NamedKey]) -> Result<String, String> {
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        for sig in &self.signatures {
            let Ok(raw) = BASE64.decode(sig.sig.as_bytes()) else {
                continue;
            };
            if let Some(key) = keys.iter().find(|k| {
                k.key
                    .verify_signature(Signature::Raw(&raw), &message)
                    .is_ok()
            }) {
                return Ok(key.name.clone());
            }
        }
        Err(format!(
            "envelope signature does not verify with any configured key ({})",
            names(keys)
        ))
    }

    /// Whether `key` signed the envelope's PAE (one of its signatures).
    pub fn verify_with(&self, key: &CosignVerificationKey) -> Result<(), String> {
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        self.signatures
            .iter()
            .filter_map(|sig| BASE64.decode(sig.sig.as_bytes()).ok())
            .any(|raw| key.verify_signature(Signature::Raw(&raw), &message).is_ok())
            .then_some(())
            .ok_or_else(|| "envelope signature does not verify".to_owned())
    }
}

/// What a SLSA provenance statement says, once read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// `https://slsa.dev/provenance/v0.2` or `/v1`.
    pub predicate_type: String,
    /// The sha256 digests of the statement's subjects.
    pub subjects: Vec<String>,
    /// The builder id.
    pub builder: Option<String>,
    /// The source repository (`git+https://…`, without the `@ref`).
    pub source: Option<String>,
    /// The source commit.
    pub commit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatement {
    #[serde(default)]
    predicate_type: String,
    #[serde(default)]
    subject: Vec<RawSubject>,
    #[serde(default)]
    predicate: serde_json::Value,
}

#[derive(Deserialize)]
struct RawSubject {
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

/// Reads an in-toto statement with a SLSA provenance predicate (v0.2 or v1).
pub fn read_provenance(statement: &[u8]) -> Result<Provenance, String> {
    let raw: RawStatement =
        serde_json::from_slice(statement).map_err(|e| format!("not an in-toto statement: {e}"))?;
    if !raw
        .predicate_type
        .starts_with("https://slsa.dev/provenance/")
    {
        return Err(format!(
            "predicate type {:?} is not SLSA provenance",
            raw.predicate_type
        ));
    }
    let p = &raw.predicate;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let commit_of =
        |digest: &serde_json::Value| ["gitCommit", "sha1"].iter().find_map(|k| text(&digest[*k]));
    let (builder, uri, commit) = if raw.predicate_type.ends_with("/v0.2") {
        let source = &p["invocation"]["configSource"];
        let material = p["materials"].get(0).cloned().unwrap_or_default();
        (
            text(&p["builder"]["id"]),
            text(&source["uri"]).or_else(|| text(&material["uri"])),
            commit_of(&source["digest"]).or_else(|| commit_of(&material["digest"])),
        )
    } else {
        let deps = &p["buildDefinition"]["resolvedDependencies"];
        let dep = deps
            .as_array()
            .and_then(|d| {
                d.iter()
                    .find(|d| d["uri"].as_str().is_some_and(|u| u.starts_with("git+")))
            })
            .cloned()
            .unwrap_or_default();
        let workflow = &p["buildDefinition"]["externalParameters"]["workflow"];
        (
            text(&p["runDetails"]["builder"]["id"]),
            text(&dep["uri"]).or_else(|| text(&workflow["repository"])),
            commit_of(&dep["digest"]),
        )
    };
    Ok(Provenance {
        predicate_type: raw.predicate_type,
        subjects: raw
            .subject
            .iter()
            .filter_map(|s| s.digest.get("sha256").cloned())
            .collect(),
        builder,
        source: uri.map(|u| u.split('@').next().unwrap_or(&u).to_owned()),
        commit,
    })
}

/// Whether an attested source and a `source` label name the same repository
/// (`git+https://github.com/a/b` and `https://github.com/a/b.git` do).
pub fn same_repository(attested: &str, label: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim_start_matches("git+");
        let s = s.split_once("://").map_or(s, |(_, rest)| rest);
        s.trim_end_matches('/')
            .trim_end_matches(".git")
            .to_ascii_lowercase()
    }
    norm(attested) == norm(label)
}

#[cfg(test)]
mod tests {
    use sigstore::crypto::SigningScheme;

    use super::*;

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn key(name: &str) -> (sigstore::crypto::SigStoreSigner, NamedKey) {
        let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .unwrap();
        let key = signer.to_verification_key().unwrap();
        (
            signer,
            NamedKey {
                name: name.into(),
                key,
            },
        )
    }

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    #[test]
    fn real_simple_signing_payload_reads() {
        let p: SimpleSigning =
            serde_json::from_slice(&data("cosign-simplesigning-payload.json")).unwrap();
        assert_eq!(p.critical.kind, "cosign container image signature");
        assert!(
            p.critical
                .image
                .docker_manifest_digest
                .starts_with("sha256:fa93b016")
        );
        // The stored signature layer: its payload is a simple-signing payload too.
        let layer: serde_json::Value =
            serde_json::from_slice(&data("cosign-signature-layer.json")).unwrap();
        assert_eq!(layer["mimeType"], SIMPLE_SIGNING);
        let payload = BASE64.decode(layer["payload"].as_str().unwrap()).unwrap();
        let p: SimpleSigning = serde_json::from_slice(&payload).unwrap();
        assert!(
            p.critical
                .image
                .docker_manifest_digest
                .starts_with("sha256:634a8f35")
        );
        // It was signed by a key we do not have: invalid, naming the keys tried.
        let (_, other) = key("ours");
        let subject: Digest = p.critical.image.docker_manifest_digest.parse().unwrap();
        let sig = layer["annotations"][SIGNATURE_ANNOTATION].as_str().unwrap();
        assert_eq!(
            check_simple_signing(&payload, Some(sig), &[other], &subject),
            LayerCheck::Invalid("signature does not verify with any configured key (ours)".into())
        );
    }

    #[test]
    fn simple_signing_verifies_with_the_right_key_for_the_right_digest() {
        let (signer, good) = key("release");
        let (_, wrong) = key("other");
        let payload = serde_json::to_vec(&SimpleSigning::new("r/app", &digest('a'))).unwrap();
        let sig = BASE64.encode(signer.sign(&payload).unwrap());
        let keys = [wrong.clone(), good.clone()];
        assert_eq!(
            check_simple_signing(&payload, Some(&sig), &keys, &digest('a')),
            LayerCheck::Verified("release".into())
        );
        let LayerCheck::Invalid(why) =
            check_simple_signing(&payload, Some(&sig), &keys, &digest('b'))
        else {
            panic!("a signature for another digest must not count")
        };
        assert!(why.contains("signed by release but for"), "{why}");
        assert!(matches!(
            check_simple_signing(&payload, Some(&sig), &[wrong], &digest('a')),
            LayerCheck::Invalid(_)
        ));
        assert!(matches!(
            check_simple_signing(&payload, None, &[good], &digest('a')),
            LayerCheck::Invalid(_)
        ));
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE protocol document: type "http://example.com/HelloWorld", body "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn dsse_envelope_verifies_over_pae_and_not_over_the_bare_payload() {
        let (signer, good) = key("ci");
        let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#;
        let sign = |msg: &[u8]| BASE64.encode(signer.sign(msg).unwrap());
        let envelope = |sig: String| Envelope {
            payload_type: IN_TOTO.into(),
            payload: BASE64.encode(statement),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig,
            }],
        };
        assert_eq!(
            envelope(sign(&pae(IN_TOTO, statement))).verify(std::slice::from_ref(&good)),
            Ok("ci".into())
        );
        assert!(envelope(sign(statement)).verify(&[good]).is_err());
    }

    #[test]
    fn real_cosign_attestation_manifest_and_slsa_v02_envelope() {
        let layers = signed_layers(&data("v2-att-manifest.json")).unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].media_type, DSSE_ENVELOPE);
        assert!(
            layers[0].keyless,
            "the real one is keyless (Fulcio certificate)"
        );
        assert_eq!(layers[0].signature, None, "cosign attest leaves it empty");
        assert!(layers[0].digest.hex().starts_with("784c5bd1"));

        let envelope = Envelope::parse(&data("v2-att-dsse-envelope.json")).unwrap();
        assert_eq!(envelope.payload_type, IN_TOTO);
        // Signed by a Fulcio certificate's key, not by ours.
        let (_, ours) = key("ours");
        assert!(envelope.verify(&[ours]).is_err());
        let p = read_provenance(&envelope.payload_bytes().unwrap()).unwrap();
        assert_eq!(p.predicate_type, "https://slsa.dev/provenance/v0.2");
        assert_eq!(
            p.builder.as_deref(),
            Some(
                "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.4.0"
            )
        );
        assert_eq!(
            p.source.as_deref(),
            Some("git+https://github.com/slsa-framework/example-package")
        );
        assert_eq!(
            p.commit.as_deref(),
            Some("904e2c3e02725e314cf6cf141c4700081298dcbd")
        );
        assert_eq!(
            p.subjects,
            ["a74d89d8dd863ca5dae4a29e0feede81ddf59197849a80784af5a02ab7786925"]
        );
        // The attested commit is the image's revision label (v2-config.json).
        let config = crate::manifest::parse_config(&data("v2-config.json")).unwrap();
        assert_eq!(
            config.labels[crate::manifest::LABEL_REVISION],
            p.commit.clone().unwrap()
        );
        assert!(same_repository(
            p.source.as_deref().unwrap(),
            &config.labels[crate::manifest::LABEL_SOURCE]
        ));
    }

    #[test]
    fn generic_slsa_jsonl_reads() {
        let line = data("slsa-provenance-generic-v1.10.0.intoto.jsonl");
        let first = line.split(|&b| b == b'\n').next().unwrap();
        let envelope = Envelope::parse(first).unwrap();
        let p = read_provenance(&envelope.payload_bytes().unwrap()).unwrap();
        assert!(
            p.builder
                .unwrap()
                .contains("generator_generic_slsa3.yml@refs/tags/v1.10.0")
        );
        assert_eq!(
            p.commit.as_deref(),
            Some("d37a7f740ee7404914456f24dcd90e865a0509e8")
        );
    }

    #[test]
    fn slsa_v1_predicate_reads() {
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": "https://slsa.dev/provenance/v1",
            "subject": [{"name": "x", "digest": {"sha256": "ab"}}],
            "predicate": {
                "buildDefinition": {
                    "externalParameters": {"workflow": {"repository": "https://github.com/a/b"}},
                    "resolvedDependencies": [
                        {"uri": "git+https://github.com/a/b@refs/heads/main", "digest": {"gitCommit": "c0ffee"}}
                    ]
                },
                "runDetails": {"builder": {"id": "https://builder.example/v1"}}
            }
        });
        let p = read_provenance(&serde_json::to_vec(&statement).unwrap()).unwrap();
        assert_eq!(p.builder.as_deref(), Some("https://builder.example/v1"));
        assert_eq!(p.source.as_deref(), Some("git+https://github.com/a/b"));
        assert_eq!(p.commit.as_deref(), Some("c0ffee"));
        assert_eq!(p.subjects, ["ab"]);
        let not_slsa = br#"{"predicateType": "https://cyclonedx.org/bom", "predicate": {}}"#;
        assert!(read_provenance(not_slsa).unwrap_err().contains("not SLSA"));
    }

    #[test]
    fn repositories_compare_across_spellings() {
        assert!(same_repository(
            "git+https://github.com/a/b",
            "https://github.com/A/b.git"
        ));
        assert!(!same_repository(
            "git+https://github.com/a/b",
            "https://github.com/a/c"
        ));
    }
}
