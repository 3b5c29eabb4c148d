//! Times `Store::report_input` and `envtrail_diff::report` on an existing store, without
//! building one: for profiling the report path (`perf record`) on a store that `envtrail-perf
//! --keep DIR` left behind (`DIR/report.sqlite`).
//!
//! Snapshot files given after RUNS are imported first (e.g. `envtrail-fleet`'s output).
//!
//! ```text
//! cargo build --release -p envtrail-bench --example report-on-store
//! target/release/examples/report-on-store /tmp/perf/report.sqlite 2026-01-01T01:00:00Z 3
//! target/release/examples/report-on-store /tmp/r.sqlite 2026-01-01T01:00:00Z 3 /tmp/fleet/{dev,staging,prod}.json
//! ```

use std::time::Instant;

use envtrail_diff::Policy;
use envtrail_store::Store;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let store = args
        .next()
        .expect("usage: report-on-store STORE TIME [RUNS]");
    let at = envtrail_model::parse_time(&args.next().expect("TIME"))?;
    let runs: usize = args.next().map_or(Ok(3), |r| r.parse())?;
    for file in args {
        // As `envtrail import`: what the store already holds is left unparsed.
        let started = Instant::now();
        let mut opened = Store::open(std::path::Path::new(&store))?;
        let bytes = envtrail_collect_file::read_document(file.as_ref())?;
        let read = started.elapsed();
        let mut held = std::time::Duration::ZERO;
        let document = envtrail_collect_file::parse_snapshot_against(&file, &bytes, |env| {
            let asked = Instant::now();
            let quick = opened.open_quick_hashes(env).unwrap_or_default();
            held = asked.elapsed();
            quick
        })?;
        let parsed = started.elapsed();
        let unparsed = document.unparsed.len();
        let outcome = opened.import_parts(document.snapshot, document.unparsed)?;
        eprintln!(
            "imported {file}: open + read {read:.2?}, parse {parsed:.2?} (of which the held \
             quick hashes {held:.2?}; {unparsed} components left unparsed), total {:.2?}, \
             {} changed",
            started.elapsed(),
            outcome.components_changed
        );
    }
    let path = ["dev", "staging", "prod"].map(|e| e.parse().expect("a name"));
    for run in 1..=runs {
        let started = Instant::now();
        let store = Store::open(std::path::Path::new(&store))?;
        let input = store.report_input(&path, at)?;
        let read = started.elapsed();
        let report = envtrail_diff::report(&input, &Policy::default())?;
        let total = started.elapsed();
        eprintln!(
            "run {run}: report_input {read:.2?}, diff {:.2?}, total {total:.2?}, {} findings",
            total - read,
            report.findings.len()
        );
    }
    Ok(())
}
