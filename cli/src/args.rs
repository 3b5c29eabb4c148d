//! The command line: every command, flag and environment variable. Names are contract.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use envtrail_model::Severity;

/// Audit environment drift and artifact provenance along a promotion path.
#[derive(Debug, Parser)]
#[command(name = "envtrail", version, about, propagate_version = true)]
pub struct Cli {
    /// The SQLite store.
    #[arg(
        long,
        global = true,
        env = "ENVTRAIL_DB",
        default_value = "envtrail.db"
    )]
    pub db: PathBuf,

    /// The config file (default: envtrail.toml in the current directory, if present).
    #[arg(long, global = true, env = "ENVTRAIL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Output format of read commands.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How read commands print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for terminals.
    Table,
    /// One JSON document with a `schema` field (see schemas/).
    Json,
    /// GitHub-flavoured Markdown, for PR comments and wikis.
    Markdown,
    /// One self-contained HTML page (`report` and `demo` only).
    Html,
    /// JUnit XML, findings as failed test cases (`report` and `demo` only).
    Junit,
}

impl Format {
    /// Whether only a report can be printed in this format.
    pub fn report_only(self) -> bool {
        matches!(self, Format::Html | Format::Junit)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate snapshot files and store them (`-` reads stdin). Nothing is stored unless every file is valid.
    #[command(
        after_help = "Examples:\n  envtrail import snapshots/*.json\n  kubectl-export | envtrail import -"
    )]
    Import {
        /// Snapshot v1 JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print an environment's snapshot in force at a time, as snapshot v1 JSON.
    #[command(
        after_help = "Examples:\n  envtrail export --env prod\n  envtrail export --env prod --at 2026-11-01T12:00:00Z > prod.json"
    )]
    Export {
        /// The environment.
        #[arg(long)]
        env: String,
        /// RFC 3339 or a date (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// List environments with their newest snapshot and its completeness.
    #[command(after_help = "Examples:\n  envtrail envs\n  envtrail envs --format json")]
    Envs,
    /// Show how two environments differ; either side may be ENV@TIME.
    #[command(
        after_help = "Examples:\n  envtrail diff staging prod\n  envtrail diff prod@2026-11-01 prod\n  envtrail diff dev staging --format markdown"
    )]
    Diff {
        /// Left side (upstream, or older): ENV or ENV@TIME.
        left: String,
        /// Right side: ENV or ENV@TIME.
        right: String,
        /// The time for sides given without one (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Report every finding along the promotion path.
    #[command(
        after_help = "Examples:\n  envtrail report --fail-on high\n  envtrail report --out report.html\n  envtrail report --path dev,staging,prod --format junit > envtrail.xml"
    )]
    Report(ReportArgs),
    /// What ran in ENV at TIME, with the snapshot used and the evidence window.
    #[command(after_help = "Examples:\n  envtrail asof prod 2026-11-01T12:00:00Z")]
    Asof {
        /// The environment.
        env: String,
        /// RFC 3339 or a date.
        time: String,
        /// Also print the chain links of the snapshot used and of each component's `since`.
        #[arg(long)]
        evidence: bool,
    },
    /// What changed in ENV, when.
    #[command(
        after_help = "Examples:\n  envtrail history prod --since 2026-11-01\n  envtrail history prod --component payments-api"
    )]
    History {
        /// The environment.
        env: String,
        /// Only this component.
        #[arg(long)]
        component: Option<String>,
        /// From this time (inclusive).
        #[arg(long)]
        since: Option<String>,
        /// Until this time (inclusive).
        #[arg(long)]
        until: Option<String>,
        /// Also print the chain links of every snapshot an event names.
        #[arg(long)]
        evidence: bool,
    },
    /// Recompute the hash chain and check the database's integrity.
    #[command(after_help = "Examples:\n  envtrail verify")]
    Verify,
    /// Read every source of the environments in the config (all, or each --env), store one
    /// snapshot per environment; exit 3 when a source failed or was read only in part.
    #[command(after_help = "Examples:\n  envtrail collect\n  envtrail collect --env prod")]
    Collect {
        /// Only this environment (repeatable).
        #[arg(long = "env")]
        envs: Vec<String>,
    },
    /// Write a commented starter envtrail.toml (to --config if given).
    #[command(
        after_help = "Examples:\n  envtrail init\n  envtrail --config /etc/envtrail/envtrail.toml init"
    )]
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the report's figures as Prometheus/OpenMetrics text (findings by environment, kind and
    /// severity; snapshot age; collection gaps) for a textfile collector or a Pushgateway.
    #[command(
        after_help = "Examples:\n  envtrail metrics --out /var/lib/node_exporter/textfile/envtrail.prom\n  envtrail metrics | curl --data-binary @- http://pushgateway:9091/metrics/job/envtrail"
    )]
    Metrics(MetricsArgs),
    /// Post a drift summary to the chat targets of the config (`[[notify]]`): Slack, Teams,
    /// Google Chat, Mattermost or a JSON webhook.
    #[command(
        after_help = "Examples:\n  envtrail notify --only-changes\n  envtrail notify --target release-slack --dry-run"
    )]
    Notify(NotifyArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(
        after_help = "Examples:\n  envtrail completions bash > /etc/bash_completion.d/envtrail\n  envtrail completions zsh > \"${fpath[1]}/_envtrail\""
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page, envtrail(1), as roff to stdout.
    #[command(after_help = "Examples:\n  envtrail man > /usr/local/share/man/man1/envtrail.1")]
    Man,
    /// Evidence bundles for auditors: export a signed bundle of what ran in an environment over a
    /// period, verify one without the database, make a signing key.
    #[command(
        subcommand,
        after_help = "Examples:\n  envtrail evidence keygen --out evidence.key\n  envtrail evidence export --env prod --from 2026-03-01 --to 2026-03-31 --key evidence.key --out march.json\n  envtrail evidence verify march.json --key evidence.key.pub"
    )]
    Evidence(EvidenceCommand),
    /// Load the bundled example snapshots into a temporary store and print the report.
    #[command(after_help = "Examples:\n  envtrail demo\n  envtrail demo --format html > demo.html")]
    Demo {
        /// Exit with 2 if a finding at or above this severity is reported.
        #[arg(long, value_parser = parse_severity)]
        fail_on: Option<Severity>,
    },
}

/// `envtrail evidence ...`.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Write a signed bundle: the snapshot of ENV in force at --from and every one up to --to,
    /// their states and artifact facts, and the hash chain from them to the store's chain head.
    Export {
        /// The environment.
        #[arg(long)]
        env: String,
        /// Start of the period: RFC 3339 or a date.
        #[arg(long)]
        from: String,
        /// End of the period, inclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Disclose only this component's states and artifacts (the others keep only their hashes).
        #[arg(long)]
        component: Option<String>,
        /// The private key: Ed25519 PKCS#8 PEM (`evidence keygen`, `openssl genpkey -algorithm
        /// ed25519`) or a cosign key (`cosign generate-key-pair`; password in COSIGN_PASSWORD).
        #[arg(long, env = "ENVTRAIL_EVIDENCE_KEY")]
        key: PathBuf,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle without any database: every hash, link and the signature. Exit 1 naming what
    /// broke when anything does not check.
    Verify {
        /// The bundle file.
        bundle: PathBuf,
        /// The public key (PEM) the bundle must be signed by; without it, the key named in the
        /// bundle is used and the answer says the key was not pinned.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair: OUT (private, mode 0600) and OUT.pub (public).
    Keygen {
        /// The private key file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The promotion path, upstream first (default: promotion.path from the config).
    #[arg(long, value_delimiter = ',')]
    pub path: Option<Vec<String>>,
    /// Report as the store knew it at this time (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// Exit with 2 if a finding at or above this severity is reported.
    #[arg(long, value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Write the report to this file instead of stdout. With the default `--format table`, the
    /// extension chooses the format: `.html`, `.json`, `.md`, `.xml` (JUnit).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// The promotion path, upstream first (default: promotion.path from the config).
    #[arg(long, value_delimiter = ',')]
    pub path: Option<Vec<String>>,
    /// Figures as the store knew them at this time (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// OpenMetrics 1.0 text (ends with `# EOF`) instead of the Prometheus text format.
    #[arg(long)]
    pub openmetrics: bool,
    /// Write to this file (replaced whole, as node_exporter's textfile collector needs) instead
    /// of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `notify`.
#[derive(Debug, clap::Args)]
pub struct NotifyArgs {
    /// The promotion path, upstream first (default: promotion.path from the config).
    #[arg(long, value_delimiter = ',')]
    pub path: Option<Vec<String>>,
    /// Report as the store knew it at this time (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// Post only findings that are new or resolved since the last successful post to each target;
    /// post nothing when nothing changed.
    #[arg(long)]
    pub only_changes: bool,
    /// Only this target, by name (repeatable; default: every target).
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// Print each target's payload as JSON instead of posting it; no state changes.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse().map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn every_command_has_help_examples() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        for sub in cli.get_subcommands() {
            let after = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                after.starts_with("Examples:\n  envtrail "),
                "`envtrail {} --help` shows no examples",
                sub.get_name()
            );
        }
    }
}
