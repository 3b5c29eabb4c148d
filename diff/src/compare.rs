//! `envtrail diff A B`: every component that differs between two environment states (two
//! environments, or one environment at two instants), in name order. Components with equal state
//! hashes are equal without further work; the rest are compared in parallel.

use std::cmp::Ordering;
use std::collections::BTreeMap;
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
    let pairs = join(&left.components, &right.components);
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

/// A component with its entry on the left and on the right side.
pub(crate) type Pair<'a> = (
    &'a ComponentName,
    Option<&'a ComponentEntry>,
    Option<&'a ComponentEntry>,
);

/// Every component of either map, in name order, with its entry on each side: one merge of two
/// sorted maps instead of a lookup per component.
pub(crate) fn join<'a>(
    left: &'a BTreeMap<ComponentName, ComponentEntry>,
    right: &'a BTreeMap<ComponentName, ComponentEntry>,
) -> Vec<Pair<'a>> {
    let mut out = Vec::with_capacity(left.len().max(right.len()));
    let mut l = left.iter().peekable();
    let mut r = right.iter().peekable();
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

#[cfg(test)]
mod tests {
    use envtrail_model::output::ChangeKind;
    use envtrail_model::{ComponentState, SourceStatus};
    use serde_json::json;

    use super::*;
    use crate::test_support::*;

    /// A tiny deterministic generator (xorshift), so the property test needs no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn random_state(rng: &mut Rng) -> ComponentState {
        let mut b = StateBuilder::new();
        for c in 0..=rng.next(3) {
            let digests: Vec<_> = (0..rng.next(3))
                .map(|_| digest(rng.next(20) as u32))
                .collect();
            b = b.container_in(
                &format!("Deployment/ns/w{}", rng.next(2)),
                &format!("c{c}"),
                &digests,
            );
        }
        for k in 0..rng.next(4) {
            b = if rng.next(2) == 0 {
                b.config(&format!("K{k}"), &rng.next(3).to_string())
            } else {
                b.secret(&format!("S{k}"), &rng.next(3).to_string())
            };
        }
        if rng.next(2) == 0 {
            b = b.infra(
                "aws_s3_bucket.b",
                "aws_s3_bucket",
                json!({"versioning": rng.next(2) == 0}),
            );
        }
        b.build()
    }

    fn random_env(seed: u64) -> EnvironmentState {
        let mut rng = Rng(seed);
        let mut env = EnvBuilder::at("prod");
        for i in 0..50 {
            env = env.component(&format!("svc-{i}"), random_state(&mut rng));
        }
        if rng.next(2) == 0 {
            env = env.source("aws/prod", SourceStatus::Failed, None);
        }
        env.build()
    }

    #[test]
    fn a_state_compared_with_itself_has_no_change() {
        for seed in 1..=20 {
            let x = random_env(seed * 7919);
            let links = [(digest(1), digest(2)), (digest(3), digest(4))];
            let same = compare(&x, &x, &links, &Policy::default()).unwrap();
            assert!(same.changes.is_empty(), "seed {seed}: {:?}", same.changes);
            assert_eq!(same.unchanged, x.components.len());
            // A deep copy (no shared allocations, hashes recomputed) is equal too.
            let mut copy = x.clone();
            for entry in copy.components.values_mut() {
                let state = (*entry.current.state).clone();
                entry.current.state_hash = state.state_hash();
                entry.current.state = std::sync::Arc::new(state);
            }
            assert!(
                compare(&x, &copy, &links, &Policy::default())
                    .unwrap()
                    .changes
                    .is_empty()
            );
        }
    }

    #[test]
    fn changes_are_sorted_and_classified() {
        let left = EnvBuilder::at("prod")
            .component("b-kept", runs(&[digest(1)]))
            .component("c-gone", runs(&[digest(2)]))
            .component("d-same", runs(&[digest(3)]))
            .component("a-changed", runs(&[digest(4)]));
        let right = EnvBuilder::new("prod", snap("prod", 2, 0))
            .component("b-kept", runs(&[digest(1)]))
            .component("d-same", runs(&[digest(3)]))
            .component("a-changed", runs(&[digest(5)]))
            .component("e-new", runs(&[digest(6)]));
        let c = compare(&left.build(), &right.build(), &[], &Policy::default()).unwrap();
        let got: Vec<_> = c
            .changes
            .iter()
            .map(|c| (c.component.as_str(), c.change))
            .collect();
        assert_eq!(
            got,
            [
                ("a-changed", ChangeKind::Changed),
                ("c-gone", ChangeKind::Removed),
                ("e-new", ChangeKind::Added)
            ]
        );
        assert_eq!(c.unchanged, 2);
        assert_eq!(c.schema, DIFF_SCHEMA);
        assert_eq!(c.right.evidence.snapshot.as_ref().unwrap().seq, 2);
    }

    #[test]
    fn vanished_behind_a_failed_source_is_unknown() {
        let left = EnvBuilder::at("prod").component("api", runs(&[digest(1)]));
        let right =
            EnvBuilder::at("prod").source("aws/prod", SourceStatus::Failed, Some("timeout"));
        let c = compare(&left.build(), &right.build(), &[], &Policy::default()).unwrap();
        assert_eq!(c.changes.len(), 1);
        assert_eq!(c.changes[0].change, ChangeKind::Unknown);
        assert!(!c.right.evidence.complete);
    }

    #[test]
    fn index_digest_against_platform_digest_is_no_change() {
        let left = EnvBuilder::at("staging").component("api", runs(&[digest(10)]));
        let right = EnvBuilder::at("prod").component("api", runs(&[digest(11)]));
        let links = [(digest(11), digest(10))];
        let c = compare(&left.build(), &right.build(), &links, &Policy::default()).unwrap();
        assert!(c.changes.is_empty(), "{:?}", c.changes);
        assert_eq!(c.unchanged, 1);
        let c = compare(
            &EnvBuilder::at("staging")
                .component("api", runs(&[digest(10)]))
                .build(),
            &EnvBuilder::at("prod")
                .component("api", runs(&[digest(11)]))
                .build(),
            &[],
            &Policy::default(),
        )
        .unwrap();
        assert!(
            c.changes[0].artifacts_changed,
            "without the link they differ"
        );
    }
}
