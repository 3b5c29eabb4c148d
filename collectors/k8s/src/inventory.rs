//! What the collector keeps of the objects it lists, one namespace at a time: the workloads with
//! their pod templates, the owner links of ReplicaSets and Jobs, each Pod's owner and running
//! digests, and the referenced ConfigMaps and Secrets already reduced to fingerprints (a Secret's
//! bytes are dropped as soon as its page is read).
//!
//! Conversions take the k8s-openapi types by value and keep only what the snapshot needs, so a list
//! of 20,000 Pods costs a few megabytes once read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use envtrail_model::{ConfigValue, Digest, Fingerprint};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSpec, PodTemplateSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::image::running_digest;
use crate::secret::HmacKey;

/// The kinds of workload reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// batch/v1 CronJob (its job template).
    CronJob,
    /// A Pod with no owner.
    Pod,
}

impl Kind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::CronJob => "CronJob",
            Self::Pod => "Pod",
        }
    }

    fn from_owner_kind(kind: &str) -> Option<Self> {
        match kind {
            "Deployment" => Some(Self::Deployment),
            "StatefulSet" => Some(Self::StatefulSet),
            "DaemonSet" => Some(Self::DaemonSet),
            "CronJob" => Some(Self::CronJob),
            _ => None,
        }
    }
}

/// An owner reference, reduced to what resolution needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Its kind (`ReplicaSet`, `Job`, `Deployment`, ...).
    pub kind: String,
    /// Its name (owners live in the same namespace).
    pub name: String,
}

/// `(init, container name, running digest)`: one entry per container status that has a digest.
pub type Running = Vec<(bool, String, Digest)>;

/// A Deployment, StatefulSet, DaemonSet, CronJob or bare Pod.
#[derive(Debug, Clone)]
pub struct WorkloadObject {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its own labels.
    pub labels: BTreeMap<String, String>,
    /// Its own annotations.
    pub annotations: BTreeMap<String, String>,
    /// The labels of its pod template.
    pub template_labels: BTreeMap<String, String>,
    /// Its pod spec (the template's, the job template's, or the Pod's own).
    pub spec: PodSpec,
}

/// A Pod that belongs to a workload: its owner and what its containers run.
#[derive(Debug, Clone)]
pub struct PodObject {
    /// The controlling owner.
    pub owner: Owner,
    /// What its containers run.
    pub running: Running,
}

/// Everything read from one namespace.
#[derive(Debug, Default)]
pub struct Inventory {
    /// The namespace.
    pub namespace: String,
    /// Deployments, StatefulSets, DaemonSets and CronJobs that passed the label selector.
    pub workloads: Vec<WorkloadObject>,
    /// Pods with no owner (label selector not yet applied), with their running digests.
    pub bare_pods: Vec<(WorkloadObject, Running)>,
    /// ReplicaSet name → its controlling owner.
    pub replica_sets: HashMap<String, Owner>,
    /// Job name → its controlling owner.
    pub jobs: HashMap<String, Owner>,
    /// Pods with an owner.
    pub pods: Vec<PodObject>,
    /// Referenced ConfigMaps: name → key → value.
    pub config_maps: HashMap<String, BTreeMap<String, ConfigValue>>,
    /// Referenced Secrets: name → key → keyed fingerprint.
    pub secrets: HashMap<String, BTreeMap<String, Fingerprint>>,
}

fn name_of(meta: &ObjectMeta) -> Option<String> {
    meta.name.clone().filter(|n| !n.is_empty())
}

/// The controlling owner (`controller: true`), else the first.
fn owner_of(meta: &ObjectMeta) -> Option<Owner> {
    let refs = meta.owner_references.as_ref()?;
    let chosen = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| refs.first())?;
    Some(Owner {
        kind: chosen.kind.clone(),
        name: chosen.name.clone(),
    })
}

fn from_template(
    kind: Kind,
    meta: ObjectMeta,
    template: Option<PodTemplateSpec>,
) -> Option<WorkloadObject> {
    let name = name_of(&meta)?;
    let template = template.unwrap_or_default();
    Some(WorkloadObject {
        kind,
        name,
        labels: meta.labels.unwrap_or_default(),
        annotations: meta.annotations.unwrap_or_default(),
        template_labels: template.metadata.and_then(|m| m.labels).unwrap_or_default(),
        spec: template.spec.unwrap_or_default(),
    })
}

/// A Deployment as a workload.
pub fn deployment(d: Deployment) -> Option<WorkloadObject> {
    from_template(Kind::Deployment, d.metadata, d.spec.map(|s| s.template))
}

/// A StatefulSet as a workload.
pub fn stateful_set(s: StatefulSet) -> Option<WorkloadObject> {
    from_template(Kind::StatefulSet, s.metadata, s.spec.map(|s| s.template))
}

/// A DaemonSet as a workload.
pub fn daemon_set(d: DaemonSet) -> Option<WorkloadObject> {
    from_template(Kind::DaemonSet, d.metadata, d.spec.map(|s| s.template))
}

/// A CronJob as a workload: its job template's pod template.
pub fn cron_job(c: CronJob) -> Option<WorkloadObject> {
    let template = c.spec.and_then(|s| s.job_template.spec).map(|s| s.template);
    from_template(Kind::CronJob, c.metadata, template)
}

/// A ReplicaSet's or Job's name and controlling owner.
pub fn owner_link(meta: ObjectMeta) -> Option<(String, Owner)> {
    Some((name_of(&meta)?, owner_of(&meta)?))
}

/// A ReplicaSet's owner link.
pub fn replica_set(r: ReplicaSet) -> Option<(String, Owner)> {
    owner_link(r.metadata)
}

/// A Job's owner link.
pub fn job(j: Job) -> Option<(String, Owner)> {
    owner_link(j.metadata)
}

/// A listed Pod: a bare Pod becomes a workload, an owned one keeps its owner and running digests.
pub enum ListedPod {
    /// No owner: the Pod is its own workload, with its running digests.
    Bare(Box<WorkloadObject>, Running),
    /// Owned by a controller.
    Owned(PodObject),
}

/// Sorts a listed Pod.
pub fn pod(p: Pod) -> Option<ListedPod> {
    let name = name_of(&p.metadata)?;
    let owner = owner_of(&p.metadata);
    let status = p.status.unwrap_or_default();
    let mut running = Vec::new();
    for (init, statuses) in [
        (true, status.init_container_statuses),
        (false, status.container_statuses),
    ] {
        for s in statuses.unwrap_or_default() {
            if let Some(digest) = running_digest(&s.image_id) {
                running.push((init, s.name, digest));
            }
        }
    }
    Some(match owner {
        None => ListedPod::Bare(
            Box::new(WorkloadObject {
                kind: Kind::Pod,
                name,
                labels: p.metadata.labels.unwrap_or_default(),
                annotations: p.metadata.annotations.unwrap_or_default(),
                template_labels: BTreeMap::new(),
                spec: p.spec.unwrap_or_default(),
            }),
            running,
        ),
        Some(owner) => ListedPod::Owned(PodObject { owner, running }),
    })
}

/// The workload a Pod belongs to, following Pod → ReplicaSet → Deployment and Pod → Job → CronJob.
/// `None` for owners that are not reported (a Node's mirror Pods, a bare ReplicaSet or Job, custom
/// controllers).
pub fn resolve_owner(
    owner: &Owner,
    replica_sets: &HashMap<String, Owner>,
    jobs: &HashMap<String, Owner>,
) -> Option<(Kind, String)> {
    let top = match owner.kind.as_str() {
        "ReplicaSet" => replica_sets.get(&owner.name)?,
        "Job" => jobs.get(&owner.name)?,
        _ => owner,
    };
    let kind = Kind::from_owner_kind(&top.kind)?;
    // A ReplicaSet owned by a Job, or a Job owned by a Deployment, is not a real chain.
    match (owner.kind.as_str(), kind) {
        ("ReplicaSet", Kind::Deployment) | ("Job", Kind::CronJob) => Some((kind, top.name.clone())),
        ("ReplicaSet" | "Job", _) => None,
        (_, Kind::Deployment | Kind::CronJob) => None,
        _ => Some((kind, top.name.clone())),
    }
}

/// A ConfigMap's keys as config values: text under `cap` bytes kept, binary data fingerprinted.
pub fn config_map(c: ConfigMap, cap: usize) -> Option<(String, BTreeMap<String, ConfigValue>)> {
    let name = name_of(&c.metadata)?;
    let mut keys = BTreeMap::new();
    for (k, v) in c.data.unwrap_or_default() {
        keys.insert(k, plain_value(v, cap));
    }
    for (k, v) in c.binary_data.unwrap_or_default() {
        keys.insert(
            k,
            ConfigValue {
                fingerprint: sha256_fingerprint(&v.0),
                value: None,
                secret: false,
            },
        );
    }
    Some((name, keys))
}

/// A Secret's keys as keyed fingerprints; the bytes are dropped here.
pub fn secret(s: Secret, key: &HmacKey) -> Option<(String, BTreeMap<String, Fingerprint>)> {
    let name = name_of(&s.metadata)?;
    let keys = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, key.fingerprint(&v.0)))
        .collect();
    Some((name, keys))
}

/// A plain config value: fingerprint always, the value itself when at most `cap` bytes.
pub fn plain_value(value: String, cap: usize) -> ConfigValue {
    let fingerprint = Fingerprint::of_plain_value(&value);
    ConfigValue {
        fingerprint,
        value: (value.len() <= cap).then_some(value),
        secret: false,
    }
}

fn sha256_fingerprint(bytes: &[u8]) -> Fingerprint {
    Digest::sha256_of(bytes)
        .as_str()
        .parse()
        .expect("a sha256 digest is a valid fingerprint")
}

/// The ConfigMaps and Secrets a pod spec references, by name.
pub fn references(spec: &PodSpec) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut maps, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        for e in c.env.iter().flatten() {
            if let Some(from) = &e.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    maps.insert(r.name.clone());
                }
                if let Some(r) = &from.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.config_map_ref {
                maps.insert(r.name.clone());
            }
            if let Some(r) = &e.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            maps.insert(c.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.insert(s);
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &p.config_map {
                maps.insert(c.name.clone());
            }
            if let Some(s) = &p.secret {
                secrets.insert(s.name.clone());
            }
        }
    }
    (maps, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(kind: &str, name: &str) -> Owner {
        Owner {
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn tables() -> (HashMap<String, Owner>, HashMap<String, Owner>) {
        let rs = HashMap::from([
            ("web-6d5f".to_owned(), owner("Deployment", "web")),
            ("bare-rs".to_owned(), owner("Job", "odd")),
        ]);
        let jobs = HashMap::from([
            ("hello-1567179180".to_owned(), owner("CronJob", "hello")),
            ("oneoff".to_owned(), owner("Deployment", "odd")),
        ]);
        (rs, jobs)
    }

    #[test]
    fn owner_chains_resolve_to_their_workload() {
        let (rs, jobs) = tables();
        let resolve = |o: Owner| resolve_owner(&o, &rs, &jobs);
        assert_eq!(
            resolve(owner("ReplicaSet", "web-6d5f")),
            Some((Kind::Deployment, "web".into()))
        );
        assert_eq!(
            resolve(owner("Job", "hello-1567179180")),
            Some((Kind::CronJob, "hello".into()))
        );
        assert_eq!(
            resolve(owner("StatefulSet", "db")),
            Some((Kind::StatefulSet, "db".into()))
        );
        assert_eq!(
            resolve(owner("DaemonSet", "agent")),
            Some((Kind::DaemonSet, "agent".into()))
        );
    }

    #[test]
    fn unreported_owners_resolve_to_nothing() {
        let (rs, jobs) = tables();
        let resolve = |o: Owner| resolve_owner(&o, &rs, &jobs);
        // Mirror pods of static pods, unknown ReplicaSets, odd chains, custom controllers.
        assert_eq!(resolve(owner("Node", "kind-control-plane")), None);
        assert_eq!(resolve(owner("ReplicaSet", "gone")), None);
        assert_eq!(resolve(owner("ReplicaSet", "bare-rs")), None);
        assert_eq!(resolve(owner("Job", "oneoff")), None);
        assert_eq!(resolve(owner("Rollout", "canary")), None);
        // A Pod cannot be owned by a Deployment or CronJob directly.
        assert_eq!(resolve(owner("Deployment", "web")), None);
    }

    #[test]
    fn the_controller_owner_wins() {
        let meta: ObjectMeta = serde_json::from_value(serde_json::json!({
            "name": "p",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d5f", "uid": "2", "controller": true}
            ]
        }))
        .unwrap();
        assert_eq!(owner_of(&meta), Some(owner("ReplicaSet", "web-6d5f")));
    }

    #[test]
    fn pods_keep_every_container_status_digest() {
        let listed: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1", "controller": true}]},
            "status": {
                "initContainerStatuses": [{"name": "init", "image": "i", "imageID": format!("docker-pullable://i@sha256:{}", "1".repeat(64)), "ready": true, "restartCount": 0}],
                "containerStatuses": [
                    {"name": "a", "image": "a", "imageID": format!("a@sha256:{}", "2".repeat(64)), "ready": true, "restartCount": 0},
                    {"name": "b", "image": "b", "imageID": "", "ready": false, "restartCount": 0},
                    {"name": "c", "image": "c", "imageID": format!("sha256:{}", "3".repeat(64)), "ready": true, "restartCount": 0}
                ]
            }
        }))
        .unwrap();
        let Some(ListedPod::Owned(p)) = pod(listed) else {
            panic!("an owned pod")
        };
        let names: Vec<(bool, &str)> = p.running.iter().map(|(i, n, _)| (*i, n.as_str())).collect();
        assert_eq!(names, vec![(true, "init"), (false, "a"), (false, "c")]);
        assert_eq!(p.owner, owner("ReplicaSet", "rs"));
    }
}
