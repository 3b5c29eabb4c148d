//! The Kubernetes collector: turns one Kubernetes source (a cluster, reached through a kubeconfig
//! context or in-cluster credentials) into a part of an environment's snapshot: a [`Source`] entry
//! (`ok`, `partial` or `failed`, with the reason) and the workloads it runs.
//!
//! What is read: Deployments, StatefulSets, DaemonSets, CronJobs (their job template) and bare Pods;
//! for each, every container and init container with its declared image and digest and the digests
//! its Pods actually run (`imageID`, tied to the workload through ownerReferences: Pod → ReplicaSet
//! → Deployment, Pod → Job → CronJob); the configuration it consumes (literal env values,
//! ConfigMaps key by key, Secrets as keyed HMAC fingerprints only); and Helm/Argo identity labels.
//! Only `get`/`list` are used. See `docs/kubernetes.md` for the config and the RBAC it needs.
//!
//! This crate depends on `envtrail-model` only; the CLI assembles the sources of an environment into
//! one snapshot and stores it.
//!
//! ```
//! use envtrail_collect_k8s::{CollectOptions, Credentials, HmacKey, Namespaces, Naming, SourceConfig};
//!
//! let source = SourceConfig {
//!     id: "k8s/prod-eu".into(),
//!     credentials: Credentials::Kubeconfig { path: None, context: Some("prod-eu".into()) },
//!     namespaces: Namespaces::new(vec!["payments-*".into()], vec![]).unwrap(),
//!     label_selector: Some("tier!=test".parse().unwrap()),
//!     naming: Naming { strip_namespace_suffixes: vec!["-prod".into()], ..Naming::default() },
//! };
//! let options = CollectOptions::new(HmacKey::new(*b"0123456789abcdef0123", "example").unwrap());
//! // In an async context: `envtrail_collect_k8s::collect(&source, &options, &counter).await`.
//! # let _ = (source, options);
//! ```
//!
//! [`Source`]: envtrail_model::Source

mod api;
mod assemble;
mod collect;
mod config;
mod error;
mod image;
mod inventory;
mod naming;
mod secret;
mod selector;

pub use api::CallError;
pub use assemble::{METADATA_KEYS, Skipped, consumed_config};
pub use collect::{Collected, SOURCE_KIND, collect};
pub use config::{
    CollectOptions, Credentials, DEFAULT_MAX_CONFIG_VALUE_BYTES, DEFAULT_SERVICE_ACCOUNT_DIR,
    Namespaces, SourceConfig,
};
pub use error::Error;
pub use image::{declared_digest, running_digest};
pub use inventory::{Inventory, Kind, resolve_owner};
pub use naming::{DEFAULT_NAME_LABEL, Naming, TemplateError};
pub use secret::{HmacKey, KeyError, MIN_KEY_BYTES};
pub use selector::{LabelSelector, SelectorError};
