//! Randomised checks against a brute-force oracle: many interleaved imports with components and
//! artifacts appearing, changing, vanishing and coming back; every stored snapshot must export
//! back exactly, every point-in-time state, history and sighting must match what replaying the
//! inputs gives, and the chain must verify.

use std::collections::{BTreeMap, HashMap};

use envtrail_model::{ComponentName, Digest, Snapshot};

use crate::testutil::{SnapBuilder, temp_store};

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const HEX: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

/// 3 environments × 20 snapshots, interleaved, each changing a few of 8 components.
fn inputs(seed: u64) -> Vec<Snapshot> {
    let mut rng = Lcg(seed);
    let mut out = Vec::new();
    let mut live: Vec<BTreeMap<usize, (char, &'static str)>> = vec![BTreeMap::new(); 3];
    for step in 0..20 {
        for (e, live) in live.iter_mut().enumerate() {
            for _ in 0..3 {
                let c = rng.next(8) as usize;
                match rng.next(4) {
                    0 => {
                        live.remove(&c);
                    }
                    1 => {
                        let log = ["info", "debug", "warn"][rng.next(3) as usize];
                        live.entry(c).or_insert(('0', "info")).1 = log;
                    }
                    _ => {
                        live.insert(c, (HEX[rng.next(16) as usize], "info"));
                    }
                }
            }
            let time = format!(
                "2026-01-{:02}T{:02}:{:02}:00Z",
                1 + step / 2,
                e * 3,
                (step % 2) * 30
            );
            let mut b = SnapBuilder::new(["dev", "staging", "prod"][e], &time);
            for (c, (d, log)) in live.iter() {
                b = b.component_config(&format!("svc{c}"), *d, log);
            }
            // Artifact facts for a few of the digests run, sometimes inside an index.
            let mut digests: Vec<char> = live.values().map(|(d, _)| *d).collect();
            digests.sort_unstable();
            digests.dedup();
            for d in digests.iter().take(3) {
                let index =
                    (rng.next(2) == 0).then(|| HEX[(d.to_digit(16).unwrap() as usize + 1) % 16]);
                b = b.artifact(*d, index);
            }
            if rng.next(7) == 0 {
                b = b.source_status("k8s", "partial");
            }
            out.push(b.build());
        }
    }
    out
}

#[test]
fn everything_read_back_matches_a_replay_of_the_inputs() {
    for seed in [1, 7, 42] {
        let (_dir, mut store) = temp_store();
        let snapshots = inputs(seed);
        let mut stored = Vec::new();
        for s in &snapshots {
            let outcome = store.import(s.clone()).unwrap();
            let mut normalized = s.clone();
            normalized.normalize();
            stored.push((outcome, normalized));
        }
        let verdict = store.verify().unwrap();
        assert!(verdict.ok, "seed {seed}: {:?}", verdict.problems);
        assert_eq!(verdict.snapshots_checked, snapshots.len() as i64);

        // Per environment, in time order: the oracle.
        let mut first_seen: HashMap<(String, Digest), i64> = HashMap::new();
        let mut previous: HashMap<String, Snapshot> = HashMap::new();
        for (outcome, snapshot) in &stored {
            let name = snapshot.environment.clone();
            let at = snapshot.taken_at;
            // Export is exact.
            assert_eq!(
                store.export(&name, at).unwrap().as_ref(),
                Some(snapshot),
                "seed {seed}"
            );
            // The state in force has exactly the snapshot's components and artifacts.
            let state = store.environment_state(&name, at, true).unwrap().unwrap();
            assert_eq!(state.snapshot, outcome.snapshot);
            let expected = snapshot.component_states();
            assert_eq!(state.components.len(), expected.len());
            for (c, want) in &expected {
                assert_eq!(
                    state.components[c].current.state.as_ref(),
                    want,
                    "seed {seed} {c}"
                );
                assert_eq!(state.components[c].current.state_hash, want.state_hash());
            }
            let artifacts: Vec<_> = state.artifacts.values().cloned().collect();
            assert_eq!(artifacts, snapshot.artifacts);
            // Sightings: every digest run so far, first at the first snapshot that ran it.
            for s in expected.values() {
                for d in s.artifact_digests() {
                    first_seen
                        .entry((name.to_string(), d))
                        .or_insert(outcome.snapshot.seq);
                }
            }
            let mine: HashMap<&Digest, i64> = state
                .sightings
                .iter()
                .map(|(d, s)| (d, s.first.seq))
                .collect();
            let want: HashMap<&Digest, i64> = first_seen
                .iter()
                .filter(|((e, _), _)| e == name.as_str())
                .map(|((_, d), seq)| (d, *seq))
                .collect();
            assert_eq!(
                mine, want,
                "seed {seed} sightings of {name} at #{}",
                outcome.snapshot.seq
            );

            // History of this one snapshot: exactly the differences from the previous one.
            let changes = store.history(&name, None, Some(at), Some(at)).unwrap();
            let before = previous
                .get(name.as_str())
                .map(|p| p.component_states())
                .unwrap_or_default();
            let mut want: Vec<(ComponentName, bool, bool)> = Vec::new();
            for c in before.keys().chain(expected.keys()) {
                let (b, a) = (before.get(c), expected.get(c));
                if b != a && !want.iter().any(|(w, ..)| w == c) {
                    want.push((c.clone(), b.is_some(), a.is_some()));
                }
            }
            want.sort();
            let got: Vec<(ComponentName, bool, bool)> = changes
                .iter()
                .map(|c| (c.component.clone(), c.before.is_some(), c.after.is_some()))
                .collect();
            assert_eq!(
                got, want,
                "seed {seed} history of {name} at #{}",
                outcome.snapshot.seq
            );
            for c in &changes {
                assert_eq!(c.after.as_deref(), expected.get(&c.component));
                assert_eq!(c.before.as_deref(), before.get(&c.component));
            }
            previous.insert(name.to_string(), snapshot.clone());
        }
        // The generator stored some image-index links.
        assert!(!store.artifact_links().unwrap().is_empty());
    }
}
