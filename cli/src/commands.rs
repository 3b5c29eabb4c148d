//! One function per command: gather the inputs, call the store and the diff, hand the answer to
//! the renderer, choose the outcome.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use envtrail_diff::{ArtifactIdentity, Policy};
use envtrail_model::output::{
    ASOF_SCHEMA, AsOf, AsOfComponent, ENVS_SCHEMA, Environments, HISTORY_SCHEMA, History,
    HistoryEvent, IMPORT_SCHEMA, ImportResult, ImportedSnapshot, Report,
};
use envtrail_model::view::{EnvironmentState, ReportInput};
use envtrail_model::{ComponentName, ComponentState, EnvName, Severity, Timestamp};
use envtrail_store::{Store, StoreError};

use crate::args::{Cli, Command, Format, ReportArgs};
use crate::config::Config;
use crate::timearg::{env_name, side, time_or_now};
use crate::{Outcome, demo, render};
use clap::ValueEnum;

/// Runs the command `cli` names.
pub fn run(cli: &Cli) -> Result<Outcome> {
    if cli.format.report_only() && !matches!(cli.command, Command::Report(_) | Command::Demo { .. })
    {
        bail!(
            "--format {}: only `report` and `demo` print this format",
            format_name(cli.format)
        );
    }
    match &cli.command {
        Command::Import { files } => import(cli, files),
        Command::Export { env, at } => export(cli, env, at.as_deref()),
        Command::Envs => envs(cli),
        Command::Diff { left, right, at } => diff(cli, left, right, at.as_deref()),
        Command::Report(args) => report(cli, args),
        Command::Asof {
            env,
            time,
            evidence,
        } => asof(cli, env, time, *evidence),
        Command::History {
            env,
            component,
            since,
            until,
            evidence,
        } => history(
            cli,
            env,
            component.as_deref(),
            since.as_deref(),
            until.as_deref(),
            *evidence,
        ),
        Command::Verify { key } => verify(cli, key.as_deref()),
        Command::Prune {
            before,
            key,
            dry_run,
            vacuum,
        } => crate::prune::run(cli, before, key.as_deref(), *dry_run, *vacuum),
        Command::Collect { envs } => crate::collect::collect(cli, envs),
        Command::Init { force } => crate::collect::init(cli, *force),
        Command::Metrics(args) => metrics(cli, args),
        Command::Notify(args) => crate::notify::run(cli, args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "envtrail", &mut script);
            std::io::stdout().lock().write_all(&script)?;
            Ok(Outcome::Success)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            std::io::stdout().lock().write_all(&page)?;
            Ok(Outcome::Success)
        }
        Command::Evidence(command) => crate::evidence::run(cli, command),
        Command::Demo { fail_on } => demo::run(cli.format, *fail_on),
    }
}

fn format_name(format: Format) -> String {
    format
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// The format of `report --out FILE`: `--format` if given other than the default `table`, else
/// the file's extension.
pub fn out_format(format: Format, out: Option<&Path>) -> Format {
    let ext = out
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match (format, ext.as_deref()) {
        (Format::Table, Some("html" | "htm")) => Format::Html,
        (Format::Table, Some("json")) => Format::Json,
        (Format::Table, Some("md" | "markdown")) => Format::Markdown,
        (Format::Table, Some("xml")) => Format::Junit,
        _ => format,
    }
}

/// Writes a rendered document to a file (whole, through a temporary file in the same folder, so
/// a CI artifact or a served page is never half-written).
fn write_out(file: &Path, text: &str) -> Result<()> {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing {}", file.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.flush())
        .with_context(|| format!("writing {}", file.display()))?;
    tmp.persist(file)
        .with_context(|| format!("writing {}", file.display()))?;
    eprintln!("wrote {}", file.display());
    Ok(())
}

/// A next step for errors that have an obvious one.
pub fn hint_for(err: &anyhow::Error) -> Option<String> {
    let text = format!("{err:#}");
    if text.contains("no store at") {
        Some("import snapshots first: envtrail import SNAPSHOT.json (or pass --db PATH)".into())
    } else if text.contains("only `report` and `demo` print this format") {
        Some(
            "use --format table, json or markdown here, or run envtrail report --format html"
                .into(),
        )
    } else if text.starts_with("writing ") {
        Some("the folder of --out must exist and be writable".into())
    } else if text.contains("no [[notify]] target") {
        Some(
            "add a [[notify]] table to envtrail.toml (docs/notify.md), or pass --config PATH"
                .into(),
        )
    } else if text.contains("(url_env) is not set") {
        Some("export the variable named by url_env with the webhook URL, or use url_file".into())
    } else if text.contains("was pruned by checkpoint #") {
        Some(
            "ask about a time at or after the kept snapshot (history: pass --since later than \
             it); `envtrail verify` shows the checkpoint, and an evidence bundle exported before \
             the prune still proves the period"
                .into(),
        )
    } else if text.contains("does not verify, so it is not pruned") {
        Some("run envtrail verify, and resolve what it reports before pruning".into())
    } else if text.contains("no promotion path") {
        Some("pass --path dev,staging,prod or set promotion.path in envtrail.toml".into())
    } else {
        None
    }
}

/// Opens an existing store for reading: a missing file is an error, not a new empty store.
pub(crate) fn open_existing(db: &Path) -> Result<Store> {
    if !db.exists() {
        bail!("no store at {}", db.display());
    }
    open_store(db)
}

/// Opens (creating if missing) the store at `db`.
fn open_store(db: &Path) -> Result<Store> {
    Store::open(db).with_context(|| format!("opening store {}", db.display()))
}

/// Writes `value` as the indented JSON that `render`'s JSON format gives, streamed to stdout.
fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

pub(crate) fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn import(cli: &Cli, files: &[std::path::PathBuf]) -> Result<Outcome> {
    // A store that already exists tells the parse which component states it holds, so that the
    // unchanged components of a document are not parsed at all (an hourly snapshot changes a
    // few percent of them). A missing store is not created before every file has been read.
    let existing = if cli.db.exists() {
        Some(open_store(&cli.db)?)
    } else {
        None
    };
    // Read and validate every file before storing any: one bad file stores nothing.
    let mut documents = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        let bytes = envtrail_collect_file::read_document(file)?;
        let parsed = envtrail_collect_file::parse_snapshot_against(&name, &bytes, |env| {
            // A store that cannot answer only costs a full parse; the import reports its error.
            existing
                .as_ref()
                .and_then(|store| store.open_quick_hashes(env).ok())
                .unwrap_or_default()
        })?;
        documents.push((name, bytes, parsed));
    }
    // Oldest first, so that `envtrail import *.json` stores each environment's history in order.
    documents.sort_by_key(|(_, _, parsed)| parsed.snapshot.taken_at);
    let mut store = match existing {
        Some(store) => store,
        None => open_store(&cli.db)?,
    };
    let mut imported = Vec::with_capacity(documents.len());
    for (file, bytes, parsed) in documents {
        let mut left_unparsed = parsed.unparsed.len();
        let outcome = match store.import_parts(parsed.snapshot, parsed.unparsed) {
            // A component left unparsed changed since the file was read (an earlier file of
            // this command, or another writer): read this file in full.
            Err(StoreError::UnparsedChanged { .. }) => {
                left_unparsed = 0;
                store.import(envtrail_collect_file::parse_snapshot(&file, &bytes)?)
            }
            other => other,
        }
        .with_context(|| format!("{file}: not stored"))?;
        imported.push(ImportedSnapshot {
            file,
            snapshot: outcome.snapshot,
            stored: outcome.stored,
            components_changed: outcome.components_changed,
            components: outcome.components,
            components_parsed: Some(outcome.components - left_unparsed),
        });
    }
    let result = ImportResult {
        schema: IMPORT_SCHEMA.into(),
        imported,
    };
    print(&render::import(&result, cli.format)?)?;
    Ok(Outcome::Success)
}

fn export(cli: &Cli, env: &str, at: Option<&str>) -> Result<Outcome> {
    let store = open_existing(&cli.db)?;
    let env = env_name(env)?;
    let at = time_or_now(at, "--at")?;
    let snapshot = store.export(&env, at)?.ok_or_else(|| {
        anyhow!(
            "environment {env}: no snapshot at or before {}",
            fmt_time(&at)
        )
    })?;
    print(&serde_json::to_string_pretty(&snapshot)?)?;
    Ok(Outcome::Success)
}

fn envs(cli: &Cli) -> Result<Outcome> {
    let store = open_existing(&cli.db)?;
    let environments = Environments {
        schema: ENVS_SCHEMA.into(),
        environments: store.environments()?,
    };
    print(&render::envs(
        &environments,
        cli.format,
        chrono::Utc::now(),
    )?)?;
    Ok(Outcome::Success)
}

fn state_at(
    store: &Store,
    env: &EnvName,
    at: Timestamp,
    history: bool,
) -> Result<EnvironmentState> {
    store.environment_state(env, at, history)?.ok_or_else(|| {
        anyhow!(
            "environment {env}: no snapshot at or before {}",
            fmt_time(&at)
        )
    })
}

fn diff(cli: &Cli, left: &str, right: &str, at: Option<&str>) -> Result<Outcome> {
    let config = Config::load(cli.config.as_deref())?;
    let store = open_existing(&cli.db)?;
    let default_at = time_or_now(at, "--at")?;
    let (left_env, left_at) = side(left, default_at)?;
    let (right_env, right_at) = side(right, default_at)?;
    let left_state = state_at(&store, &left_env, left_at, false)?;
    let right_state = state_at(&store, &right_env, right_at, false)?;
    let links = store.artifact_links()?;
    let comparison = envtrail_diff::compare(&left_state, &right_state, &links, &config.policy)?;
    debug_assert_eq!(comparison.left.environment, left_env);
    print(&render::comparison(&comparison, cli.format)?)?;
    Ok(Outcome::Success)
}

/// Builds a report from a store: shared by `report` and `demo`.
pub fn build_report(
    store: &Store,
    path: &[EnvName],
    at: Timestamp,
    policy: &Policy,
) -> Result<Report> {
    Ok(build_report_and_input(store, path, at, policy)?.0)
}

/// Builds a report and keeps what it was computed from (the HTML matrix draws it).
pub fn build_report_and_input(
    store: &Store,
    path: &[EnvName],
    at: Timestamp,
    policy: &Policy,
) -> Result<(Report, ReportInput)> {
    let input = store.report_input(path, at)?;
    let mut report = envtrail_diff::report(&input, policy)?;
    report.chain_head = store.chain_head()?;
    Ok((report, input))
}

/// The outcome for a report and a threshold.
pub fn outcome_for(report: &Report, fail_on: Option<Severity>) -> Outcome {
    match (fail_on, report.summary.highest) {
        (Some(threshold), Some(highest)) if highest >= threshold => {
            Outcome::FindingsAtOrAboveThreshold
        }
        _ => Outcome::Success,
    }
}

/// The promotion path from `--path` or the config.
pub fn promotion_path(arg: Option<&[String]>, config: &Config) -> Result<Vec<EnvName>> {
    let path: Vec<EnvName> = match arg {
        Some(names) => names.iter().map(|n| env_name(n)).collect::<Result<_>>()?,
        None => config.path.clone(),
    };
    if path.is_empty() {
        bail!("no promotion path");
    }
    let unique: BTreeSet<_> = path.iter().collect();
    if unique.len() != path.len() {
        bail!("argument --path: an environment appears twice");
    }
    Ok(path)
}

fn metrics(cli: &Cli, args: &crate::args::MetricsArgs) -> Result<Outcome> {
    let config = Config::load(cli.config.as_deref())?;
    let path = promotion_path(args.path.as_deref(), &config)?;
    let at = time_or_now(args.at.as_deref(), "--at")?;
    let store = open_existing(&cli.db)?;
    let report = build_report(&store, &path, at, &config.policy)?;
    let text = render::metrics::render(&report, chrono::Utc::now(), args.openmetrics);
    match &args.out {
        Some(file) => write_out(file, &text)?,
        None => print(&text)?,
    }
    Ok(Outcome::Success)
}

fn report(cli: &Cli, args: &ReportArgs) -> Result<Outcome> {
    let config = Config::load(cli.config.as_deref())?;
    let path = promotion_path(args.path.as_deref(), &config)?;
    let at = time_or_now(args.at.as_deref(), "--at")?;
    let store = open_existing(&cli.db)?;
    let spinner = crate::progress::spinner("building the report");
    let (report, input) = if config.merge_back.repositories.is_empty() {
        build_report_and_input(&store, &path, at, &config.policy)?
    } else {
        // Merge-back needs the revisions of what runs: the same input, plus git facts.
        let input = store.report_input(&path, at)?;
        let facts = crate::merge_back::facts(&input, &config.merge_back);
        let mut report = envtrail_diff::report_with_merge_facts(&input, &config.policy, &facts)?;
        report.chain_head = store.chain_head()?;
        (report, input)
    };
    spinner.finish_and_clear();
    let format = out_format(cli.format, args.out.as_deref());
    let text = render::report_with_input(&report, &input, format)?;
    match &args.out {
        Some(file) => write_out(file, &text)?,
        None => print(&text)?,
    }
    Ok(outcome_for(&report, args.fail_on.or(config.fail_on)))
}

fn asof(cli: &Cli, env: &str, time: &str, evidence: bool) -> Result<Outcome> {
    let store = open_existing(&cli.db)?;
    let env = env_name(env)?;
    let at = envtrail_model::parse_time(time).context("argument TIME")?;
    let state = state_at(&store, &env, at, false)?;
    let window = envtrail_diff::evidence(&state);
    let snapshot_id = state.snapshot.id;
    // The answer takes the states over rather than copying them (a state shared by two
    // components is copied for the second).
    let components = state
        .components
        .into_iter()
        .map(|(name, entry)| {
            let current = entry.current;
            let artifacts = current.state.artifact_digests().into_iter().collect();
            let ComponentState {
                workloads,
                infrastructure,
            } = Arc::unwrap_or_clone(current.state);
            AsOfComponent {
                component: name,
                since: current.from,
                state_hash: current.state_hash,
                artifacts,
                workloads,
                infrastructure,
            }
        })
        .collect();
    let mut answer = AsOf {
        schema: ASOF_SCHEMA.into(),
        at,
        evidence: window,
        components,
        artifacts: state.artifacts.into_values().collect(),
        chain: None,
    };
    if evidence {
        let mut ids: Vec<i64> = answer.components.iter().map(|c| c.since.id).collect();
        ids.push(snapshot_id);
        answer.chain = Some(crate::evidence::chain(&store, &ids)?);
    }
    if cli.format == Format::Json {
        // Streamed: an answer for thousands of workloads is megabytes of JSON.
        print_json(&answer)?;
    } else {
        print(&render::asof(&answer, cli.format)?)?;
    }
    Ok(Outcome::Success)
}

fn history(
    cli: &Cli,
    env: &str,
    component: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    evidence: bool,
) -> Result<Outcome> {
    let config = Config::load(cli.config.as_deref())?;
    let store = open_existing(&cli.db)?;
    let env = env_name(env)?;
    let component: Option<ComponentName> = component
        .map(|c| {
            c.parse()
                .with_context(|| format!("argument --component {c:?}"))
        })
        .transpose()?;
    let since = since
        .map(|s| envtrail_model::parse_time(s).context("argument --since"))
        .transpose()?;
    let until = until
        .map(|s| envtrail_model::parse_time(s).context("argument --until"))
        .transpose()?;
    let identity = ArtifactIdentity::new(&store.artifact_links()?);
    let policy = config.policy.compile()?;
    let changes = store.history(&env, component.as_ref(), since, until)?;
    let events = changes
        .iter()
        .filter_map(|change| {
            envtrail_diff::component_change(
                &change.component,
                change.before.as_deref(),
                change.after.as_deref(),
                change.incomplete_sources.is_empty(),
                &identity,
                &policy,
            )
            .map(|detail| HistoryEvent {
                snapshot: change.snapshot.clone(),
                previous: change.previous.clone(),
                change: detail,
            })
        })
        .collect();
    let answer = History {
        schema: HISTORY_SCHEMA.into(),
        environment: env,
        component,
        since,
        until,
        events,
        chain: None,
    };
    let mut answer = answer;
    if evidence {
        let ids: Vec<i64> = answer
            .events
            .iter()
            .flat_map(|e| std::iter::once(e.snapshot.id).chain(e.previous.as_ref().map(|p| p.id)))
            .collect();
        answer.chain = Some(crate::evidence::chain(&store, &ids)?);
    }
    print(&render::history(&answer, cli.format)?)?;
    Ok(Outcome::Success)
}

fn verify(cli: &Cli, key: Option<&Path>) -> Result<Outcome> {
    let pinned = key.map(crate::evidence::read_public_key).transpose()?;
    let store = open_existing(&cli.db)?;
    let result = crate::prune::verify(&store, pinned.as_ref())?;
    print(&render::verify(&result, cli.format)?)?;
    if !result.ok {
        let first = result
            .problems
            .first()
            .map(|p| p.message.as_str())
            .unwrap_or("unknown problem");
        bail!("store {} failed verification: {first}", cli.db.display());
    }
    Ok(Outcome::Success)
}

/// Times as envtrail prints them.
pub fn fmt_time(t: &Timestamp) -> String {
    envtrail_model::time::format_time(t)
}
