//! The checkpoint a prune leaves behind (`envtrail.checkpoint.v1`), and what `envtrail prune`
//! prints (`envtrail.prune.v1`).
//!
//! `envtrail prune --before T` removes history older than what each environment ran at `T`. The
//! hash chain then no longer starts at the genesis link: it starts at the *cut*, the first
//! snapshot still in the chain, whose previous link is the link of a removed snapshot. The
//! [`Checkpoint`] records that link, each environment's snapshot in force at `T` (its chain link
//! in full), what was removed, and a root over the few references kept for removed snapshots;
//! it is signed with the evidence key, so `verify` can check the chain from the checkpoint on and
//! that the checkpoint itself was not rewritten. See docs/retention.md.
//!
//! The signed bytes are the RFC 8785 canonical JSON of the [`Checkpoint`]
//! ([`crate::canonical::canonical_json`]); the signature is an
//! [`EvidenceSignature`](crate::evidence::EvidenceSignature), the same as a bundle's.
//!
//! Compatibility rule: v1 only grows, with optional fields; a verifier checks the signature over
//! the stored bytes, so fields it does not know are still covered by it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::evidence::EvidenceSignature;
use crate::names::EnvName;
use crate::output::ChainLink;
use crate::time::Timestamp;

/// The value of a checkpoint's `schema` field.
pub const CHECKPOINT_SCHEMA: &str = "envtrail.checkpoint.v1";

/// Schema id of [`PruneResult`], the output of `envtrail prune`.
pub const PRUNE_SCHEMA: &str = "envtrail.prune.v1";

/// The signed record of one prune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Checkpoint {
    /// Always `envtrail.checkpoint.v1`.
    pub schema: String,
    /// 1 for the store's first prune, then 2, 3, ...
    pub number: i64,
    /// The `--before` instant: history older than what each environment ran then was removed.
    pub before: Timestamp,
    /// When the prune ran.
    pub created_at: Timestamp,
    /// The program that pruned, e.g. `envtrail 0.1.0`.
    pub generator: String,
    /// sha256 of the previous checkpoint's signed bytes (`null` for the first): the prunes form a
    /// chain of their own, and this signature vouches for the earlier records.
    pub previous: Option<String>,
    /// Where the hash chain now starts.
    pub cut: ChainCut,
    /// The store's chain head when the prune ran.
    pub chain_head: String,
    /// Every environment that had a snapshot at or before `before`, by name.
    pub environments: Vec<PrunedEnvironment>,
    /// What this prune removed.
    pub removed: PruneCounts,
    /// sha256 over the references kept for removed snapshots (a component's `since`, an
    /// artifact's first sighting) and the first sightings older than each environment's kept
    /// snapshot: what `verify` cannot recompute from the chain any more, vouched for here.
    pub retained_root: String,
    /// The signing key's id (`sha256:` of its public key); absent only in a dry run's preview,
    /// which is never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// The start of the verifiable chain after a prune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainCut {
    /// The first snapshot still in the chain (store id).
    pub snapshot_id: i64,
    /// The chain link before it: the link of the last removed snapshot, in place of the genesis.
    pub link: String,
}

/// One environment at the cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PrunedEnvironment {
    /// The environment.
    pub environment: EnvName,
    /// Its snapshot in force at `before`: kept whole, with everything after it. Answers about
    /// the environment start at its `taken_at`.
    pub in_force: ChainLink,
    /// The environment's first snapshot still in the chain: `in_force` itself, or an earlier
    /// one kept only as a header and hashes because another environment's kept snapshot comes
    /// later in the chain.
    pub first_seq: i64,
    /// Its snapshots removed by this prune (rows gone from the chain).
    pub removed_snapshots: i64,
    /// Its snapshots before `in_force` still in the chain as header and hashes only.
    pub header_only_snapshots: i64,
}

/// How much a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PruneCounts {
    /// Snapshots removed from the chain.
    pub snapshots: i64,
    /// Snapshots whose content was removed but whose header and hashes stay in the chain.
    pub header_only_snapshots: i64,
    /// Membership intervals (a component or artifact holding one body) removed.
    pub intervals: i64,
    /// Component state bodies no longer referenced, removed.
    pub states: i64,
    /// Artifact fact bodies no longer referenced, removed.
    pub artifacts: i64,
}

/// `envtrail prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PruneResult {
    /// `envtrail.prune.v1`.
    pub schema: String,
    /// The `--before` instant asked.
    pub before: Timestamp,
    /// True for `--dry-run`: nothing was changed, and `checkpoint` is what would be signed.
    pub dry_run: bool,
    /// The checkpoint written (or that would be); `null` when there was nothing to prune.
    pub checkpoint: Option<Checkpoint>,
    /// Its signature (`null` in a dry run).
    pub signature: Option<EvidenceSignature>,
    /// Why nothing was pruned, when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nothing_to_prune: Option<String>,
    /// Whether the file was compacted afterwards (`--vacuum`).
    pub vacuumed: bool,
}

/// Whether a stored checkpoint's signature was checked, as `verify` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// The signature verifies over the checkpoint's stored bytes.
    Verified,
    /// Not checked (the store library's `verify` holds no keys; `envtrail verify` checks).
    NotChecked,
    /// It does not verify: see the problems.
    Failed,
}

/// What `verify` says about the store's latest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckpointCheck {
    /// The checkpoint the chain is verified from.
    pub checkpoint: Checkpoint,
    /// Its signature's status.
    pub signature: SignatureStatus,
    /// Whether the signature was checked against a key the verifier gave (`--key`), rather than
    /// only the key the checkpoint names.
    pub key_pinned: bool,
    /// How many prunes the store has had (every checkpoint is kept).
    pub checkpoints: i64,
}
