//! What every finding rule reads: the environments of the path in order, each with an index of
//! the artifacts it has ever run (canonical digest → first sighting), plus the artifact identity
//! and the compiled policy. Built once per report, shared read-only by the parallel rules.

use std::collections::HashMap;

use envtrail_model::finding::Evidence;
use envtrail_model::view::{EnvironmentState, SnapshotRef};
use envtrail_model::{ComponentName, Digest, EnvName, Timestamp};
use rayon::prelude::*;

use crate::identity::ArtifactIdentity;
use crate::policy::CompiledPolicy;

/// One environment of the path.
pub(crate) struct Env<'a> {
    /// Its name (from the path).
    pub name: &'a EnvName,
    /// Its state at the report time; `None` when it had no snapshot yet.
    pub state: Option<&'a EnvironmentState>,
    /// Canonical digest → the first snapshot that ran it, at or before the report time.
    seen: HashMap<&'a Digest, &'a SnapshotRef>,
}

impl<'a> Env<'a> {
    /// Indexes `state`'s sightings, plus the artifacts of every interval it holds (so that a state
    /// given without history still counts what it runs now as seen).
    pub fn new(
        name: &'a EnvName,
        state: Option<&'a EnvironmentState>,
        at: Timestamp,
        identity: &'a ArtifactIdentity,
    ) -> Self {
        let mut seen: HashMap<&'a Digest, &'a SnapshotRef> = HashMap::new();
        if let Some(state) = state {
            seen.reserve(state.sightings.len());
            let mut note = |digest: &'a Digest, first: &'a SnapshotRef| {
                if first.taken_at > at {
                    return;
                }
                let entry = seen.entry(identity.canonical_ref(digest)).or_insert(first);
                if (first.taken_at, first.seq) < (entry.taken_at, entry.seq) {
                    *entry = first;
                }
            };
            for (digest, sighting) in &state.sightings {
                note(digest, &sighting.first);
            }
            for entry in state.components.values() {
                for interval in entry.previous.iter().chain([&entry.current]) {
                    for container in interval.state.workloads.iter().flat_map(|w| &w.containers) {
                        for digest in container.artifact_digests() {
                            note(digest, &interval.from);
                        }
                    }
                }
            }
        }
        Self { name, state, seen }
    }

    /// When `digest` (canonical) first ran here, if it ever did.
    pub fn first_seen(&self, digest: &Digest) -> Option<&'a SnapshotRef> {
        self.seen.get(digest).copied()
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
    /// Indexes every environment (in parallel).
    pub fn new(
        at: Timestamp,
        path: &'a [EnvName],
        states: &'a [Option<EnvironmentState>],
        identity: &'a ArtifactIdentity,
        policy: &'a CompiledPolicy,
    ) -> Self {
        let envs = path
            .par_iter()
            .zip(states)
            .map(|(name, state)| Env::new(name, state.as_ref(), at, identity))
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
