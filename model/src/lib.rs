//! The domain types every envtrail crate shares: snapshots (the v1 exchange format), the names and
//! digests inside them, the per-component state the store keeps and the diff compares, findings and
//! the JSON documents the CLI prints.
//!
//! This crate does no IO and knows no SDK: collectors turn live state into a [`Snapshot`], the store
//! persists it, the diff turns [`view::EnvironmentState`]s into [`Finding`]s. Everything here is
//! plain data plus the pure functions that give it one canonical form and one hash.
//!
//! ```
//! use envtrail_model::{Snapshot, Digest};
//!
//! let json = r#"{
//!   "schema": "envtrail.snapshot.v1",
//!   "environment": "prod",
//!   "taken_at": "2026-11-20T10:00:00Z",
//!   "sources": [{"id": "k8s/prod-eu", "kind": "kubernetes", "status": "ok"}],
//!   "workloads": [{
//!     "component": "payments-api", "source": "k8s/prod-eu", "ref": "Deployment/payments/api",
//!     "containers": [{"name": "api", "image": "registry.example.com/payments/api:1.4.2",
//!       "running_digests": ["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}]
//!   }]
//! }"#;
//! let snapshot: Snapshot = serde_json::from_str(json).unwrap();
//! snapshot.validate().unwrap();
//! let states = snapshot.component_states();
//! let api = &states[&"payments-api".parse().unwrap()];
//! let digest: Digest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".parse().unwrap();
//! assert!(api.artifact_digests().contains(&digest));
//! ```

pub mod canonical;
pub mod checkpoint;
pub mod evidence;
pub mod finding;
pub mod jcs;
pub mod names;
pub mod output;
pub mod revision;
pub mod snapshot;
pub mod state;
pub mod time;
pub mod view;

pub use finding::{Finding, FindingKind, Severity};
pub use names::{ComponentName, Digest, EnvName, Fingerprint, NameError};
pub use snapshot::{
    Artifact, ConfigValue, Container, InfraItem, SNAPSHOT_SCHEMA, Snapshot, SnapshotError, Source,
    SourceStatus, UnparsedComponent, UnparsedWorkload, Verification, VerificationStatus, Workload,
};
pub use state::{ComponentState, QuickHash};
pub use time::{Timestamp, parse_time};
