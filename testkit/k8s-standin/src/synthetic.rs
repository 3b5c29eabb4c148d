//! Synthetic fleets for the benchmark and the pagination tests, cut from real objects: every
//! Deployment is the kind cluster's `coredns` Deployment and every Pod its real `coredns` Pod
//! (fixtures `deploymentlist-kind-v1.36-kube-system.json`, `podlist-kind-v1.36-kube-system.json`),
//! renamed, relabelled and re-owned, so list pages weigh what real ones do (managedFields
//! included).

use serde_json::{Value, json};

use crate::{Cluster, fixture};

/// The shape of a synthetic cluster.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    /// Which cluster of a multi-cluster fleet (names and digests differ per cluster).
    pub cluster: usize,
    /// Namespaces.
    pub namespaces: usize,
    /// Deployments in all.
    pub deployments: usize,
    /// Pods in all (spread evenly over the Deployments).
    pub pods: usize,
}

fn hex64(seed: u64) -> String {
    // Deterministic 64-hex-digit strings (splitmix64), no RNG dependency.
    let mut x = seed;
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.push_str(&format!("{z:016x}"));
    }
    out
}

/// Builds the cluster: per Deployment, one ReplicaSet and its Pods; per namespace one ConfigMap
/// and one Secret that every Deployment reads.
pub fn fleet(f: Fleet) -> Cluster {
    let deployment = fixture("deploymentlist-kind-v1.36-kube-system.json")["items"][0].clone();
    let pod = fixture("podlist-kind-v1.36-kube-system.json")["items"][0].clone();
    let mut cluster = Cluster::new();
    let c = f.cluster;
    for n in 0..f.namespaces {
        let ns = format!("team{n}-env{c}");
        cluster.add(
            json!({"kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns},
                           "data": {"LOG_LEVEL": "info", "FEATURE_FLAGS": format!("a,b,{n}")}}),
        );
        cluster.add(
            json!({"kind": "Secret", "type": "Opaque", "metadata": {"name": "db", "namespace": ns},
                           "data": {"password": "c3ludGhldGljLXBhc3N3b3Jk"}}),
        );
    }
    for d in 0..f.deployments {
        let ns = format!("team{}-env{c}", d % f.namespaces.max(1));
        let name = format!("svc{d}");
        let uid = format!("dep-{c}-{d}");
        let rs_name = format!("{name}-{}", &hex64(d as u64)[..10]);
        let rs_uid = format!("rs-{c}-{d}");
        let image = format!("registry.example.com/team/{name}:1.{}.0", d % 7);
        let digest = hex64((c as u64) << 32 | d as u64);

        let mut dep = deployment.clone();
        dep["kind"] = json!("Deployment");
        dep["metadata"]["name"] = json!(name);
        dep["metadata"]["namespace"] = json!(ns);
        dep["metadata"]["uid"] = json!(uid);
        dep["metadata"]["labels"] =
            json!({"app.kubernetes.io/name": name, "helm.sh/chart": format!("{name}-0.1.0")});
        let spec = &mut dep["spec"]["template"]["spec"];
        spec["containers"][0]["image"] = json!(image);
        spec["containers"][0]["env"] = json!([
            {"name": "PORT", "value": "8080"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
        ]);
        spec["containers"][0]["envFrom"] = json!([{"configMapRef": {"name": "settings"}}]);
        cluster.add(dep);

        cluster.add(json!({"kind": "ReplicaSet", "metadata": {"name": rs_name, "namespace": ns, "uid": rs_uid,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid,
                                 "controller": true, "blockOwnerDeletion": true}]}}));

        let per = f.pods / f.deployments.max(1) + usize::from(d < f.pods % f.deployments.max(1));
        for p in 0..per {
            let mut pod = pod.clone();
            pod["kind"] = json!("Pod");
            pod["apiVersion"] = json!("v1");
            pod["metadata"]["name"] = json!(format!("{rs_name}-{p}"));
            pod["metadata"]["namespace"] = json!(ns);
            pod["metadata"]["uid"] = json!(format!("pod-{c}-{d}-{p}"));
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": rs_name, "uid": rs_uid, "controller": true, "blockOwnerDeletion": true}]);
            pod["spec"]["containers"][0]["image"] = json!(image);
            pod["status"]["containerStatuses"][0]["image"] = json!(image);
            pod["status"]["containerStatuses"][0]["imageID"] =
                json!(format!("registry.example.com/team/{name}@sha256:{digest}"));
            cluster.add_unchecked(pod, "Pod");
        }
    }
    cluster
}

impl Cluster {
    /// Adds an object known to be unique, without the duplicate check (fast for large fleets).
    fn add_unchecked(&mut self, object: Value, kind: &str) {
        let resource = crate::resource_of_kind(kind).expect("served kind");
        self.objects.entry(resource).or_default().push(object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_has_the_asked_shape() {
        let c = fleet(Fleet {
            cluster: 1,
            namespaces: 3,
            deployments: 10,
            pods: 25,
        });
        assert_eq!(c.count("Deployment"), 10);
        assert_eq!(c.count("ReplicaSet"), 10);
        assert_eq!(c.count("Pod"), 25);
        assert_eq!(c.count("Namespace"), 3);
        assert_ne!(hex64(1), hex64(2));
        assert_eq!(hex64(1).len(), 64);
    }
}
