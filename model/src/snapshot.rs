//! The snapshot v1 exchange format: what one environment ran at one instant, as collectors write it,
//! `import` reads it and `export` writes it back. `schemas/snapshot.v1.schema.json` is generated
//! from these types.
//!
//! Compatibility rule: v1 only grows. Unknown top-level fields are kept (in [`Snapshot::extra`]) and
//! round-trip through the store; unknown fields inside items are ignored. Optional fields may be
//! added; no field is renamed or removed while the schema string stays `envtrail.snapshot.v1`.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{ComponentName, Digest, EnvName, Fingerprint};
use crate::state::ComponentState;
use crate::time::Timestamp;

/// The value of the `schema` field of every v1 snapshot.
pub const SNAPSHOT_SCHEMA: &str = "envtrail.snapshot.v1";

/// What one environment ran at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// Always `envtrail.snapshot.v1`.
    pub schema: String,
    /// The environment this snapshot describes.
    pub environment: EnvName,
    /// When the collection started (RFC 3339).
    pub taken_at: Timestamp,
    /// Every source the collection read, with whether it succeeded.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// What runs: one entry per workload (Deployment, ECS service, Lambda function, ...).
    #[serde(default)]
    pub workloads: Vec<Workload>,
    /// Facts about the artifacts (images, zips) the workloads run, keyed by digest.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// Infrastructure resources (Terraform state) and the attributes that matter.
    #[serde(default)]
    pub infrastructure: Vec<InfraItem>,
    /// Top-level fields this version does not know: kept so they round-trip.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: BTreeMap<String, Value>,
}

/// One place the snapshot was read from: a cluster, an account and region, a state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    /// Stable id, e.g. `k8s/prod-eu`, `aws/123456789012/eu-west-1`.
    pub id: String,
    /// The kind of source: `kubernetes`, `aws`, `terraform`, `oci`, `file`...
    pub kind: String,
    /// Whether everything was read.
    pub status: SourceStatus,
    /// Why the source failed or is partial. Never contains a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Source kinds that add facts about artifacts rather than report what runs (the OCI registry
/// enrichment): when one fails, artifact facts are `unchecked`, but no component is unknown.
pub const ENRICHMENT_SOURCE_KINDS: &[&str] = &["oci"];

impl Source {
    /// Whether this source reports workloads (so its failure leaves components unknown), as
    /// opposed to enriching artifact facts ([`ENRICHMENT_SOURCE_KINDS`]).
    pub fn reports_workloads(&self) -> bool {
        !ENRICHMENT_SOURCE_KINDS.contains(&self.kind.as_str())
    }
}

/// Whether a source was read completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Everything was read.
    Ok,
    /// Some of it was read (e.g. a 403 on one namespace): what it did not report is unknown.
    Partial,
    /// Nothing was read: every component it would have reported is unknown.
    Failed,
}

impl SourceStatus {
    /// `ok`, `partial` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }
}

/// One running thing (Deployment, StatefulSet, ECS service, Lambda function...) of a component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Workload {
    /// The logical service name, the same in every environment.
    pub component: ComponentName,
    /// The id of the source (in `sources`) that reported it.
    pub source: String,
    /// The workload's own reference in its source, e.g. `Deployment/payments/api`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Its containers (and init containers).
    #[serde(default)]
    pub containers: Vec<Container>,
    /// The configuration it consumes, key by key.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
    /// Descriptive labels (Helm chart, Argo app, managed-by). Not compared by the diff.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// One container of a workload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Container {
    /// Container name.
    pub name: String,
    /// The image as declared (`registry/repo:tag` or `repo@sha256:...`).
    pub image: String,
    /// The declared digest where the declaration pins one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The digests actually running (one per distinct digest across pods or tasks).
    #[serde(default)]
    pub running_digests: Vec<Digest>,
    /// Whether this is an init container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
}

impl Container {
    /// The artifacts this container runs: its running digests where known, else its declared digest.
    pub fn artifact_digests(&self) -> impl Iterator<Item = &Digest> {
        let declared = if self.running_digests.is_empty() {
            self.digest.as_ref()
        } else {
            None
        };
        self.running_digests.iter().chain(declared)
    }
}

/// One config key's value as stored: always a fingerprint, the value only for plain config.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ConfigValue {
    /// `sha256:` of the value, or `hmac-sha256:` keyed for secrets.
    pub fingerprint: Fingerprint,
    /// The value, for plain config under the size cap. Never present for secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether the value is a secret (only its keyed fingerprint is known).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// Facts about one artifact, immutable by digest except its tags and verification results.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Artifact {
    /// The artifact's digest (a platform manifest, an index, or a zip's sha256).
    pub digest: Digest,
    /// Where it lives, e.g. `registry.example.com/payments/api`.
    pub repository: String,
    /// The tags that pointed to it when collected.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The image index that contains this platform manifest, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    /// `os/arch[/variant]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The source revision (git commit) it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The source repository URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// When it was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// The version it was labelled with (`org.opencontainers.image.version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its size in bytes (an image: manifest, config and layers; an index: the index itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Signature verification result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Verification>,
    /// Build provenance verification result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Verification>,
}

/// The result of checking a signature or a provenance attestation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Verification {
    /// verified, missing, invalid or unchecked.
    pub status: VerificationStatus,
    /// The signer identity or key that verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The builder id (provenance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    /// The attested source (provenance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why it is invalid, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Outcome of a signature or provenance check.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Checked and valid.
    Verified,
    /// None found.
    Missing,
    /// Found but failed the check.
    Invalid,
    /// Not checked.
    Unchecked,
}

/// One infrastructure resource with the attributes that matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InfraItem {
    /// The component it belongs to.
    pub component: ComponentName,
    /// The id of the source (in `sources`) that reported it.
    pub source: String,
    /// The resource address, e.g. `module.db.aws_db_instance.payments`.
    pub address: String,
    /// The resource type, e.g. `aws_db_instance`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Selected attributes (sensitive ones as fingerprints).
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
    /// Descriptive facts that are not compared by the diff, e.g. `address`: the address as written
    /// in the state when naming rules normalised it. Added in v1 (optional).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A component of a snapshot document that the reader left unparsed: the texts of its workloads
/// are exactly the compact serialisation of the state the store holds for it, as their quick
/// hash shows ([`crate::ComponentState::quick_hash_of_workload_texts`]). The store takes that
/// state again after checking, in the import's transaction, that it still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnparsedComponent {
    /// The component.
    pub component: ComponentName,
    /// The quick hash of its state, computed from the document's bytes.
    pub quick: crate::state::QuickHash,
    /// Its workloads, for the checks between fields ([`Snapshot::validate_with`]).
    pub workloads: Vec<UnparsedWorkload>,
}

/// What the checks between fields need of a workload left unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnparsedWorkload {
    /// Its index in the document's `workloads`.
    pub index: usize,
    /// Its `source`.
    pub source: String,
    /// Its `ref`.
    pub reference: String,
}

/// Why a snapshot was refused. The message names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The `schema` field is not `envtrail.snapshot.v1`.
    #[error("field `schema`: expected {SNAPSHOT_SCHEMA:?}, found {0:?}")]
    Schema(String),
    /// A field holds a value the format does not allow.
    #[error("field `{field}`: {why}")]
    Field {
        /// JSON path of the field, e.g. `workloads[3].source`.
        field: String,
        /// What is wrong.
        why: String,
    },
}

impl Snapshot {
    /// Checks what serde cannot: the schema string, references between fields, and that no secret
    /// carries a value.
    pub fn validate(&self) -> Result<(), SnapshotError> {
        self.validate_with(&[])
    }

    /// [`Snapshot::validate`] for a snapshot whose `unparsed` components were left out of
    /// `workloads` by the reader: their workloads take part in the checks between fields (the
    /// source exists, no workload twice), and none of them may also be among the parsed items.
    pub fn validate_with<'a>(
        &'a self,
        unparsed: &'a [UnparsedComponent],
    ) -> Result<(), SnapshotError> {
        if self.schema != SNAPSHOT_SCHEMA {
            return Err(SnapshotError::Schema(self.schema.clone()));
        }
        let mut ids = HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            if source.id.is_empty() {
                return Err(field(format!("sources[{i}].id"), "must not be empty"));
            }
            if !ids.insert(source.id.as_str()) {
                return Err(field(
                    format!("sources[{i}].id"),
                    format!("duplicate source id {:?}", source.id),
                ));
            }
        }
        // A workload's place: its source exists and no other workload has its (source, ref).
        let mut refs = HashSet::new();
        let mut place = |index: usize, source: &'a str, reference: &'a str| {
            if !ids.contains(source) {
                return Err(field(
                    format!("workloads[{index}].source"),
                    format!("{source:?} is not one of the snapshot's sources"),
                ));
            }
            if !refs.insert((source, reference)) {
                return Err(field(
                    format!("workloads[{index}].ref"),
                    format!("duplicate workload {reference:?} in source {source:?}"),
                ));
            }
            Ok(())
        };
        for (i, w) in self.workloads.iter().enumerate() {
            place(i, &w.source, &w.reference)?;
            let mut names = HashSet::new();
            for (j, c) in w.containers.iter().enumerate() {
                if !names.insert((c.init, c.name.as_str())) {
                    return Err(field(
                        format!("workloads[{i}].containers[{j}].name"),
                        format!("duplicate container {:?}", c.name),
                    ));
                }
            }
            for (key, value) in &w.config {
                if value.secret && value.value.is_some() {
                    // Never echo the value itself.
                    return Err(field(
                        format!("workloads[{i}].config.{key}.value"),
                        "a secret carries only its fingerprint, never a value",
                    ));
                }
                if value.secret && !value.fingerprint.is_keyed() {
                    return Err(field(
                        format!("workloads[{i}].config.{key}.fingerprint"),
                        "a secret's fingerprint must be keyed (hmac-sha256:...)",
                    ));
                }
            }
        }
        let mut left_out = HashSet::new();
        for component in unparsed {
            let name = &component.component;
            if !left_out.insert(name) {
                return Err(field(
                    "workloads".to_owned(),
                    format!("component {name} was left unparsed twice"),
                ));
            }
            for w in &component.workloads {
                place(w.index, &w.source, &w.reference)?;
            }
        }
        if !left_out.is_empty() {
            let parsed = self
                .workloads
                .iter()
                .map(|w| &w.component)
                .chain(self.infrastructure.iter().map(|i| &i.component));
            for name in parsed {
                if left_out.contains(name) {
                    return Err(field(
                        "workloads".to_owned(),
                        format!("component {name} is both parsed and left unparsed"),
                    ));
                }
            }
        }
        let mut digests = HashSet::new();
        for (i, a) in self.artifacts.iter().enumerate() {
            if !digests.insert(&a.digest) {
                return Err(field(
                    format!("artifacts[{i}].digest"),
                    format!("duplicate artifact {}", a.digest),
                ));
            }
        }
        let mut addresses = HashSet::new();
        for (i, item) in self.infrastructure.iter().enumerate() {
            if !ids.contains(item.source.as_str()) {
                return Err(field(
                    format!("infrastructure[{i}].source"),
                    format!("{:?} is not one of the snapshot's sources", item.source),
                ));
            }
            if !addresses.insert((item.source.as_str(), item.address.as_str())) {
                return Err(field(
                    format!("infrastructure[{i}].address"),
                    format!(
                        "duplicate resource {:?} in source {:?}",
                        item.address, item.source
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Puts every list in its canonical order (so equal content serialises identically).
    pub fn normalize(&mut self) {
        self.sources.sort_by(|a, b| a.id.cmp(&b.id));
        for w in &mut self.workloads {
            w.containers.sort();
            for c in &mut w.containers {
                c.running_digests.sort();
                c.running_digests.dedup();
            }
        }
        self.workloads.sort_by(|a, b| {
            (&a.component, &a.source, &a.reference).cmp(&(&b.component, &b.source, &b.reference))
        });
        for a in &mut self.artifacts {
            a.tags.sort();
            a.tags.dedup();
        }
        self.artifacts.sort_by(|a, b| a.digest.cmp(&b.digest));
        self.infrastructure.sort_by(|a, b| {
            (&a.component, &a.source, &a.address).cmp(&(&b.component, &b.source, &b.address))
        });
    }

    /// Groups workloads and infrastructure by component. The states are in canonical order.
    pub fn component_states(&self) -> BTreeMap<ComponentName, ComponentState> {
        let mut states: BTreeMap<ComponentName, ComponentState> = BTreeMap::new();
        for w in &self.workloads {
            states
                .entry(w.component.clone())
                .or_default()
                .workloads
                .push(w.clone());
        }
        for item in &self.infrastructure {
            states
                .entry(item.component.clone())
                .or_default()
                .infrastructure
                .push(item.clone());
        }
        for state in states.values_mut() {
            state.normalize();
        }
        states
    }

    /// Like [`Snapshot::component_states`], but moves the workloads and infrastructure out instead
    /// of cloning them (an import no longer needs them once grouped); the snapshot keeps its header
    /// and artifacts.
    pub fn take_component_states(&mut self) -> BTreeMap<ComponentName, ComponentState> {
        let mut states: BTreeMap<ComponentName, ComponentState> = BTreeMap::new();
        for w in std::mem::take(&mut self.workloads) {
            let entry = states.entry(w.component.clone()).or_default();
            entry.workloads.push(w);
        }
        for item in std::mem::take(&mut self.infrastructure) {
            let entry = states.entry(item.component.clone()).or_default();
            entry.infrastructure.push(item);
        }
        for state in states.values_mut() {
            state.normalize();
        }
        states
    }

    /// The snapshot without its items: what the store keeps once per snapshot.
    pub fn header(&self) -> SnapshotHeader {
        SnapshotHeader {
            schema: self.schema.clone(),
            environment: self.environment.clone(),
            taken_at: self.taken_at,
            sources: self.sources.clone(),
            extra: self.extra.clone(),
        }
    }

    /// Rebuilds a snapshot from its header, component states and artifacts (the store's export).
    pub fn from_parts(
        header: SnapshotHeader,
        states: impl IntoIterator<Item = ComponentState>,
        artifacts: Vec<Artifact>,
    ) -> Self {
        let mut snapshot = Snapshot {
            schema: header.schema,
            environment: header.environment,
            taken_at: header.taken_at,
            sources: header.sources,
            workloads: Vec::new(),
            artifacts,
            infrastructure: Vec::new(),
            extra: header.extra,
        };
        for state in states {
            snapshot.workloads.extend(state.workloads);
            snapshot.infrastructure.extend(state.infrastructure);
        }
        snapshot.normalize();
        snapshot
    }

    /// The sources that did not report everything.
    pub fn incomplete_sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(|s| s.status != SourceStatus::Ok)
    }
}

/// A snapshot's metadata without its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SnapshotHeader {
    /// Always `envtrail.snapshot.v1`.
    pub schema: String,
    /// The environment.
    pub environment: EnvName,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// Its sources.
    pub sources: Vec<Source>,
    /// Unknown top-level fields, kept.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: BTreeMap<String, Value>,
}

fn field(field: String, why: impl Into<String>) -> SnapshotError {
    SnapshotError::Field {
        field,
        why: why.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn sample() -> Snapshot {
        serde_json::from_value(serde_json::json!({
            "schema": "envtrail.snapshot.v1",
            "environment": "prod",
            "taken_at": "2026-11-20T10:00:00Z",
            "sources": [{"id": "k8s/prod", "kind": "kubernetes", "status": "ok"}],
            "workloads": [{
                "component": "api", "source": "k8s/prod", "ref": "Deployment/p/api",
                "containers": [{"name": "api", "image": "r/api:1", "digest": digest('a'),
                                "running_digests": [digest('b'), digest('a')]}],
                "config": {"LOG": {"fingerprint": Fingerprint::of_plain_value("info"), "value": "info"}}
            }],
            "future_field": {"x": 1}
        }))
        .unwrap()
    }

    #[test]
    fn unknown_top_level_fields_are_kept() {
        let s = sample();
        assert_eq!(s.extra["future_field"], serde_json::json!({"x": 1}));
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["future_field"]["x"], 1);
    }

    #[test]
    fn validate_rejects_unknown_source_and_secret_values() {
        let mut s = sample();
        s.validate().unwrap();
        s.workloads[0].source = "nope".into();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("workloads[0].source"), "{err}");

        let mut s = sample();
        let v = s.workloads[0].config.get_mut("LOG").unwrap();
        v.secret = true;
        v.fingerprint = format!("hmac-sha256:{}", "1".repeat(64)).parse().unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("config.LOG.value"), "{err}");
        assert!(!err.contains("info"), "the value must not be echoed: {err}");
    }

    #[test]
    fn unparsed_components_take_part_in_the_checks_between_fields() {
        let unparsed = |component: &str, source: &str, reference: &str| UnparsedComponent {
            component: component.parse().unwrap(),
            quick: [0; 32],
            workloads: vec![UnparsedWorkload {
                index: 7,
                source: source.into(),
                reference: reference.into(),
            }],
        };
        let s = sample();
        s.validate_with(&[unparsed("web", "k8s/prod", "Deployment/p/web")])
            .unwrap();
        let err = s
            .validate_with(&[unparsed("web", "gone", "Deployment/p/web")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("workloads[7].source") && err.contains("gone"),
            "{err}"
        );
        let err = s
            .validate_with(&[unparsed("web", "k8s/prod", "Deployment/p/api")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("workloads[7].ref") && err.contains("duplicate"),
            "{err}"
        );
        let err = s
            .validate_with(&[unparsed("api", "k8s/prod", "Deployment/p/api2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("both parsed and left unparsed"), "{err}");
        let twice = [
            unparsed("web", "k8s/prod", "Deployment/p/web"),
            unparsed("web", "k8s/prod", "Deployment/p/web2"),
        ];
        let err = s.validate_with(&twice).unwrap_err().to_string();
        assert!(err.contains("left unparsed twice"), "{err}");
    }

    #[test]
    fn validate_rejects_wrong_schema() {
        let mut s = sample();
        s.schema = "envtrail.snapshot.v9".into();
        assert!(matches!(s.validate(), Err(SnapshotError::Schema(_))));
    }

    #[test]
    fn running_digests_win_over_declared() {
        let s = sample();
        let c = &s.workloads[0].containers[0];
        let got: Vec<_> = c.artifact_digests().map(|d| d.to_string()).collect();
        assert_eq!(got, vec![digest('b'), digest('a')]);
        let mut declared_only = c.clone();
        declared_only.running_digests.clear();
        assert_eq!(declared_only.artifact_digests().count(), 1);
    }

    #[test]
    fn taking_the_states_gives_what_grouping_copies_gives() {
        let mut s = sample();
        let copied = s.component_states();
        let taken = s.take_component_states();
        assert!(!copied.is_empty());
        assert_eq!(copied, taken);
        assert!(s.workloads.is_empty() && s.infrastructure.is_empty());
    }

    #[test]
    fn from_parts_round_trips() {
        let mut s = sample();
        s.normalize();
        let rebuilt = Snapshot::from_parts(
            s.header(),
            s.component_states().into_values(),
            s.artifacts.clone(),
        );
        assert_eq!(rebuilt, s);
    }
}
