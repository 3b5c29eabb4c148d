//! Benchmarks of issue 7: the hotfix merge-back check (500 running revisions against a
//! 100,000-commit repository, warm) and evidence bundles (export and verify of hourly snapshots
//! of one environment of 2,000 components). Prints figure vs target; see docs/performance.md.
//!
//! ```text
//! cargo run --release -p envtrail-bench --bin envtrail-evidence-perf -- --days 30
//! ```

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use envtrail_bench::fleet::{Fleet, FleetConfig};
use envtrail_bench::scenario::{load_average, process_cpu_time};
use envtrail_collect_git::{RepoSpec, check};
use envtrail_evidence::{SigningKey, open, seal_parts};
use envtrail_model::EnvName;
use envtrail_model::revision::MergeStatus;
use envtrail_store::Store;

/// The allocator the `envtrail` binary uses, so that the figures are the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// Days of hourly snapshots of one environment for the evidence benchmark (a year is 365).
    #[arg(long, default_value_t = 30)]
    days: usize,
    /// Components in the environment.
    #[arg(long, default_value_t = 2_000)]
    components: usize,
    /// Config keys per workload.
    #[arg(long, default_value_t = 5)]
    config_keys: usize,
    /// Fraction of components changed per hour.
    #[arg(long, default_value_t = 0.01)]
    change_fraction: f64,
    /// Commits on the mainline of the generated repository.
    #[arg(long, default_value_t = 100_000)]
    commits: usize,
    /// Running revisions to check.
    #[arg(long, default_value_t = 500)]
    revisions: usize,
    /// Runs of each timed step (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Skip the evidence part.
    #[arg(long)]
    skip_evidence: bool,
    /// Skip the merge-back part.
    #[arg(long)]
    skip_merge_back: bool,
    /// Keep the store, bundle and repository here (default: a temp dir).
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
    /// Reuse the evidence store left in --keep by an earlier run with the same --days,
    /// --components, --config-keys and --change-fraction instead of building it again (for
    /// profiling export and verify).
    #[arg(long, requires = "keep")]
    reuse: bool,
}

/// CPU time of this process (all threads) since `start`, zero when /proc is not readable.
fn cpu_since(start: Option<Duration>) -> Duration {
    match (start, process_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let dir = args.keep.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    if !args.skip_merge_back {
        merge_back(&args, &dir)?;
    }
    if !args.skip_evidence {
        evidence(&args, &dir)?;
    }
    Ok(())
}

/// A repository with `commits` linear mainline commits and a side branch of 50 commits off the
/// middle, written with `git fast-import` (test setup: envtrail itself reads it with gix).
fn make_repo(path: &Path, commits: usize) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    if path.exists() {
        std::fs::remove_dir_all(path)?;
    }
    let status = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(path)
        .status()?;
    anyhow::ensure!(status.success(), "git init failed");
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(path)
        .args(["fast-import", "--quiet", "--export-marks=marks"])
        .current_dir(path)
        .stdin(Stdio::piped())
        .spawn()
        .context("git fast-import")?;
    let mut input = std::io::BufWriter::new(child.stdin.take().expect("piped"));
    let side_from = commits / 2;
    let side = 50;
    let mut mark = 0;
    let mut commit = |input: &mut dyn std::io::Write,
                      branch: &str,
                      n: usize,
                      from: Option<usize>|
     -> std::io::Result<usize> {
        mark += 1;
        let msg = format!("commit {n} on {branch}");
        writeln!(input, "commit refs/heads/{branch}")?;
        writeln!(input, "mark :{mark}")?;
        writeln!(
            input,
            "committer bench <b@example.com> {} +0000",
            1_700_000_000 + n
        )?;
        writeln!(input, "data {}\n{msg}", msg.len())?;
        if let Some(from) = from {
            writeln!(input, "from :{from}")?;
        }
        writeln!(input, "M 644 inline file\ndata {}\n{msg}\n", msg.len())?;
        Ok(mark)
    };
    let mut main_marks = Vec::with_capacity(commits);
    for n in 0..commits {
        main_marks.push(commit(&mut input, "main", n, None)?);
    }
    let mut side_marks = Vec::new();
    let mut from = Some(main_marks[side_from]);
    for n in 0..side {
        let m = commit(&mut input, "hotfix/side", commits + n, from)?;
        side_marks.push(m);
        from = None;
    }
    input.flush()?;
    drop(input);
    anyhow::ensure!(child.wait()?.success(), "git fast-import failed");
    let marks = std::fs::read_to_string(path.join("marks"))?;
    let mut ids = std::collections::HashMap::new();
    for line in marks.lines() {
        let (m, id) = line.split_once(' ').context("marks line")?;
        ids.insert(m.trim_start_matches(':').parse::<usize>()?, id.to_owned());
    }
    Ok((
        main_marks.iter().map(|m| ids[m].clone()).collect(),
        side_marks.iter().map(|m| ids[m].clone()).collect(),
    ))
}

fn merge_back(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let repo = dir.join("repo.git");
    let started = Instant::now();
    let (main, side) = make_repo(&repo, args.commits)?;
    eprintln!(
        "merge-back: generated {} mainline + {} side commits with git fast-import in {}",
        main.len(),
        side.len(),
        secs(started.elapsed())
    );
    // 90% on the mainline (spread over the whole history), 10% on the side branch.
    let unmerged = (args.revisions / 10).min(side.len());
    let mut revisions: Vec<String> = (0..args.revisions - unmerged)
        .map(|i| main[(i * 7919) % main.len()].clone())
        .collect();
    revisions.extend(side.iter().take(unmerged).cloned());
    let spec = RepoSpec {
        url: repo.display().to_string(),
        mainline: "main".into(),
    };
    let cache = dir.join("cache");
    let mut times = Vec::new();
    for run in 0..=args.runs {
        let t = Instant::now();
        let facts = check(&spec, &cache, &revisions);
        let took = t.elapsed();
        let count = |s| facts.values().filter(|f| f.status == s).count();
        anyhow::ensure!(
            count(MergeStatus::Unmerged) == unmerged
                && count(MergeStatus::Merged) == revisions.len() - unmerged,
            "unexpected facts: {} unmerged, {} merged",
            count(MergeStatus::Unmerged),
            count(MergeStatus::Merged)
        );
        if run == 0 {
            eprintln!("merge-back: first (cold cache) run {}", secs(took));
        } else {
            times.push(took);
        }
    }
    let warm = median(times);
    println!(
        "merge-back: {} revisions ({} unmerged) vs {} commits, warm median of {}: {} (target <= 5 s) {}",
        revisions.len(),
        unmerged,
        main.len() + side.len(),
        args.runs,
        secs(warm),
        if warm <= Duration::from_secs(5) {
            "PASS"
        } else {
            "FAIL"
        }
    );
    Ok(())
}

fn evidence(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let store_path = dir.join("evidence.sqlite");
    if !args.reuse {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", store_path.display()));
        }
    }
    let fleet = Fleet::new(FleetConfig {
        components: args.components,
        config_keys: args.config_keys,
        ..FleetConfig::default()
    });
    let prod: EnvName = "prod".parse()?;
    let hours = args.days * 24;
    let mut store = Store::open(&store_path)?;
    let started = Instant::now();
    let mut snapshot = fleet.initial(&prod, 2);
    let from = snapshot.taken_at;
    let reused = if args.reuse {
        let newest = store
            .environments()?
            .into_iter()
            .find(|e| e.environment == prod);
        let newest = newest.context("--reuse: the kept store has no prod")?;
        anyhow::ensure!(
            newest.snapshots as usize == hours,
            "--reuse: the kept store has {} snapshots, not {hours}",
            newest.snapshots
        );
        Some(newest.newest.taken_at)
    } else {
        store.import(snapshot.clone())?;
        None
    };
    for h in 1..if reused.is_some() { 0 } else { hours } {
        snapshot = fleet.next(&snapshot, args.change_fraction);
        store.import(snapshot.clone())?;
        if h % 24 == 0 {
            eprintln!(
                "evidence: built day {}/{} in {}",
                h / 24,
                args.days,
                secs(started.elapsed())
            );
        }
    }
    let to = reused.unwrap_or(snapshot.taken_at);
    eprintln!(
        "evidence: store of {hours} hourly snapshots × {} components built in {}",
        args.components,
        secs(started.elapsed())
    );
    drop(store);
    let key = SigningKey::generate();
    let bundle_path = dir.join("bundle.json");
    eprintln!(
        "evidence: load average before timing: {}",
        load_average().unwrap_or_default()
    );
    let mut export_times = Vec::new();
    let mut export_cpu = Vec::new();
    let mut verify_cpu = Vec::new();
    let mut bytes_len = 0;
    for _ in 0..args.runs {
        let (t, cpu) = (Instant::now(), process_cpu_time());
        let store = Store::open(&store_path)?;
        let (bundle, bodies) = store
            .evidence_parts(&prod, from, to, None)?
            .context("a bundle")?;
        let bytes = seal_parts(&bundle, &bodies, &key);
        std::fs::write(&bundle_path, &bytes)?;
        export_times.push(t.elapsed());
        export_cpu.push(cpu_since(cpu));
        bytes_len = bytes.len();
    }
    let mut verify_times = Vec::new();
    for _ in 0..args.runs {
        let (t, cpu) = (Instant::now(), process_cpu_time());
        let bytes = std::fs::read(&bundle_path)?;
        let check = open(&bytes, Some(&key.public_key()));
        verify_times.push(t.elapsed());
        verify_cpu.push(cpu_since(cpu));
        anyhow::ensure!(check.ok, "the bundle does not verify: {:?}", check.problems);
        anyhow::ensure!(
            check.snapshots == hours,
            "{} snapshots checked",
            check.snapshots
        );
    }
    let (export, verify) = (median(export_times), median(verify_times));
    let (export_cpu, verify_cpu) = (median(export_cpu), median(verify_cpu));
    let scale = 8_760.0 / hours as f64;
    println!(
        "evidence: {hours} hourly snapshots × {} components ({:.1} MB bundle): export {} (CPU {}; open + store.evidence_parts + seal_parts + write), verify {} (CPU {}; read + open), medians of {}; load average after: {}",
        args.components,
        bytes_len as f64 / 1e6,
        secs(export),
        secs(export_cpu),
        secs(verify),
        secs(verify_cpu),
        args.runs,
        load_average().unwrap_or_default()
    );
    if hours != 8_760 {
        println!(
            "evidence: linear extrapolation to a year (8,760 snapshots, ×{scale:.1}): export {} (target <= 10 s), verify {} (target <= 5 s)",
            secs(export.mul_f64(scale)),
            secs(verify.mul_f64(scale)),
        );
    } else {
        let verdict = |d: Duration, target: u64| {
            if d <= Duration::from_secs(target) {
                "PASS"
            } else {
                "FAIL"
            }
        };
        println!(
            "evidence: a year: export {} (target <= 10 s) {}, verify {} (target <= 5 s) {}",
            secs(export),
            verdict(export, 10),
            secs(verify),
            verdict(verify, 5)
        );
    }
    Ok(())
}
