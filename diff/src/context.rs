//! What every finding rule reads: the environments of the path in order, the artifact identity
//! and the compiled policy. Built once per report, shared read-only by the parallel rules.
//!
//! Whether and when an environment ran an artifact is looked up, not indexed: the store's
//! sightings are already a map by digest, so a lookup per class member (an artifact and the
//! digests linked to it) costs less than building anything over 50,000 components.

use envtrail_model::finding::Evidence;
use envtrail_model::view::{EnvironmentState, SnapshotRef};
use envtrail_model::{ComponentName, Digest, EnvName, Timestamp};

use crate::identity::ArtifactIdentity;
use crate::policy::CompiledPolicy;

/// One environment of the path.
pub(crate) struct Env<'a> {
    /// Its name (from the path).
    pub name: &'a EnvName,
    /// Its state at the report time; `None` when it had no snapshot yet.
    pub state: Option<&'a EnvironmentState>,
    at: Timestamp,
    identity: &'a ArtifactIdentity,
}

impl<'a> Env<'a> {
    /// When this environment first ran the artifact whose canonical digest is `digest`, if it
    /// ever did (at or before the report time): the earliest sighting of any digest of its class.
    /// When the sightings do not know it (a state given without history), the intervals of
    /// `component` here are searched instead, so what an environment runs always counts as seen.
    pub fn first_seen(
        &self,
        component: &ComponentName,
        digest: &Digest,
    ) -> Option<&'a SnapshotRef> {
        let state = self.state?;
        let sighted = self
            .identity
            .members(digest)
            .iter()
            .filter_map(|d| state.sightings.get(d))
            .map(|s| &s.first)
            .filter(|first| first.taken_at <= self.at)
            .min_by_key(|first| (first.taken_at, first.seq));
        if sighted.is_some() {
            return sighted;
        }
        let entry = state.components.get(component)?;
        entry
            .previous
            .iter()
            .chain([&entry.current])
            .find_map(|interval| {
                let runs = interval
                    .state
                    .workloads
                    .iter()
                    .flat_map(|w| &w.containers)
                    .flat_map(|c| c.artifact_digests())
                    .any(|d| self.identity.canonical_ref(d) == digest);
                (runs && interval.from.taken_at <= self.at).then_some(&interval.from)
            })
    }

    /// Whether this environment's history can vouch that it never ran what `component` runs
    /// elsewhere: it has a snapshot, and either every source of it is complete or it reported the
    /// component (so the component's own state is known).
    pub fn knows_absence(&self, component: &ComponentName) -> bool {
        self.state
            .is_some_and(|s| s.is_complete() || s.components.contains_key(component))
    }

    /// Whether it has a snapshot and every source of it reported everything.
    pub fn is_complete(&self) -> bool {
        self.state.is_some_and(EnvironmentState::is_complete)
    }

    /// `current` evidence: the snapshot in force, if any.
    pub fn current(&self) -> Option<Evidence> {
        self.state.map(|s| evidence("current", &s.snapshot))
    }
}

/// Everything the rules share.
pub(crate) struct Context<'a> {
    /// The report time.
    pub at: Timestamp,
    /// The path's environments, upstream first.
    pub envs: Vec<Env<'a>>,
    /// Which digests are the same artifact.
    pub identity: &'a ArtifactIdentity,
    /// The policy.
    pub policy: &'a CompiledPolicy,
}

impl<'a> Context<'a> {
    /// The context of a report at `at` over `path` (whose states are `states`).
    pub fn new(
        at: Timestamp,
        path: &'a [EnvName],
        states: &'a [Option<EnvironmentState>],
        identity: &'a ArtifactIdentity,
        policy: &'a CompiledPolicy,
    ) -> Self {
        let envs = path
            .iter()
            .zip(states)
            .map(|(name, state)| Env {
                name,
                state: state.as_ref(),
                at,
                identity,
            })
            .collect();
        Self {
            at,
            envs,
            identity,
            policy,
        }
    }
}

/// Evidence with `role` resting on `snapshot`.
pub(crate) fn evidence(role: &str, snapshot: &SnapshotRef) -> Evidence {
    Evidence {
        role: role.to_owned(),
        snapshot: snapshot.clone(),
    }
}
