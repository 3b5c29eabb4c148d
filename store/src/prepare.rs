//! Everything an import computes before it touches the database: each component state's and each
//! artifact's hash and stored body, the items root and the content hash. Done in parallel with
//! rayon so that the single writer only inserts.

use envtrail_model::canonical::{ItemKind, canonical_json, content_hash, items_root, sha256_hex};
use envtrail_model::{Digest, Snapshot};
use rayon::prelude::*;

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
    /// into the component states instead of being copied.
    pub(crate) fn new(mut snapshot: Snapshot) -> Prepared {
        let states: Vec<_> = snapshot.take_component_states().into_iter().collect();
        let (components, artifacts) = rayon::join(
            || {
                states
                    .par_iter()
                    .map(|(name, state)| {
                        let (hash, body) = hash_and_body(state);
                        Item {
                            key: name.to_string(),
                            hash,
                            body,
                            digests: state.artifact_digests().into_iter().collect(),
                            index_digest: None,
                        }
                    })
                    .collect::<Vec<_>>()
            },
            || {
                snapshot
                    .artifacts
                    .par_iter()
                    .map(|a| {
                        let (hash, body) = hash_and_body(a);
                        Item {
                            key: a.digest.to_string(),
                            hash,
                            body,
                            digests: Vec::new(),
                            index_digest: a.index_digest.clone(),
                        }
                    })
                    .collect::<Vec<_>>()
            },
        );
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

/// The canonical JSON of an item is both what its hash covers and the body the store keeps: one
/// serialisation instead of two, and a stored body that re-hashes to its hash byte for byte.
fn hash_and_body<T: serde::Serialize>(value: &T) -> (String, Vec<u8>) {
    let body = canonical_json(value);
    (sha256_hex(&body), body)
}

/// The items root over prepared items.
fn root_of(components: &[Item], artifacts: &[Item]) -> String {
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

fn to_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
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
        let prepared = Prepared::new(s);
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
