//! Proves the stand-in speaks the Kubernetes API: the real `kubectl` lists through it.
//! `scripts/test` installs kubectl when it is missing; without it these tests say so and pass.
//! `KUBECTL=/path/to/kubectl` runs them with another build (Debian's `kubernetes-client` 1.20 was
//! checked this way as well as the 1.32 on these machines).

use std::path::Path;
use std::process::Command;

use envtrail_k8s_standin::{Cluster, StandIn};
use serde_json::Value;

fn kubectl() -> Option<String> {
    let path = std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".to_owned());
    if Path::new(&path).exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {path} is not installed (scripts/test installs it)");
        None
    }
}

#[test]
fn kubectl_lists_deployments_and_pods_across_pages() {
    let Some(kubectl) = kubectl() else { return };
    let mut cluster = Cluster::new();
    cluster
        .add_fixture("deploymentlist-kind-v1.36-kube-system.json")
        .add_fixture("podlist-kind-v1.36-kube-system.json")
        .add_fixture("deployment-postgres.json")
        .add_fixture("pod-init-container-docker-pullable.json");
    // Pages of 3 whatever kubectl asks: kubectl must follow the continue tokens.
    cluster.faults.max_page = Some(3);
    let server = StandIn::start(cluster);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, StandIn::kubeconfig(&[("standin", &server)])).unwrap();

    let out = Command::new(&kubectl)
        .args([
            "get",
            "deployments,pods",
            "-A",
            "-o",
            "json",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl failed: {stderr}");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    let count = |kind: &str| items.iter().filter(|i| i["kind"] == kind).count();
    assert_eq!(count("Deployment"), 2, "{stderr}");
    assert_eq!(count("Pod"), 9, "{stderr}");
    let names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"coredns") && names.contains(&"icx-db"),
        "{names:?}"
    );
    assert!(names.contains(&"hurry-up-and-wait"), "{names:?}");

    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r == "/apis" || r.starts_with("/apis?")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/pods?limit=500")),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.contains("continue=standin-3")),
        "{requests:?}"
    );
}

#[test]
fn kubectl_sees_403_as_forbidden() {
    let Some(kubectl) = kubectl() else { return };
    let mut cluster = Cluster::new();
    cluster.add_fixture("pod-single-docker-pullable.json");
    cluster
        .faults
        .forbidden
        .push(("default".into(), Some("pods".into())));
    let server = StandIn::start(cluster);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, StandIn::kubeconfig(&[("standin", &server)])).unwrap();
    let out = Command::new(&kubectl)
        .args(["get", "pods", "-n", "default", "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("forbidden"), "{stderr}");
}

#[test]
fn docs_rbac_manifests_apply_in_a_client_dry_run() {
    let Some(kubectl) = kubectl() else { return };
    let server = StandIn::start(Cluster::new());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, StandIn::kubeconfig(&[("standin", &server)])).unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kubernetes");
    for (file, expected) in [
        (
            "rbac-clusterrole.yaml",
            [
                "clusterrole.rbac.authorization.k8s.io/envtrail-reader created (dry run)",
                "clusterrolebinding.rbac.authorization.k8s.io/envtrail-reader created (dry run)",
            ],
        ),
        (
            "rbac-role.yaml",
            [
                "role.rbac.authorization.k8s.io/envtrail-reader created (dry run)",
                "rolebinding.rbac.authorization.k8s.io/envtrail-reader created (dry run)",
            ],
        ),
    ] {
        let out = Command::new(&kubectl)
            .args(["apply", "--dry-run=client", "--validate=false", "-f"])
            .arg(docs.join(file))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {stderr}");
        for line in expected {
            assert!(stdout.contains(line), "{file}: {stdout}");
        }
        // Read-only: no verb but get, list and watch.
        let text = std::fs::read_to_string(docs.join(file)).unwrap();
        for verb in ["create", "update", "patch", "delete", "\"*\""] {
            assert!(!text.contains(verb), "{file} grants {verb}");
        }
    }
}
