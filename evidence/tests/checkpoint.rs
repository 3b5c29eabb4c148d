//! Checkpoints signed with real keys: a store holding the demo snapshots is pruned with an
//! Ed25519 key, then verified with the key pinned, with another key, after a forged record, and
//! after a forger re-signed it; a bundle exported after the prune still verifies.

mod support;

use std::path::Path;

use envtrail_evidence::{PublicKey, SigningKey, check_detached, open, seal, sign_detached};
use envtrail_model::canonical::canonical_json;
use envtrail_model::checkpoint::{Checkpoint, SignatureStatus};
use envtrail_model::evidence::EvidenceSignature;
use envtrail_model::output::VerifyResult;
use envtrail_model::parse_time;
use envtrail_store::{Signer, Store};

fn store() -> (tempfile::TempDir, Store) {
    support::demo_store()
}

fn prune(store: &mut Store, key: &SigningKey) -> Checkpoint {
    let sign = |bytes: &[u8]| sign_detached(bytes, key);
    let signer = Signer {
        key_id: key.public_key().key_id(),
        sign: &sign,
    };
    let check =
        |bytes: &[u8], sig: &EvidenceSignature| check_detached(bytes, sig, None, "the checkpoint");
    store
        .prune(parse_time("2026-11-17").unwrap(), &signer, Some(&check))
        .unwrap()
        .checkpoint
        .expect("the demo has history before 2026-11-17")
}

fn verify(store: &Store, pinned: Option<&PublicKey>) -> VerifyResult {
    let check = |bytes: &[u8], sig: &EvidenceSignature| {
        check_detached(bytes, sig, pinned, "the checkpoint")
    };
    store.verify_with(Some(&check)).unwrap()
}

/// Rewrites one column of the checkpoint row, as someone with write access to the file would.
fn set(path: &Path, column: &str, value: Vec<u8>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let changed = conn
        .execute(&format!("UPDATE checkpoints SET {column} = ?1"), [value])
        .unwrap();
    assert_eq!(changed, 1);
}

#[test]
fn a_checkpoint_signed_with_the_evidence_key_verifies_pinned() {
    let (_dir, mut store) = store();
    let key = SigningKey::generate();
    let checkpoint = prune(&mut store, &key);
    // staging's kept snapshot (11-16) is the oldest in the chain: dev and prod's before it go.
    assert_eq!(checkpoint.cut.snapshot_id, 5);
    assert_eq!(checkpoint.removed.snapshots, 4);
    assert_eq!(checkpoint.key_id, Some(key.public_key().key_id()));

    let verdict = verify(&store, Some(&key.public_key()));
    assert!(verdict.ok, "{:#?}", verdict.problems);
    assert_eq!(
        verdict.checkpoint.unwrap().signature,
        SignatureStatus::Verified
    );
    let other = SigningKey::generate();
    let verdict = verify(&store, Some(&other.public_key()));
    assert!(!verdict.ok);
    assert!(
        verdict.problems[0].message.contains("not by the key given"),
        "{:#?}",
        verdict.problems
    );
}

#[test]
fn a_forged_or_resigned_checkpoint_is_caught() {
    let (dir, mut store) = store();
    let key = SigningKey::generate();
    let mut checkpoint = prune(&mut store, &key);
    drop(store);
    let path = dir.path().join("s.db");

    // Claim one snapshot fewer was removed: the signature no longer holds.
    checkpoint.removed.snapshots -= 1;
    let forged = canonical_json(&checkpoint);
    set(&path, "body", forged.clone());
    let store = Store::open(&path).unwrap();
    let verdict = verify(&store, None);
    assert!(!verdict.ok);
    assert!(
        verdict.problems[0]
            .message
            .contains("does not verify over the checkpoint's bytes"),
        "{:#?}",
        verdict.problems
    );

    // Re-signed by the forger, naming their key in the record: it verifies against the key it
    // names, and only pinning the real key catches it.
    let forger = SigningKey::generate();
    checkpoint.key_id = Some(forger.public_key().key_id());
    let forged = canonical_json(&checkpoint);
    set(&path, "body", forged.clone());
    set(
        &path,
        "signature",
        canonical_json(&sign_detached(&forged, &forger)),
    );
    assert!(
        verify(&store, None).ok,
        "unpinned: the forger's key is named"
    );
    let pinned = verify(&store, Some(&key.public_key()));
    assert!(!pinned.ok);
    assert!(
        pinned.problems[0].message.contains("not by the key given"),
        "{:#?}",
        pinned.problems
    );
}

#[test]
fn a_bundle_exported_after_a_prune_verifies() {
    let (_dir, mut store) = store();
    let key = SigningKey::generate();
    let checkpoint = prune(&mut store, &key);
    let bundle = store
        .evidence(
            &"prod".parse().unwrap(),
            parse_time("2026-11-17").unwrap(),
            parse_time("2026-11-21").unwrap(),
            None,
        )
        .unwrap()
        .unwrap();
    // prod's kept snapshot (11-15) opens the bundle, and the chain runs whole from it.
    assert_eq!(bundle.chain[0].id, 6);
    assert!(bundle.chain[0].id >= checkpoint.cut.snapshot_id);
    let check = open(&seal(&bundle, &key), Some(&key.public_key()));
    assert!(check.ok, "{:#?}", check.problems);
    assert_eq!(check.snapshots, 2);
}
