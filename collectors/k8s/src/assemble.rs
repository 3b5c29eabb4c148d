//! From one namespace's [`Inventory`] to snapshot workloads: each Deployment, StatefulSet, DaemonSet,
//! CronJob and bare Pod with its containers (declared image and digest, the digests its Pods run)
//! and the configuration it consumes, key by key.
//!
//! Config keys are named by how a container sees them, not by where they come from, so that a
//! ConfigMap renamed per environment (`app-config-prod`, or a Kustomize hash suffix) still compares:
//! `<container>:<VAR>` for an environment variable (literal, `valueFrom`, or `envFrom` with its
//! prefix) and `<container>:<path>` for a file mounted from a ConfigMap, Secret or projected volume.
//! Later sources override earlier ones as in the kubelet: `env` over `envFrom`, the later `envFrom`
//! over the earlier.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use envtrail_model::{ConfigValue, Container, Digest, Fingerprint, Workload};
use k8s_openapi::api::core::v1::{KeyToPath, PodSpec};

use crate::image::declared_digest;
use crate::inventory::{Inventory, Kind, WorkloadObject, plain_value, resolve_owner};
use crate::naming::Naming;
use crate::selector::LabelSelector;

/// Labels and annotations copied into a workload's metadata when present.
pub const METADATA_KEYS: [&str; 4] = [
    "helm.sh/chart",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "argocd.argoproj.io/instance",
];

/// Something the assembly could not do for one workload; the source is still `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `Kind/namespace/name`.
    pub reference: String,
    /// Why.
    pub why: String,
}

/// The workloads of one namespace, in no particular order, and those that could not be named.
pub fn assemble(
    source_id: &str,
    inventory: &Inventory,
    naming: &Naming,
    selector: Option<&LabelSelector>,
    max_value_bytes: usize,
) -> (Vec<Workload>, Vec<Skipped>) {
    // What each workload's Pods run: (kind, name) → (init, container) → digests.
    let mut running: HashMap<(Kind, String), PodDigests<'_>> = HashMap::new();
    for pod in &inventory.pods {
        let Some((kind, name)) =
            resolve_owner(&pod.owner, &inventory.replica_sets, &inventory.jobs)
        else {
            continue;
        };
        let per_container = running.entry((kind, name)).or_default();
        for (init, container, digest) in &pod.running {
            per_container
                .entry((*init, container.as_str()))
                .or_default()
                .insert(digest);
        }
    }

    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut build = |object: &WorkloadObject, digests: Option<&PodDigests<'_>>| {
        let reference = format!(
            "{}/{}/{}",
            object.kind.as_str(),
            inventory.namespace,
            object.name
        );
        let Some(component) = naming.component(
            &inventory.namespace,
            &object.name,
            &object.labels,
            &object.template_labels,
        ) else {
            skipped.push(Skipped {
                reference,
                why: "the naming rules give no valid component name".into(),
            });
            return;
        };
        out.push(Workload {
            component,
            source: source_id.to_owned(),
            reference,
            containers: containers(&object.spec, digests),
            config: consumed_config(&object.spec, inventory, max_value_bytes),
            metadata: metadata(object),
        });
    };
    for object in &inventory.workloads {
        build(object, running.get(&(object.kind, object.name.clone())));
    }
    for (object, pod_running) in &inventory.bare_pods {
        if selector.is_some_and(|s| !s.matches(&object.labels)) {
            continue;
        }
        let mut digests = PodDigests::new();
        for (init, container, digest) in pod_running {
            digests
                .entry((*init, container.as_str()))
                .or_default()
                .insert(digest);
        }
        build(object, Some(&digests));
    }
    (out, skipped)
}

/// What one workload's Pods run: (init, container) → digests.
type PodDigests<'a> = BTreeMap<(bool, &'a str), BTreeSet<&'a Digest>>;

fn containers(spec: &PodSpec, running: Option<&PodDigests<'_>>) -> Vec<Container> {
    let init = spec.init_containers.iter().flatten().map(|c| (true, c));
    let regular = spec.containers.iter().map(|c| (false, c));
    init.chain(regular)
        .map(|(init, c)| {
            let image = c.image.clone().unwrap_or_default();
            Container {
                name: c.name.clone(),
                digest: declared_digest(&image),
                image,
                running_digests: running
                    .and_then(|r| r.get(&(init, c.name.as_str())))
                    .map(|ds| ds.iter().map(|d| (*d).clone()).collect())
                    .unwrap_or_default(),
                init,
            }
        })
        .collect()
}

fn metadata(object: &WorkloadObject) -> BTreeMap<String, String> {
    METADATA_KEYS
        .iter()
        .filter_map(|key| {
            let value = object
                .labels
                .get(*key)
                .or_else(|| object.annotations.get(*key))
                .or_else(|| object.template_labels.get(*key))?;
            Some(((*key).to_owned(), value.clone()))
        })
        .collect()
}

fn secret_value(fingerprint: &Fingerprint) -> ConfigValue {
    ConfigValue {
        fingerprint: fingerprint.clone(),
        value: None,
        secret: true,
    }
}

/// Files a ConfigMap or Secret volume puts under a mount: `(key, relative path)`.
fn projected_files<'k>(
    keys: impl Iterator<Item = &'k String>,
    items: Option<&'k Vec<KeyToPath>>,
) -> Vec<(&'k str, &'k str)> {
    match items {
        Some(items) => items
            .iter()
            .map(|i| (i.key.as_str(), i.path.as_str()))
            .collect(),
        None => keys.map(|k| (k.as_str(), k.as_str())).collect(),
    }
}

/// The configuration a pod spec consumes, keyed as the module doc says.
pub fn consumed_config(
    spec: &PodSpec,
    inventory: &Inventory,
    cap: usize,
) -> BTreeMap<String, ConfigValue> {
    let mut out = BTreeMap::new();
    let maps = &inventory.config_maps;
    let secrets = &inventory.secrets;
    let volumes: HashMap<&str, _> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v))
        .collect();
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in containers {
        let var = |name: &str| format!("{}:{name}", c.name);
        for from in c.env_from.iter().flatten() {
            let prefix = from.prefix.as_deref().unwrap_or("");
            if let Some(keys) = from.config_map_ref.as_ref().and_then(|r| maps.get(&r.name)) {
                for (k, v) in keys {
                    out.insert(var(&format!("{prefix}{k}")), v.clone());
                }
            }
            if let Some(keys) = from.secret_ref.as_ref().and_then(|r| secrets.get(&r.name)) {
                for (k, fp) in keys {
                    out.insert(var(&format!("{prefix}{k}")), secret_value(fp));
                }
            }
        }
        for e in c.env.iter().flatten() {
            let value = match (&e.value, &e.value_from) {
                (_, Some(from)) => {
                    if let Some(r) = &from.config_map_key_ref {
                        maps.get(&r.name).and_then(|keys| keys.get(&r.key)).cloned()
                    } else if let Some(r) = &from.secret_key_ref {
                        secrets
                            .get(&r.name)
                            .and_then(|keys| keys.get(&r.key))
                            .map(secret_value)
                    } else if let Some(f) = &from.field_ref {
                        Some(plain_value(format!("fieldRef:{}", f.field_path), cap))
                    } else {
                        from.resource_field_ref
                            .as_ref()
                            .map(|r| plain_value(format!("resourceFieldRef:{}", r.resource), cap))
                    }
                }
                (Some(v), None) => Some(plain_value(v.clone(), cap)),
                (None, None) => Some(plain_value(String::new(), cap)),
            };
            match value {
                Some(v) => {
                    out.insert(var(&e.name), v);
                }
                // An optional reference to a missing ConfigMap or key: the variable is unset.
                None => {
                    out.remove(&var(&e.name));
                }
            }
        }
        for mount in c.volume_mounts.iter().flatten() {
            let Some(volume) = volumes.get(mount.name.as_str()) else {
                continue;
            };
            let mut files: Vec<(String, ConfigValue)> = Vec::new();
            let mut add_map = |name: &str, items: Option<&Vec<KeyToPath>>| {
                if let Some(keys) = maps.get(name) {
                    for (k, path) in projected_files(keys.keys(), items) {
                        if let Some(v) = keys.get(k) {
                            files.push((path.to_owned(), v.clone()));
                        }
                    }
                }
            };
            if let Some(cm) = &volume.config_map {
                add_map(&cm.name, cm.items.as_ref());
            }
            for p in volume
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
            {
                if let Some(cm) = &p.config_map {
                    add_map(&cm.name, cm.items.as_ref());
                }
            }
            let mut add_secret = |name: &str, items: Option<&Vec<KeyToPath>>| {
                if let Some(keys) = secrets.get(name) {
                    for (k, path) in projected_files(keys.keys(), items) {
                        if let Some(fp) = keys.get(k) {
                            files.push((path.to_owned(), secret_value(fp)));
                        }
                    }
                }
            };
            if let Some(name) = volume
                .secret
                .as_ref()
                .and_then(|s| s.secret_name.as_deref())
            {
                add_secret(name, volume.secret.as_ref().and_then(|s| s.items.as_ref()));
            }
            for p in volume
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
            {
                if let Some(s) = &p.secret {
                    add_secret(&s.name, s.items.as_ref());
                }
            }
            let mount_path = mount.mount_path.trim_end_matches('/');
            for (path, value) in files {
                match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
                    // A subPath mount puts one file (or directory) of the volume at mountPath.
                    Some(sub) if path == sub => {
                        out.insert(var(mount_path), value);
                    }
                    Some(sub) => {
                        if let Some(rest) = path.strip_prefix(&format!("{sub}/")) {
                            out.insert(var(&format!("{mount_path}/{rest}")), value);
                        }
                    }
                    None => {
                        out.insert(var(&format!("{mount_path}/{path}")), value);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::HmacKey;

    fn inventory() -> Inventory {
        let key = HmacKey::new(*b"unit-test-key-0123", "test").unwrap();
        let mut inv = Inventory {
            namespace: "shop-prod".into(),
            ..Inventory::default()
        };
        inv.config_maps.insert(
            "cfg".into(),
            BTreeMap::from([
                ("a.yaml".to_owned(), plain_value("a: 1".into(), 4)),
                ("b.yaml".to_owned(), plain_value("b: 2".into(), 4)),
            ]),
        );
        inv.secrets.insert(
            "sec".into(),
            BTreeMap::from([("token".to_owned(), key.fingerprint(b"t0ken"))]),
        );
        inv
    }

    #[test]
    fn volumes_items_subpaths_and_projections_become_file_keys() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [{
                "name": "app",
                "volumeMounts": [
                    {"name": "all", "mountPath": "/etc/all/"},
                    {"name": "picked", "mountPath": "/etc/picked"},
                    {"name": "all", "mountPath": "/etc/one.yaml", "subPath": "b.yaml"},
                    {"name": "proj", "mountPath": "/var/run/p"}
                ]
            }],
            "volumes": [
                {"name": "all", "configMap": {"name": "cfg"}},
                {"name": "picked", "configMap": {"name": "cfg", "items": [{"key": "a.yaml", "path": "conf/a.yml"}]}},
                {"name": "proj", "projected": {"sources": [{"secret": {"name": "sec"}}, {"configMap": {"name": "cfg", "items": [{"key": "b.yaml", "path": "b"}]}}]}}
            ]
        }))
        .unwrap();
        let config = consumed_config(&spec, &inventory(), 4);
        let keys: Vec<&str> = config.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            vec![
                "app:/etc/all/a.yaml",
                "app:/etc/all/b.yaml",
                "app:/etc/one.yaml",
                "app:/etc/picked/conf/a.yml",
                "app:/var/run/p/b",
                "app:/var/run/p/token",
            ]
        );
        assert_eq!(config["app:/etc/one.yaml"].value.as_deref(), Some("b: 2"));
        assert!(config["app:/var/run/p/token"].secret);
        assert!(config["app:/var/run/p/token"].value.is_none());
    }

    #[test]
    fn optional_missing_references_unset_the_variable_and_caps_apply() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [{
                "name": "app",
                "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
                "env": [
                    {"name": "a.yaml", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": true}}},
                    {"name": "LONG", "value": "longer than four"},
                    {"name": "EMPTY"}
                ]
            }]
        }))
        .unwrap();
        let config = consumed_config(&spec, &inventory(), 4);
        assert!(
            !config.contains_key("app:a.yaml"),
            "env overrides envFrom, even to unset"
        );
        assert!(config["app:S_token"].secret);
        assert!(config["app:LONG"].value.is_none());
        assert_eq!(
            config["app:LONG"].fingerprint,
            Fingerprint::of_plain_value("longer than four")
        );
        assert_eq!(config["app:EMPTY"].value.as_deref(), Some(""));
    }

    #[test]
    fn workloads_get_components_metadata_and_skip_selector_misses() {
        let mut inv = inventory();
        let object = |name: &str, labels: serde_json::Value| WorkloadObject {
            kind: Kind::Pod,
            name: name.into(),
            labels: serde_json::from_value(labels).unwrap(),
            annotations: BTreeMap::from([(
                "argocd.argoproj.io/instance".to_owned(),
                "shop".to_owned(),
            )]),
            template_labels: BTreeMap::new(),
            spec: PodSpec::default(),
        };
        inv.bare_pods.push((
            object("debug", serde_json::json!({"tier": "tools"})),
            Vec::new(),
        ));
        inv.bare_pods.push((
            object(
                "cart",
                serde_json::json!({"app.kubernetes.io/name": "cart", "helm.sh/chart": "cart-1"}),
            ),
            Vec::new(),
        ));
        let selector: LabelSelector = "tier!=tools".parse().unwrap();
        let (workloads, skipped) = assemble("k8s/x", &inv, &Naming::default(), Some(&selector), 10);
        assert!(skipped.is_empty());
        assert_eq!(workloads.len(), 1);
        assert_eq!(workloads[0].reference, "Pod/shop-prod/cart");
        assert_eq!(workloads[0].component.as_str(), "cart");
        assert_eq!(workloads[0].metadata["helm.sh/chart"], "cart-1");
        assert_eq!(workloads[0].metadata["argocd.argoproj.io/instance"], "shop");
    }
}
