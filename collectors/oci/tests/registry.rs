//! The enrichment against a real registry: Debian's `docker-registry` on loopback, started per
//! test. Each test pushes its own images, indexes, signatures (keys generated here) and
//! attestations, enriches snapshots, and where the claim is about findings, imports them into a
//! store and runs the report.

mod support;

use std::path::Path;
use std::time::Duration;

use envtrail_collect_oci::cosign::{self};
use envtrail_collect_oci::testing::{ServerOptions, attest, push_image, push_index, sign};
use envtrail_collect_oci::{Credentials, KeyRule, RegistryConfig, enrich, enrich_with_stats};
use envtrail_diff::{ArtifactPolicy, Policy};
use envtrail_model::{Digest, FindingKind, Snapshot, SourceStatus, VerificationStatus};

use support::*;

#[tokio::test]
async fn index_signed_platform_running_is_verified_through_the_relation_and_cached() {
    let server = start(&ServerOptions::default());
    let reg = plain(&server.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let release = signer();
    let amd = push_image(&c, "pay/api", None, "linux/amd64", &labels(), "1")
        .await
        .unwrap();
    let arm = push_image(&c, "pay/api", None, "linux/arm64", &labels(), "1")
        .await
        .unwrap();
    let index = push_index(&c, "pay/api", Some("1.4.2"), &[amd.clone(), arm.clone()])
        .await
        .unwrap();
    sign(&c, "pay/api", &index, &release).await.unwrap();
    attest(
        &c,
        "pay/api",
        &amd.digest,
        &release,
        BUILDER,
        SOURCE,
        REVISION,
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(reg, &[("release", &release)]);
    cfg.cache = Some(dir.path().join("cache.json"));
    let image = format!("{}/pay/api:1.4.2", server.addr);
    let (out, first) = enrich_with_stats(
        snapshot("prod", "2026-03-10T10:00:00Z", &image, &amd.digest),
        &cfg,
    )
    .await;
    out.validate().unwrap();

    // The platform manifest the pod runs: facts from its config, related to its index.
    let p = artifact(&out, &amd.digest);
    assert_eq!(p.repository, format!("{}/pay/api", server.addr));
    assert_eq!(p.index_digest.as_ref(), Some(&index));
    assert_eq!(p.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(p.revision.as_deref(), Some(REVISION));
    assert_eq!(p.source_url.as_deref(), Some(SOURCE));
    assert_eq!(p.version.as_deref(), Some("1.4.2"));
    assert!(p.created.is_some() && p.size.unwrap() > 0);
    let sig = p.signature.as_ref().unwrap();
    assert_eq!(sig.status, VerificationStatus::Verified, "{sig:?}");
    assert_eq!(sig.identity.as_deref(), Some("key:release"));
    assert_eq!(sig.reason, Some(format!("verified via index {index}")));
    let prov = p.provenance.as_ref().unwrap();
    assert_eq!(prov.status, VerificationStatus::Verified, "{prov:?}");
    assert_eq!(prov.builder.as_deref(), Some(BUILDER));
    assert_eq!(prov.source, Some(format!("git+{SOURCE}@{REVISION}")));

    // The index: tagged, signed itself; the other platform is recorded with its relation.
    let i = artifact(&out, &index);
    assert_eq!(i.tags, ["1.4.2"]);
    assert_eq!(
        i.signature.as_ref().unwrap().status,
        VerificationStatus::Verified
    );
    assert_eq!(i.signature.as_ref().unwrap().reason, None);
    let other = artifact(&out, &arm.digest);
    assert_eq!(other.index_digest.as_ref(), Some(&index));
    assert_eq!(other.platform.as_deref(), Some("linux/arm64"));
    let source = out.sources.iter().find(|s| s.kind == "oci").unwrap();
    assert_eq!(source.id, format!("oci/{}", server.addr));
    assert_eq!(source.status, SourceStatus::Ok);

    // Again, warm: only tag resolutions reach the registry, and the answer is the same.
    let (again, warm) = enrich_with_stats(
        snapshot("prod", "2026-03-10T11:00:00Z", &image, &amd.digest),
        &cfg,
    )
    .await;
    assert!(first.registry_calls > first.tag_resolutions, "{first:?}");
    assert_eq!(warm.registry_calls, warm.tag_resolutions, "{warm:?}");
    assert!(warm.cache_hits >= 3, "{warm:?}");
    assert!(
        warm.registry_calls < first.registry_calls / 2,
        "{warm:?} vs {first:?}"
    );
    assert_eq!(again.artifacts, out.artifacts);
}

#[tokio::test]
async fn a_signature_added_after_a_cached_collection_is_found() {
    let server = start(&ServerOptions::default());
    let reg = plain(&server.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let key = signer();
    let img = push_image(&c, "pay/late", Some("1"), "linux/amd64", &[], "l")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(reg, &[("k", &key)]);
    cfg.cache = Some(dir.path().join("cache.json"));
    let image = format!("{}/pay/late:1", server.addr);
    let snap = || snapshot("prod", "2026-03-10T10:00:00Z", &image, &img.digest);
    let before = enrich(snap(), &cfg).await;
    let status = |s: &Snapshot| artifact(s, &img.digest).signature.clone().unwrap().status;
    assert_eq!(status(&before), VerificationStatus::Missing);
    sign(&c, "pay/late", &img.digest, &key).await.unwrap();
    let after = enrich(snap(), &cfg).await;
    assert_eq!(
        status(&after),
        VerificationStatus::Verified,
        "missing is never cached"
    );
    // A new key set is a new fingerprint: the cached verification is not reused for it.
    let other = signer();
    let mut cfg2 = cfg.clone();
    cfg2.keys = vec![KeyRule::from_pem("other", &public_pem(&other), &[]).unwrap()];
    let with_other = enrich(snap(), &cfg2).await;
    assert_eq!(status(&with_other), VerificationStatus::Invalid);
}

#[tokio::test]
async fn wrong_key_is_invalid_unsigned_is_missing_and_a_platform_signature_does_not_cover_its_index()
 {
    let server = start(&ServerOptions::default());
    let reg = plain(&server.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let (ours, theirs) = (signer(), signer());
    let wrong = push_image(&c, "team/wrong", Some("1"), "linux/amd64", &[], "w")
        .await
        .unwrap();
    sign(&c, "team/wrong", &wrong.digest, &theirs)
        .await
        .unwrap();
    let unsigned = push_image(&c, "team/unsigned", Some("1"), "linux/amd64", &[], "u")
        .await
        .unwrap();
    let amd = push_image(&c, "team/multi", None, "linux/amd64", &[], "m")
        .await
        .unwrap();
    let index = push_index(&c, "team/multi", Some("2"), std::slice::from_ref(&amd))
        .await
        .unwrap();
    sign(&c, "team/multi", &amd.digest, &ours).await.unwrap();

    let cfg = config(reg, &[("ours", &ours)]);
    let host = &server.addr;
    let mut s = snapshot(
        "prod",
        "2026-03-10T10:00:00Z",
        &format!("{host}/team/wrong:1"),
        &wrong.digest,
    );
    let extra = |name: &str, image: String, d: &Digest| {
        serde_json::from_value::<envtrail_model::Container>(serde_json::json!({
            "name": name, "image": image, "running_digests": [d.to_string()]
        }))
        .unwrap()
    };
    s.workloads[0].containers.push(extra(
        "u",
        format!("{host}/team/unsigned:1"),
        &unsigned.digest,
    ));
    s.workloads[0]
        .containers
        .push(extra("m", format!("{host}/team/multi:2"), &index));
    let out = enrich(s, &cfg).await;

    let w = artifact(&out, &wrong.digest).signature.clone().unwrap();
    assert_eq!(w.status, VerificationStatus::Invalid);
    assert!(
        w.reason
            .unwrap()
            .contains("does not verify with any configured key (ours)")
    );
    let u = artifact(&out, &unsigned.digest).signature.clone().unwrap();
    assert_eq!(u.status, VerificationStatus::Missing);
    assert_eq!(
        artifact(&out, &unsigned.digest)
            .provenance
            .as_ref()
            .unwrap()
            .status,
        VerificationStatus::Missing
    );
    let i = artifact(&out, &index).signature.clone().unwrap();
    assert_eq!(i.status, VerificationStatus::Missing);
    assert!(i.reason.unwrap().contains("does not cover the index"));
    // The platform manifest (recorded as the index's child) is signed itself.
    assert_eq!(
        artifact(&out, &amd.digest)
            .signature
            .as_ref()
            .unwrap()
            .status,
        VerificationStatus::Verified
    );
}

#[tokio::test]
async fn attested_commit_that_differs_from_the_revision_label_is_invalid() {
    let server = start(&ServerOptions::default());
    let reg = plain(&server.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let ci = signer();
    let img = push_image(&c, "pay/api", Some("3"), "linux/amd64", &labels(), "x")
        .await
        .unwrap();
    attest(
        &c,
        "pay/api",
        &img.digest,
        &ci,
        BUILDER,
        SOURCE,
        "ffffffffffffffffffffffffffffffffffffffff",
    )
    .await
    .unwrap();
    let out = enrich_prod(
        &format!("{}/pay/api:3", server.addr),
        &img.digest,
        &config(reg, &[("ci", &ci)]),
    )
    .await;
    let prov = artifact(&out, &img.digest).provenance.clone().unwrap();
    assert_eq!(prov.status, VerificationStatus::Invalid, "{prov:?}");
    assert!(
        prov.reason
            .unwrap()
            .contains("differs from the image's revision label")
    );
    assert_eq!(
        prov.builder.as_deref(),
        Some(BUILDER),
        "what was attested is still shown"
    );
}

#[tokio::test]
async fn tag_moved_between_snapshots_and_unsigned_in_prod_are_reported() {
    let server = start(&ServerOptions::default());
    let reg = plain(&server.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let release = signer();
    let v1 = push_image(&c, "pay/api", Some("stable"), "linux/amd64", &[], "v1")
        .await
        .unwrap();
    sign(&c, "pay/api", &v1.digest, &release).await.unwrap();
    let cfg = config(reg, &[("release", &release)]);
    let image = format!("{}/pay/api:stable", server.addr);

    let mut store = envtrail_store::Store::open_in_memory().unwrap();
    let staging = enrich(
        snapshot("staging", "2026-03-09T10:00:00Z", &image, &v1.digest),
        &cfg,
    )
    .await;
    store.import(staging).unwrap();
    let first = enrich(
        snapshot("prod", "2026-03-09T12:00:00Z", &image, &v1.digest),
        &cfg,
    )
    .await;
    store.import(first).unwrap();
    // Someone pushes an unsigned build under the same tag, and prod picks it up.
    let v2 = push_image(&c, "pay/api", Some("stable"), "linux/amd64", &[], "v2")
        .await
        .unwrap();
    let second = enrich(
        snapshot("prod", "2026-03-10T09:00:00Z", &image, &v2.digest),
        &cfg,
    )
    .await;
    store.import(second).unwrap();

    let path: Vec<envtrail_model::EnvName> =
        vec!["staging".parse().unwrap(), "prod".parse().unwrap()];
    let at = envtrail_model::parse_time("2026-03-10T12:00:00Z").unwrap();
    let input = store.report_input(&path, at).unwrap();
    let policy = Policy {
        artifacts: [(
            "prod".parse().unwrap(),
            ArtifactPolicy {
                require_signature: true,
                identities: vec!["key:release".into()],
                ..ArtifactPolicy::default()
            },
        )]
        .into(),
        max_snapshot_age: chrono::Duration::days(30),
        ..Policy::default()
    };
    let report = envtrail_diff::report(&input, &policy).unwrap();
    let of = |k| {
        report
            .findings
            .iter()
            .filter(|f| f.kind == k)
            .collect::<Vec<_>>()
    };

    let moved = of(FindingKind::MutableTag);
    let prod = moved
        .iter()
        .find(|f| f.environment.as_str() == "prod")
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert!(prod.digests.contains(&v1.digest) && prod.digests.contains(&v2.digest));
    assert!(
        prod.message.contains("2026-03-09T12:00:00Z"),
        "{}",
        prod.message
    );
    assert!(
        prod.message.contains("2026-03-10T09:00:00Z"),
        "{}",
        prod.message
    );

    let unverified = of(FindingKind::UnverifiedArtifact);
    assert_eq!(unverified.len(), 1, "{:#?}", report.findings);
    assert_eq!(unverified[0].environment.as_str(), "prod");
    assert_eq!(unverified[0].severity, envtrail_model::Severity::High);
    assert_eq!(unverified[0].digests, std::slice::from_ref(&v2.digest));
    assert!(
        unverified[0].message.contains("signature missing"),
        "{}",
        unverified[0].message
    );
}

#[tokio::test]
async fn registry_down_is_unchecked_never_missing() {
    // A port nobody listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let key = signer();
    let mut cfg = config(plain(&addr), &[("k", &key)]);
    cfg.timeout = Duration::from_secs(2);
    let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
    let out = enrich_prod(&format!("{addr}/pay/api:1"), &d, &cfg).await;
    let a = artifact(&out, &d);
    for v in [
        a.signature.as_ref().unwrap(),
        a.provenance.as_ref().unwrap(),
    ] {
        assert_eq!(v.status, VerificationStatus::Unchecked, "{v:?}");
        assert!(
            v.reason.as_deref().unwrap().contains("unreachable"),
            "{v:?}"
        );
    }
    let source = out.sources.iter().find(|s| s.kind == "oci").unwrap();
    assert_eq!(source.status, SourceStatus::Failed);
    assert!(source.error.as_deref().unwrap().contains(&addr));

    // The report says so, and says nothing is missing.
    let mut store = envtrail_store::Store::open_in_memory().unwrap();
    store.import(out).unwrap();
    let path = vec!["prod".parse().unwrap()];
    let at = envtrail_model::parse_time("2026-03-10T12:00:00Z").unwrap();
    let policy = Policy {
        artifacts: [(
            "prod".parse().unwrap(),
            ArtifactPolicy {
                require_signature: true,
                ..ArtifactPolicy::default()
            },
        )]
        .into(),
        ..Policy::default()
    };
    let report = envtrail_diff::report(&store.report_input(&path, at).unwrap(), &policy).unwrap();
    let text: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        text.iter()
            .any(|m| m.contains("signature unchecked: registry unreachable")),
        "{text:?}"
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::CollectionGap && f.keys == [format!("oci/{addr}")]),
        "{text:?}"
    );
    assert!(!text.iter().any(|m| m.contains("missing")), "{text:?}");
}

fn htpasswd(dir: &Path, user: &str, password: &str) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    let status = std::process::Command::new("htpasswd")
        .args(["-Bbc"])
        .arg(&path)
        .args([user, password])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("htpasswd (apache2-utils) is installed");
    assert!(status.success());
    path
}

#[tokio::test]
async fn htpasswd_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&ServerOptions {
        htpasswd: Some(htpasswd(dir.path(), "alice", "s3cret-pw")),
        ..ServerOptions::default()
    });
    let alice = Credentials::Basic {
        username: "alice".into(),
        password: "s3cret-pw".into(),
    };
    let reg = RegistryConfig {
        credentials: alice.clone(),
        ..plain(&server.addr)
    };
    let c = client(&reg, &alice);
    let img = push_image(&c, "pay/api", Some("1"), "linux/amd64", &labels(), "a")
        .await
        .unwrap();
    let image = format!("{}/pay/api:1", server.addr);

    let out = enrich_prod(&image, &img.digest, &config(reg.clone(), &[])).await;
    let a = artifact(&out, &img.digest);
    assert_eq!(a.revision.as_deref(), Some(REVISION));
    assert_eq!(a.tags, ["1"]);
    assert_eq!(
        a.signature.as_ref().unwrap().status,
        VerificationStatus::Missing
    );

    // Wrong password: refused, so unchecked, and the password appears nowhere.
    let bad = RegistryConfig {
        credentials: Credentials::Basic {
            username: "alice".into(),
            password: "wrong-pw-123".into(),
        },
        ..reg
    };
    let out = enrich_prod(&image, &img.digest, &config(bad, &[])).await;
    let a = artifact(&out, &img.digest);
    assert_eq!(
        a.signature.as_ref().unwrap().status,
        VerificationStatus::Unchecked
    );
    let json = serde_json::to_string(&out).unwrap();
    assert!(
        !json.contains("wrong-pw-123") && !json.contains("s3cret-pw"),
        "{json}"
    );
    assert_ne!(
        out.sources.iter().find(|s| s.kind == "oci").unwrap().status,
        SourceStatus::Ok
    );
}

#[tokio::test]
async fn tls_with_a_self_signed_ca_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    let server = start(&ServerOptions {
        tls: Some((cert, key)),
        ..ServerOptions::default()
    });

    let reg = RegistryConfig {
        host: server.addr.clone(),
        ca_pem: vec![ca.pem().into_bytes()],
        ..RegistryConfig::default()
    };
    let c = client(&reg, &Credentials::Anonymous);
    let img = push_image(&c, "pay/api", Some("1"), "linux/amd64", &labels(), "t")
        .await
        .unwrap();
    let image = format!("{}/pay/api:1", server.addr);
    let out = enrich_prod(&image, &img.digest, &config(reg.clone(), &[])).await;
    assert_eq!(
        artifact(&out, &img.digest).revision.as_deref(),
        Some(REVISION)
    );
    assert_eq!(
        out.sources.iter().find(|s| s.kind == "oci").unwrap().status,
        SourceStatus::Ok
    );

    // Without the CA the certificate is not trusted: unchecked, not missing.
    let untrusted = RegistryConfig {
        ca_pem: vec![],
        ..reg
    };
    let out = enrich_prod(&image, &img.digest, &config(untrusted, &[])).await;
    let a = artifact(&out, &img.digest);
    assert_eq!(
        a.signature.as_ref().unwrap().status,
        VerificationStatus::Unchecked
    );
    assert_eq!(a.revision, None);
}

#[test]
fn cosign_tags_follow_the_tag_scheme() {
    let d: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
    assert_eq!(
        cosign::cosign_tag(&d, "sig"),
        format!("sha256-{}.sig", "ab".repeat(32))
    );
}
