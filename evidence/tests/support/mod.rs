//! Shared by the evidence crate's integration tests: a real store holding the demo snapshots.

use std::path::Path;

use envtrail_model::Snapshot;
use envtrail_store::Store;

/// A temp-file store holding the ten bundled example snapshots (three environments, interleaved
/// in the chain), imported in `taken_at` order. The directory lives as long as the guard.
pub fn demo_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots");
    let mut snapshots: Vec<Snapshot> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    snapshots.sort_by_key(|s| s.taken_at);
    assert_eq!(snapshots.len(), 10);
    for s in snapshots {
        store.import(s).unwrap();
    }
    (dir, store)
}
