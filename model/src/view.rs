//! What the store hands the diff: the state of an environment at an instant, with the history the
//! promotion findings need (sightings of artifacts, previous states of components). The store
//! builds these; the diff only reads them, so it never touches SQLite.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::{ComponentName, Digest, EnvName};
use crate::snapshot::{Artifact, Source, SourceStatus};
use crate::state::ComponentState;
use crate::time::Timestamp;

/// A stored snapshot, as evidence: which one, of which environment, when, and its chain link.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct SnapshotRef {
    /// The store's id (global import order).
    pub id: i64,
    /// The environment.
    pub environment: EnvName,
    /// The environment's own snapshot number (1, 2, ...).
    pub seq: i64,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// Its chain link hash (hex sha256): `envtrail verify` recomputes it.
    pub hash: String,
}

/// One period during which a component had one state in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct StateInterval {
    /// The first snapshot with this state.
    pub from: SnapshotRef,
    /// The first later snapshot without it (`None`: still in force at the instant asked).
    pub until: Option<SnapshotRef>,
    /// The state's hash.
    pub state_hash: String,
    /// The state.
    pub state: Arc<ComponentState>,
}

/// A component in an environment at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentEntry {
    /// The interval in force.
    pub current: StateInterval,
    /// Earlier intervals in this environment, oldest first (empty unless history was asked for).
    /// Intervals may have gaps: a component can vanish and come back.
    pub previous: Vec<StateInterval>,
}

/// When an artifact was first seen in an environment (only sightings at or before the instant
/// asked are given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The first snapshot that ran it.
    pub first: SnapshotRef,
}

/// An environment as the store knew it at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentState {
    /// The environment.
    pub environment: EnvName,
    /// The instant asked.
    pub at: Timestamp,
    /// The snapshot in force: the latest taken at or before `at`.
    pub snapshot: SnapshotRef,
    /// The next snapshot after `at`, if any: the end of the evidence window.
    pub next: Option<SnapshotRef>,
    /// The sources of the snapshot in force, with their status.
    pub sources: Vec<Source>,
    /// Every component in the snapshot in force.
    pub components: BTreeMap<ComponentName, ComponentEntry>,
    /// Artifact facts recorded in the snapshot in force.
    pub artifacts: BTreeMap<Digest, Artifact>,
    /// Every artifact run in this environment in any snapshot up to `at` (empty unless history was
    /// asked for).
    pub sightings: HashMap<Digest, Sighting>,
}

impl EnvironmentState {
    /// Whether every source of the snapshot in force that reports workloads reported everything.
    /// A failed enrichment source (a registry) leaves artifact facts unchecked, not components
    /// unknown, so it does not count here (it still yields a `collection_gap`).
    pub fn is_complete(&self) -> bool {
        self.sources
            .iter()
            .all(|s| s.status == SourceStatus::Ok || !s.reports_workloads())
    }

    /// The sources that failed or are partial.
    pub fn incomplete_sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(|s| s.status != SourceStatus::Ok)
    }
}

/// One record of a tag pointing at a digest: a repository:tag that the artifact facts of an
/// environment's snapshots carried on `digest`, from `first` to `last` (both at or before the
/// instant asked). `mutable_tag` compares these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TagSighting {
    /// `host/path` of the repository.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The digest it pointed to.
    pub digest: Digest,
    /// The environment whose snapshots recorded it.
    pub environment: EnvName,
    /// The first snapshot recording it.
    pub first: SnapshotRef,
    /// The last snapshot recording it.
    pub last: SnapshotRef,
}

/// Everything a promotion report needs, along the path, upstream first.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput {
    /// The instant the report is for.
    pub at: Timestamp,
    /// The promotion path, upstream first.
    pub path: Vec<EnvName>,
    /// One entry per environment of the path, in path order: `None` where no snapshot exists at
    /// or before `at`.
    pub environments: Vec<Option<EnvironmentState>>,
    /// Every known (platform manifest, image index) pair, from all artifact facts in the store:
    /// the two digests are the same artifact.
    pub artifact_links: Vec<(Digest, Digest)>,
    /// Every recorded (repository:tag → digest) of every environment up to `at`, from the
    /// artifact facts of stored snapshots (empty when not asked for: `mutable_tag` then compares
    /// only the environments' current facts).
    pub tag_history: Vec<TagSighting>,
}
