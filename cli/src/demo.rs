//! `envtrail demo`: loads the example snapshots bundled from `snapshots/` into a temporary store
//! and prints the report along dev → staging → prod, as of the examples' own "now" so the output
//! does not change with the calendar.

use std::path::Path;

use anyhow::{Context, Result};
use envtrail_model::{EnvName, Severity, parse_time};
use envtrail_store::Store;

use crate::args::Format;
use crate::commands::{build_report_and_input, outcome_for};
use crate::config::Config;
use crate::{Outcome, render};

mod data {
    include!(concat!(env!("OUT_DIR"), "/demo_data.rs"));
}

pub use data::{CONFIG, SNAPSHOTS};

/// The instant the demo reports at: shortly after the newest example snapshot.
pub const DEMO_AT: &str = "2026-11-20T12:00:00Z";

/// Runs the demo.
pub fn run(format: Format, fail_on: Option<Severity>) -> Result<Outcome> {
    let dir = tempfile::tempdir().context("creating a temporary directory for the demo store")?;
    let db = dir.path().join("demo.db");
    let mut store = Store::open(&db)?;
    let mut snapshots = Vec::with_capacity(SNAPSHOTS.len());
    for (name, text) in SNAPSHOTS {
        snapshots.push(envtrail_collect_file::parse_snapshot(
            name,
            text.as_bytes(),
        )?);
    }
    snapshots.sort_by_key(|s| s.taken_at);
    let count = snapshots.len();
    for snapshot in snapshots {
        store.import(snapshot)?;
    }
    let config = Config::parse(Path::new("snapshots/demo.toml"), CONFIG)?;
    let path: Vec<EnvName> = if config.path.is_empty() {
        ["dev", "staging", "prod"]
            .iter()
            .map(|e| e.parse().expect("valid names"))
            .collect()
    } else {
        config.path.clone()
    };
    let at = parse_time(DEMO_AT).expect("a valid constant");
    eprintln!(
        "envtrail demo: {count} example snapshots imported into a temporary store; report as of {DEMO_AT}"
    );
    let (report, input) = build_report_and_input(&store, &path, at, &config.policy)?;
    let text = render::report_with_input(&report, &input, format)?;
    println!("{}", text.trim_end());
    Ok(outcome_for(&report, fail_on.or(config.fail_on)))
}
