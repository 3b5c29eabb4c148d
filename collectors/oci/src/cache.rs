//! The artifact facts cache: a JSON file next to the store (`envtrail.db` → `envtrail.db.oci-cache.json`).
//!
//! What a digest is never changes, so its manifest facts are kept forever. A signature or
//! attestation check is kept under (subject digest, `.sig`/`.att` manifest digest, fingerprint of
//! the keys that applied): a new signature changes the manifest digest, a new key changes the
//! fingerprint, so a cached answer is never stale. Only answers the registry actually gave are
//! kept; an unreachable registry leaves nothing behind. A *verified* check is also kept under
//! (subject, kind, key fingerprint) alone: that a configured key signed a digest stays true, so
//! while the repository's tag list still shows the `.sig`/`.att` tag it is not asked for again.
//! A repeated collection therefore asks the registry only to resolve tags: the images' tags, one
//! tag listing per repository, and the `.sig`/`.att` tags whose last answer was not verified.
//!
//! Why a file and not a table in the store: the store is the append-only, hash-chained record of
//! what ran; this is a disposable accelerator (deleting it costs one slow collection, nothing
//! else) that must not take part in `envtrail verify`. Compatibility: a file with another
//! `version`, or one that does not parse, is ignored and rewritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use envtrail_model::{Verification, VerificationStatus};
use serde::{Deserialize, Serialize};

use crate::manifest::ManifestFacts;

/// The cache file format version.
pub const CACHE_VERSION: u32 = 1;

/// The cache file next to a store: `<db>.oci-cache.json`.
pub fn cache_path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".oci-cache.json");
    PathBuf::from(name)
}

/// A cached check of signatures or attestations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedCheck {
    /// The result.
    pub verification: Verification,
    /// The attested commit (provenance), for the revision comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The attested subjects (provenance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
}

/// What is cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    version: u32,
    /// Digest → facts.
    #[serde(default)]
    pub manifests: BTreeMap<String, ManifestFacts>,
    /// `subject|sig-or-att|manifest digest|key fingerprint` → result.
    #[serde(default)]
    pub checks: BTreeMap<String, CachedCheck>,
    /// `subject|sig-or-att|key fingerprint` → a verified result: that a configured key signed
    /// the digest is a fact about the digest, kept while the `.sig`/`.att` tag exists.
    #[serde(default)]
    pub verified: BTreeMap<String, CachedCheck>,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            version: CACHE_VERSION,
            manifests: BTreeMap::new(),
            checks: BTreeMap::new(),
            verified: BTreeMap::new(),
        }
    }
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `path`; a missing, unreadable or other-version file gives an empty cache.
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Cache>(&bytes).ok())
            .filter(|c| c.version == CACHE_VERSION)
            .unwrap_or_default()
    }

    /// Writes the cache atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = {
            let mut name = path.as_os_str().to_owned();
            name.push(".tmp");
            PathBuf::from(name)
        };
        std::fs::write(
            &tmp,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, path)
    }

    /// The key of a check.
    pub fn check_key(subject: &str, kind: &str, manifest: &str, fingerprint: &str) -> String {
        format!("{subject}|{kind}|{manifest}|{fingerprint}")
    }
}

impl Cache {
    /// The key of a verified result.
    pub fn verified_key(subject: &str, kind: &str, fingerprint: &str) -> String {
        format!("{subject}|{kind}|{fingerprint}")
    }
}

/// Whether a check result may be cached: only answers, never "could not ask".
pub fn cacheable(v: &Verification) -> bool {
    v.status != VerificationStatus::Unchecked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestKind;

    #[test]
    fn round_trips_and_ignores_garbage_and_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path_for(&dir.path().join("envtrail.db"));
        assert!(
            path.to_string_lossy()
                .ends_with("envtrail.db.oci-cache.json")
        );
        assert_eq!(Cache::load(&path), Cache::new(), "missing file: empty");

        let mut cache = Cache::new();
        cache.manifests.insert(
            "sha256:aa".into(),
            ManifestFacts {
                kind: ManifestKind::Image,
                platform: Some("linux/amd64".into()),
                children: vec![],
                revision: Some("abc".into()),
                source: None,
                version: None,
                created: None,
                size: 12,
            },
        );
        cache.save(&path).unwrap();
        assert_eq!(Cache::load(&path), cache);

        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(Cache::load(&path), Cache::new());
        std::fs::write(&path, br#"{"version": 99, "manifests": {}}"#).unwrap();
        assert_eq!(Cache::load(&path), Cache::new());
    }

    #[test]
    fn unchecked_answers_are_not_cached() {
        let v = |status| Verification {
            status,
            identity: None,
            builder: None,
            source: None,
            reason: None,
        };
        assert!(cacheable(&v(VerificationStatus::Missing)));
        assert!(cacheable(&v(VerificationStatus::Invalid)));
        assert!(!cacheable(&v(VerificationStatus::Unchecked)));
    }
}
