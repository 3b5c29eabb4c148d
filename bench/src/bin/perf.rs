//! `envtrail-perf`: the benchmark that checks the performance targets. Builds every store it needs
//! in a temporary folder, times each operation with `Instant` (median of several runs where a run
//! is cheap enough), prints a table of figure vs target, and exits non-zero if a target is missed.
//!
//! Exit codes: 0 every target met, 1 a target missed, 2 the run itself failed.

/// The same allocator as the `envtrail` binary, so that figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use envtrail_bench::fleet::{Fleet, FleetConfig};
use envtrail_bench::naive::NaiveStore;
use envtrail_bench::scenario::{
    HistoryBuild, HistoryPlan, Stats, build_history, database_size, hash_like_an_import,
    human_duration, human_size, import_phases, load_average, path, process_cpu_time,
    remove_database,
};
use envtrail_diff::Policy;
use envtrail_model::{EnvName, Snapshot, Timestamp};
use envtrail_store::Store;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Every target was met.
const EXIT_PASS: u8 = 0;
/// At least one target was missed.
const EXIT_MISSED: u8 = 1;
/// The benchmark could not run.
const EXIT_ERROR: u8 = 2;

/// Checks envtrail's performance targets on a synthetic fleet and prints figure vs target.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Components of the large fleet (import and report targets).
    #[arg(long, default_value_t = 50_000)]
    components: usize,
    /// Config keys per workload in the large fleet.
    #[arg(long, default_value_t = 20)]
    config_keys: usize,
    /// Runs of each import measurement (each on a fresh store); the median is reported.
    #[arg(long, default_value_t = 3)]
    import_runs: usize,
    /// Runs of the report measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    report_runs: usize,
    /// Skip the import and report measurements on the large fleet.
    #[arg(long)]
    skip_large: bool,
    /// Days of hourly history in the year store.
    #[arg(long, default_value_t = 365)]
    year_days: usize,
    /// Components per environment in the year store.
    #[arg(long, default_value_t = 2_000)]
    year_components: usize,
    /// Config keys per workload in the year store.
    #[arg(long, default_value_t = 5)]
    year_config_keys: usize,
    /// Days of the history also stored naively (full JSON per snapshot), then extrapolated.
    #[arg(long, default_value_t = 3)]
    naive_days: usize,
    /// Random instants queried with `asof` on the year store.
    #[arg(long, default_value_t = 200)]
    asof_queries: usize,
    /// Skip building and querying the year store.
    #[arg(long)]
    skip_year: bool,
    /// Query the year store (and naive archive) already in the `--keep` folder instead of
    /// building them; `--year-days` and the other year flags must match how it was built.
    #[arg(long, requires = "keep")]
    reuse_year: bool,
    /// Seed of the fleet and of the random instants.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also time the real `envtrail` binary at this path (import, report, asof), process start
    /// and output rendering included (e.g. target/release/envtrail).
    #[arg(long)]
    cli: Option<PathBuf>,
    /// Work in this folder and keep it (default: a temporary folder, removed at the end).
    #[arg(long)]
    keep: Option<PathBuf>,
}

/// One line of the result table.
struct Row {
    what: String,
    figure: String,
    target: String,
    /// `None` for information lines that have no target.
    pass: Option<bool>,
}

impl Row {
    fn info(what: impl Into<String>, figure: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            figure: figure.into(),
            target: String::new(),
            pass: None,
        }
    }

    fn time(what: impl Into<String>, figure: Duration, target: Duration) -> Self {
        Self {
            what: what.into(),
            figure: human_duration(figure),
            target: format!("≤ {}", human_duration(target)),
            pass: Some(figure <= target),
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::from(EXIT_PASS),
        Ok(false) => ExitCode::from(EXIT_MISSED),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(args: Args) -> anyhow::Result<bool> {
    let temp;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("failed to create a temporary folder")?;
            temp.path().to_owned()
        }
    };
    println!("# envtrail-perf");
    println!();
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()?,
        cpu_model()
    );
    println!("rayon threads: {}", rayon::current_num_threads());
    println!(
        "load average at start: {}",
        load_average().unwrap_or_default()
    );
    println!("work folder: {}", dir.display());
    println!();

    let mut rows = Vec::new();
    if !args.skip_large {
        large_fleet(&args, &dir, &mut rows)?;
    }
    if !args.skip_year {
        year(&args, &dir, &mut rows)?;
    }

    println!(
        "load average at end: {}\n",
        load_average().unwrap_or_default()
    );
    print_table(&rows);
    let missed: Vec<&Row> = rows.iter().filter(|r| r.pass == Some(false)).collect();
    if missed.is_empty() {
        println!("\nevery target met");
        Ok(true)
    } else {
        println!("\n{} target(s) missed:", missed.len());
        for r in missed {
            println!("- {}: {} (target {})", r.what, r.figure, r.target);
        }
        Ok(false)
    }
}

/// The import and report targets on `--components` components.
fn large_fleet(args: &Args, dir: &Path, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let n = args.components;
    let k = args.config_keys;
    let fleet = Fleet::new(FleetConfig {
        seed: args.seed,
        components: n,
        config_keys: k,
        ..FleetConfig::default()
    });
    let started = Instant::now();
    let envs = fleet.environments(&path());
    let prod = &envs[2];
    let prod_next = fleet.next(prod, 0.01);
    eprintln!(
        "generated 3 × {n} components in {}",
        human_duration(started.elapsed())
    );

    let first_file = dir.join("prod.json");
    let next_file = dir.join("prod-next.json");
    write_json(&first_file, prod)?;
    write_json(&next_file, &prod_next)?;
    let json_size = std::fs::metadata(&first_file)?.len();
    rows.push(Row::info(
        format!("snapshot JSON, {n} workloads × {k} keys"),
        human_size(json_size),
    ));

    // Import: each run on a fresh store file, from the JSON file (as `envtrail import` does).
    let mut first_parse = Vec::new();
    let mut first_import = Vec::new();
    let mut first_total = Vec::new();
    let mut next_parse = Vec::new();
    let mut next_import = Vec::new();
    let mut next_total = Vec::new();
    let mut first_cpu = Vec::new();
    let mut next_cpu = Vec::new();
    let mut store_size = 0;
    for run in 0..args.import_runs {
        let store_path = dir.join(format!("import-{run}.sqlite"));
        remove_database(&store_path);

        let started = Instant::now();
        let snapshot = read_json(&first_file)?;
        let parsed = started.elapsed();
        let cpu = process_cpu_time();
        let mut store = Store::open(&store_path)?;
        let outcome = store.import(snapshot)?;
        let total = started.elapsed();
        first_cpu.extend(cpu.zip(process_cpu_time()).map(|(a, b)| b - a));
        anyhow::ensure!(
            outcome.stored && outcome.components == n,
            "first import: {outcome:?}"
        );
        first_parse.push(parsed);
        first_import.push(total - parsed);
        first_total.push(total);

        // As `envtrail import` into an existing store: the parse leaves the components whose
        // bytes are the states the store holds unparsed.
        let started = Instant::now();
        let held = store.open_quick_hashes(&prod.environment)?;
        let document = read_json_against(&next_file, held)?;
        let parsed = started.elapsed();
        let cpu = process_cpu_time();
        let outcome = store.import_parts(document.snapshot, document.unparsed)?;
        let total = started.elapsed();
        next_cpu.extend(cpu.zip(process_cpu_time()).map(|(a, b)| b - a));
        anyhow::ensure!(
            outcome.stored && outcome.components_changed == (n as f64 * 0.01).round() as usize,
            "next import: {outcome:?}"
        );
        next_parse.push(parsed);
        next_import.push(total - parsed);
        next_total.push(total);
        drop(store);
        store_size = database_size(&store_path);
        remove_database(&store_path);
        eprintln!(
            "import run {}/{}: first {} (parse {}), next {} (parse {})",
            run + 1,
            args.import_runs,
            human_duration(*first_total.last().expect("pushed")),
            human_duration(*first_parse.last().expect("pushed")),
            human_duration(*next_total.last().expect("pushed")),
            human_duration(*next_parse.last().expect("pushed")),
        );
    }
    // The hashing and serialising part of an import, measured alone (same model calls as the
    // store), so the rest of Store::import is SQLite and bookkeeping.
    let mut first_hash = Vec::new();
    let mut next_hash = Vec::new();
    for _ in 0..args.import_runs {
        let copy = prod.clone();
        let started = Instant::now();
        std::hint::black_box(hash_like_an_import(copy));
        first_hash.push(started.elapsed());
        let copy = prod_next.clone();
        let started = Instant::now();
        std::hint::black_box(hash_like_an_import(copy));
        next_hash.push(started.elapsed());
    }
    let phases = import_phases(prod.clone());
    let runs = args.import_runs;
    rows.push(Row::time(
        format!("import first snapshot ({n} × {k}), file → store, median of {runs}"),
        Stats::of(&first_total).median,
        Duration::from_secs(3),
    ));
    rows.push(Row::info(
        "  of which: read + JSON parse",
        human_duration(Stats::of(&first_parse).median),
    ));
    rows.push(Row::info(
        "  of which: Store::open + Store::import",
        human_duration(Stats::of(&first_import).median),
    ));
    rows.push(Row::info(
        "    within it: validate + normalise + hash + serialise (measured alone)",
        human_duration(Stats::of(&first_hash).median),
    ));
    if !first_cpu.is_empty() {
        rows.push(Row::info(
            "    CPU time of Store::open + import (all threads)",
            human_duration(Stats::of(&first_cpu).median),
        ));
    }
    let phase_total: Duration = phases.iter().map(|(_, t)| *t).sum();
    rows.push(Row::info(
        "    the same model work one phase at a time, on one thread:",
        human_duration(phase_total),
    ));
    for (phase, took) in &phases {
        rows.push(Row::info(format!("      {phase}"), human_duration(*took)));
    }
    rows.push(Row::time(
        format!("import next snapshot (1% changed), file → store, median of {runs}"),
        Stats::of(&next_total).median,
        Duration::from_secs(1),
    ));
    rows.push(Row::info(
        "  of which: read + JSON parse (unchanged components left unparsed)",
        human_duration(Stats::of(&next_parse).median),
    ));
    rows.push(Row::info(
        "  of which: Store::import_parts",
        human_duration(Stats::of(&next_import).median),
    ));
    rows.push(Row::info(
        "    for comparison: the model work of importing it fully parsed (measured alone)",
        human_duration(Stats::of(&next_hash).median),
    ));
    if !next_cpu.is_empty() {
        rows.push(Row::info(
            "    CPU time of import (all threads)",
            human_duration(Stats::of(&next_cpu).median),
        ));
    }
    rows.push(Row::info(
        "store file after the two imports",
        human_size(store_size),
    ));

    if let Some(cli) = &args.cli {
        let db = dir.join("cli-import.sqlite");
        remove_database(&db);
        let first = run_cli(cli, dir, &db, &["import".as_ref(), first_file.as_os_str()])?;
        let next = run_cli(cli, dir, &db, &["import".as_ref(), next_file.as_os_str()])?;
        remove_database(&db);
        eprintln!(
            "cli import: first {}, next {}",
            human_duration(first),
            human_duration(next)
        );
        rows.push(Row::time(
            format!("`envtrail import` first snapshot ({n} × {k}), process end to end, 1 run"),
            first,
            Duration::from_secs(3),
        ));
        rows.push(Row::time(
            "`envtrail import` next snapshot (1% changed), process end to end, 1 run",
            next,
            Duration::from_secs(1),
        ));
    }

    // Report: dev, staging, prod of n components each.
    let report_path = dir.join("report.sqlite");
    remove_database(&report_path);
    {
        let mut store = Store::open(&report_path)?;
        for snapshot in &envs {
            let started = Instant::now();
            store.import(snapshot.clone())?;
            eprintln!(
                "report store: imported {} in {}",
                snapshot.environment,
                human_duration(started.elapsed())
            );
        }
    }
    drop(envs);
    drop(prod_next);
    let at = fleet.config().start + chrono::TimeDelta::hours(1);
    let path = path();
    let mut open = Vec::new();
    let mut read = Vec::new();
    let mut diff = Vec::new();
    let mut total = Vec::new();
    let mut findings = 0;
    let mut cpu_total = Vec::new();
    for run in 0..args.report_runs {
        let cpu = process_cpu_time();
        let started = Instant::now();
        let store = Store::open(&report_path)?;
        let opened = started.elapsed();
        let input = store.report_input(&path, at)?;
        let got_input = started.elapsed();
        let report = envtrail_diff::report(&input, &Policy::default())?;
        let done = started.elapsed();
        cpu_total.extend(cpu.zip(process_cpu_time()).map(|(a, b)| b - a));
        open.push(opened);
        read.push(got_input - opened);
        diff.push(done - got_input);
        total.push(done);
        findings = report.findings.len();
        eprintln!(
            "report run {}/{}: {}",
            run + 1,
            args.report_runs,
            human_duration(done)
        );
        // Dropping the input and report is not part of the figure.
        drop((report, input, store));
    }
    rows.push(Row::time(
        format!(
            "report dev→staging→prod, 3 × {n}, open + store read + diff, median of {}",
            args.report_runs
        ),
        Stats::of(&total).median,
        Duration::from_millis(300),
    ));
    rows.push(Row::info(
        "  of which: Store::open",
        human_duration(Stats::of(&open).median),
    ));
    rows.push(Row::info(
        "  of which: Store::report_input",
        human_duration(Stats::of(&read).median),
    ));
    rows.push(Row::info(
        "  of which: envtrail_diff::report (Policy::default())",
        human_duration(Stats::of(&diff).median),
    ));
    if !cpu_total.is_empty() {
        rows.push(Row::info(
            "  CPU time (all threads)",
            human_duration(Stats::of(&cpu_total).median),
        ));
    }
    rows.push(Row::info("  findings", findings.to_string()));
    rows.push(Row::info(
        "report store file (3 × first snapshot)",
        human_size(database_size(&report_path)),
    ));
    if let Some(cli) = &args.cli {
        let at = envtrail_model::time::format_time(&at);
        let mut times = Vec::new();
        for _ in 0..args.report_runs {
            times.push(run_cli(
                cli,
                dir,
                &report_path,
                &[
                    "--format".as_ref(),
                    "json".as_ref(),
                    "report".as_ref(),
                    "--path".as_ref(),
                    "dev,staging,prod".as_ref(),
                    "--at".as_ref(),
                    at.as_ref(),
                ],
            )?);
        }
        rows.push(Row::time(
            format!(
                "`envtrail --format json report`, 3 × {n}, process end to end, median of {}",
                args.report_runs
            ),
            Stats::of(&times).median,
            Duration::from_millis(300),
        ));
    }
    if args.keep.is_none() {
        remove_database(&report_path);
    }
    Ok(())
}

/// Runs `envtrail --db DB ARGS...` in `dir` with its output discarded; the wall time it took.
fn run_cli(
    cli: &Path,
    dir: &Path,
    db: &Path,
    args: &[&std::ffi::OsStr],
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = std::process::Command::new(cli)
        .current_dir(dir)
        .env_remove("ENVTRAIL_CONFIG")
        .env_remove("ENVTRAIL_DB")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .with_context(|| format!("failed to run {}", cli.display()))?;
    let took = started.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "{} {:?} failed ({}): {}",
        cli.display(),
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(took)
}

/// What building the year store cost, kept beside it (`year-build.json`) so that
/// `--reuse-year` can print the same table.
struct YearBuilt {
    build: HistoryBuild,
    wall: Duration,
    cpu: Option<Duration>,
    store_size_at_prefix: u64,
}

impl YearBuilt {
    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let b = &self.build;
        let json = serde_json::json!({
            "imports": b.imports,
            "store_import_ms": ms(b.store_import),
            "slowest_import_ms": ms(b.slowest_import),
            "generate_ms": ms(b.generate),
            "naive_snapshots": b.naive_snapshots,
            "naive_json_bytes": b.naive_json_bytes,
            "naive_import_ms": ms(b.naive_import),
            "wall_ms": ms(self.wall),
            "cpu_ms": self.cpu.map(ms),
            "store_size_at_prefix": self.store_size_at_prefix,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("failed to write {}", path.display()))
    }

    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("failed to read {} (built without --keep?)", path.display())
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let ms = |key: &str| v[key].as_f64().map(|m| Duration::from_secs_f64(m / 1e3));
        let n = |key: &str| v[key].as_u64().unwrap_or_default();
        Ok(Self {
            build: HistoryBuild {
                imports: n("imports") as usize,
                store_import: ms("store_import_ms").unwrap_or_default(),
                slowest_import: ms("slowest_import_ms").unwrap_or_default(),
                generate: ms("generate_ms").unwrap_or_default(),
                naive_snapshots: n("naive_snapshots") as usize,
                naive_json_bytes: n("naive_json_bytes"),
                naive_import: ms("naive_import_ms").unwrap_or_default(),
            },
            wall: ms("wall_ms").unwrap_or_default(),
            cpu: ms("cpu_ms"),
            store_size_at_prefix: n("store_size_at_prefix"),
        })
    }
}

/// Builds the year store and the naive archive's prefix.
fn build_year(
    plan: &HistoryPlan,
    store_path: &Path,
    naive_path: &Path,
) -> anyhow::Result<YearBuilt> {
    remove_database(store_path);
    remove_database(naive_path);
    eprintln!(
        "year store: {} days × 24 h × 3 environments = {} imports of {} components × {} keys, {}% changed per hour; naive archive for the first {} days",
        plan.snapshots_per_env / 24,
        plan.snapshots_per_env * 3,
        plan.fleet.components,
        plan.fleet.config_keys,
        plan.change_fraction * 100.0,
        plan.naive_snapshots_per_env / 24,
    );
    let mut store = Store::open(store_path)?;
    let mut naive = NaiveStore::open(naive_path)?;
    let cpu = process_cpu_time();
    let started = Instant::now();
    let mut store_size_at_prefix = 0;
    let build = build_history(plan, &mut store, Some(&mut naive), |p| {
        if p.round == plan.naive_snapshots_per_env {
            store_size_at_prefix = database_size(store_path);
        }
        if p.round % 24 == 0 || p.round == p.rounds {
            let elapsed = started.elapsed();
            let eta = elapsed.mul_f64((p.rounds - p.round) as f64 / p.round as f64);
            eprintln!(
                "year store: day {}/{}, {} imports, mean store import {}, slowest {}, elapsed {}, ETA {}",
                p.round / 24,
                p.rounds / 24,
                p.build.imports,
                human_duration(p.build.store_import / p.build.imports.max(1) as u32),
                human_duration(p.build.slowest_import),
                human_duration(elapsed),
                human_duration(eta),
            );
        }
    })?;
    let wall = started.elapsed();
    let cpu = cpu.zip(process_cpu_time()).map(|(a, b)| b - a);
    drop(store);
    naive.checkpoint()?;
    Ok(YearBuilt {
        build,
        wall,
        cpu,
        store_size_at_prefix,
    })
}

/// The year-of-history target, with the naive archive beside it.
fn year(args: &Args, dir: &Path, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let mut plan = HistoryPlan::hourly(args.year_days, args.year_config_keys, args.naive_days);
    plan.fleet.seed = args.seed;
    plan.fleet.components = args.year_components;
    let store_path = dir.join("year.sqlite");
    let naive_path = dir.join("naive.sqlite");
    let stats_path = dir.join("year-build.json");
    let envs = path();
    let total_snapshots = plan.snapshots_per_env * envs.len();
    let built = if args.reuse_year {
        anyhow::ensure!(
            store_path.exists(),
            "--reuse-year: {} is missing",
            store_path.display()
        );
        eprintln!("year store: reusing {}", store_path.display());
        YearBuilt::load(&stats_path)?
    } else {
        let built = build_year(&plan, &store_path, &naive_path)?;
        if args.keep.is_some() {
            built.save(&stats_path)?;
        }
        built
    };
    let build = &built.build;
    let store_size = database_size(&store_path);
    let naive_size = database_size(&naive_path);

    // asof at random instants, each opening the store as the CLI would.
    let first = plan.fleet.start;
    let span = (plan.last_at() - first).num_seconds().max(1) + plan.fleet.interval.num_seconds();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut instant = |span: i64| -> (EnvName, Timestamp) {
        let env = envs[rng.random_range(0..envs.len())].clone();
        (
            env,
            first + chrono::TimeDelta::seconds(rng.random_range(0..span)),
        )
    };
    let mut asof = Vec::new();
    for _ in 0..args.asof_queries {
        let (env, at) = instant(span);
        let started = Instant::now();
        let store = Store::open(&store_path)?;
        let state = store.environment_state(&env, at, false)?;
        asof.push(started.elapsed());
        let state = state.context("an instant inside the history has a snapshot in force")?;
        anyhow::ensure!(
            state.components.len() == plan.fleet.components,
            "asof returned {} components",
            state.components.len()
        );
    }
    let few = args.asof_queries.clamp(1, 20);
    let mut asof_history = Vec::new();
    let mut export = Vec::new();
    for _ in 0..few {
        let (env, at) = instant(span);
        let started = Instant::now();
        let store = Store::open(&store_path)?;
        store.environment_state(&env, at, true)?;
        asof_history.push(started.elapsed());
        let started = Instant::now();
        let store = Store::open(&store_path)?;
        store.export(&env, at)?;
        export.push(started.elapsed());
    }
    let mut cli_asof = Vec::new();
    if let Some(cli) = &args.cli {
        for _ in 0..few {
            let (env, at) = instant(span);
            let at = envtrail_model::time::format_time(&at);
            cli_asof.push(run_cli(
                cli,
                dir,
                &store_path,
                &[
                    "--format".as_ref(),
                    "json".as_ref(),
                    "asof".as_ref(),
                    env.as_str().as_ref(),
                    at.as_ref(),
                ],
            )?);
        }
    }
    // The naive archive's asof, inside its prefix.
    let naive_span =
        (plan.naive_snapshots_per_env as i64 * plan.fleet.interval.num_seconds()).max(1);
    let mut naive_asof = Vec::new();
    if build.naive_snapshots > 0 {
        for _ in 0..few {
            let (env, at) = instant(naive_span);
            let started = Instant::now();
            let naive = NaiveStore::open(&naive_path)?;
            let snapshot = naive.asof(&env, at)?;
            naive_asof.push(started.elapsed());
            anyhow::ensure!(snapshot.is_some(), "naive asof found nothing at {at}");
        }
    }

    let days = args.year_days;
    let asof_stats = Stats::of(&asof);
    let per_import = build.store_import / build.imports.max(1) as u32;
    rows.push(Row::info(
        format!(
            "history store: {total_snapshots} snapshots ({days} d × 24 h × 3 envs) of {} components × {} keys, 1%/h",
            plan.fleet.components, plan.fleet.config_keys
        ),
        format!("built in {}", human_duration(built.wall)),
    ));
    rows.push(Row::info(
        "  store import per snapshot, mean (slowest)",
        format!(
            "{} ({})",
            human_duration(per_import),
            human_duration(build.slowest_import)
        ),
    ));
    rows.push(Row::info(
        "  generating snapshots, total",
        human_duration(build.generate),
    ));
    if let Some(cpu) = built.cpu {
        rows.push(Row::info(
            "  CPU time of the whole build (all threads)",
            human_duration(cpu),
        ));
    }
    if days < 365 {
        rows.push(Row::info(
            "  a full year at this import rate would take, EXTRAPOLATED",
            human_duration(built.wall.mul_f64(365.0 / days as f64)),
        ));
    }
    if days >= 365 {
        rows.push(Row {
            what: format!("year store file size ({days} days)"),
            figure: human_size(store_size),
            target: "≤ 100.0 MB".to_owned(),
            pass: Some(store_size <= 100_000_000),
        });
    } else {
        // Every hour adds the same amount of change, so size grows linearly with history.
        let year = (store_size as f64 * 365.0 / days as f64) as u64;
        rows.push(Row::info(
            format!("store file size, {days} days, measured"),
            human_size(store_size),
        ));
        rows.push(Row {
            what: format!("year store file size, EXTRAPOLATED linearly from {days} days"),
            figure: human_size(year),
            target: "≤ 100.0 MB".to_owned(),
            pass: Some(year <= 100_000_000),
        });
    }
    rows.push(Row::time(
        format!(
            "asof at a random instant of {days} days, open + environment_state, p95 of {}",
            asof_stats.count
        ),
        asof_stats.p95,
        Duration::from_millis(50),
    ));
    rows.push(Row::info(
        "  asof median / max",
        format!(
            "{} / {}",
            human_duration(asof_stats.median),
            human_duration(asof_stats.max)
        ),
    ));
    if !cli_asof.is_empty() {
        rows.push(Row::time(
            format!("`envtrail --format json asof`, process end to end, median of {few}"),
            Stats::of(&cli_asof).median,
            Duration::from_millis(50),
        ));
    }
    rows.push(Row::info(
        format!("  asof with history (sightings, previous intervals), median of {few}"),
        human_duration(Stats::of(&asof_history).median),
    ));
    rows.push(Row::info(
        format!("  export (full snapshot rebuilt), median of {few}"),
        human_duration(Stats::of(&export).median),
    ));

    // Naive vs store, side by side.
    if build.naive_snapshots > 0 {
        let prefix_days = build.naive_snapshots / 3 / 24;
        let per_snapshot = naive_size as f64 / build.naive_snapshots as f64;
        let naive_total = (per_snapshot * total_snapshots as f64) as u64;
        let naive_year = (per_snapshot * (365 * 24 * 3) as f64) as u64;
        let store_year = (store_size as f64 * 365.0 / days as f64) as u64;
        let naive_import = build.naive_import / build.naive_snapshots.max(1) as u32;
        println!("## store vs naive (every snapshot's full JSON in SQLite)\n");
        println!("| | envtrail store | naive |");
        println!("|---|---|---|");
        println!(
            "| size after the first {prefix_days} days ({} snapshots) | {} (file + WAL, mid-build) | {} (measured) |",
            build.naive_snapshots,
            human_size(built.store_size_at_prefix),
            human_size(naive_size)
        );
        println!(
            "| size after {days} days ({total_snapshots} snapshots) | {} (measured) | {} (extrapolated from the first {prefix_days} days: {} per snapshot) |",
            human_size(store_size),
            human_size(naive_total),
            human_size(per_snapshot as u64)
        );
        if days < 365 {
            println!(
                "| size after 365 days (26280 snapshots) | {} (extrapolated from {days} days) | {} (extrapolated from the first {prefix_days} days) |",
                human_size(store_year),
                human_size(naive_year),
            );
        }
        println!(
            "| import per snapshot, mean | {} | {} (first {prefix_days} days; JSON {} per snapshot) |",
            human_duration(per_import),
            human_duration(naive_import),
            human_size(build.naive_json_bytes / build.naive_snapshots as u64)
        );
        println!(
            "| asof, median (open + read) | {} (random instants over {days} days) | {} (first {prefix_days} days; read + JSON parse) |",
            human_duration(asof_stats.median),
            human_duration(Stats::of(&naive_asof).median)
        );
        println!(
            "| export full snapshot, median | {} | as above |",
            human_duration(Stats::of(&export).median)
        );
        println!();
        rows.push(Row::info(
            format!(
                "naive archive, first {prefix_days} days ({} snapshots), measured",
                build.naive_snapshots
            ),
            human_size(naive_size),
        ));
        rows.push(Row::info(
            format!("naive archive, 365 days, EXTRAPOLATED from the first {prefix_days}"),
            human_size(naive_year),
        ));
    }
    if args.keep.is_none() {
        remove_database(&store_path);
        remove_database(&naive_path);
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    let w0 = rows
        .iter()
        .map(|r| r.what.chars().count())
        .max()
        .unwrap_or(0)
        .max(11);
    let w1 = rows
        .iter()
        .map(|r| r.figure.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let w2 = rows
        .iter()
        .map(|r| r.target.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    println!("## figures\n");
    println!(
        "| {:<w0$} | {:<w1$} | {:<w2$} | result |",
        "measurement", "figure", "target"
    );
    println!(
        "|{}|{}|{}|--------|",
        "-".repeat(w0 + 2),
        "-".repeat(w1 + 2),
        "-".repeat(w2 + 2)
    );
    for r in rows {
        let result = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "",
        };
        println!(
            "| {:<w0$} | {:<w1$} | {:<w2$} | {result:<6} |",
            r.what, r.figure, r.target
        );
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn write_json(path: &Path, snapshot: &Snapshot) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(snapshot)?;
    std::fs::write(path, bytes).with_context(|| format!("failed to write {}", path.display()))
}

/// [`read_json`] into a store that holds `held` (its open quick hashes of the environment).
fn read_json_against(
    path: &Path,
    held: std::collections::HashMap<String, envtrail_model::QuickHash>,
) -> anyhow::Result<envtrail_collect_file::ParsedSnapshot> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    Ok(envtrail_collect_file::parse_snapshot_against(
        &path.display().to_string(),
        &bytes,
        |_| held,
    )?)
}

fn read_json(path: &Path) -> anyhow::Result<Snapshot> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    // What `envtrail import` does: the file collector's parse (parallel, then validated).
    Ok(envtrail_collect_file::parse_snapshot(
        &path.display().to_string(),
        &bytes,
    )?)
}
