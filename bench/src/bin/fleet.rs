//! `envtrail-fleet`: writes synthetic snapshot JSON files, one per environment (and optionally a
//! time series of each), for measuring the real `envtrail` CLI end to end.

/// The same allocator as the `envtrail` binary, so that figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;
use envtrail_bench::fleet::{Fleet, FleetConfig};
use envtrail_model::{EnvName, Snapshot};

/// Writes `<out>/<env>.json` for each environment, and with `--series N` also
/// `<out>/<env>-0001.json` ... `<out>/<env>-N.json`, each one `--interval-minutes` after the one
/// before with `--change-fraction` of its components changed.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Number of components (one workload each).
    #[arg(long, default_value_t = 50_000)]
    components: usize,
    /// Config keys per workload.
    #[arg(long, default_value_t = 20)]
    config_keys: usize,
    /// The promotion path, upstream first.
    #[arg(long, value_delimiter = ',', default_value = "dev,staging,prod")]
    envs: Vec<EnvName>,
    /// Everything derives from this.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Snapshots to write after the first one of each environment.
    #[arg(long, default_value_t = 0)]
    series: usize,
    /// Fraction of components changed between two snapshots of a series.
    #[arg(long, default_value_t = 0.01)]
    change_fraction: f64,
    /// Minutes between two snapshots of a series.
    #[arg(long, default_value_t = 60)]
    interval_minutes: i64,
    /// The folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fleet = Fleet::new(FleetConfig {
        seed: args.seed,
        components: args.components,
        config_keys: args.config_keys,
        interval: chrono::TimeDelta::minutes(args.interval_minutes),
        ..FleetConfig::default()
    });
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    for (stage, env) in args.envs.iter().enumerate() {
        let first = fleet.initial(env, stage);
        write(&args.out.join(format!("{env}.json")), &first)?;
        for (n, snapshot) in fleet
            .series(first, args.series, args.change_fraction)
            .enumerate()
        {
            write(
                &args.out.join(format!("{env}-{:04}.json", n + 1)),
                &snapshot,
            )?;
        }
    }
    Ok(())
}

fn write(path: &Path, snapshot: &Snapshot) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut out, snapshot)
        .map_err(std::io::Error::from)
        .and_then(|()| out.flush())
        .with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
