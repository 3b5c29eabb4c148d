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
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate snapshot files and store them (`-` reads stdin). Nothing is stored unless every file is valid.
    Import {
        /// Snapshot v1 JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print an environment's snapshot in force at a time, as snapshot v1 JSON.
    Export {
        /// The environment.
        #[arg(long)]
        env: String,
        /// RFC 3339 or a date (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// List environments with their newest snapshot and its completeness.
    Envs,
    /// Show how two environments differ; either side may be ENV@TIME.
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
    Report(ReportArgs),
    /// What ran in ENV at TIME, with the snapshot used and the evidence window.
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
    Verify,
    /// Read every source of the environments in the config (all, or each --env), store one
    /// snapshot per environment; exit 3 when a source failed or was read only in part.
    Collect {
        /// Only this environment (repeatable).
        #[arg(long = "env")]
        envs: Vec<String>,
    },
    /// Write a commented starter envtrail.toml (to --config if given).
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Evidence bundles for auditors: export a signed bundle of what ran in an environment over a
    /// period, verify one without the database, make a signing key.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Load the bundled example snapshots into a temporary store and print the report.
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
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse().map_err(|e| format!("{e}"))
}
