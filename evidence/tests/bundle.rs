//! Bundles exported from a real store holding the demo snapshots (three environments,
//! interleaved in the chain), sealed and checked; then broken one way at a time, each time
//! asserting that the check fails and names what broke.

mod support;

use envtrail_evidence::{SigningKey, open, seal};
use envtrail_model::evidence::EvidenceBundle;
use envtrail_model::parse_time;
use envtrail_store::Store;

fn store() -> (tempfile::TempDir, Store) {
    support::demo_store()
}

/// prod from 11-13 to 11-18: the snapshot in force at 11-13 (11-12) and 11-15; 11-20 is after.
fn bundle(store: &Store, component: Option<&str>) -> EvidenceBundle {
    let component = component.map(|c| c.parse().unwrap());
    store
        .evidence(
            &"prod".parse().unwrap(),
            parse_time("2026-11-13").unwrap(),
            parse_time("2026-11-18").unwrap(),
            component.as_ref(),
        )
        .unwrap()
        .expect("prod has snapshots in the period")
}

fn problems(file: &[u8], key: &SigningKey) -> Vec<String> {
    let check = open(file, Some(&key.public_key()));
    assert!(!check.ok, "expected a failure");
    assert!(!check.problems.is_empty());
    check.problems
}

fn any(problems: &[String], needle: &str) -> bool {
    problems.iter().any(|p| p.contains(needle))
}

/// Re-seals a changed bundle with the same key: only the recomputation can catch the change.
fn resealed(mut edit: impl FnMut(&mut EvidenceBundle), key: &SigningKey) -> Vec<u8> {
    let (_dir, store) = store();
    let mut b = bundle(&store, None);
    edit(&mut b);
    seal(&b, key)
}

#[test]
fn an_exported_bundle_verifies_and_spans_the_period_to_the_chain_head() {
    let (_dir, store) = store();
    let b = bundle(&store, None);
    let bundled: Vec<_> = b.chain.iter().filter(|e| e.members.is_some()).collect();
    let times: Vec<String> = bundled
        .iter()
        .map(|e| envtrail_model::time::format_time(&e.header.taken_at))
        .collect();
    assert_eq!(times, ["2026-11-12T14:00:00Z", "2026-11-15T14:00:00Z"]);
    assert_eq!(Some(b.chain_head.clone()), store.chain_head().unwrap());
    // Every later snapshot (of any environment) is in the chain, up to the head.
    assert_eq!(b.chain.len(), 8, "11-12 prod through 11-20 staging");
    assert_eq!(
        b.states.len(),
        bundled[0].members.as_ref().unwrap().components.len() + {
            // states that changed in 11-15 prod
            bundled[1]
                .members
                .as_ref()
                .unwrap()
                .components
                .values()
                .filter(|h| h.is_some())
                .count()
        }
    );

    let key = SigningKey::generate();
    let file = seal(&b, &key);
    let check = open(&file, Some(&key.public_key()));
    assert!(check.ok, "{:?}", check.problems);
    assert_eq!((check.snapshots, check.chain_entries), (2, 8));
    assert!(check.key_pinned);
    assert_eq!(check.key_id, Some(key.public_key().key_id()));
    let unpinned = open(&file, None);
    assert!(unpinned.ok && !unpinned.key_pinned);
}

#[test]
fn any_changed_byte_fails_the_signature() {
    let (_dir, store) = store();
    let key = SigningKey::generate();
    let file = seal(&bundle(&store, None), &key);
    let text = String::from_utf8(file.clone()).unwrap();
    // One byte of one digest in a state, then one byte of whitespace-free layout elsewhere.
    let at = text.find("sha256:1755d4").unwrap() + 8;
    let mut bytes = file.clone();
    bytes[at] = if bytes[at] == b'7' { b'8' } else { b'7' };
    let p = problems(&bytes, &key);
    assert!(any(&p, "signature does not verify"), "{p:?}");
    assert!(
        any(&p, "hashes to"),
        "the altered state is named too: {p:?}"
    );

    let mut bytes = file.clone();
    // 2026-11-15 becomes 2026-11-16 in prod's second snapshot's header.
    let at = text.find("\"taken_at\":\"2026-11-15").unwrap() + 21;
    bytes[at] = b'6';
    let p = problems(&bytes, &key);
    assert!(any(&p, "signature does not verify"), "{p:?}");
    assert!(any(&p, "content hash"), "{p:?}");
}

#[test]
fn the_wrong_key_or_a_reformatted_file_fails() {
    let (_dir, store) = store();
    let key = SigningKey::generate();
    let other = SigningKey::generate();
    let file = seal(&bundle(&store, None), &key);
    let p = problems(&file, &other);
    assert!(any(&p, "not by the key given"), "{p:?}");

    let value: serde_json::Value = serde_json::from_slice(&file).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    let p = problems(&pretty, &key);
    assert!(any(&p, "re-formatted"), "{p:?}");
}

#[test]
fn an_altered_state_resealed_is_caught_by_its_hash() {
    let key = SigningKey::generate();
    let file = resealed(
        |b| {
            let state = b
                .states
                .values_mut()
                .find(|s| !s.workloads.is_empty())
                .unwrap();
            state.workloads[0].reference.push('x');
        },
        &key,
    );
    let p = problems(&file, &key);
    assert!(any(&p, "component state"), "{p:?}");
    assert!(any(&p, "it was altered"), "{p:?}");
}

#[test]
fn an_altered_membership_resealed_breaks_the_items_root() {
    let key = SigningKey::generate();
    let file = resealed(
        |b| {
            let members = b.chain[0].members.as_mut().unwrap();
            members.components.remove("orders-worker").unwrap();
        },
        &key,
    );
    let p = problems(&file, &key);
    assert!(
        any(&p, "snapshot") && any(&p, "items root does not match its members"),
        "{p:?}"
    );
    assert!(p.iter().any(|m| m.contains("of prod (#")), "{p:?}");
}

#[test]
fn a_removed_snapshot_resealed_is_caught() {
    let key = SigningKey::generate();
    // Drop the 11-15 prod snapshot from the chain altogether.
    let file = resealed(
        |b| {
            let i = b
                .chain
                .iter()
                .position(|e| {
                    e.members.is_some() && e.header.taken_at.to_string().contains("11-15")
                })
                .unwrap();
            b.chain.remove(i);
        },
        &key,
    );
    let p = problems(&file, &key);
    assert!(any(&p, "its link does not follow"), "{p:?}");

    // Keep its chain entry but withhold its content.
    let file = resealed(
        |b| {
            let e = b
                .chain
                .iter_mut()
                .find(|e| e.members.is_some() && e.header.taken_at.to_string().contains("11-15"))
                .unwrap();
            e.members = None;
        },
        &key,
    );
    let p = problems(&file, &key);
    assert!(
        any(&p, "within the period but its content is not in the bundle"),
        "{p:?}"
    );
}

#[test]
fn reordered_snapshots_resealed_are_caught() {
    let key = SigningKey::generate();
    let file = resealed(|b| b.chain.swap(1, 2), &key);
    let p = problems(&file, &key);
    assert!(any(&p, "its link does not follow"), "{p:?}");
}

#[test]
fn a_cut_chain_or_a_moved_head_is_caught() {
    let key = SigningKey::generate();
    let file = resealed(
        |b| {
            b.chain.pop();
        },
        &key,
    );
    let p = problems(&file, &key);
    assert!(any(&p, "chain was cut short"), "{p:?}");
}

#[test]
fn a_component_bundle_withholds_other_states_and_still_verifies() {
    let (_dir, store) = store();
    let b = bundle(&store, Some("payments-api"));
    assert!(!b.states.is_empty());
    for state in b.states.values() {
        assert!(
            state
                .workloads
                .iter()
                .all(|w| w.component.as_str() == "payments-api"),
            "only payments-api is disclosed"
        );
    }
    let full = bundle(&store, None);
    assert!(b.states.len() < full.states.len());
    assert!(b.artifacts.len() < full.artifacts.len());
    let key = SigningKey::generate();
    let check = open(&seal(&b, &key), Some(&key.public_key()));
    assert!(check.ok, "{:?}", check.problems);

    // Withholding the disclosed component's own state is caught.
    let mut broken = b.clone();
    let hash = broken.states.keys().next().unwrap().clone();
    broken.states.remove(&hash);
    let p = problems(&seal(&broken, &key), &key);
    assert!(any(&p, "is missing from the bundle"), "{p:?}");
}

#[test]
fn a_period_without_snapshots_gives_none() {
    let (_dir, store) = store();
    let none = store
        .evidence(
            &"prod".parse().unwrap(),
            parse_time("2026-01-01").unwrap(),
            parse_time("2026-02-01").unwrap(),
            None,
        )
        .unwrap();
    assert!(none.is_none());
}

#[test]
fn sealing_in_parts_writes_the_bytes_sealing_the_decoded_bundle_writes() {
    let (_dir, store) = store();
    let key = SigningKey::generate();
    for component in [None, Some("payments-api")] {
        let component = component.map(|c| c.parse().unwrap());
        let (skeleton, bodies) = store
            .evidence_parts(
                &"prod".parse().unwrap(),
                parse_time("2026-11-13").unwrap(),
                parse_time("2026-11-18").unwrap(),
                component.as_ref(),
            )
            .unwrap()
            .unwrap();
        assert!(!bodies.states.is_empty() && !bodies.artifacts.is_empty());
        let mut typed = skeleton.clone();
        typed.states = bodies
            .states
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::from_slice(v).unwrap()))
            .collect();
        typed.artifacts = bodies
            .artifacts
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::from_slice(v).unwrap()))
            .collect();
        // Ed25519 signatures are deterministic: equal files mean equal signed bytes.
        let parts = envtrail_evidence::seal_parts(&skeleton, &bodies, &key);
        assert_eq!(parts, seal(&typed, &key), "{component:?}");
        let check = open(&parts, Some(&key.public_key()));
        assert!(check.ok, "{:?}", check.problems);
    }
}
