//! The store's one error type. Every variant names what was at fault (the store file, the
//! environment, the snapshot) and keeps its cause as a `#[source]`, so the CLI can print the whole
//! chain. Messages are lowercase fragments that read well after "failed to ...: ".

use std::fmt;
use std::path::PathBuf;

use envtrail_model::time::format_time;
use envtrail_model::{EnvName, NameError, SnapshotError, Timestamp};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or configured.
    #[error("cannot open the store {}", path.display())]
    Open {
        /// The store file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is an SQLite database, but not an envtrail store.
    #[error("{} is not an envtrail store (it already holds other tables)", path.display())]
    NotAStore {
        /// The file.
        path: PathBuf,
    },
    /// The store was written by a newer envtrail whose schema this version cannot read.
    #[error(
        "the store {} has schema version {found}, but this envtrail reads versions up to \
         {supported}: upgrade envtrail",
        path.display()
    )]
    TooNew {
        /// The store file.
        path: PathBuf,
        /// The schema version found in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// A schema migration failed (the store is left at the previous version).
    #[error("cannot migrate the store {} to schema version {version}", path.display())]
    Migrate {
        /// The store file.
        path: PathBuf,
        /// The version being migrated to.
        version: i64,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The snapshot failed [`envtrail_model::Snapshot::validate`]; nothing was stored.
    #[error("the snapshot of {environment} taken at {} is invalid", format_time(.taken_at))]
    InvalidSnapshot {
        /// Its environment.
        environment: EnvName,
        /// Its time.
        taken_at: Timestamp,
        /// What is wrong with it.
        #[source]
        source: SnapshotError,
    },
    /// The snapshot is not newer than the environment's newest stored snapshot.
    #[error(
        "the snapshot of {environment} taken at {} is not newer than its newest stored snapshot \
         (id {newest_id}, taken at {}): history is append-only, import an environment's snapshots \
         in time order",
        format_time(.taken_at),
        format_time(.newest)
    )]
    OutOfOrder {
        /// The environment.
        environment: EnvName,
        /// The refused snapshot's time.
        taken_at: Timestamp,
        /// The newest stored snapshot's time.
        newest: Timestamp,
        /// The newest stored snapshot's id.
        newest_id: i64,
    },
    /// A snapshot time outside what the store can order exactly (1677-09-21 to 2262-04-11).
    #[error(
        "the snapshot of {environment} taken at {} is outside the times the store can hold \
         (1677 to 2262)",
        format_time(.taken_at)
    )]
    TimeOutOfRange {
        /// The environment.
        environment: EnvName,
        /// The refused time.
        taken_at: Timestamp,
    },
    /// The environment has no snapshot in the store.
    #[error("unknown environment \"{environment}\": {}", known_list(.known))]
    UnknownEnvironment {
        /// The environment asked for.
        environment: EnvName,
        /// The environments the store knows, by name.
        known: Vec<EnvName>,
    },
    /// A component the snapshot reader left unparsed, because its bytes were the state the store
    /// held for it, is no longer that state (another import changed it in between); nothing was
    /// stored. Parse the document in full and import it again.
    #[error(
        "the snapshot of {environment} taken at {} left component {component} unparsed as \
         unchanged, but the store no longer holds that state for it: read the file again",
        format_time(.taken_at)
    )]
    UnparsedChanged {
        /// The environment.
        environment: EnvName,
        /// The snapshot's time.
        taken_at: Timestamp,
        /// The component.
        component: envtrail_model::ComponentName,
    },
    /// SQLite failed while storing a snapshot; the transaction was rolled back.
    #[error("cannot store the snapshot of {environment} taken at {}", format_time(.taken_at))]
    Import {
        /// The environment.
        environment: EnvName,
        /// The snapshot's time.
        taken_at: Timestamp,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite failed while reading.
    #[error("cannot read {scope} from the store")]
    Read {
        /// What was being read.
        scope: Scope,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored JSON body (state, artifact or snapshot header) does not parse: the store was
    /// altered or damaged. `envtrail verify` says more.
    #[error("the stored {what} is unreadable (run `envtrail verify`)")]
    CorruptBody {
        /// Which body.
        what: Body,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A stored body referenced by an interval is missing: the store was altered or damaged.
    #[error("the stored {what} is missing (run `envtrail verify`)")]
    MissingBody {
        /// Which body.
        what: Body,
    },
    /// SQLite failed while reading or writing the notification state of a target.
    #[error("cannot read or write the notification state of target {target:?}")]
    NotifyState {
        /// The target's name.
        target: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The instant or period asked lies in history a prune removed: the store cannot say what
    /// ran then (it never answers "nothing").
    #[error(
        "{query} of {environment}{} was pruned by checkpoint #{checkpoint} (prune --before {}): \
         {environment} is kept from its snapshot taken at {} (seq {kept_seq}){}",
        match (.query, .asked) {
            (PrunedQuery::History, Some(t)) => format!(" from {}", format_time(t)),
            (_, Some(t)) => format!(" at {}", format_time(t)),
            (_, None) => " from its beginning".to_owned(),
        },
        format_time(.before),
        format_time(.kept_from),
        if matches!(.query, PrunedQuery::History) {
            ": changes are listed for snapshots taken after it"
        } else {
            " on"
        }
    )]
    Pruned {
        /// What was asked.
        query: PrunedQuery,
        /// The environment.
        environment: EnvName,
        /// The instant asked (`None`: a history from the beginning).
        asked: Option<Timestamp>,
        /// The checkpoint's number.
        checkpoint: i64,
        /// The checkpoint's `--before` instant.
        before: Timestamp,
        /// The environment's kept snapshot: the one in force at `before`.
        kept_seq: i64,
        /// When that snapshot was taken: the earliest instant answered.
        kept_from: Timestamp,
    },
    /// `prune` refused to run: the store does not verify, and a checkpoint must never vouch for
    /// an altered chain.
    #[error("the store {} does not verify, so it is not pruned: {problem}", path.display())]
    PruneUnverified {
        /// The store file.
        path: PathBuf,
        /// The first problem `verify` found.
        problem: String,
    },
    /// The pruned store did not verify before commit; the prune was rolled back (a bug).
    #[error("the pruned store would not verify, so the prune was rolled back: {problem}")]
    PruneCheck {
        /// The first problem `verify` found.
        problem: String,
    },
    /// SQLite failed while pruning; the transaction was rolled back and nothing was removed.
    #[error("cannot prune the store {}", path.display())]
    Prune {
        /// The store file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored name or digest is not valid: the store was altered or damaged.
    #[error("the stored {what} {value:?} is invalid (run `envtrail verify`)")]
    CorruptName {
        /// What kind of name ("environment", "component", "digest").
        what: &'static str,
        /// The stored text.
        value: String,
        /// Why it is refused.
        #[source]
        source: NameError,
    },
}

/// Which question a [`StoreError::Pruned`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrunedQuery {
    /// The state at an instant (`asof`, `export`, `diff`, `report`).
    State,
    /// The changes over a period (`history`).
    History,
    /// An evidence bundle's start.
    Evidence,
}

impl fmt::Display for PrunedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::State => "the state",
            Self::History => "the history",
            Self::Evidence => "the evidence",
        })
    }
}

/// What a [`StoreError::Read`] was reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Store-wide data (environment list, chain head, artifact links).
    Store,
    /// One environment's snapshots and states.
    Environment(EnvName),
    /// The whole store, while verifying it.
    Verify,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store => f.write_str("the store's index"),
            Self::Environment(env) => write!(f, "environment {env}"),
            Self::Verify => f.write_str("the rows to verify"),
        }
    }
}

/// Which stored body a [`StoreError::CorruptBody`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A component state, by state hash.
    State(String),
    /// An artifact's facts, by hash.
    Artifact(String),
    /// A snapshot header, by snapshot id.
    Header(i64),
    /// The findings last posted to a notification target, by target name.
    NotifyState(String),
    /// A prune's checkpoint record, by number.
    Checkpoint(i64),
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::State(hash) => write!(f, "component state {hash}"),
            Self::Artifact(hash) => write!(f, "artifact facts {hash}"),
            Self::Header(id) => write!(f, "header of snapshot {id}"),
            Self::NotifyState(target) => write!(f, "notification state of target {target:?}"),
            Self::Checkpoint(number) => write!(f, "checkpoint #{number}"),
        }
    }
}

fn known_list(known: &[EnvName]) -> String {
    if known.is_empty() {
        "the store holds no environment yet".to_owned()
    } else {
        let names: Vec<&str> = known.iter().map(EnvName::as_str).collect();
        format!("known environments are {}", names.join(", "))
    }
}

/// An internal failure: either SQLite (to be wrapped with the caller's context) or an already
/// complete [`StoreError`]. Lets the inner functions use `?` on both.
#[derive(Debug)]
pub(crate) enum Fail {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl Fail {
    /// Completes the error, wrapping an SQLite failure with `context`.
    pub(crate) fn with(self, context: impl FnOnce(rusqlite::Error) -> StoreError) -> StoreError {
        match self {
            Self::Sql(e) => context(e),
            Self::Store(e) => e,
        }
    }

    /// Completes the error as a read of `scope`.
    pub(crate) fn reading(self, scope: impl FnOnce() -> Scope) -> StoreError {
        self.with(|source| StoreError::Read {
            scope: scope(),
            source,
        })
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let err = StoreError::UnknownEnvironment {
            environment: "qa".parse().unwrap(),
            known: vec!["dev".parse().unwrap(), "prod".parse().unwrap()],
        };
        assert_eq!(
            err.to_string(),
            r#"unknown environment "qa": known environments are dev, prod"#
        );
        let empty = StoreError::UnknownEnvironment {
            environment: "qa".parse().unwrap(),
            known: vec![],
        };
        assert!(empty.to_string().contains("no environment yet"), "{empty}");
    }
}
