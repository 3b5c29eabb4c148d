//! Ready-made clusters for the tests: the real fixture objects tied together the way a cluster ties
//! them (a ReplicaSet between the `coredns` Deployment and its Pods, a Pod for the `hello` CronJob's
//! Job, a Deployment over the cri-o Pod), and a `payments` service with ConfigMap and Secret
//! references whose namespace carries the environment's name.

use serde_json::{Value, json};

use crate::{Cluster, fixture};

/// A digest made of one repeated hex character.
pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn rs(ns: &str, name: &str, deployment: &str) -> Value {
    json!({"kind": "ReplicaSet", "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                             "uid": format!("uid-{deployment}"), "controller": true}]}})
}

/// Every fixture object, with the links a real cluster would have between them.
pub fn kind_fixtures() -> Cluster {
    let mut c = Cluster::new();
    for f in [
        "deploymentlist-kind-v1.36-kube-system.json",
        "podlist-kind-v1.36-kube-system.json",
        "pod-init-container-docker-pullable.json",
        "pod-native-sidecar-containerd.json",
        "pod-single-docker-pullable.json",
        "pod-replicaset-owner-docker-pullable.json",
        "replicaset-owned-by-deployment.json",
        "deployment-postgres.json",
        "statefulset.json",
        "daemonset-two-containers.json",
        "cronjob-batch-v1beta1.json",
        "job-owned-by-cronjob.json",
        "configmap.json",
        "secret-opaque.json",
        "podlist-mid-rollout-empty-imageid.json",
        "pod-crio-openshift-digest-pinned.json",
    ] {
        c.add_fixture(f);
    }
    // coredns: Deployment → ReplicaSet (named in the Pods' ownerReferences) → 2 Pods.
    c.add(rs("kube-system", "coredns-589f44dc88", "coredns"));
    // The hello CronJob's Job gets the real alpine Job Pod, re-owned.
    let mut pod = fixture("podlist-job-alpine-containerd.json")["items"][0].clone();
    pod["kind"] = json!("Pod");
    pod["metadata"]["name"] = json!("hello-1567179180-x7k2p");
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job",
        "name": "hello-1567179180", "uid": "uid-hello-job", "controller": true}]);
    // Its container takes the name the CronJob's template gives it.
    pod["spec"]["containers"][0]["name"] = json!("c1");
    pod["status"]["containerStatuses"][0]["name"] = json!("c1");
    c.add(pod);
    // The cri-o Pod's Deployment: declared with the index digest the Pod's spec pins; the Pod runs
    // the platform manifest digest.
    let crio = fixture("pod-crio-openshift-digest-pinned.json");
    c.add(rs(
        "clusters-dev05",
        "capi-provider-77674b845",
        "capi-provider",
    ));
    c.add(json!({"kind": "Deployment", "metadata": {"name": "capi-provider", "namespace": "clusters-dev05",
        "uid": "uid-capi-provider", "labels": crio["metadata"]["labels"].clone()},
        "spec": {"selector": {"matchLabels": {}}, "template": {"metadata": {"labels": {}},
                 "spec": {"containers": crio["spec"]["containers"].clone()}}}}));
    // The mid-rollout Pods' Deployment and its two ReplicaSets.
    let dep = "k8s-openapi-tests-patch-deployment";
    c.add(rs("default", &format!("{dep}-57bbf9bb76"), dep));
    c.add(rs("default", &format!("{dep}-6b7dc4c65"), dep));
    c.add(json!({"kind": "Deployment", "metadata": {"name": dep, "namespace": "default", "uid": format!("uid-{dep}")},
        "spec": {"selector": {"matchLabels": {}}, "template": {"metadata": {"labels": {}},
                 "spec": {"containers": [{"name": dep, "image": "alpine:3.7"}]}}}}));
    c
}

/// The `payments` service in namespace `payments-<env>`: Deployment `api` (2 Pods, each running a
/// different digest of `api`: a rollout), an init container, a ConfigMap read through `envFrom`,
/// `valueFrom` and a volume, and Secrets read through `valueFrom` and a volume. `secret_value` is
/// the database password (the canary the tests look for).
pub fn payments(env: &str, api_digests: [char; 2], secret_value: &str) -> Vec<Value> {
    let ns = format!("payments-{env}");
    let b64 = |s: &str| base64(s.as_bytes());
    let mut objects = vec![
        json!({"kind": "ConfigMap", "metadata": {"name": format!("payments-config-{env}"), "namespace": ns},
               "data": {"LOG_LEVEL": "info", "DB_HOST": format!("db.{env}.internal"),
                        "app.yaml": "retries: 3\nbig: ".to_owned() + &"x".repeat(5000)}}),
        json!({"kind": "Secret", "type": "Opaque", "metadata": {"name": "payments-db", "namespace": ns},
               "data": {"password": b64(secret_value), "user": b64("payments")}}),
        json!({"kind": "Secret", "type": "kubernetes.io/tls", "metadata": {"name": "payments-tls", "namespace": ns},
               "data": {"tls.crt": b64("CERT"), "tls.key": b64(secret_value)}}),
        json!({"kind": "Secret", "type": "helm.sh/release.v1", "metadata": {"name": "sh.helm.release.v1.payments.v1", "namespace": ns},
               "data": {"release": b64(secret_value)}}),
        json!({"kind": "Deployment", "metadata": {"name": "api", "namespace": ns, "uid": format!("uid-api-{env}"),
        "labels": {"helm.sh/chart": "payments-1.4.2", "app.kubernetes.io/version": "1.4.2",
                   "app.kubernetes.io/managed-by": "Helm", "argocd.argoproj.io/instance": format!("payments-{env}")}},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {
            "metadata": {"labels": {"app": "api"}},
            "spec": {
                "initContainers": [{"name": "migrate", "image": format!("registry.example.com/payments/migrate@{}", digest('c'))}],
                "containers": [{
                    "name": "api", "image": "registry.example.com/payments/api:1.4.2",
                    "env": [
                        {"name": "MODE", "value": "live"},
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "DATABASE_HOST", "valueFrom": {"configMapKeyRef": {"name": format!("payments-config-{env}"), "key": "DB_HOST"}}},
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "payments-db", "key": "password"}}},
                        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
                    ],
                    "envFrom": [{"configMapRef": {"name": format!("payments-config-{env}")}, "prefix": "CFG_"}],
                    "volumeMounts": [
                        {"name": "tls", "mountPath": "/etc/tls", "readOnly": true},
                        {"name": "config", "mountPath": "/etc/app/app.yaml", "subPath": "app.yaml"}
                    ]
                }],
                "volumes": [
                    {"name": "tls", "secret": {"secretName": "payments-tls"}},
                    {"name": "config", "configMap": {"name": format!("payments-config-{env}")}}
                ]
            }}}}),
        rs(&ns, "api-7d9f8b6c5d", "api"),
    ];
    for (i, d) in api_digests.iter().enumerate() {
        objects.push(json!({"kind": "Pod", "metadata": {"name": format!("api-7d9f8b6c5d-{i}"), "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f8b6c5d",
                                 "uid": "uid-api-7d9f8b6c5d", "controller": true}]},
            "spec": {"containers": [{"name": "api", "image": "registry.example.com/payments/api:1.4.2"}]},
            "status": {"phase": "Running",
                "initContainerStatuses": [{"name": "migrate", "image": "registry.example.com/payments/migrate",
                    "imageID": format!("docker-pullable://registry.example.com/payments/migrate@{}", digest('c')),
                    "ready": true, "restartCount": 0}],
                "containerStatuses": [{"name": "api", "image": "registry.example.com/payments/api:1.4.2",
                    "imageID": format!("registry.example.com/payments/api@{}", digest(*d)),
                    "ready": true, "restartCount": 0}]}}));
    }
    objects
}

/// Standard base64 with padding (enough for test data; no dependency).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_fixture_encoding() {
        // secret-opaque.json holds "bumblebeetuna\n" as YnVtYmxlYmVldHVuYQo=.
        assert_eq!(base64(b"bumblebeetuna\n"), "YnVtYmxlYmVldHVuYQo=");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn scenarios_build() {
        let mut c = kind_fixtures();
        assert_eq!(c.count("Deployment"), 4);
        for o in payments("prod", ['a', 'b'], "canary") {
            c.add(o);
        }
        assert_eq!(c.count("Deployment"), 5);
        assert_eq!(c.count("Secret"), 4);
    }
}
