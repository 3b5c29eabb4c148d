//! The JSON documents the CLI prints (`--format json`). Each carries a `schema` field naming its
//! version; `schemas/*.schema.json` are generated from these types. Contract: fields are added,
//! never renamed or removed, within one schema version.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::finding::{Finding, FindingKind, Severity};
use crate::names::{ComponentName, Digest, EnvName, Fingerprint};
use crate::snapshot::{Artifact, InfraItem, Source, Workload};
use crate::time::Timestamp;
use crate::view::SnapshotRef;

/// Schema id of [`Report`].
pub const REPORT_SCHEMA: &str = "envtrail.report.v1";
/// Schema id of [`AsOf`].
pub const ASOF_SCHEMA: &str = "envtrail.asof.v1";
/// Schema id of [`Comparison`].
pub const DIFF_SCHEMA: &str = "envtrail.diff.v1";
/// Schema id of [`History`].
pub const HISTORY_SCHEMA: &str = "envtrail.history.v1";
/// Schema id of [`Environments`].
pub const ENVS_SCHEMA: &str = "envtrail.envs.v1";
/// Schema id of [`VerifyResult`].
pub const VERIFY_SCHEMA: &str = "envtrail.verify.v1";
/// Schema id of [`ImportResult`].
pub const IMPORT_SCHEMA: &str = "envtrail.import.v1";
/// Schema id of [`NotifyMessage`].
pub const NOTIFY_SCHEMA: &str = "envtrail.notify.v1";

/// Which snapshot of an environment an answer used, and the window it speaks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentEvidence {
    /// The environment.
    pub environment: EnvName,
    /// The snapshot in force at the instant asked (`null`: none existed yet).
    pub snapshot: Option<SnapshotRef>,
    /// The next snapshot after the instant: the state held somewhere between the two.
    pub next: Option<SnapshotRef>,
    /// Its sources with their status.
    pub sources: Vec<Source>,
    /// Whether every source reported everything.
    pub complete: bool,
}

/// Counts of a report's findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Findings reported (ignored ones excluded).
    pub total: usize,
    /// Findings per severity.
    pub by_severity: BTreeMap<Severity, usize>,
    /// Findings per kind.
    pub by_kind: BTreeMap<FindingKind, usize>,
    /// Findings an ignore rule silenced.
    pub ignored: usize,
    /// The highest severity reported, if any.
    pub highest: Option<Severity>,
}

/// The ignore rule that silenced a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IgnoreRuleRef {
    /// The kind it names.
    pub kind: FindingKind,
    /// The component glob.
    pub component: String,
    /// Why.
    pub reason: Option<String>,
    /// Until when (a date).
    pub expires: Option<String>,
}

/// A finding an ignore rule silenced, with the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IgnoredFinding {
    /// The finding.
    pub finding: Finding,
    /// The rule.
    pub rule: IgnoreRuleRef,
}

/// `envtrail report`: every finding along a promotion path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// `envtrail.report.v1`.
    pub schema: String,
    /// The instant the report describes.
    pub at: Timestamp,
    /// The promotion path, upstream first.
    pub path: Vec<EnvName>,
    /// The snapshot each environment's answer rests on.
    pub environments: Vec<EnvironmentEvidence>,
    /// The store's chain head when the report was made.
    pub chain_head: Option<String>,
    /// Counts.
    pub summary: Summary,
    /// The findings, most severe first.
    pub findings: Vec<Finding>,
    /// Findings silenced by ignore rules.
    pub ignored: Vec<IgnoredFinding>,
}

/// How one component differs between two sides.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Only on the right (newer) side.
    Added,
    /// Only on the left side, and the right side's sources were complete.
    Removed,
    /// On both sides, different.
    Changed,
    /// Only on the left side, but the right side has failed or partial sources: unknown.
    Unknown,
}

/// One config key that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyChange {
    /// The key.
    pub key: String,
    /// Left fingerprint(s); empty when absent.
    pub left: Vec<Fingerprint>,
    /// Right fingerprint(s); empty when absent.
    pub right: Vec<Fingerprint>,
    /// Whether the key holds a secret (values never shown).
    pub secret: bool,
    /// Whether the key is declared environment-specific.
    pub environment_specific: bool,
}

/// One infrastructure attribute that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttributeChange {
    /// The resource address.
    pub address: String,
    /// The attribute.
    pub attribute: String,
    /// Left value (`null`: absent).
    pub left: Option<Value>,
    /// Right value.
    pub right: Option<Value>,
}

/// How one component differs between two sides of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentChange {
    /// The component.
    pub component: ComponentName,
    /// How.
    pub change: ChangeKind,
    /// Artifacts on the left.
    pub left_artifacts: Vec<Digest>,
    /// Artifacts on the right.
    pub right_artifacts: Vec<Digest>,
    /// Whether the artifacts differ (index and platform digests of one image are the same).
    pub artifacts_changed: bool,
    /// Config keys that differ.
    pub config: Vec<KeyChange>,
    /// Infrastructure attributes that differ.
    pub infrastructure: Vec<AttributeChange>,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComparisonSide {
    /// The environment.
    pub environment: EnvName,
    /// The instant.
    pub at: Timestamp,
    /// The snapshot used.
    pub evidence: EnvironmentEvidence,
}

/// `envtrail diff A B`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    /// `envtrail.diff.v1`.
    pub schema: String,
    /// The left (older or upstream) side.
    pub left: ComparisonSide,
    /// The right side.
    pub right: ComparisonSide,
    /// Components that differ, by name.
    pub changes: Vec<ComponentChange>,
    /// Components equal on both sides.
    pub unchanged: usize,
}

/// One component in `envtrail asof`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AsOfComponent {
    /// The component.
    pub component: ComponentName,
    /// The first snapshot of the state in force (since when it held).
    pub since: SnapshotRef,
    /// The state's hash.
    pub state_hash: String,
    /// The artifacts it ran.
    pub artifacts: Vec<Digest>,
    /// Its workloads (containers and config; secrets as fingerprints only).
    pub workloads: Vec<Workload>,
    /// Its infrastructure items.
    pub infrastructure: Vec<InfraItem>,
}

/// `envtrail asof ENV TIME`: what ran, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AsOf {
    /// `envtrail.asof.v1`.
    pub schema: String,
    /// The instant asked.
    pub at: Timestamp,
    /// The snapshot used and the evidence window.
    pub evidence: EnvironmentEvidence,
    /// Every component.
    pub components: Vec<AsOfComponent>,
    /// Artifact facts recorded in the snapshot.
    pub artifacts: Vec<Artifact>,
    /// With `--evidence`: the chain links of the snapshots the answer rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainEvidence>,
}

/// One change in `envtrail history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEvent {
    /// The snapshot that first showed the change.
    pub snapshot: SnapshotRef,
    /// The snapshot before it (the change happened between the two).
    pub previous: Option<SnapshotRef>,
    /// What changed.
    pub change: ComponentChange,
}

/// `envtrail history ENV`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct History {
    /// `envtrail.history.v1`.
    pub schema: String,
    /// The environment.
    pub environment: EnvName,
    /// The component filter, if any.
    pub component: Option<ComponentName>,
    /// Start of the period (inclusive).
    pub since: Option<Timestamp>,
    /// End of the period (inclusive).
    pub until: Option<Timestamp>,
    /// Changes, oldest first.
    pub events: Vec<HistoryEvent>,
    /// With `--evidence`: the chain links of every snapshot the events name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainEvidence>,
}

/// One environment in `envtrail envs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentSummary {
    /// The environment.
    pub environment: EnvName,
    /// How many snapshots are stored.
    pub snapshots: i64,
    /// The newest.
    pub newest: SnapshotRef,
    /// Components in the newest.
    pub components: usize,
    /// Its sources.
    pub sources: Vec<Source>,
    /// Whether every source of the newest snapshot reported everything.
    pub complete: bool,
}

/// `envtrail envs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Environments {
    /// `envtrail.envs.v1`.
    pub schema: String,
    /// One per environment, by name.
    pub environments: Vec<EnvironmentSummary>,
}

/// One problem `envtrail verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyProblem {
    /// The snapshot at fault, if the problem is in one.
    pub snapshot_id: Option<i64>,
    /// What is wrong.
    pub message: String,
}

/// `envtrail verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyResult {
    /// `envtrail.verify.v1`.
    pub schema: String,
    /// Whether the chain and database are intact.
    pub ok: bool,
    /// How many snapshots were checked.
    pub snapshots_checked: i64,
    /// The chain head.
    pub chain_head: Option<String>,
    /// The first broken link, and any other problem.
    pub problems: Vec<VerifyProblem>,
    /// After a prune: the checkpoint the chain is verified from, and its signature's status
    /// (absent when the store was never pruned and the chain starts at the genesis link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<crate::checkpoint::CheckpointCheck>,
}

/// What happened to one imported snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportedSnapshot {
    /// The file it came from (`-` for stdin).
    pub file: String,
    /// The stored snapshot.
    pub snapshot: SnapshotRef,
    /// False when an identical snapshot was already stored (nothing new written).
    pub stored: bool,
    /// Components whose state changed since the environment's previous snapshot.
    pub components_changed: usize,
    /// Components in the snapshot.
    pub components: usize,
    /// `import`: of `components`, those whose workloads were parsed from the file. The others'
    /// bytes were exactly the states the store already held for them, so they were stored as
    /// those states without being parsed again (docs/store.md). Absent for `collect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components_parsed: Option<usize>,
}

/// `envtrail import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportResult {
    /// `envtrail.import.v1`.
    pub schema: String,
    /// One per file.
    pub imported: Vec<ImportedSnapshot>,
}

/// What a `envtrail notify` message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyMode {
    /// Every finding that passes the target's filter (`findings`).
    Full,
    /// `--only-changes`: the findings new (`new`) or resolved (`resolved`) since the last
    /// successful post to this target; `findings` still holds every current one.
    Changes,
}

/// The body `envtrail notify` posts to a generic webhook target (`kind = "webhook"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NotifyMessage {
    /// `envtrail.notify.v1`.
    pub schema: String,
    /// The target's name from the config.
    pub target: String,
    /// One line for humans.
    pub title: String,
    /// The instant the report describes.
    pub at: Timestamp,
    /// The promotion path, upstream first.
    pub path: Vec<EnvName>,
    /// Full summary or changes only.
    pub mode: NotifyMode,
    /// Findings that pass the target's filter.
    pub total: usize,
    /// Those findings per severity.
    pub by_severity: BTreeMap<Severity, usize>,
    /// Those findings, most severe first.
    pub findings: Vec<Finding>,
    /// New since the last successful post (`changes` mode; empty otherwise).
    pub new: Vec<Finding>,
    /// Resolved since the last successful post (`changes` mode; empty otherwise).
    pub resolved: Vec<Finding>,
    /// The HTML report's address, when the target has a `report_url`.
    pub report_url: Option<String>,
}

/// One snapshot's place in the hash chain, as `--evidence` prints it: recompute
/// `link = sha256(previous_link || "\n" || content_hash)` and follow the links to the chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainLink {
    /// The store's id (global import order).
    pub id: i64,
    /// The environment.
    pub environment: EnvName,
    /// The environment's own snapshot number.
    pub seq: i64,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// The root over its items (component states and artifact facts).
    pub items_root: String,
    /// sha256 of its canonical header and items root.
    pub content_hash: String,
    /// The link of the snapshot before it in the chain.
    pub previous_link: String,
    /// Its link.
    pub link: String,
}

/// What `--evidence` adds to `asof` and `history`: the chain links of every snapshot the answer
/// rests on, and the chain head they lead to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainEvidence {
    /// The snapshots, by id.
    pub links: Vec<ChainLink>,
    /// The store's chain head when the answer was given.
    pub chain_head: Option<String>,
}
