//! Criterion benches of `asof` on a long hourly history of 3 environments × 2,000 components, 1%
//! changed per hour. Uses the store at `ENVTRAIL_BENCH_YEAR_STORE` when set (e.g. the year store
//! `envtrail-perf --keep DIR` leaves in `DIR/year.sqlite`, built with the default flags);
//! otherwise builds `ENVTRAIL_BENCH_YEAR_DAYS` days (default 30) with
//! `ENVTRAIL_BENCH_YEAR_CONFIG_KEYS` keys (default 5) first.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use envtrail_bench::scenario::{HistoryPlan, build_history, env_usize, path};
use envtrail_model::{EnvName, Timestamp};
use envtrail_store::Store;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

fn asof(c: &mut Criterion) {
    let days = env_usize("ENVTRAIL_BENCH_YEAR_DAYS", 30);
    let keys = env_usize("ENVTRAIL_BENCH_YEAR_CONFIG_KEYS", 5);
    let mut plan = HistoryPlan::hourly(days, keys, 0);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store_path = match std::env::var_os("ENVTRAIL_BENCH_YEAR_STORE") {
        Some(p) => {
            // Assume the perf runner's default year: 365 days.
            plan = HistoryPlan::hourly(365, keys, 0);
            PathBuf::from(p)
        }
        None => {
            let p = dir.path().join("history.sqlite");
            let mut store = Store::open(&p).expect("store opens");
            eprintln!(
                "building {days} days of hourly history (set ENVTRAIL_BENCH_YEAR_STORE to reuse one)"
            );
            build_history(&plan, &mut store, None, |_| {}).expect("history builds");
            p
        }
    };
    let envs = path();
    let span = (plan.last_at() - plan.fleet.start).num_seconds() + 3_600;
    let mut rng = StdRng::seed_from_u64(7);
    let queries: Vec<(EnvName, Timestamp)> = (0..256)
        .map(|_| {
            let env = envs[rng.random_range(0..envs.len())].clone();
            (
                env,
                plan.fleet.start + chrono::TimeDelta::seconds(rng.random_range(0..span)),
            )
        })
        .collect();
    let mut cycle = queries.iter().cycle();
    let store = Store::open(&store_path).expect("store opens");

    let mut group = c.benchmark_group(format!("asof_{}d", (span / 86_400)));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("open_and_environment_state", |b| {
        b.iter(|| {
            let (env, at) = cycle.next().expect("cycle never ends");
            let store = Store::open(&store_path).expect("store opens");
            store
                .environment_state(env, *at, false)
                .expect("asof")
                .expect("in force")
        })
    });
    group.bench_function("environment_state", |b| {
        b.iter(|| {
            let (env, at) = cycle.next().expect("cycle never ends");
            store
                .environment_state(env, *at, false)
                .expect("asof")
                .expect("in force")
        })
    });
    group.bench_function("environment_state_with_history", |b| {
        b.iter(|| {
            let (env, at) = cycle.next().expect("cycle never ends");
            store
                .environment_state(env, *at, true)
                .expect("asof")
                .expect("in force")
        })
    });
    group.bench_function("export", |b| {
        b.iter(|| {
            let (env, at) = cycle.next().expect("cycle never ends");
            store.export(env, *at).expect("export").expect("in force")
        })
    });
    group.finish();
}

criterion_group!(benches, asof);
criterion_main!(benches);
