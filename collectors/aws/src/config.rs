//! What one AWS source is (an account reached through the standard credential chain, a profile or
//! an assumed role, read in one or more regions) and the options shared by every source of a run
//! (the secret fingerprint, limits, timeouts). The CLI builds these from `envtrail.toml`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use envtrail_model::Fingerprint;

/// Keeps a secret's identity without its value: the CLI passes an HMAC under the operator's key.
pub type SecretFingerprint = Arc<dyn Fn(&[u8]) -> Fingerprint + Send + Sync>;

/// The tag keys looked for, in order, when no other is configured.
pub const DEFAULT_NAME_TAGS: &[&str] = &["app", "service"];

/// How the collector gets credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// The standard chain: environment, profile (SSO and `credential_process` included), web
    /// identity, ECS container and EC2 instance roles.
    #[default]
    Chain,
    /// Fixed keys: for emulators (moto, LocalStack) and tests. Not offered in `envtrail.toml`.
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Chain => f.write_str("Chain"),
            Self::Static { access_key_id, .. } => write!(f, "Static({access_key_id}, ***)"),
        }
    }
}

/// How AWS resources are named as components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// Tag keys whose value names the component, first match wins; else the resource's name.
    pub tags: Vec<String>,
    /// Prefixes removed from resource names (first match), e.g. `prod-`.
    pub strip_prefixes: Vec<String>,
    /// Suffixes removed from resource names (first match), e.g. `-staging`.
    pub strip_suffixes: Vec<String>,
}

impl Default for Naming {
    fn default() -> Self {
        Self {
            tags: DEFAULT_NAME_TAGS.iter().map(|t| (*t).to_owned()).collect(),
            strip_prefixes: Vec::new(),
            strip_suffixes: Vec::new(),
        }
    }
}

/// One SSM Parameter Store path to read (recursively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmPath {
    /// The path, e.g. `/prod/payments`.
    pub path: String,
    /// The component its parameters configure (default: the path's last segment, stripped).
    pub component: Option<String>,
}

/// One AWS account, read in each of its regions (one snapshot source per region).
#[derive(Debug, Clone, Default)]
pub struct AccountConfig {
    /// The account part of the source id (`aws/<account>/<region>`); default: the account id
    /// STS reports, else the profile name.
    pub account: Option<String>,
    /// How to get credentials.
    pub credentials: Credentials,
    /// A profile of the shared config files (`None`: `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// The regions to read (at least one).
    pub regions: Vec<String>,
    /// A role to assume with the base credentials.
    pub role_arn: Option<String>,
    /// The external id the role requires, if any.
    pub external_id: Option<String>,
    /// Another endpoint for every service (moto, LocalStack).
    pub endpoint_url: Option<String>,
    /// Whether ECS is read.
    pub ecs: bool,
    /// Only these ECS clusters (names); empty: every cluster.
    pub ecs_clusters: Vec<String>,
    /// Whether Lambda is read.
    pub lambda: bool,
    /// Lambda environment variables whose plain values are kept (globs over names); every other
    /// variable is kept as a keyed fingerprint only.
    pub lambda_env_allow: Vec<String>,
    /// Parameter Store paths to read.
    pub ssm_paths: Vec<SsmPath>,
    /// Whether SecureString parameters are decrypted to fingerprint their values (the value is
    /// never stored); otherwise their version and last-modified date are fingerprinted.
    pub ssm_decrypt: bool,
    /// Component naming.
    pub naming: Naming,
}

/// Options shared by every source of one collection run.
#[derive(Clone)]
pub struct CollectOptions {
    /// The keyed fingerprint for secrets (SecureString values, Lambda environment values).
    pub fingerprint: SecretFingerprint,
    /// Config values longer than this (bytes) are kept as a fingerprint only.
    pub max_config_value_bytes: usize,
    /// API calls in flight at once per account and region.
    pub concurrency: usize,
    /// The limit on each API call attempt.
    pub request_timeout: Duration,
    /// Attempts per call (the SDK's adaptive retry, which also slows down on throttling).
    pub max_attempts: u32,
}

impl fmt::Debug for CollectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectOptions")
            .field("max_config_value_bytes", &self.max_config_value_bytes)
            .field("concurrency", &self.concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl CollectOptions {
    /// Defaults: 4 KiB values, 16 calls in flight per region, 30 s per attempt, 5 attempts.
    pub fn new(fingerprint: SecretFingerprint) -> Self {
        Self {
            fingerprint,
            max_config_value_bytes: 4096,
            concurrency: 16,
            request_timeout: Duration::from_secs(30),
            max_attempts: 5,
        }
    }
}
