//! Criterion benches of `Store::import` on the large fleet: the first snapshot of an environment
//! (`ENVTRAIL_BENCH_COMPONENTS` workloads, default 50,000, with `ENVTRAIL_BENCH_CONFIG_KEYS` keys,
//! default 20) into an empty store, and the next one with 1% of components changed. Also the JSON
//! parse that `envtrail import` adds in front. Each iteration takes seconds: 10 samples.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use envtrail_bench::fleet::{Fleet, FleetConfig};
use envtrail_bench::scenario::{env_usize, path, remove_database};
use envtrail_store::Store;

fn import(c: &mut Criterion) {
    let n = env_usize("ENVTRAIL_BENCH_COMPONENTS", 50_000);
    let k = env_usize("ENVTRAIL_BENCH_CONFIG_KEYS", 20);
    let fleet = Fleet::new(FleetConfig {
        components: n,
        config_keys: k,
        ..FleetConfig::default()
    });
    let first = fleet.initial(&path()[2], 2);
    let next = fleet.next(&first, 0.01);
    let json = serde_json::to_vec(&first).expect("snapshots serialise");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let base = dir.path().join("base.sqlite");
    Store::open(&base)
        .and_then(|mut s| s.import(first.clone()))
        .expect("base store");
    let counter = AtomicUsize::new(0);
    let fresh = |name: &str| {
        let p = dir.path().join(format!(
            "{name}-{}.sqlite",
            counter.fetch_add(1, Ordering::Relaxed)
        ));
        remove_database(&p);
        p
    };

    let mut group = c.benchmark_group("import");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    group.bench_function(format!("parse_json_{n}x{k}"), |b| {
        b.iter(|| {
            envtrail_collect_file::parse_snapshot("first.json", black_box(&json)).expect("valid")
        })
    });
    group.bench_function(format!("first_{n}x{k}"), |b| {
        b.iter_batched(
            || {
                (
                    Store::open(&fresh("first")).expect("store opens"),
                    first.clone(),
                )
            },
            |(mut store, snapshot)| {
                let outcome = store.import(snapshot).expect("import");
                (store, outcome)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function(format!("next_1pct_{n}x{k}"), |b| {
        b.iter_batched(
            || {
                let p = fresh("next");
                std::fs::copy(&base, &p).expect("copy of the base store");
                (Store::open(&p).expect("store opens"), next.clone())
            },
            |(mut store, snapshot)| {
                let outcome = store.import(snapshot).expect("import");
                (store, outcome)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
