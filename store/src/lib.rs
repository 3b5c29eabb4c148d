//! envtrail's store: every imported snapshot, append-only and tamper-evident, in one SQLite file,
//! keeping only what changed, and answering "what ran in this environment at that instant" fast.
//!
//! - Component states and artifact facts are content-addressed: stored once by hash, shared
//!   across environments and time. A snapshot where nothing changed adds one row.
//! - Membership is a table of intervals of snapshot numbers per environment, indexed as a
//!   relational interval tree ([`interval`](crate::interval)), so a point-in-time query costs a few
//!   index seeks plus the rows it returns, whatever the length of history.
//! - Every snapshot has a content hash ([`envtrail_model::canonical::snapshot_content_hash`]) and
//!   one global hash chain links them in import order; [`Store::verify`] recomputes everything
//!   from the stored rows and names the first broken link.
//!
//! ```
//! use envtrail_model::{Snapshot, parse_time};
//! use envtrail_store::Store;
//!
//! let snapshot: Snapshot = serde_json::from_str(r#"{
//!   "schema": "envtrail.snapshot.v1", "environment": "prod", "taken_at": "2026-11-20T10:00:00Z",
//!   "sources": [{"id": "k8s/prod", "kind": "kubernetes", "status": "ok"}],
//!   "workloads": [{"component": "api", "source": "k8s/prod", "ref": "Deployment/p/api",
//!     "containers": [{"name": "api", "image": "r/api:1"}]}]
//! }"#)?;
//! let mut store = Store::open_in_memory()?;
//! let outcome = store.import(snapshot.clone())?;
//! assert!(outcome.stored);
//! assert!(!store.import(snapshot)?.stored, "the same snapshot is stored once");
//!
//! let prod = "prod".parse()?;
//! let state = store.environment_state(&prod, parse_time("2026-11-21")?, false)?.unwrap();
//! assert_eq!(state.snapshot, outcome.snapshot);
//! assert_eq!(state.components.len(), 1);
//! assert!(store.verify()?.ok);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod evidence;
mod history;
mod import;
mod interval;
mod lookup;
mod members;
mod notify;
mod prepare;
mod query;
mod schema;
mod tags;
mod verify;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod scale_tests;
#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use envtrail_model::view::SnapshotRef;
use envtrail_model::{ComponentName, ComponentState};
use rusqlite::Connection;

pub use error::{Body, Scope, StoreError};
pub use notify::NotifyState;
pub use schema::SCHEMA_VERSION;

/// An open store: one SQLite connection. Readers may open the same file concurrently; imports are
/// serialised by SQLite's write lock.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What [`Store::import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The stored snapshot (the existing one when `stored` is false).
    pub snapshot: SnapshotRef,
    /// False when an identical snapshot of the environment was already stored.
    pub stored: bool,
    /// Components in the snapshot.
    pub components: usize,
    /// Components added, changed or removed since the environment's previous snapshot (0 when
    /// not stored).
    pub components_changed: usize,
}

/// One change of one component in one environment, as [`Store::history`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// The first snapshot that showed the change.
    pub snapshot: SnapshotRef,
    /// The environment's snapshot before it (the change happened between the two); `None` for the
    /// environment's first snapshot.
    pub previous: Option<SnapshotRef>,
    /// The component.
    pub component: ComponentName,
    /// Its state before (`None`: added).
    pub before: Option<Arc<ComponentState>>,
    /// Its state after (`None`: removed).
    pub after: Option<Arc<ComponentState>>,
    /// Ids of the failed or partial sources of `snapshot`: a removal there may only be unknown.
    pub incomplete_sources: Vec<String>,
}

impl Store {
    /// Opens the store at `path`, creating it if missing and migrating it to this version's schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = schema::open(path)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// A fresh store in memory (tests, dry runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = schema::open_in_memory()?;
        Ok(Store {
            conn,
            path: PathBuf::from(":memory:"),
        })
    }

    /// The file this store lives in (`:memory:` for an in-memory one).
    pub fn path(&self) -> &Path {
        &self.path
    }
}
