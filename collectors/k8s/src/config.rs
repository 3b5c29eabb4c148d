//! What one Kubernetes source is (a cluster reached through a kubeconfig context or in-cluster
//! credentials, the namespaces to read, how to name components) and the options shared by every
//! source of a run (the HMAC key, limits, timeouts). The CLI builds these from `envtrail.toml`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use tokio::sync::Semaphore;

use crate::naming::Naming;
use crate::secret::HmacKey;
use crate::selector::LabelSelector;

/// How the collector reaches a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A kubeconfig file (`None`: `KUBECONFIG`, else `~/.kube/config`) and a context in it
    /// (`None`: its current context).
    Kubeconfig {
        /// The file.
        path: Option<PathBuf>,
        /// The context.
        context: Option<String>,
    },
    /// The service account of the Pod envtrail runs in (a CronJob in the cluster): the API server
    /// from `KUBERNETES_SERVICE_HOST` / `KUBERNETES_SERVICE_PORT`, the token (re-read as the
    /// kubelet rotates it) and the cluster CA from the service account folder.
    InCluster {
        /// Where the service account's `token` and `ca.crt` are mounted
        /// ([`DEFAULT_SERVICE_ACCOUNT_DIR`] unless the Pod projects them elsewhere).
        service_account_dir: PathBuf,
    },
}

/// Where Kubernetes mounts a Pod's service account credentials.
pub const DEFAULT_SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Namespace globs: which namespaces to read.
#[derive(Debug, Clone)]
pub struct Namespaces {
    include: Vec<String>,
    include_set: GlobSet,
    exclude_set: GlobSet,
}

impl Namespaces {
    /// Every namespace.
    pub fn all() -> Self {
        Self::new(Vec::new(), Vec::new()).expect("no globs cannot fail")
    }

    /// `include` globs (empty: every namespace) minus `exclude` globs.
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Result<Self, globset::Error> {
        let build = |globs: &[String]| -> Result<GlobSet, globset::Error> {
            let mut set = GlobSetBuilder::new();
            for g in globs {
                set.add(Glob::new(g)?);
            }
            set.build()
        };
        Ok(Self {
            include_set: build(&include)?,
            exclude_set: build(&exclude)?,
            include,
        })
    }

    /// Whether `namespace` is read.
    pub fn matches(&self, namespace: &str) -> bool {
        (self.include.is_empty() || self.include_set.is_match(namespace))
            && !self.exclude_set.is_match(namespace)
    }

    /// When every include is a plain name (no glob characters), those names: the collector then
    /// reads them without listing namespaces, which a namespaced Role does not allow.
    pub fn literal(&self) -> Option<Vec<String>> {
        let plain = |g: &String| !g.contains(['*', '?', '[', ']', '{', '}', '\\']);
        if self.include.is_empty() || !self.include.iter().all(plain) {
            return None;
        }
        Some(
            self.include
                .iter()
                .filter(|n| self.matches(n))
                .cloned()
                .collect(),
        )
    }
}

/// One Kubernetes source: one cluster (or a part of it) feeding one environment.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The source id in the snapshot, e.g. `k8s/prod-eu`.
    pub id: String,
    /// How to reach the cluster.
    pub credentials: Credentials,
    /// Which namespaces to read.
    pub namespaces: Namespaces,
    /// Only workloads with these labels (bare Pods are matched on their own labels).
    pub label_selector: Option<LabelSelector>,
    /// How workloads are named as components.
    pub naming: Naming,
}

/// Options shared by every source of one collection run.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The key for Secret fingerprints.
    pub hmac_key: HmacKey,
    /// ConfigMap and literal values longer than this (bytes) are kept as a fingerprint only.
    pub max_config_value_bytes: usize,
    /// Items per list page (`limit`).
    pub page_size: u32,
    /// The limit on each API call, connection included.
    pub request_timeout: Duration,
    /// How many times a call is retried after a 429, a 5xx, a timeout or a connection error.
    pub retries: usize,
    /// The first retry delay (doubling, with jitter, up to `max_retry_delay`).
    pub min_retry_delay: Duration,
    /// The longest wait between two tries, `Retry-After` included.
    pub max_retry_delay: Duration,
    /// How many namespaces of one source are read at once.
    pub namespace_concurrency: usize,
    /// API calls in flight at once, across every source that shares these options.
    pub requests: Arc<Semaphore>,
}

/// The default cap on a kept config value.
pub const DEFAULT_MAX_CONFIG_VALUE_BYTES: usize = 4096;

impl CollectOptions {
    /// Defaults: 4 KiB values, pages of 500, 30 s per call, 4 retries from 250 ms to 10 s,
    /// 8 namespaces per source and 16 calls in flight.
    pub fn new(hmac_key: HmacKey) -> Self {
        Self {
            hmac_key,
            max_config_value_bytes: DEFAULT_MAX_CONFIG_VALUE_BYTES,
            page_size: 500,
            request_timeout: Duration::from_secs(30),
            retries: 4,
            min_retry_delay: Duration::from_millis(250),
            max_retry_delay: Duration::from_secs(10),
            namespace_concurrency: 8,
            requests: Arc::new(Semaphore::new(16)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_and_exclude_globs() {
        let ns = Namespaces::new(
            vec!["payments-*".into(), "shop".into()],
            vec!["*-canary".into()],
        )
        .unwrap();
        assert!(ns.matches("payments-prod") && ns.matches("shop"));
        assert!(!ns.matches("payments-canary") && !ns.matches("kube-system"));
        assert_eq!(ns.literal(), None);
        let all = Namespaces::new(vec![], vec!["kube-*".into()]).unwrap();
        assert!(all.matches("default") && !all.matches("kube-system"));
        assert_eq!(all.literal(), None);
    }

    #[test]
    fn plain_names_are_read_without_listing_namespaces() {
        let ns = Namespaces::new(vec!["a".into(), "b".into()], vec!["b".into()]).unwrap();
        assert_eq!(ns.literal(), Some(vec!["a".to_owned()]));
        assert!(Namespaces::new(vec!["[".into()], vec![]).is_err());
    }
}
