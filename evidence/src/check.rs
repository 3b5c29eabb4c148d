//! Recomputing a bundle from its own bytes with the model's canonical functions: every state and
//! artifact hash, every bundled snapshot's items root (replaying the membership deltas), every
//! content hash and chain link, the chain head, and the coverage of the period (no snapshot of
//! the environment within it may lack its content; no bundled one may lie outside it).
//!
//! Items roots are the expensive part (a year of hourly snapshots of 2,000 components is millions
//! of item hashes), so the deltas are replayed once to cut the bundled snapshots into chunks, and
//! the chunks' roots are computed in parallel. Problems are reported in chain order, so the first
//! one names the first broken thing.

use std::collections::{BTreeMap, BTreeSet};

use envtrail_model::canonical::{
    ItemKind, canonical_json, chain_link, content_hash, hash_canonical, items_root,
};
use envtrail_model::evidence::{ChainEntry, EVIDENCE_SCHEMA, EvidenceBundle, MembershipDelta};
use envtrail_model::time::format_time;
use rayon::prelude::*;

/// Bundled snapshots per parallel chunk of root computation.
const CHUNK: usize = 128;

/// What [`check_bundle`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleOutcome {
    /// Bundled snapshots whose content was recomputed.
    pub snapshots: usize,
    /// Chain entries whose link was recomputed.
    pub chain_entries: usize,
    /// What did not check, in chain order after the bodies.
    pub problems: Vec<String>,
}

/// Membership: (kind, key) → hash.
type Members = BTreeMap<(ItemKind, String), String>;

/// Checks everything in the bundle but its signature.
pub fn check_bundle(bundle: &EvidenceBundle) -> BundleOutcome {
    let mut problems = Vec::new();
    if bundle.schema != EVIDENCE_SCHEMA {
        problems.push(format!(
            "the bundle's schema is {:?}, not {EVIDENCE_SCHEMA:?}",
            bundle.schema
        ));
    }
    if bundle.chain.is_empty() {
        problems.push("the bundle holds no snapshot".into());
        return BundleOutcome {
            problems,
            ..BundleOutcome::default()
        };
    }
    problems.extend(check_bodies(bundle));

    // Which entries are bundled, and the roots their members give.
    let bundled: Vec<usize> = (0..bundle.chain.len())
        .filter(|&i| bundle.chain[i].members.is_some())
        .collect();
    let roots = recompute_roots(bundle, &bundled);
    let mut root_of = BTreeMap::new();
    for (&i, root) in bundled.iter().zip(&roots) {
        root_of.insert(i, root.as_str());
    }

    problems.extend(check_coverage(bundle));

    let mut previous = bundle.chain_start.clone();
    for (i, entry) in bundle.chain.iter().enumerate() {
        let mut wrong = Vec::new();
        let root = match root_of.get(&i) {
            Some(root) => {
                if *root != entry.items_root {
                    wrong.push(
                        "its items root does not match its members (a component's state or an \
                         artifact's facts was changed, added or removed)"
                            .to_owned(),
                    );
                }
                *root
            }
            None => entry.items_root.as_str(),
        };
        let content = content_hash(&canonical_json(&entry.header), root);
        if content != entry.content_hash {
            wrong.push(
                "its content hash does not match its header and items (the header or its \
                 content was altered)"
                    .to_owned(),
            );
        }
        if chain_link(&previous, &content) != entry.link {
            wrong.push(
                "its link does not follow from the previous link and its content (snapshots \
                 were removed, reordered or altered)"
                    .to_owned(),
            );
        }
        if !wrong.is_empty() {
            problems.push(format!("{}: {}", describe(entry), wrong.join("; ")));
        }
        previous = entry.link.clone();
    }
    if previous != bundle.chain_head {
        problems.push(format!(
            "the last chain entry's link {previous} is not the bundle's chain head {} (the \
             chain was cut short)",
            bundle.chain_head
        ));
    }
    BundleOutcome {
        snapshots: bundled.len(),
        chain_entries: bundle.chain.len(),
        problems,
    }
}

/// `snapshot 12 of prod (#5, taken at 2026-11-20T10:00:00Z)`.
fn describe(entry: &ChainEntry) -> String {
    let seq = entry
        .members
        .as_ref()
        .map(|m| format!("#{}, ", m.seq))
        .unwrap_or_default();
    format!(
        "snapshot {} of {} ({seq}taken at {})",
        entry.id,
        entry.header.environment,
        format_time(&entry.header.taken_at)
    )
}

/// Every body hashes to its key; every member's body is present unless the component filter
/// withholds it.
fn check_bodies(bundle: &EvidenceBundle) -> Vec<String> {
    let mut problems: Vec<String> = bundle
        .states
        .par_iter()
        .filter_map(|(hash, state)| {
            let actual = state.state_hash();
            (actual != *hash).then(|| {
                format!("component state {hash}: its body hashes to {actual}: it was altered")
            })
        })
        .collect();
    problems.extend(
        bundle
            .artifacts
            .par_iter()
            .filter_map(|(hash, artifact)| {
                let actual = hash_canonical(artifact);
                (actual != *hash).then(|| {
                    format!(
                        "facts of artifact {} ({hash}): their body hashes to {actual}: they \
                         were altered",
                        artifact.digest
                    )
                })
            })
            .collect::<Vec<_>>(),
    );
    let shown_digests: BTreeSet<String> = bundle
        .states
        .values()
        .flat_map(|s| s.artifact_digests())
        .map(|d| d.to_string())
        .collect();
    let mut missing = BTreeSet::new();
    for entry in &bundle.chain {
        let Some(members) = &entry.members else {
            continue;
        };
        for (key, hash) in &members.components {
            let Some(hash) = hash else { continue };
            let disclosed = bundle.component.as_ref().is_none_or(|c| c.as_str() == key);
            if disclosed && !bundle.states.contains_key(hash) {
                missing.insert(format!(
                    "the state {hash} of component {key} (first in {}) is missing from the bundle",
                    describe(entry)
                ));
            }
        }
        for (digest, hash) in &members.artifacts {
            let Some(hash) = hash else { continue };
            let disclosed = bundle.component.is_none() || shown_digests.contains(digest);
            if disclosed && !bundle.artifacts.contains_key(hash) {
                missing.insert(format!(
                    "the facts {hash} of artifact {digest} (first in {}) are missing from the \
                     bundle",
                    describe(entry)
                ));
            }
        }
    }
    problems.sort();
    problems.extend(missing);
    problems
}

/// Every snapshot of the environment up to the end of the period is bundled, in order, with
/// consecutive numbers; nothing else is.
fn check_coverage(bundle: &EvidenceBundle) -> Vec<String> {
    let mut problems = Vec::new();
    if bundle.chain[0].members.is_none() {
        problems.push(format!(
            "the chain starts with {}, which is not a bundled snapshot of {}",
            describe(&bundle.chain[0]),
            bundle.environment
        ));
    }
    let mut last: Option<&ChainEntry> = None;
    for entry in &bundle.chain {
        let ours = entry.header.environment == bundle.environment;
        match (&entry.members, ours) {
            (Some(_), false) => problems.push(format!(
                "{} carries members but is not of {}",
                describe(entry),
                bundle.environment
            )),
            (None, true) if entry.header.taken_at <= bundle.to => problems.push(format!(
                "{} is within the period but its content is not in the bundle (a snapshot \
                 was removed)",
                describe(entry)
            )),
            (Some(m), true) => {
                if entry.header.taken_at > bundle.to {
                    problems.push(format!("{} is after the period's end", describe(entry)));
                }
                if let Some(prev) = last {
                    let prev_seq = prev.members.as_ref().map_or(0, |p| p.seq);
                    if m.seq != prev_seq + 1 || entry.header.taken_at <= prev.header.taken_at {
                        problems.push(format!(
                            "{} does not follow {} (snapshots were removed or reordered)",
                            describe(entry),
                            describe(prev)
                        ));
                    }
                }
                last = Some(entry);
            }
            _ => {}
        }
    }
    problems
}

/// The items root of each bundled entry (indexes into the chain, in order), replaying deltas.
fn recompute_roots(bundle: &EvidenceBundle, bundled: &[usize]) -> Vec<String> {
    let delta = |i: usize| -> &MembershipDelta {
        bundle.chain[i]
            .members
            .as_ref()
            .expect("only bundled entries are replayed")
    };
    // The membership before each chunk, replayed once on this thread.
    let mut starts = Vec::new();
    let mut members = Members::new();
    for chunk in bundled.chunks(CHUNK) {
        starts.push(members.clone());
        for &i in chunk {
            apply(&mut members, delta(i));
        }
    }
    bundled
        .par_chunks(CHUNK)
        .zip(starts)
        .flat_map_iter(|(chunk, mut members)| {
            chunk
                .iter()
                .map(|&i| {
                    apply(&mut members, delta(i));
                    items_root(
                        members
                            .iter()
                            .map(|((kind, key), hash)| (*kind, key.as_str(), hash.as_str())),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn apply(members: &mut Members, delta: &MembershipDelta) {
    for (kind, changes) in [
        (ItemKind::Component, &delta.components),
        (ItemKind::Artifact, &delta.artifacts),
    ] {
        for (key, hash) in changes {
            match hash {
                Some(hash) => {
                    members.insert((kind, key.clone()), hash.clone());
                }
                None => {
                    members.remove(&(kind, key.clone()));
                }
            }
        }
    }
}
