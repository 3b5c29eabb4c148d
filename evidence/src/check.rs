//! Recomputing a bundle from its own bytes with the model's canonical functions: every state and
//! artifact hash, every bundled snapshot's items root (replaying the membership deltas), every
//! content hash and chain link, the chain head, and the coverage of the period (no snapshot of
//! the environment within it may lack its content; no bundled one may lie outside it).
//!
//! Items roots are the expensive part (a year of hourly snapshots of 2,000 components is millions
//! of item hashes), so the deltas are replayed once to cut the bundled snapshots into chunks, and
//! the chunks' roots are computed in parallel. Problems are reported in chain order, so the first
//! one names the first broken thing.
//!
//! A bundle file is read without parsing its state and artifact bodies (`read_payload`): the
//! bundle is RFC 8785 canonical JSON, so each body's bytes in the file are its canonical JSON, and
//! hashing them is hashing what the store hashed. A body whose bytes hash to its key is the very
//! body the store wrote (anything else would need a sha256 preimage); one that does not is
//! reported as altered. Chain entries are parsed in parallel. A year's bundle is hundreds of
//! megabytes: parsing ~170,000 states on one thread, only to serialise them again, was most of
//! the verification.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use envtrail_model::canonical::{
    ItemKind, canonical_json, chain_link, content_hash, items_root_sorted, sha256_hex,
};
use envtrail_model::evidence::{ChainEntry, EVIDENCE_SCHEMA, EvidenceBundle, MembershipDelta};
use envtrail_model::time::format_time;
use envtrail_model::{Artifact, ComponentName, ComponentState, EnvName, Timestamp};
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

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

/// A bundle as the checks read it: the chain parsed, each body as its canonical JSON bytes.
pub(crate) struct Parts<'a> {
    pub schema: String,
    pub environment: EnvName,
    pub component: Option<ComponentName>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub chain_start: String,
    pub chain_head: String,
    pub chain: Vec<ChainEntry>,
    /// State hash → the state's canonical JSON.
    pub states: BTreeMap<String, Cow<'a, [u8]>>,
    /// Facts hash → the facts' canonical JSON.
    pub artifacts: BTreeMap<String, Cow<'a, [u8]>>,
}

/// The bundle's layout with its bodies and chain entries left as raw JSON (the fields of
/// [`EvidenceBundle`], required and optional alike).
#[derive(Deserialize)]
struct RawBundle<'a> {
    schema: String,
    environment: EnvName,
    #[serde(default)]
    component: Option<ComponentName>,
    from: Timestamp,
    to: Timestamp,
    #[serde(rename = "exported_at")]
    _exported_at: Timestamp,
    #[serde(rename = "generator")]
    _generator: String,
    chain_start: String,
    chain_head: String,
    #[serde(borrow)]
    chain: Vec<&'a RawValue>,
    #[serde(borrow)]
    states: BTreeMap<String, &'a RawValue>,
    #[serde(borrow)]
    artifacts: BTreeMap<String, &'a RawValue>,
}

/// Reads a bundle's bytes (see the module docs): the parts, or why they are not a bundle.
pub(crate) fn read_payload(payload: &[u8]) -> Result<Parts<'_>, String> {
    let raw: RawBundle<'_> = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let chain = raw
        .chain
        .par_iter()
        .enumerate()
        .map(|(i, entry)| {
            serde_json::from_str::<ChainEntry>(entry.get())
                .map_err(|e| format!("chain entry {i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Parts {
        schema: raw.schema,
        environment: raw.environment,
        component: raw.component,
        from: raw.from,
        to: raw.to,
        chain_start: raw.chain_start,
        chain_head: raw.chain_head,
        chain,
        states: raw_bytes(raw.states),
        artifacts: raw_bytes(raw.artifacts),
    })
}

fn raw_bytes<'a>(map: BTreeMap<String, &'a RawValue>) -> BTreeMap<String, Cow<'a, [u8]>> {
    map.into_iter()
        .map(|(k, v)| (k, Cow::Borrowed(v.get().as_bytes())))
        .collect()
}

/// Checks everything in the bundle but its signature.
pub fn check_bundle(bundle: &EvidenceBundle) -> BundleOutcome {
    check_parts(&Parts {
        schema: bundle.schema.clone(),
        environment: bundle.environment.clone(),
        component: bundle.component.clone(),
        from: bundle.from,
        to: bundle.to,
        chain_start: bundle.chain_start.clone(),
        chain_head: bundle.chain_head.clone(),
        chain: bundle.chain.clone(),
        states: bundle
            .states
            .iter()
            .map(|(k, v)| (k.clone(), Cow::Owned(canonical_json(v))))
            .collect(),
        artifacts: bundle
            .artifacts
            .iter()
            .map(|(k, v)| (k.clone(), Cow::Owned(canonical_json(v))))
            .collect(),
    })
}

/// Checks everything in the parts of a bundle but its signature.
pub(crate) fn check_parts(bundle: &Parts<'_>) -> BundleOutcome {
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
fn check_bodies(bundle: &Parts<'_>) -> Vec<String> {
    let mut problems: Vec<String> = bundle
        .states
        .par_iter()
        .filter_map(|(hash, body)| {
            let actual = sha256_hex(body);
            (actual != *hash).then(|| {
                format!("component state {hash}: its body hashes to {actual}: it was altered")
            })
        })
        .collect();
    problems.extend(
        bundle
            .artifacts
            .par_iter()
            .filter_map(|(hash, body)| {
                let actual = sha256_hex(body);
                (actual != *hash).then(|| {
                    let digest = serde_json::from_slice::<Artifact>(body)
                        .map_or_else(|_| "(unreadable)".to_owned(), |a| a.digest.to_string());
                    format!(
                        "facts of artifact {digest} ({hash}): their body hashes to {actual}: \
                         they were altered"
                    )
                })
            })
            .collect::<Vec<_>>(),
    );
    // With a component filter, the artifacts its (few) states run are disclosed.
    let shown_digests: BTreeSet<String> = if bundle.component.is_some() {
        bundle
            .states
            .values()
            .filter_map(|body| serde_json::from_slice::<ComponentState>(body).ok())
            .flat_map(|s| s.artifact_digests())
            .map(|d| d.to_string())
            .collect()
    } else {
        BTreeSet::new()
    };
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
fn check_coverage(bundle: &Parts<'_>) -> Vec<String> {
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
fn recompute_roots(bundle: &Parts<'_>, bundled: &[usize]) -> Vec<String> {
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
            let mut previous: Option<String> = None;
            chunk
                .iter()
                .map(|&i| {
                    let delta = delta(i);
                    apply(&mut members, delta);
                    // An unchanged membership has the previous snapshot's root.
                    let root = match previous.take() {
                        Some(root) if delta.components.is_empty() && delta.artifacts.is_empty() => {
                            root
                        }
                        _ => items_root_sorted(
                            members
                                .iter()
                                .map(|((kind, key), hash)| (*kind, key.as_str(), hash.as_str())),
                        ),
                    };
                    previous = Some(root.clone());
                    root
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
