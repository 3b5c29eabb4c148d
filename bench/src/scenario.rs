//! The workloads the targets are stated for, shared by the criterion benches and `envtrail-perf`
//! so both measure the same thing: the promotion path, the year of hourly history (built into a
//! real store and, for a prefix, into the naive archive), and the small statistics used to report
//! timings.

use std::path::Path;
use std::time::{Duration, Instant};

use envtrail_model::{EnvName, Snapshot, Timestamp};
use envtrail_store::{Store, StoreError};

use crate::fleet::{Fleet, FleetConfig};
use crate::naive::NaiveStore;

/// Why building a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The store refused or failed an operation.
    #[error("store operation failed")]
    Store(#[from] StoreError),
    /// The naive archive failed.
    #[error("naive archive operation failed")]
    Naive(#[from] rusqlite::Error),
}

/// `dev`, `staging`, `prod`: the promotion path of every scenario.
pub fn path() -> Vec<EnvName> {
    ["dev", "staging", "prod"]
        .iter()
        .map(|e| e.parse().expect("valid environment names"))
        .collect()
}

/// A year (or a prefix of it) of snapshots of every environment of [`path`], one per
/// `interval`, imported in time order (all environments of hour h before any of hour h + 1).
#[derive(Debug, Clone)]
pub struct HistoryPlan {
    /// The fleet (its `interval` is the time between snapshots).
    pub fleet: FleetConfig,
    /// Snapshots per environment, the first included (8,760 for a year of hours).
    pub snapshots_per_env: usize,
    /// Fraction of components changed from one snapshot to the next.
    pub change_fraction: f64,
    /// How many of the first snapshots per environment also go into the naive archive.
    pub naive_snapshots_per_env: usize,
}

impl HistoryPlan {
    /// The target's history: `days` days of hourly snapshots of 3 environments × 2,000
    /// components with `config_keys` keys each, 1% changed every hour; the first `naive_days`
    /// days also stored naively.
    pub fn hourly(days: usize, config_keys: usize, naive_days: usize) -> Self {
        Self {
            fleet: FleetConfig {
                components: 2_000,
                config_keys,
                ..FleetConfig::default()
            },
            snapshots_per_env: days * 24,
            change_fraction: 0.01,
            naive_snapshots_per_env: naive_days.min(days) * 24,
        }
    }

    /// The instant of the last snapshot.
    pub fn last_at(&self) -> Timestamp {
        self.fleet.start + self.fleet.interval * (self.snapshots_per_env.saturating_sub(1) as i32)
    }
}

/// What building a history cost.
#[derive(Debug, Clone, Default)]
pub struct HistoryBuild {
    /// Snapshots imported into the store.
    pub imports: usize,
    /// Time spent in [`Store::import`] (generation excluded).
    pub store_import: Duration,
    /// The slowest single import.
    pub slowest_import: Duration,
    /// Time spent generating snapshots.
    pub generate: Duration,
    /// Snapshots put in the naive archive.
    pub naive_snapshots: usize,
    /// Bytes of snapshot JSON put in the naive archive.
    pub naive_json_bytes: u64,
    /// Time spent in [`NaiveStore::import`] (serialising included).
    pub naive_import: Duration,
}

/// How far a history build has got, for progress lines.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Rounds (one snapshot per environment) done.
    pub round: usize,
    /// Rounds in all.
    pub rounds: usize,
    /// The cost so far.
    pub build: &'a HistoryBuild,
}

/// Imports the history of `plan` into `store` (and its prefix into `naive`), calling `progress`
/// after every round.
pub fn build_history(
    plan: &HistoryPlan,
    store: &mut Store,
    mut naive: Option<&mut NaiveStore>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<HistoryBuild, ScenarioError> {
    let fleet = Fleet::new(plan.fleet.clone());
    let mut build = HistoryBuild::default();
    let started = Instant::now();
    let mut current: Vec<Snapshot> = fleet.environments(&path());
    build.generate += started.elapsed();
    for round in 0..plan.snapshots_per_env {
        if round > 0 {
            let started = Instant::now();
            current = current
                .iter()
                .map(|s| fleet.next(s, plan.change_fraction))
                .collect();
            build.generate += started.elapsed();
        }
        for snapshot in &current {
            if round < plan.naive_snapshots_per_env
                && let Some(naive) = naive.as_deref_mut()
            {
                let started = Instant::now();
                build.naive_json_bytes += naive.import(snapshot)? as u64;
                build.naive_import += started.elapsed();
                build.naive_snapshots += 1;
            }
            let snapshot = snapshot.clone();
            let started = Instant::now();
            store.import(snapshot)?;
            let took = started.elapsed();
            build.store_import += took;
            build.slowest_import = build.slowest_import.max(took);
            build.imports += 1;
        }
        progress(Progress {
            round: round + 1,
            rounds: plan.snapshots_per_env,
            build: &build,
        });
    }
    Ok(build)
}

/// The model-level work `Store::import` does before touching SQLite, done the same way
/// (validate, normalise, move the workloads into component states, then in parallel the canonical
/// JSON of every state and artifact, which is both what is hashed and the stored body, its sha256,
/// and each state's artifact digests). Timing this beside `Store::import` splits an import's cost
/// into the model's work vs SQLite. Returns a checksum so nothing is optimised away.
pub fn hash_like_an_import(mut snapshot: Snapshot) -> usize {
    use envtrail_model::canonical::{canonical_json, sha256_hex};
    use rayon::prelude::*;

    snapshot.validate().expect("generated snapshots are valid");
    snapshot.normalize();
    let states: Vec<_> = snapshot.take_component_states().into_iter().collect();
    let (a, b) = rayon::join(
        || {
            states
                .par_iter()
                .map(|(_, state)| {
                    let body = canonical_json(state);
                    sha256_hex(&body).len() + body.len() + state.artifact_digests().len()
                })
                .sum::<usize>()
        },
        || {
            snapshot
                .artifacts
                .par_iter()
                .map(|a| {
                    let body = canonical_json(a);
                    sha256_hex(&body).len() + body.len()
                })
                .sum::<usize>()
        },
    );
    a + b
}

/// The same model-level work as [`hash_like_an_import`], one phase at a time on one thread, so
/// each phase's share of an import's CPU time can be read off: `(phase, time)` in order.
pub fn import_phases(mut snapshot: Snapshot) -> Vec<(&'static str, Duration)> {
    use envtrail_model::canonical::{canonical_json, sha256_hex};

    let mut phases = Vec::new();
    let mut time = |name, f: &mut dyn FnMut() -> usize| {
        let started = Instant::now();
        std::hint::black_box(f());
        phases.push((name, started.elapsed()));
    };
    time("Snapshot::validate", &mut || {
        usize::from(snapshot.validate().is_ok())
    });
    time("Snapshot::normalize", &mut || {
        snapshot.normalize();
        snapshot.workloads.len()
    });
    let mut states = Default::default();
    time(
        "Snapshot::take_component_states (moves every workload)",
        &mut || {
            states = snapshot.take_component_states();
            states.len()
        },
    );
    let mut canonical: Vec<Vec<u8>> = Vec::new();
    time(
        "canonical JSON (RFC 8785) of every state = its stored body",
        &mut || {
            canonical = states.values().map(canonical_json).collect();
            canonical.len()
        },
    );
    time("sha256 of every state's canonical JSON", &mut || {
        canonical.iter().map(|c| sha256_hex(c).len()).sum()
    });
    time(
        "quick hash of every state (serde_json compact + sha256; unchanged-state check)",
        &mut || {
            states
                .values()
                .map(|s| {
                    let bytes = serde_json::to_vec(s).expect("states serialise");
                    sha256_hex(&bytes).len()
                })
                .sum()
        },
    );
    time("artifact digests of every state", &mut || {
        states.values().map(|s| s.artifact_digests().len()).sum()
    });
    time("canonical JSON + sha256 of every artifact", &mut || {
        snapshot
            .artifacts
            .iter()
            .map(|a| sha256_hex(&canonical_json(a)).len())
            .sum()
    });
    phases
}

/// CPU time (user + system, all threads) this process has used so far, from `/proc/self/stat`
/// (in clock ticks of 10 ms); `None` where that file is not available.
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The 1-, 5- and 15-minute load averages, from `/proc/loadavg`.
pub fn load_average() -> Option<String> {
    let avg = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(avg.split(' ').take(3).collect::<Vec<_>>().join(" "))
}

/// The number in environment variable `name`, or `default` when unset. Panics on a value that is
/// not a number: a benchmark must not silently measure something else than asked.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Removes the SQLite database at `path` with its `-wal` and `-shm` files, if present.
pub fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Bytes on disk of the SQLite database at `path`, its `-wal` and `-shm` files included.
pub fn database_size(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).ok()
        })
        .map(|m| m.len())
        .sum()
}

/// Summary statistics of a set of timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// How many.
    pub count: usize,
    /// The median.
    pub median: Duration,
    /// The 95th percentile (nearest rank).
    pub p95: Duration,
    /// The fastest.
    pub min: Duration,
    /// The slowest.
    pub max: Duration,
}

impl Stats {
    /// The statistics of `samples` (which must not be empty).
    pub fn of(samples: &[Duration]) -> Self {
        assert!(!samples.is_empty(), "statistics of no samples");
        let mut sorted = samples.to_vec();
        sorted.sort();
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        };
        let rank = (n * 95).div_ceil(100).max(1) - 1;
        Self {
            count: n,
            median,
            p95: sorted[rank],
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}

/// A duration as a human reads it: `812 µs`, `37.2 ms`, `2.41 s`, `12 min 3 s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 0.001 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 120.0 {
        format!("{s:.2} s")
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// A size as a human reads it, in MB (10^6 bytes) or GB (10^9 bytes).
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_and_p95() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let s = Stats::of(&ms(&[5, 1, 3]));
        assert_eq!(
            (s.median, s.min, s.max, s.p95),
            (ms(&[3])[0], ms(&[1])[0], ms(&[5])[0], ms(&[5])[0])
        );
        assert_eq!(
            Stats::of(&ms(&[1, 2, 3, 4])).median,
            Duration::from_micros(2_500)
        );
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(Stats::of(&ms(&hundred)).p95, Duration::from_millis(95));
    }

    #[test]
    fn cpu_time_grows_and_hashing_counts_something() {
        let before = process_cpu_time().unwrap();
        let fleet = Fleet::new(FleetConfig {
            components: 200,
            config_keys: 5,
            ..FleetConfig::default()
        });
        let s = fleet.initial(&path()[0], 0);
        assert!(hash_like_an_import(s.clone()) > 0);
        assert_eq!(import_phases(s).len(), 8);
        assert!(process_cpu_time().unwrap() >= before);
        assert!(load_average().is_some());
    }

    #[test]
    fn a_short_history_builds_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = HistoryPlan::hourly(1, 3, 1);
        plan.fleet.components = 50;
        plan.snapshots_per_env = 6;
        plan.naive_snapshots_per_env = 2;
        let store_path = dir.path().join("store.sqlite");
        let mut store = Store::open(&store_path).unwrap();
        let mut naive = NaiveStore::open(&dir.path().join("naive.sqlite")).unwrap();
        let mut rounds = 0;
        let build =
            build_history(&plan, &mut store, Some(&mut naive), |p| rounds = p.round).unwrap();
        assert_eq!((rounds, build.imports, build.naive_snapshots), (6, 18, 6));
        assert_eq!(naive.len().unwrap(), 6);
        let prod = &path()[2];
        let state = store
            .environment_state(prod, plan.last_at(), false)
            .unwrap()
            .unwrap();
        assert_eq!(state.snapshot.seq, 6);
        assert_eq!(state.components.len(), 50);
        assert!(database_size(&store_path) > 0);
    }
}
