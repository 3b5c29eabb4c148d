//! `envtrail collect` with `[oci]` end to end: the built binary reads a stand-in Kubernetes API
//! server, then enriches the snapshot from a real registry (Debian's `docker-registry` on
//! loopback) holding a signed and an unsigned image, stores it, and `export` and `report` show the
//! facts and the `unverified_artifact` the prod policy calls for. A second collection, after the
//! tag moved, gives `mutable_tag`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use envtrail_collect_oci::testing::{Server, ServerOptions, push_image, sign};
use envtrail_collect_oci::{Credentials, Registry, RegistryConfig};
use envtrail_k8s_standin::{Cluster, StandIn, kubeconfig_for};
use serde_json::{Value, json};
use sigstore::crypto::SigningScheme;

const KEY: &str = "e2e-hmac-key-0123456789abcdef";

fn envtrail(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_envtrail"))
        .current_dir(dir)
        .args(["--db", "envtrail.db", "--config", "envtrail.toml"])
        .args(args)
        .env_remove("ENVTRAIL_DB")
        .env_remove("ENVTRAIL_CONFIG")
        .env("ENVTRAIL_TEST_HMAC", KEY)
        .env("DOCKER_CONFIG", dir.join("no-docker"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the envtrail binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Deployment `name` in namespace `shop` whose pod runs `image` as `digest`.
fn deployment(name: &str, image: &str, digest: &str) -> Vec<Value> {
    let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
    vec![
        json!({"kind": "Deployment", "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
               "spec": {"selector": {}, "template": {"metadata": {}, "spec": {"containers": [
                   {"name": name, "image": image}]}}}}),
        json!({"kind": "ReplicaSet", "metadata": {"name": format!("{name}-5c6d7"), "namespace": "shop",
               "ownerReferences": [{"kind": "Deployment", "name": name, "uid": format!("uid-{name}"), "controller": true, "apiVersion": "apps/v1"}]}}),
        json!({"kind": "Pod", "metadata": {"name": format!("{name}-5c6d7-q1"), "namespace": "shop",
               "ownerReferences": [{"kind": "ReplicaSet", "name": format!("{name}-5c6d7"), "uid": "x", "controller": true, "apiVersion": "apps/v1"}]},
               "spec": {"containers": [{"name": name, "image": image}]},
               "status": {"containerStatuses": [{"name": name, "image": "", "ready": true, "restartCount": 0,
                   "imageID": format!("docker-pullable://{repo}@{digest}")}]}}),
    ]
}

fn cluster(objects: Vec<Value>) -> Cluster {
    let mut c = Cluster::new();
    for o in objects {
        c.add(o);
    }
    c
}

#[test]
fn collect_enriches_with_registry_facts_and_report_applies_the_policy() {
    let server = Server::start(&ServerOptions::default()).expect("the test registry starts");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = Registry::new(
        &RegistryConfig {
            host: server.addr.clone(),
            plain_http: true,
            ..RegistryConfig::default()
        },
        &Credentials::Anonymous,
        Duration::from_secs(10),
    );
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap();
    let labels = [("org.opencontainers.image.revision", "c0ffee")];
    let (api, web) = runtime.block_on(async {
        let api = push_image(
            &registry,
            "shop/api",
            Some("1.0"),
            "linux/amd64",
            &labels,
            "a",
        )
        .await
        .unwrap();
        sign(&registry, "shop/api", &api.digest, &signer)
            .await
            .unwrap();
        let web = push_image(
            &registry,
            "shop/web",
            Some("1.0"),
            "linux/amd64",
            &labels,
            "w",
        )
        .await
        .unwrap();
        (api, web)
    });
    let (api_image, web_image) = (
        format!("{}/shop/api:1.0", server.addr),
        format!("{}/shop/web:1.0", server.addr),
    );
    let standin = StandIn::start(cluster(
        [
            deployment("api", &api_image, api.digest.as_str()),
            deployment("web", &web_image, web.digest.as_str()),
        ]
        .concat(),
    ));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        kubeconfig_for(&[("prod", standin.url())]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cosign.pub"),
        signer
            .to_sigstore_keypair()
            .unwrap()
            .public_key_to_pem()
            .unwrap(),
    )
    .unwrap();
    let config = format!(
        r#"[promotion]
path = ["prod"]
[secrets]
hmac_key_env = "ENVTRAIL_TEST_HMAC"
[[environments.prod.kubernetes]]
id = "prod"
kubeconfig = "kubeconfig"
context = "prod"
[environments.prod.artifacts]
require_signature = true
identities = ["key:release"]
[oci]
concurrency = 4
[[oci.registries]]
host = "{host}"
plain_http = true
[[oci.keys]]
name = "release"
public_key = "cosign.pub"
repositories = ["{host}/shop/*"]
"#,
        host = server.addr
    );
    std::fs::write(dir.path().join("envtrail.toml"), config).unwrap();

    let (code, stdout, stderr) = envtrail(dir.path(), &["collect"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        dir.path().join("envtrail.db.oci-cache.json").exists(),
        "the facts cache sits next to the store"
    );

    let (code, stdout, stderr) = envtrail(dir.path(), &["export", "--env", "prod"]);
    assert_eq!(code, 0, "{stderr}");
    let snapshot: Value = serde_json::from_str(&stdout).unwrap();
    let artifact = |d: &str| {
        snapshot["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["digest"] == d)
            .cloned()
            .unwrap_or_else(|| panic!("no artifact {d}: {snapshot:#}"))
    };
    let a = artifact(api.digest.as_str());
    assert_eq!(a["tags"], json!(["1.0"]));
    assert_eq!(a["revision"], "c0ffee");
    assert_eq!(a["signature"]["status"], "verified");
    assert_eq!(a["signature"]["identity"], "key:release");
    assert_eq!(
        artifact(web.digest.as_str())["signature"]["status"],
        "missing"
    );
    assert!(
        snapshot["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "oci" && s["status"] == "ok")
    );

    // The tag moves to a new build; the pods still run the old one.
    runtime.block_on(async {
        push_image(
            &registry,
            "shop/web",
            Some("1.0"),
            "linux/amd64",
            &labels,
            "w2",
        )
        .await
        .unwrap()
    });
    let (code, _, stderr) = envtrail(dir.path(), &["collect"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = envtrail(
        dir.path(),
        &["report", "--format", "json", "--at", "2100-01-01"],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let of = |kind: &str| {
        findings
            .iter()
            .filter(|f| f["kind"] == kind)
            .collect::<Vec<_>>()
    };
    let unverified = of("unverified_artifact");
    assert_eq!(unverified.len(), 1, "{findings:#?}");
    assert_eq!(unverified[0]["component"], "web", "{findings:#?}");
    assert_eq!(unverified[0]["severity"], "high");
    assert!(
        unverified[0]["message"]
            .as_str()
            .unwrap()
            .contains("signature missing")
    );
    let moved = of("mutable_tag");
    assert_eq!(moved.len(), 1, "{findings:#?}");
    assert_eq!(moved[0]["keys"], json!([format!("{web_image}")]));
    assert_eq!(moved[0]["digests"].as_array().unwrap().len(), 2);
}

/// A signature stored only as an OCI 1.1 referrer (cosign `--registry-referrers-mode=oci-1-1`,
/// no `.sig` tag) is found through the referrers API: the real registry behind a loopback front
/// that adds the API, the built binary collecting and exporting.
#[test]
fn collect_finds_a_signature_stored_as_a_referrer() {
    use envtrail_collect_oci::manifest::OCI_MANIFEST;
    use envtrail_collect_oci::testing::{Front, sign_referrer};

    let server = Server::start(&ServerOptions::default()).expect("the test registry starts");
    let front = Front::start(&server.addr);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = Registry::new(
        &RegistryConfig {
            host: front.addr.clone(),
            plain_http: true,
            ..RegistryConfig::default()
        },
        &Credentials::Anonymous,
        Duration::from_secs(10),
    );
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap();
    let api = runtime.block_on(async {
        let api = push_image(&registry, "shop/api", Some("2.0"), "linux/amd64", &[], "r")
            .await
            .unwrap();
        sign_referrer(&registry, "shop/api", &api.digest, OCI_MANIFEST, &signer)
            .await
            .unwrap();
        api
    });
    let image = format!("{}/shop/api:2.0", front.addr);
    let standin = StandIn::start(cluster(deployment("api", &image, api.digest.as_str())));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        kubeconfig_for(&[("prod", standin.url())]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cosign.pub"),
        signer
            .to_sigstore_keypair()
            .unwrap()
            .public_key_to_pem()
            .unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("envtrail.toml"),
        format!(
            r#"[promotion]
path = ["prod"]
[secrets]
hmac_key_env = "ENVTRAIL_TEST_HMAC"
[[environments.prod.kubernetes]]
id = "prod"
kubeconfig = "kubeconfig"
context = "prod"
[oci]
[[oci.registries]]
host = "{host}"
plain_http = true
[[oci.keys]]
name = "release"
public_key = "cosign.pub"
"#,
            host = front.addr
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = envtrail(dir.path(), &["collect"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let (code, stdout, stderr) = envtrail(dir.path(), &["export", "--env", "prod"]);
    assert_eq!(code, 0, "{stderr}");
    let snapshot: Value = serde_json::from_str(&stdout).unwrap();
    let a = snapshot["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["digest"] == api.digest.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{snapshot:#}"));
    assert_eq!(a["signature"]["status"], "verified", "{a:#}");
    assert_eq!(a["signature"]["identity"], "key:release");
    assert!(
        front
            .requests()
            .iter()
            .any(|r| r == &format!("GET /v2/shop/api/referrers/{}", api.digest)),
        "{:#?}",
        front.requests()
    );
}
