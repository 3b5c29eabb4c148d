//! OCI 1.1 referrers against a real registry. Debian's `docker-registry` has no referrers API, so
//! a loopback front ([`Front`]) answers `GET /v2/<name>/referrers/<digest>` with the manifests the
//! test pushed through it with a `subject` (stored in the real registry) and passes every other
//! request on. Signatures pushed cosign's `--registry-referrers-mode=oci-1-1` way (no
//! `sha256-<hex>.sig` tag) are found, verified with the configured keys and cached; a failing
//! referrers API is `unchecked`, never `missing`; a 404 falls back to the tag scheme.

mod support;

use envtrail_collect_oci::manifest::OCI_MANIFEST;
use envtrail_collect_oci::testing::{Front, ReferrersMode, push_image, sign, sign_referrer};
use envtrail_collect_oci::{Credentials, enrich, enrich_with_stats};
use envtrail_model::{SourceStatus, VerificationStatus};

use support::*;

fn count(front: &Front, what: &str) -> usize {
    front.requests().iter().filter(|r| r.contains(what)).count()
}

#[tokio::test]
async fn a_signature_only_reachable_as_a_referrer_is_verified_and_cached() {
    let server = start(&Default::default());
    let front = Front::start(&server.addr);
    let reg = plain(&front.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let release = signer();
    let img = push_image(&c, "pay/api", Some("1"), "linux/amd64", &labels(), "r")
        .await
        .unwrap();
    let sig = sign_referrer(&c, "pay/api", &img.digest, OCI_MANIFEST, &release)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(reg, &[("release", &release)]);
    cfg.cache = Some(dir.path().join("cache.json"));
    let image = format!("{}/pay/api:1", front.addr);
    let snap = || snapshot("prod", "2026-03-10T10:00:00Z", &image, &img.digest);
    let (out, first) = enrich_with_stats(snap(), &cfg).await;
    let v = artifact(&out, &img.digest).signature.clone().unwrap();
    assert_eq!(v.status, VerificationStatus::Verified, "{v:?}");
    assert_eq!(v.identity.as_deref(), Some("key:release"));
    // It was found as a referrer: there is no cosign tag to find it by.
    assert!(
        !front
            .requests()
            .iter()
            .any(|r| r.contains(&format!("sha256-{}.sig", img.digest.hex()))
                && r.starts_with("GET /v2/pay/api/manifests")),
        "{:#?}",
        front.requests()
    );
    assert_eq!(
        count(&front, &format!("GET /v2/pay/api/referrers/{}", img.digest)),
        1
    );
    assert_eq!(
        out.sources.iter().find(|s| s.kind == "oci").unwrap().status,
        SourceStatus::Ok
    );

    // Again with the cache: the referrers are listed again (a new signature could be there),
    // but the referrer manifest is not fetched a second time.
    let manifest_gets = count(&front, &format!("GET /v2/pay/api/manifests/{sig}"));
    assert_eq!(
        manifest_gets, 2,
        "signature and attestation checks each read it once"
    );
    let (again, warm) = enrich_with_stats(snap(), &cfg).await;
    assert_eq!(
        count(&front, &format!("GET /v2/pay/api/manifests/{sig}")),
        manifest_gets
    );
    assert_eq!(
        count(&front, &format!("GET /v2/pay/api/referrers/{}", img.digest)),
        2
    );
    assert_eq!(warm.registry_calls, warm.tag_resolutions, "{warm:?}");
    assert!(
        warm.registry_calls < first.registry_calls,
        "{warm:?} {first:?}"
    );
    assert_eq!(again.artifacts, out.artifacts);
}

#[tokio::test]
async fn a_referrer_signed_by_the_wrong_key_is_invalid() {
    let server = start(&Default::default());
    let front = Front::start(&server.addr);
    let reg = plain(&front.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let (ours, theirs) = (signer(), signer());
    let img = push_image(&c, "team/app", Some("2"), "linux/amd64", &[], "w")
        .await
        .unwrap();
    sign_referrer(&c, "team/app", &img.digest, OCI_MANIFEST, &theirs)
        .await
        .unwrap();
    let out = enrich_prod(
        &format!("{}/team/app:2", front.addr),
        &img.digest,
        &config(reg, &[("ours", &ours)]),
    )
    .await;
    let v = artifact(&out, &img.digest).signature.clone().unwrap();
    assert_eq!(v.status, VerificationStatus::Invalid, "{v:?}");
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .contains("does not verify with any configured key (ours)"),
        "{v:?}"
    );
}

#[tokio::test]
async fn a_failing_referrers_api_is_unchecked_never_missing() {
    let server = start(&Default::default());
    let front = Front::start(&server.addr);
    let reg = plain(&front.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let key = signer();
    let unsigned = push_image(&c, "pay/unsigned", Some("1"), "linux/amd64", &[], "u")
        .await
        .unwrap();
    let tagged = push_image(&c, "pay/tagged", Some("1"), "linux/amd64", &[], "t")
        .await
        .unwrap();
    sign(&c, "pay/tagged", &tagged.digest, &key).await.unwrap();
    front.set_mode(ReferrersMode::Status(500));

    let cfg = config(reg, &[("k", &key)]);
    let host = &front.addr;
    let run = |repo: &str, d: &envtrail_model::Digest| {
        snapshot(
            "prod",
            "2026-03-10T10:00:00Z",
            &format!("{host}/{repo}:1"),
            d,
        )
    };
    let out = enrich(run("pay/unsigned", &unsigned.digest), &cfg).await;
    let a = artifact(&out, &unsigned.digest);
    for v in [
        a.signature.as_ref().unwrap(),
        a.provenance.as_ref().unwrap(),
    ] {
        assert_eq!(v.status, VerificationStatus::Unchecked, "{v:?}");
        let reason = v.reason.as_deref().unwrap();
        assert!(
            reason.contains("referrers") && reason.contains("500"),
            "{reason}"
        );
    }
    assert_eq!(
        out.sources.iter().find(|s| s.kind == "oci").unwrap().status,
        SourceStatus::Partial,
        "the registry answered everything but the referrers"
    );
    // A valid signature under the cosign tag still counts: a failing listing hides nothing
    // that was verified.
    let out = enrich(run("pay/tagged", &tagged.digest), &cfg).await;
    assert_eq!(
        artifact(&out, &tagged.digest)
            .signature
            .as_ref()
            .unwrap()
            .status,
        VerificationStatus::Verified
    );
}

#[tokio::test]
async fn without_a_referrers_api_the_tag_scheme_answers_and_the_api_is_asked_once() {
    let server = start(&Default::default());
    let front = Front::start(&server.addr);
    front.set_mode(ReferrersMode::NotFound);
    let reg = plain(&front.addr);
    let c = client(&reg, &Credentials::Anonymous);
    let key = signer();
    let signed = push_image(&c, "pay/api", Some("1"), "linux/amd64", &[], "s")
        .await
        .unwrap();
    sign(&c, "pay/api", &signed.digest, &key).await.unwrap();
    let unsigned = push_image(&c, "pay/api", Some("2"), "linux/amd64", &[], "u")
        .await
        .unwrap();
    let host = &front.addr;
    let mut s = snapshot(
        "prod",
        "2026-03-10T10:00:00Z",
        &format!("{host}/pay/api:1"),
        &signed.digest,
    );
    s.workloads[0].containers.push(
        serde_json::from_value(serde_json::json!({
            "name": "b", "image": format!("{host}/pay/api:2"),
            "running_digests": [unsigned.digest.to_string()]
        }))
        .unwrap(),
    );
    let out = enrich(s, &config(reg, &[("k", &key)])).await;
    let status = |d| artifact(&out, d).signature.clone().unwrap().status;
    assert_eq!(status(&signed.digest), VerificationStatus::Verified);
    assert_eq!(status(&unsigned.digest), VerificationStatus::Missing);
    assert_eq!(
        count(&front, "/referrers/"),
        1,
        "a 404 says the registry has no referrers API: {:#?}",
        front.requests()
    );
    assert_eq!(
        out.sources.iter().find(|s| s.kind == "oci").unwrap().status,
        SourceStatus::Ok
    );
}
