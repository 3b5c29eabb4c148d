//! `envtrail diff A B`: every component that differs between two environment states (two
//! environments, or one environment at two instants), in name order. Components with equal state
//! hashes are equal without further work; the rest are compared in parallel.

use std::cmp::Ordering;
use std::sync::Arc;

use envtrail_model::output::{Comparison, ComparisonSide, DIFF_SCHEMA, EnvironmentEvidence};
use envtrail_model::view::{ComponentEntry, EnvironmentState};
use envtrail_model::{ComponentName, Digest};
use rayon::prelude::*;

use crate::components::component_change;
use crate::error::DiffError;
use crate::identity::ArtifactIdentity;
use crate::policy::Policy;

/// Compares `left` (the older or upstream side) with `right`.
///
/// `links` are (platform manifest, image index) pairs; the artifact facts of both sides add
/// theirs. See [`component_change`] for what counts as a change.
pub fn compare(
    left: &EnvironmentState,
    right: &EnvironmentState,
    links: &[(Digest, Digest)],
    policy: &Policy,
) -> Result<Comparison, DiffError> {
    let policy = policy.compile()?;
    let identity = ArtifactIdentity::for_environments(links, [left, right]);
    let right_complete = right.is_complete();
    let pairs = join(left, right);
    let changes: Vec<_> = pairs
        .par_iter()
        .filter_map(|(name, l, r)| {
            if let (Some(l), Some(r)) = (l, r)
                && same_state(l, r)
            {
                return None;
            }
            component_change(
                name,
                l.map(|e| &*e.current.state),
                r.map(|e| &*e.current.state),
                right_complete,
                &identity,
                &policy,
            )
        })
        .collect();
    Ok(Comparison {
        schema: DIFF_SCHEMA.to_owned(),
        left: side(left),
        right: side(right),
        unchanged: pairs.len() - changes.len(),
        changes,
    })
}

/// Whether two entries certainly hold the same state (same allocation or same hash).
pub(crate) fn same_state(l: &ComponentEntry, r: &ComponentEntry) -> bool {
    Arc::ptr_eq(&l.current.state, &r.current.state) || l.current.state_hash == r.current.state_hash
}

type Pair<'a> = (
    &'a ComponentName,
    Option<&'a ComponentEntry>,
    Option<&'a ComponentEntry>,
);

/// Every component of either side, in name order, with its entry on each side.
fn join<'a>(left: &'a EnvironmentState, right: &'a EnvironmentState) -> Vec<Pair<'a>> {
    let mut out = Vec::with_capacity(left.components.len().max(right.components.len()));
    let mut l = left.components.iter().peekable();
    let mut r = right.components.iter().peekable();
    loop {
        let order = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            Ordering::Less => {
                let (name, e) = l.next().unwrap();
                out.push((name, Some(e), None));
            }
            Ordering::Greater => {
                let (name, e) = r.next().unwrap();
                out.push((name, None, Some(e)));
            }
            Ordering::Equal => {
                let ((name, a), (_, b)) = (l.next().unwrap(), r.next().unwrap());
                out.push((name, Some(a), Some(b)));
            }
        }
    }
    out
}

/// The evidence an answer about `env` rests on.
pub fn evidence(env: &EnvironmentState) -> EnvironmentEvidence {
    EnvironmentEvidence {
        environment: env.environment.clone(),
        snapshot: Some(env.snapshot.clone()),
        next: env.next.clone(),
        sources: env.sources.clone(),
        complete: env.is_complete(),
    }
}

fn side(env: &EnvironmentState) -> ComparisonSide {
    ComparisonSide {
        environment: env.environment.clone(),
        at: env.at,
        evidence: evidence(env),
    }
}
