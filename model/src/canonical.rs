//! One canonical byte form and one hash for everything envtrail stores or proves.
//!
//! - Canonical JSON is RFC 8785 (JCS), written by [`crate::jcs`].
//! - A state or artifact hash is the lowercase hex sha256 of its canonical JSON.
//! - A snapshot's content hash covers its canonical header and the root of its items: the sorted
//!   list of `(kind, key, item hash)` where kind is `component` or `artifact`. Every byte of the
//!   snapshot's canonical JSON is covered, and one item can be checked without the rest.
//! - A chain link is `sha256(previous link hex || "\n" || content hash hex)`; the first link's
//!   previous is [`GENESIS`].

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The "previous link" of the first snapshot in a store.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// RFC 8785 canonical JSON bytes of `value`.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    crate::jcs::to_vec(value).expect("envtrail's types always serialise to JSON")
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex sha256 of the canonical JSON of `value`.
pub fn hash_canonical<T: Serialize>(value: &T) -> String {
    sha256_hex(&canonical_json(value))
}

/// The kind of an item a snapshot's root covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKind {
    /// A component's state (workloads and infrastructure).
    Component,
    /// An artifact's facts.
    Artifact,
}

impl ItemKind {
    /// `component` or `artifact`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Component => "component",
            Self::Artifact => "artifact",
        }
    }
}

/// The root over a snapshot's items. `items` must be sorted by (kind, key); the function sorts a
/// copy if they are not, so callers cannot get it wrong.
pub fn items_root<'a>(items: impl IntoIterator<Item = (ItemKind, &'a str, &'a str)>) -> String {
    let mut items: Vec<_> = items.into_iter().collect();
    // Callers mostly pass a sorted map: checking is one pass, sorting a sorted list is not free.
    if !items.is_sorted() {
        items.sort_unstable();
    }
    items_root_sorted(items)
}

/// [`items_root`] of items the caller gives in ascending (kind, key) order, such as a sorted
/// map's iteration, streamed without collecting or copying them: a verifier computes a root for
/// every snapshot over thousands of items. Items out of order give another root (which then does
/// not match, never the reverse); debug builds assert the order.
pub fn items_root_sorted<'a>(
    items: impl IntoIterator<Item = (ItemKind, &'a str, &'a str)>,
) -> String {
    let mut lines = Lines::default();
    let mut last: Option<(ItemKind, &str)> = None;
    for (kind, key, hash) in items {
        debug_assert!(
            last.is_none_or(|l| l <= (kind, key)),
            "items_root_sorted: {key} comes after {last:?}"
        );
        last = Some((kind, key));
        for part in [
            kind.as_str().as_bytes(),
            b"\0",
            key.as_bytes(),
            b"\0",
            hash.as_bytes(),
            b"\n",
        ] {
            lines.write(part);
        }
    }
    lines.finish()
}

/// The items' lines, hashed through a small buffer: one hash update per few kilobytes rather
/// than five per item, and no allocation.
struct Lines {
    hasher: Sha256,
    buf: [u8; 4096],
    len: usize,
}

impl Default for Lines {
    fn default() -> Self {
        Self {
            hasher: Sha256::new(),
            buf: [0; 4096],
            len: 0,
        }
    }
}

impl Lines {
    fn write(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.hasher.update(&self.buf[..self.len]);
            self.len = 0;
        }
        if bytes.len() > self.buf.len() {
            self.hasher.update(bytes);
        } else {
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    fn finish(mut self) -> String {
        self.hasher.update(&self.buf[..self.len]);
        hex::encode(self.hasher.finalize())
    }
}

/// The content hash of a snapshot from its canonical header bytes and its items root.
pub fn content_hash(canonical_header: &[u8], items_root: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical_header);
    hasher.update(b"\n");
    hasher.update(items_root.as_bytes());
    hex::encode(hasher.finalize())
}

/// The chain link after `previous` for a snapshot with `content_hash`.
pub fn chain_link(previous: &str, content_hash: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(content_hash.as_bytes());
    hex::encode(hasher.finalize())
}

/// The content hash of a whole snapshot, computed from scratch (the store computes the same thing
/// incrementally).
pub fn snapshot_content_hash(snapshot: &crate::Snapshot) -> String {
    let states = snapshot.component_states();
    let component_hashes: Vec<(String, String)> = states
        .iter()
        .map(|(name, state)| (name.to_string(), state.state_hash()))
        .collect();
    let artifact_hashes: Vec<(String, String)> = snapshot
        .artifacts
        .iter()
        .map(|a| (a.digest.to_string(), hash_canonical(a)))
        .collect();
    let root = items_root(
        component_hashes
            .iter()
            .map(|(k, h)| (ItemKind::Component, k.as_str(), h.as_str()))
            .chain(
                artifact_hashes
                    .iter()
                    .map(|(k, h)| (ItemKind::Artifact, k.as_str(), h.as_str())),
            ),
    );
    content_hash(&canonical_json(&snapshot.header()), &root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_rfc8785() {
        let v = serde_json::json!({"b": 1, "a": [true, null, "x"], "c": 1.5});
        assert_eq!(
            canonical_json(&v),
            br#"{"a":[true,null,"x"],"b":1,"c":1.5}"#
        );
    }

    #[test]
    fn items_root_ignores_input_order_and_sees_every_field() {
        let a = items_root([
            (ItemKind::Component, "a", "1"),
            (ItemKind::Artifact, "d", "2"),
        ]);
        let b = items_root([
            (ItemKind::Artifact, "d", "2"),
            (ItemKind::Component, "a", "1"),
        ]);
        assert_eq!(a, b);
        let c = items_root([
            (ItemKind::Component, "a", "1"),
            (ItemKind::Artifact, "d", "3"),
        ]);
        assert_ne!(a, c);
    }

    #[test]
    fn items_root_is_the_hash_of_the_sorted_lines_as_specified() {
        // The bytes the module docs define, written out by hand: any change of this function's
        // output would change every stored content hash.
        let expected =
            sha256_hex(b"component\0api\0h1\ncomponent\0web\0h2\nartifact\0sha256:d\0h3\n");
        let given = [
            (ItemKind::Artifact, "sha256:d", "h3"),
            (ItemKind::Component, "web", "h2"),
            (ItemKind::Component, "api", "h1"),
        ];
        assert_eq!(items_root(given), expected);
        let mut sorted = given;
        sorted.sort_unstable();
        assert_eq!(items_root(sorted), expected);
        assert_eq!(items_root([]), sha256_hex(b""));
        assert_eq!(items_root_sorted(sorted), expected);
        // Lines longer than the internal buffer, and many of them, hash the same as one buffer.
        let long = "k".repeat(10_000);
        let keys: Vec<String> = (0..500).map(|i| format!("c{i:04}")).collect();
        let mut items = vec![(ItemKind::Component, long.as_str(), "h")];
        items.extend(keys.iter().map(|k| (ItemKind::Component, k.as_str(), "h")));
        items.sort_unstable();
        let mut bytes = Vec::new();
        for (_, key, hash) in &items {
            bytes.extend_from_slice(format!("component\0{key}\0{hash}\n").as_bytes());
        }
        assert_eq!(items_root_sorted(items.iter().copied()), sha256_hex(&bytes));
    }

    #[test]
    fn chain_link_depends_on_both_sides() {
        assert_ne!(chain_link(GENESIS, "a"), chain_link(GENESIS, "b"));
        assert_ne!(chain_link("x", "a"), chain_link(GENESIS, "a"));
    }
}
