//! `envtrail collect` end to end: the built binary against stand-in Kubernetes API servers on
//! loopback, then `export` and `report` on what it stored. Multi-cluster environments, name
//! mapping, index vs platform digests, init containers, ConfigMap and Secret references, a failing
//! cluster (exit 3, `collection_gap` not `missing_component`), pagination, and a canary Secret value
//! that must appear nowhere: not in the database files, not in any output.

use std::path::Path;
use std::process::{Command, Stdio};

use envtrail_k8s_standin::scenario::{base64, digest, kind_fixtures, payments};
use envtrail_k8s_standin::{Cluster, StandIn, closed_port_url, kubeconfig_for, loopback_pki};
use serde_json::{Value, json};

const CANARY: &str = "canary-e2e-5b1d0c-never-stored";
const KEY: &str = "e2e-hmac-key-0123456789abcdef";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn envtrail(dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_envtrail"))
        .current_dir(dir)
        .args(["--db", "envtrail.db", "--config", "envtrail.toml"])
        .args(args)
        .env_remove("ENVTRAIL_DB")
        .env_remove("ENVTRAIL_CONFIG")
        .env("ENVTRAIL_TEST_HMAC", KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the envtrail binary runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A service in namespace `<name>-<env>` with one Deployment `web`.
fn service(name: &str, env: &str, d: char) -> Vec<Value> {
    let ns = format!("{name}-{env}");
    vec![
        json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": ns, "uid": format!("uid-{ns}")},
               "spec": {"selector": {}, "template": {"metadata": {}, "spec": {"containers": [
                   {"name": "web", "image": format!("registry.example.com/{name}/web:2")}]}}}}),
        json!({"kind": "ReplicaSet", "metadata": {"name": "web-5c6d7", "namespace": ns,
               "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": format!("uid-{ns}"), "controller": true, "apiVersion": "apps/v1"}]}}),
        json!({"kind": "Pod", "metadata": {"name": "web-5c6d7-q1", "namespace": ns,
               "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5c6d7", "uid": "x", "controller": true, "apiVersion": "apps/v1"}]},
               "spec": {"containers": [{"name": "web", "image": format!("registry.example.com/{name}/web:2")}]},
               "status": {"containerStatuses": [{"name": "web", "image": "", "ready": true, "restartCount": 0,
                   "imageID": format!("docker-pullable://registry.example.com/{name}/web@{}", digest(d))}]}}),
    ]
}

fn cluster(objects: Vec<Value>, base: Cluster) -> Cluster {
    let mut c = base;
    for o in objects {
        c.add(o);
    }
    c
}

fn write_config(dir: &Path, kubeconfig: &Path, prod_us_context: &str) {
    let naming = "[environments.ENV.kubernetes.naming]\ntemplate = \"{namespace}-{name}\"\nlabel = \"\"\nstrip_namespace_suffixes = [\"-staging\", \"-prod\"]\n";
    let source = |env: &str, id: &str, ctx: &str, ns: &str| {
        format!(
            "[[environments.{env}.kubernetes]]\nid = \"{id}\"\nkubeconfig = \"{}\"\ncontext = \"{ctx}\"\nnamespaces = [{ns}]\n{}",
            kubeconfig.display(),
            naming.replace("ENV", env)
        )
    };
    let text = format!(
        "[promotion]\npath = [\"staging\", \"prod\"]\n[secrets]\nhmac_key_env = \"ENVTRAIL_TEST_HMAC\"\n[collect]\npage_size = 2\nretries = 1\nrequest_timeout = \"5s\"\n{}{}{}",
        source(
            "staging",
            "staging",
            "staging",
            "\"payments-*\", \"checkout-*\""
        ),
        source(
            "prod",
            "prod-eu",
            "prod-eu",
            "\"payments-*\", \"clusters-*\", \"kube-system\""
        ),
        source("prod", "prod-us", prod_us_context, "\"checkout-*\""),
    );
    std::fs::write(dir.join("envtrail.toml"), text).unwrap();
}

fn assert_no_canary(dir: &Path, outputs: &[&Out]) {
    let needles = [CANARY.to_owned(), base64(CANARY.as_bytes())];
    for name in ["envtrail.db", "envtrail.db-wal", "envtrail.db-shm"] {
        let path = dir.join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            for needle in &needles {
                let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
                assert!(!found, "{name} contains the canary secret ({needle})");
            }
        }
    }
    for out in outputs {
        for needle in &needles {
            assert!(
                !out.stdout.contains(needle.as_str()) && !out.stderr.contains(needle.as_str()),
                "an output contains the canary"
            );
        }
    }
}

#[test]
fn collect_multi_cluster_with_a_failing_cluster() {
    let staging = StandIn::start(cluster(
        [
            payments("staging", ['a', 'b'], CANARY),
            service("checkout", "staging", 'e'),
        ]
        .concat(),
        Cluster::new(),
    ));
    let prod_eu = StandIn::start(cluster(
        payments("prod", ['a', 'a'], CANARY),
        kind_fixtures(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kubeconfig_for(&[
            ("staging", staging.url()),
            ("prod-eu", prod_eu.url()),
            ("prod-us", closed_port_url()),
        ]),
    )
    .unwrap();
    write_config(dir.path(), &kubeconfig, "prod-us");

    let collect = envtrail(dir.path(), &["collect", "--format", "json"]);
    assert_eq!(
        collect.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        collect.stdout, collect.stderr
    );
    assert!(
        collect.stderr.contains("source k8s/prod-us failed"),
        "{}",
        collect.stderr
    );
    // Not a terminal: one structured line per source.
    assert!(
        collect
            .stderr
            .contains("collect env=prod source=k8s/prod-eu status=ok"),
        "{}",
        collect.stderr
    );
    let imported: Value = serde_json::from_str(&collect.stdout).unwrap();
    assert_eq!(imported["imported"].as_array().unwrap().len(), 2);

    // Pagination: pages of 2 (from the config) made the collector follow continue tokens.
    assert!(
        prod_eu
            .requests()
            .iter()
            .any(|r| r.contains("/pods?") && r.contains("continue="))
    );

    let export = envtrail(dir.path(), &["export", "--env", "prod"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let prod: Value = serde_json::from_str(&export.stdout).unwrap();
    let sources = prod["sources"].as_array().unwrap();
    let us = sources.iter().find(|s| s["id"] == "k8s/prod-us").unwrap();
    assert_eq!(us["status"], "failed");
    assert!(
        us["error"].as_str().unwrap().contains("cannot reach"),
        "{us}"
    );
    assert_eq!(
        sources.iter().find(|s| s["id"] == "k8s/prod-eu").unwrap()["status"],
        "ok"
    );

    let workloads = prod["workloads"].as_array().unwrap();
    let find = |r: &str| {
        workloads
            .iter()
            .find(|w| w["ref"] == r)
            .unwrap_or_else(|| panic!("no {r}"))
    };
    // Name mapping: payments-prod/api is the component payments-api, as payments-staging/api is.
    let api = find("Deployment/payments-prod/api");
    assert_eq!(api["component"], "payments-api");
    let containers = api["containers"].as_array().unwrap();
    assert!(
        containers
            .iter()
            .any(|c| c["name"] == "migrate" && c["init"] == true)
    );
    assert_eq!(api["config"]["api:DB_PASSWORD"]["secret"], true);
    assert!(
        api["config"]["api:DB_PASSWORD"]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert!(api["config"]["api:DB_PASSWORD"].get("value").is_none());
    assert_eq!(
        api["config"]["api:DATABASE_HOST"]["value"],
        "db.prod.internal"
    );
    // Index digest declared, platform digest running (cri-o fixture).
    let capi = &find("Deployment/clusters-dev05/capi-provider")["containers"][0];
    assert!(
        capi["digest"]
            .as_str()
            .unwrap()
            .ends_with("a802c6fa5fbf184e98ab190811ea162f1cbb5d8955b72b598397023ac40f776a")
    );
    assert!(
        capi["running_digests"][0]
            .as_str()
            .unwrap()
            .ends_with("866a59dcd6cd7f380420e3a2c190c212b14f4fbe46820a02fc193ca7925063aa")
    );

    // The same password in both environments gives the same keyed fingerprint.
    let export_staging = envtrail(dir.path(), &["export", "--env", "staging"]);
    let staging_snapshot: Value = serde_json::from_str(&export_staging.stdout).unwrap();
    let staging_api = staging_snapshot["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["component"] == "payments-api")
        .unwrap()
        .clone();
    assert_eq!(
        staging_api["config"]["api:DB_PASSWORD"]["fingerprint"],
        api["config"]["api:DB_PASSWORD"]["fingerprint"]
    );
    assert_eq!(
        staging_api["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "api")
            .unwrap()["running_digests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // checkout runs in staging; in prod only the failed cluster would have it: a gap, not a miss.
    let report = envtrail(dir.path(), &["report", "--format", "json"]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    let findings: Value = serde_json::from_str(&report.stdout).unwrap();
    let kinds: Vec<(String, String)> = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("").to_owned(),
                f["component"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        kinds.iter().any(|(k, _)| k == "collection_gap"),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|(k, _)| k == "missing_component"),
        "{kinds:?}"
    );

    let table = envtrail(dir.path(), &["report"]);
    assert!(table.stdout.contains("collection_gap"), "{}", table.stdout);
    assert_no_canary(
        dir.path(),
        &[&collect, &export, &export_staging, &report, &table],
    );

    // With only staging (all reachable), collect exits 0.
    let again = envtrail(dir.path(), &["collect", "--env", "staging"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_no_canary(dir.path(), &[&again]);
}

#[test]
fn collect_without_a_key_or_environment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("envtrail.toml"),
        "[[environments.prod.kubernetes]]\ncontext = \"x\"\n",
    )
    .unwrap();
    let out = envtrail(dir.path(), &["collect"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("secrets.hmac_key_file or secrets.hmac_key_env"),
        "{}",
        out.stderr
    );
    let out = envtrail(dir.path(), &["collect", "--env", "dev"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("environment dev"), "{}", out.stderr);
}

#[test]
fn init_writes_a_starter_config_that_parses() {
    let dir = tempfile::tempdir().unwrap();
    let out = envtrail(dir.path(), &["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(dir.path().join("envtrail.toml")).unwrap();
    assert!(text.contains("[[environments.prod.kubernetes]]"));
    // The binary reads it back: `collect --env nope` fails on the environment, not on the file.
    let out = envtrail(dir.path(), &["collect", "--env", "nope"]);
    assert!(out.stderr.contains("environment nope"), "{}", out.stderr);
    let again = envtrail(dir.path(), &["init"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

/// envtrail as a CronJob: `in_cluster = true`, the API server from `KUBERNETES_SERVICE_HOST` and
/// `_PORT`, the service account's token and CA from its folder, over HTTPS.
#[test]
fn collect_in_cluster_over_tls_with_the_service_account() {
    let (ca_pem, identity) = loopback_pki();
    let mut objects = kind_fixtures();
    objects.required_token = Some("sa-token-1".into());
    let server = StandIn::start_tls(
        cluster(service("payments", "prod", 'a'), objects),
        &identity,
    );
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("serviceaccount");
    std::fs::create_dir(&sa).unwrap();
    std::fs::write(sa.join("ca.crt"), &ca_pem).unwrap();
    // Kubernetes writes the JWT without a trailing newline.
    std::fs::write(sa.join("token"), "sa-token-1").unwrap();
    std::fs::write(sa.join("namespace"), "envtrail\n").unwrap();
    std::fs::write(
        dir.path().join("envtrail.toml"),
        format!(
            "[secrets]\nhmac_key_env = \"ENVTRAIL_TEST_HMAC\"\n\
             [[environments.prod.kubernetes]]\nin_cluster = true\nservice_account_dir = \"{}\"\n",
            sa.display()
        ),
    )
    .unwrap();
    let in_pod = |args: &[&str]| -> Out {
        let out = Command::new(env!("CARGO_BIN_EXE_envtrail"))
            .current_dir(dir.path())
            .args([
                "--db",
                "envtrail.db",
                "--config",
                "envtrail.toml",
                "--format",
                "json",
            ])
            .args(args)
            .env("ENVTRAIL_TEST_HMAC", KEY)
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", server.addr().port().to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    };
    let out = in_pod(&["collect"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let exported = in_pod(&["export", "--env", "prod"]);
    let snapshot: Value = serde_json::from_str(&exported.stdout).unwrap();
    assert_eq!(snapshot["sources"][0]["id"], "k8s/in-cluster");
    assert_eq!(snapshot["sources"][0]["status"], "ok");
    let refs: Vec<&str> = snapshot["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["ref"].as_str().unwrap())
        .collect();
    assert!(refs.contains(&"Deployment/payments-prod/web"), "{refs:?}");

    // A rotated token that the server does not accept: the source fails, exit 3, nothing removed.
    std::fs::write(sa.join("token"), "sa-token-revoked").unwrap();
    let out = in_pod(&["collect"]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let report = in_pod(&["report", "--path", "prod"]);
    assert!(
        report.stdout.contains("collection_gap"),
        "{}",
        report.stdout
    );
    assert!(!report.stdout.contains("missing_component"));
    assert!(!out.stdout.contains("sa-token") && !out.stderr.contains("sa-token"));

    // Outside a Pod (no KUBERNETES_SERVICE_HOST) the failure says what is missing.
    let out = Command::new(env!("CARGO_BIN_EXE_envtrail"))
        .current_dir(dir.path())
        .args(["--db", "outside.db", "--config", "envtrail.toml", "collect"])
        .env("ENVTRAIL_TEST_HMAC", KEY)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("KUBERNETES_SERVICE_HOST is not set"),
        "{text}"
    );
}
