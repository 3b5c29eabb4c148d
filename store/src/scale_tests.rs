//! Scale checks. The full-size one builds the reference store (8,760 hourly snapshots ×
//! 3 environments × 2,000 components, 1% changing per hour) row by row, as imports would leave
//! it, then times point-in-time queries. It is ignored by default, with the reason on the attribute (a minute and ~1 GB of disk); run it
//! with `cargo test -p envtrail-store --release -- --ignored --nocapture scale`.

use std::path::Path;
use std::time::{Duration, Instant};

use envtrail_model::canonical::sha256_hex;
use rusqlite::params;

use crate::Store;
use crate::interval::{OPEN_LEVEL, fork_node};
use crate::lookup::{KIND_ARTIFACT, KIND_COMPONENT};
use crate::testutil::{SnapBuilder, at, env};

/// A state body of component `name` at `version`, and the digest it runs.
fn state(name: &str, version: u32) -> (String, Vec<u8>, String) {
    let digest = format!(
        "sha256:{}",
        sha256_hex(format!("{name}-{version}").as_bytes())
    );
    let body = serde_json::json!({
        "workloads": [{
            "component": name, "source": "k8s", "ref": format!("Deployment/apps/{name}"),
            "containers": [{"name": "app", "image": format!("registry.example.com/{name}:{version}"),
                            "running_digests": [digest]}],
            "config": {"LOG_LEVEL": {"fingerprint": envtrail_model::Fingerprint::of_plain_value("info"),
                                     "value": "info"},
                       "DB_URL": {"fingerprint": format!("hmac-sha256:{}", "1".repeat(64)), "secret": true}},
            "metadata": {"helm.sh/chart": format!("{name}-{version}")}
        }],
        "infrastructure": []
    });
    let body = serde_json::to_vec(&body).unwrap();
    (sha256_hex(&body), body, digest)
}

fn artifact(digest: &str) -> (String, Vec<u8>) {
    let body = serde_json::to_vec(&serde_json::json!({
        "digest": digest, "repository": "registry.example.com/app", "tags": ["1"],
        "signature": {"status": "verified"}
    }))
    .unwrap();
    (sha256_hex(&body), body)
}

/// Writes the rows `envs` × `hours` hourly imports of `components` components would leave, with
/// `changes` components getting a new state (and artifact) every hour.
fn build(path: &Path, envs: usize, hours: u32, components: usize, changes: usize) -> Store {
    let mut store = Store::open(path).unwrap();
    let names: Vec<String> = (0..components).map(|i| format!("svc-{i:05}")).collect();
    let t0 = at("2025-01-01T00:00:00Z").timestamp_nanos_opt().unwrap();
    let hour = 3_600_000_000_000i64;
    // Per env: per component (open component interval id, from, version, open artifact id).
    let mut open: Vec<Vec<(i64, i64, u32, i64)>> = vec![Vec::new(); envs];
    let tx = store.conn.transaction().unwrap();
    for e in 0..envs {
        tx.execute(
            "INSERT INTO environments (id, name) VALUES (?1, ?2)",
            params![e as i64 + 1, format!("env{e}")],
        )
        .unwrap();
    }
    {
        let mut snap = tx
            .prepare(
                "INSERT INTO snapshots (env_id, seq, taken_at, header, items_root, content_hash, \
                 prev_link, link, components) VALUES (?1, ?2, ?3, ?4, 'r', 'c', 'p', ?5, ?6)",
            )
            .unwrap();
        let mut ins_state = tx
            .prepare(
                "INSERT INTO states (hash, body) VALUES (?1, ?2) \
                 ON CONFLICT (hash) DO UPDATE SET hash = excluded.hash RETURNING id",
            )
            .unwrap();
        let mut ins_art = tx
            .prepare(
                "INSERT INTO artifacts (hash, digest, body) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (hash) DO UPDATE SET hash = excluded.hash RETURNING id",
            )
            .unwrap();
        let mut ins_iv = tx
            .prepare(
                "INSERT INTO intervals (env_id, kind, key, body_id, from_seq, to_seq, lvl, blk) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, 0)",
            )
            .unwrap();
        let mut close = tx
            .prepare("UPDATE intervals SET to_seq = ?1, lvl = ?2, blk = ?3 WHERE id = ?4")
            .unwrap();
        let mut sight = tx
            .prepare("INSERT OR IGNORE INTO sightings VALUES (?1, ?2, ?3, ?4)")
            .unwrap();
        for h in 0..hours {
            let seq = i64::from(h) + 1;
            for (e, open) in open.iter_mut().enumerate() {
                let env_id = e as i64 + 1;
                let header = serde_json::to_vec(&serde_json::json!({
                    "schema": "envtrail.snapshot.v1", "environment": format!("env{e}"),
                    "taken_at": envtrail_model::time::format_time(&crate::lookup::from_nanos(t0 + i64::from(h) * hour)),
                    "sources": [{"id": "k8s", "kind": "kubernetes", "status": "ok"}]
                }))
                .unwrap();
                snap.execute(params![
                    env_id,
                    seq,
                    t0 + i64::from(h) * hour + e as i64,
                    header,
                    format!("link-{h}-{e}"),
                    components as i64
                ])
                .unwrap();
                let snapshot_id = tx.last_insert_rowid();
                let changed: Vec<usize> = if h == 0 {
                    (0..components).collect()
                } else {
                    (0..changes)
                        .map(|k| (h as usize * 7919 + k * 104_729 + e * 13) % components)
                        .collect()
                };
                for c in changed {
                    let name = &names[c];
                    let version = if h == 0 {
                        0
                    } else {
                        let (iv, from, version, art) = open[c];
                        if from == seq {
                            continue; // picked twice this hour
                        }
                        let (lvl, blk) = fork_node(from, seq);
                        close.execute(params![seq, lvl, blk, iv]).unwrap();
                        close.execute(params![seq, lvl, blk, art]).unwrap();
                        version + 1
                    };
                    let (hash, body, digest) = state(name, version);
                    let state_id: i64 = ins_state
                        .query_row(params![hash, body], |r| r.get(0))
                        .unwrap();
                    ins_iv
                        .execute(params![
                            env_id,
                            KIND_COMPONENT,
                            name,
                            state_id,
                            seq,
                            OPEN_LEVEL
                        ])
                        .unwrap();
                    let iv = tx.last_insert_rowid();
                    let (ahash, abody) = artifact(&digest);
                    let art_id: i64 = ins_art
                        .query_row(params![ahash, digest, abody], |r| r.get(0))
                        .unwrap();
                    ins_iv
                        .execute(params![
                            env_id,
                            KIND_ARTIFACT,
                            digest,
                            art_id,
                            seq,
                            OPEN_LEVEL
                        ])
                        .unwrap();
                    let art = tx.last_insert_rowid();
                    sight
                        .execute(params![env_id, digest, seq, snapshot_id])
                        .unwrap();
                    if h == 0 {
                        open.push((iv, seq, version, art));
                    } else {
                        open[c] = (iv, seq, version, art);
                    }
                }
            }
        }
    }
    tx.commit().unwrap();
    store
        .conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    store
}

/// Times `environment_state(.., false)` at instants spread over the year, every environment.
fn time_queries(store: &Store, envs: usize, hours: u32, components: usize) -> Vec<Duration> {
    let p0 = process_cpu();
    let mut times = Vec::new();
    for e in 0..envs {
        for k in 0..12u32 {
            let h = i64::from(k * hours / 12 + 7);
            let t = at("2025-01-01T00:00:00Z") + chrono::Duration::minutes(h * 60 + 30);
            let start = Instant::now();
            let state = store
                .environment_state(&env(&format!("env{e}")), t, false)
                .unwrap()
                .unwrap();
            times.push(start.elapsed());
            assert_eq!(state.snapshot.seq, h + 1);
            assert_eq!(state.components.len(), components);
            assert_eq!(state.artifacts.len(), components);
        }
    }
    eprintln!(
        "process cpu per query (all threads): {:?}",
        (process_cpu() - p0) / times.len() as u32
    );
    times.sort();
    times
}

#[test]
fn point_in_time_queries_are_exact_on_a_synthetic_history() {
    // Small enough for every test run; checks the rows `build` writes read back consistently.
    let dir = tempfile::tempdir().unwrap();
    let store = build(&dir.path().join("s.db"), 2, 300, 200, 5);
    let times = time_queries(&store, 2, 300, 200);
    assert!(!times.is_empty());
    // The state at each hour is the one the build left: compare with a brute-force scan.
    let state = store
        .environment_state(&env("env1"), at("2025-01-05T03:30:00Z"), false)
        .unwrap()
        .unwrap();
    let n = state.snapshot.seq;
    let expected: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM intervals WHERE env_id = 2 AND kind = 0 AND from_seq <= ?1 \
             AND (to_seq IS NULL OR to_seq > ?1)",
            [n],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state.components.len() as i64, expected);
    assert_eq!(expected, 200);
}

#[test]
#[ignore = "builds a 26,280-snapshot store; run with --release -- --ignored"]
fn scale_reference_store_answers_under_50ms() {
    let dir = tempfile::tempdir().unwrap();
    // ENVTRAIL_SCALE_DB keeps (and reuses) the built store, to profile without rebuilding.
    let path =
        std::env::var_os("ENVTRAIL_SCALE_DB").map_or_else(|| dir.path().join("big.db"), Into::into);
    let start = Instant::now();
    if !path.exists() {
        drop(build(&path, 3, 8760, 2000, 20));
    }
    let built = start.elapsed();
    let size = std::fs::metadata(&path).unwrap().len();
    let store = Store::open(&path).unwrap();
    let times = time_queries(&store, 3, 8760, 2000);
    let median = times[times.len() / 2];
    let max = *times.last().unwrap();
    eprintln!(
        "built in {built:?} ({} MB); environment_state(history=false): median {median:?}, max {max:?}",
        size / 1_000_000
    );
    let start = Instant::now();
    let full = store
        .environment_state(&env("env0"), at("2025-12-31"), true)
        .unwrap()
        .unwrap();
    eprintln!(
        "environment_state(history=true) at the end: {:?}",
        start.elapsed()
    );
    assert!(full.components.values().any(|c| !c.previous.is_empty()));
    assert!(median < Duration::from_millis(50), "median {median:?}");
}

/// CPU time of the whole process (all threads), from /proc (10 ms ticks: average many calls).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// This thread's (on-CPU, waiting-for-CPU) nanoseconds: profiles stay meaningful on a loaded
/// machine.
fn cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut it = stat
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[test]
#[ignore = "profiling aid: ENVTRAIL_SCALE_DB=<built store>"]
fn profile_loop() {
    let Some(path) = std::env::var_os("ENVTRAIL_SCALE_DB") else {
        return;
    };
    let store = Store::open(Path::new(&path)).unwrap();
    let e = env("env0");
    let t = at("2025-06-01T00:00:00Z");
    store.environment_state(&e, t, false).unwrap();
    let (c0, _) = cpu();
    let p0 = process_cpu();
    let start = Instant::now();
    for _ in 0..20 {
        let state = store.environment_state(&e, t, false).unwrap();
        std::hint::black_box(state);
    }
    eprintln!(
        "{:?} per query; cpu per query: calling thread {:.1}ms, all threads {:?}",
        start.elapsed() / 20,
        (cpu().0 - c0) as f64 / 20e6,
        (process_cpu() - p0) / 20
    );
}

#[test]
#[ignore = "import and verify throughput; run with --release -- --ignored --nocapture"]
fn import_and_verify_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let (components, hours, changes) = (2000usize, 200u32, 20usize);
    let mut versions = vec![0u32; components];
    let mut import_time = Duration::ZERO;
    for h in 0..hours {
        for k in 0..changes {
            versions[(h as usize * 7919 + k * 104_729) % components] += 1;
        }
        let time = envtrail_model::time::format_time(
            &(at("2025-01-01T00:00:00Z") + chrono::Duration::hours(i64::from(h))),
        );
        let mut b = SnapBuilder::new("prod", &time);
        for (c, v) in versions.iter().enumerate() {
            b = b.component_config(
                &format!("svc-{c:05}"),
                HEX[(*v % 16) as usize],
                &format!("v{v}"),
            );
        }
        let snapshot = b.build();
        let start = Instant::now();
        store.import(snapshot).unwrap();
        import_time += start.elapsed();
    }
    let start = Instant::now();
    let verdict = store.verify().unwrap();
    let verify_time = start.elapsed();
    assert!(verdict.ok, "{:?}", verdict.problems);
    eprintln!(
        "{hours} imports of {components} components: {:?} per import; verify: {verify_time:?} ({:?} per snapshot)",
        import_time / hours,
        verify_time / hours
    );
}

const HEX: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];
