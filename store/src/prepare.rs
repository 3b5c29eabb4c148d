//! Everything an import computes before it writes: each component state's and each artifact's
//! hash and stored body, the items root and the content hash. Done in parallel with rayon so that
//! the single writer only inserts.
//!
//! **Unchanged components are not canonicalised.** Building a state's canonical JSON (RFC 8785)
//! is most of an import's CPU time, yet an hourly snapshot changes a few percent of components.
//! Each state also gets a *quick hash*: the sha256 of its compact `serde_json` serialisation,
//! stored beside the state. When a component's quick hash equals the one of the state its open
//! interval holds, the state is that state, and its canonical hash is reused. This is sound
//! because both serialisations are driven by the same `Serialize` impls and JSON is unambiguous:
//! equal `serde_json` bytes mean equal serialised values, hence equal canonical JSON. The converse
//! need not hold (`1.0` and `1` are one canonical number, two `serde_json` texts): a mismatch only
//! costs the canonical hashing it would have cost anyway, never a wrong hash. States stored before
//! quick hashes existed have none and are always canonicalised.

use std::collections::HashMap;

use envtrail_model::canonical::{ItemKind, canonical_json, content_hash, items_root, sha256_hex};
use envtrail_model::{
    Artifact, ComponentName, ComponentState, Digest, Snapshot, UnparsedComponent,
};
use rayon::prelude::*;

pub(crate) use envtrail_model::QuickHash;

/// The state a component's open interval holds, as an import needs it.
pub(crate) struct OpenState {
    /// The interval's row id.
    pub interval: i64,
    /// The interval's first seq.
    pub from: i64,
    /// The state's hash.
    pub hash: String,
    /// The state's quick hash, when stored.
    pub quick: Option<QuickHash>,
}

/// A component state or artifact, ready to store.
pub(crate) struct Item {
    /// Component name or artifact digest.
    pub key: String,
    /// sha256 of the canonical JSON.
    pub hash: String,
    /// The stored body: the canonical JSON the hash covers (numbers as I-JSON doubles).
    pub body: Vec<u8>,
    /// Components: the artifacts the state runs (for sightings). Artifacts: empty.
    pub digests: Vec<Digest>,
    /// Artifacts: the image index that contains it.
    pub index_digest: Option<Digest>,
    /// Components: the quick hash of the state.
    pub quick: Option<QuickHash>,
    /// Components: the state is the one its open interval holds (recognised by its quick hash):
    /// `hash` is that state's and `body` and `digests` are left empty, as nothing is written.
    pub unchanged: bool,
}

/// A validated, normalised snapshot with every hash computed.
pub(crate) struct Prepared {
    /// serde_json bytes of the snapshot header.
    pub header: Vec<u8>,
    pub items_root: String,
    pub content_hash: String,
    /// By component name.
    pub components: Vec<Item>,
    /// By digest.
    pub artifacts: Vec<Item>,
}

impl Prepared {
    /// `snapshot` must already be validated and normalised. It is consumed: its workloads move
    /// into the component states instead of being copied. `open` holds the states of the
    /// environment's open component intervals by component name (empty for a new environment).
    ///
    /// `unparsed` are components the reader left out of `snapshot` whose open interval holds a
    /// state with their quick hash (the caller checked): they are taken as unchanged.
    pub(crate) fn new(
        mut snapshot: Snapshot,
        open: &HashMap<String, OpenState>,
        unparsed: &[UnparsedComponent],
    ) -> Prepared {
        let states: Vec<_> = snapshot.take_component_states().into_iter().collect();
        let (components, artifacts) = rayon::join(
            || {
                states
                    .par_iter()
                    .with_min_len(64)
                    .map(|(name, state)| component_item(name, state, open))
                    .chain(
                        unparsed
                            .par_iter()
                            .map(|component| unparsed_item(component, open)),
                    )
                    .collect::<Vec<_>>()
            },
            || {
                snapshot
                    .artifacts
                    .par_iter()
                    .map(artifact_item)
                    .collect::<Vec<_>>()
            },
        );
        let mut components = components;
        if !unparsed.is_empty() {
            // The items root and the writes go by component name, as the parsed states do.
            components.par_sort_unstable_by(|a, b| a.key.cmp(&b.key));
        }
        let header = snapshot.header();
        let items_root = root_of(&components, &artifacts);
        let content_hash = content_hash(&canonical_json(&header), &items_root);
        Prepared {
            header: to_body(&header),
            items_root,
            content_hash,
            components,
            artifacts,
        }
    }
}

/// A component's state ready to store, or recognised by its quick hash as the state its open
/// interval holds (`open`, by component name).
pub(crate) fn component_item(
    name: &ComponentName,
    state: &ComponentState,
    open: &HashMap<String, OpenState>,
) -> Item {
    let key = name.to_string();
    let quick = state.quick_hash();
    match open.get(&key) {
        Some(held) if held.quick == Some(quick) => Item {
            key,
            hash: held.hash.clone(),
            body: Vec::new(),
            digests: Vec::new(),
            index_digest: None,
            quick: Some(quick),
            unchanged: true,
        },
        _ => {
            let (hash, body) = hash_and_body(state);
            Item {
                key,
                hash,
                body,
                digests: state.artifact_digests().into_iter().collect(),
                index_digest: None,
                quick: Some(quick),
                unchanged: false,
            }
        }
    }
}

/// A component the reader left unparsed: the state its open interval holds (the caller checked
/// the quick hash).
pub(crate) fn unparsed_item(
    component: &UnparsedComponent,
    open: &HashMap<String, OpenState>,
) -> Item {
    let key = component.component.to_string();
    let held = &open[&key];
    debug_assert_eq!(held.quick, Some(component.quick));
    Item {
        hash: held.hash.clone(),
        key,
        body: Vec::new(),
        digests: Vec::new(),
        index_digest: None,
        quick: Some(component.quick),
        unchanged: true,
    }
}

/// An artifact's facts ready to store.
pub(crate) fn artifact_item(artifact: &Artifact) -> Item {
    let (hash, body) = hash_and_body(artifact);
    Item {
        key: artifact.digest.to_string(),
        hash,
        body,
        digests: Vec::new(),
        index_digest: artifact.index_digest.clone(),
        quick: None,
        unchanged: false,
    }
}

/// The canonical JSON of an item is both what its hash covers and the body the store keeps: one
/// serialisation instead of two, and a stored body that re-hashes to its hash byte for byte.
pub(crate) fn hash_and_body<T: serde::Serialize>(value: &T) -> (String, Vec<u8>) {
    let body = canonical_json(value);
    (sha256_hex(&body), body)
}

/// The items root over prepared items.
pub(crate) fn root_of(components: &[Item], artifacts: &[Item]) -> String {
    items_root(
        components
            .iter()
            .map(|i| (ItemKind::Component, i.key.as_str(), i.hash.as_str()))
            .chain(
                artifacts
                    .iter()
                    .map(|i| (ItemKind::Artifact, i.key.as_str(), i.hash.as_str())),
            ),
    )
}

pub(crate) fn to_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("envtrail's types always serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::SnapBuilder;

    #[test]
    fn the_content_hash_is_the_models_snapshot_content_hash() {
        let mut s = SnapBuilder::new("prod", "2026-01-01T00:00:00Z")
            .component("api", 'a')
            .component("web", 'b')
            .artifact('a', Some('c'))
            .extra("future", serde_json::json!({"x": 1.5}))
            .build();
        s.normalize();
        let expected = envtrail_model::canonical::snapshot_content_hash(&s);
        let prepared = Prepared::new(s, &HashMap::new(), &[]);
        assert_eq!(prepared.content_hash, expected);
        assert_eq!(prepared.components.len(), 2);
        assert_eq!(
            prepared.artifacts[0]
                .index_digest
                .as_ref()
                .map(|d| d.hex().starts_with('c')),
            Some(true)
        );
    }
}
