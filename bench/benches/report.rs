//! Criterion benches of `report` over dev → staging → prod of `ENVTRAIL_BENCH_COMPONENTS`
//! components each (default 50,000): end to end (open, store read, diff), and the store read and
//! the diff alone.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use envtrail_bench::fleet::{Fleet, FleetConfig};
use envtrail_bench::scenario::{env_usize, path};
use envtrail_diff::Policy;
use envtrail_store::Store;

fn report(c: &mut Criterion) {
    let n = env_usize("ENVTRAIL_BENCH_COMPONENTS", 50_000);
    let k = env_usize("ENVTRAIL_BENCH_CONFIG_KEYS", 20);
    let fleet = Fleet::new(FleetConfig {
        components: n,
        config_keys: k,
        ..FleetConfig::default()
    });
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store_path = dir.path().join("report.sqlite");
    {
        let mut store = Store::open(&store_path).expect("store opens");
        for snapshot in fleet.environments(&path()) {
            store.import(snapshot).expect("import");
        }
    }
    let at = fleet.config().start + chrono::TimeDelta::hours(1);
    let path = path();
    let policy = Policy::default();
    let store = Store::open(&store_path).expect("store opens");
    let input = store.report_input(&path, at).expect("report input");

    let mut group = c.benchmark_group("report");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function(format!("end_to_end_3x{n}"), |b| {
        b.iter(|| {
            let store = Store::open(&store_path).expect("store opens");
            let input = store.report_input(&path, at).expect("report input");
            envtrail_diff::report(&input, &policy).expect("report")
        })
    });
    group.bench_function(format!("report_input_3x{n}"), |b| {
        b.iter(|| {
            store
                .report_input(black_box(&path), at)
                .expect("report input")
        })
    });
    group.bench_function(format!("diff_3x{n}"), |b| {
        b.iter(|| envtrail_diff::report(black_box(&input), &policy).expect("report"))
    });
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
