//! envtrail's diff engine: pure functions from environment states (what the store knew at an
//! instant, with history) to findings and comparisons. No IO, no store: the CLI loads
//! [`envtrail_model::view::EnvironmentState`]s and hands them over.
//!
//! - [`report`]: every finding along a promotion path (dev → staging → prod);
//! - [`compare`]: how two environment states differ, component by component (`envtrail diff`);
//! - [`component_change`]: how one component differs between two states (`envtrail history`).
//!
//! Work runs in parallel (rayon) over components; output is sorted, so it is deterministic.
//! A platform manifest and the image index that contains it are one artifact
//! ([`ArtifactIdentity`]), never drift.
//!
//! ```
//! use std::collections::{BTreeMap, HashMap};
//! use std::sync::Arc;
//! use envtrail_diff::{Policy, report};
//! use envtrail_model::view::{ComponentEntry, EnvironmentState, ReportInput, SnapshotRef, StateInterval};
//! use envtrail_model::{ComponentState, FindingKind, Workload};
//!
//! let at = envtrail_model::parse_time("2026-03-10T12:00:00Z").unwrap();
//! let env = |name: &str, digest: char| {
//!     let snapshot = SnapshotRef {
//!         id: 1, environment: name.parse().unwrap(), seq: 1, taken_at: at, hash: "h".into(),
//!     };
//!     let workload: Workload = serde_json::from_value(serde_json::json!({
//!         "component": "api", "source": "k8s", "ref": "Deployment/app/api",
//!         "containers": [{"name": "api", "image": "api:1",
//!                         "running_digests": [format!("sha256:{}", digest.to_string().repeat(64))]}],
//!     })).unwrap();
//!     let state = ComponentState { workloads: vec![workload], infrastructure: vec![] };
//!     let current = StateInterval {
//!         from: snapshot.clone(), until: None, state_hash: state.state_hash(), state: Arc::new(state),
//!     };
//!     EnvironmentState {
//!         environment: name.parse().unwrap(), at, snapshot, next: None, sources: vec![],
//!         components: BTreeMap::from([("api".parse().unwrap(), ComponentEntry { current, previous: vec![] })]),
//!         artifacts: BTreeMap::new(), sightings: HashMap::new(),
//!     }
//! };
//! // prod runs an artifact staging never ran: a hotfix the next promotion would overwrite.
//! let input = ReportInput {
//!     at,
//!     path: vec!["staging".parse().unwrap(), "prod".parse().unwrap()],
//!     environments: vec![Some(env("staging", 'a')), Some(env("prod", 'b'))],
//!     artifact_links: vec![],
//!     tag_history: vec![],
//! };
//! let report = report(&input, &Policy::default()).unwrap();
//! assert_eq!(report.findings.len(), 1);
//! assert_eq!(report.findings[0].kind, FindingKind::UnpromotedHotfix);
//! assert_eq!(report.summary.highest, Some(envtrail_model::Severity::High));
//! ```

mod artifacts;
mod compare;
mod components;
mod config_drift;
mod context;
mod error;
mod findings;
mod health;
mod identity;
mod infra_drift;
mod merge_back;
mod mixed_versions;
mod out_of_band;
mod policy;
mod presence;
mod promotion;
mod report;
mod tags;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use artifacts::ArtifactPolicy;
pub use compare::{compare, evidence};
pub use components::{
    TYPE_ATTRIBUTE, attribute_changes, changed_keys, component_change, key_changes, same_artifacts,
    same_config,
};
pub use error::DiffError;
pub use identity::ArtifactIdentity;
pub use policy::{CompiledPolicy, IgnoreRule, Policy};
pub use report::{report, report_with_merge_facts};
