//! What a state file is read with: which attributes of each resource type are kept (an allow-list
//! with defaults for common AWS types), how resources are named as components (tags, module or
//! resource names, with environment prefixes and suffixes stripped), and how sensitive values are
//! fingerprinted (the caller's keyed function: the key never reaches this crate's output).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use envtrail_model::Fingerprint;

/// Keeps a secret's identity without its value: the CLI passes an HMAC under the operator's key.
pub type SecretFingerprint = Arc<dyn Fn(&[u8]) -> Fingerprint + Send + Sync>;

/// The tag keys looked for, in order, when no other is configured.
pub const DEFAULT_NAME_TAGS: &[&str] = &["app", "service"];

/// Attribute names that are fingerprinted even when the state does not list them in
/// `sensitive_attributes` (Terraform 0.12–0.14 states never do): any allow-listed attribute whose
/// name contains one of these.
pub const ALWAYS_SENSITIVE: &[&str] = &["password", "secret", "token", "private_key"];

/// The attributes kept per resource type unless the config says otherwise: the ones that decide
/// how a resource behaves and that should match between environments (or be declared
/// environment-specific in the policy).
pub const DEFAULT_ATTRIBUTES: &[(&str, &[&str])] = &[
    (
        "aws_db_instance",
        &[
            "engine",
            "engine_version",
            "instance_class",
            "allocated_storage",
            "storage_type",
            "storage_encrypted",
            "multi_az",
            "backup_retention_period",
            "parameter_group_name",
            "deletion_protection",
            "publicly_accessible",
        ],
    ),
    (
        "aws_rds_cluster",
        &[
            "engine",
            "engine_version",
            "engine_mode",
            "storage_encrypted",
            "backup_retention_period",
            "deletion_protection",
        ],
    ),
    (
        "aws_rds_cluster_instance",
        &["engine", "engine_version", "instance_class"],
    ),
    (
        "aws_elasticache_cluster",
        &["engine", "engine_version", "node_type", "num_cache_nodes"],
    ),
    (
        "aws_elasticache_replication_group",
        &[
            "engine",
            "engine_version",
            "node_type",
            "num_cache_clusters",
            "automatic_failover_enabled",
        ],
    ),
    (
        "aws_instance",
        &["ami", "instance_type", "ebs_optimized", "monitoring"],
    ),
    ("aws_launch_template", &["image_id", "instance_type"]),
    (
        "aws_autoscaling_group",
        &["min_size", "max_size", "desired_capacity"],
    ),
    (
        "aws_lambda_function",
        &[
            "runtime",
            "handler",
            "memory_size",
            "timeout",
            "package_type",
            "image_uri",
            "architectures",
            "source_code_hash",
            "reserved_concurrent_executions",
        ],
    ),
    (
        "aws_ecs_service",
        &[
            "desired_count",
            "launch_type",
            "platform_version",
            "scheduling_strategy",
        ],
    ),
    (
        "aws_ecs_task_definition",
        &["cpu", "memory", "network_mode", "requires_compatibilities"],
    ),
    ("aws_eks_cluster", &["version"]),
    (
        "aws_eks_node_group",
        &["instance_types", "ami_type", "release_version", "version"],
    ),
    (
        "aws_ecr_repository",
        &["image_tag_mutability", "image_scanning_configuration"],
    ),
    (
        "aws_sqs_queue",
        &[
            "fifo_queue",
            "visibility_timeout_seconds",
            "message_retention_seconds",
            "delay_seconds",
        ],
    ),
    (
        "aws_dynamodb_table",
        &[
            "billing_mode",
            "read_capacity",
            "write_capacity",
            "stream_enabled",
        ],
    ),
    (
        "aws_msk_cluster",
        &["kafka_version", "number_of_broker_nodes"],
    ),
    ("aws_opensearch_domain", &["engine_version"]),
    ("aws_elasticsearch_domain", &["elasticsearch_version"]),
    (
        "aws_mq_broker",
        &["engine_type", "engine_version", "host_instance_type"],
    ),
];

/// How components are named from resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// Every item of the state belongs to this component (a state per service).
    pub component: Option<String>,
    /// Tag keys whose value names the component, first match wins (`tags`, else `tags_all`).
    pub tags: Vec<String>,
    /// Prefixes removed from module and resource names (first match), e.g. `prod_`.
    pub strip_prefixes: Vec<String>,
    /// Suffixes removed from module and resource names (first match), e.g. `_prod`, `-staging`.
    pub strip_suffixes: Vec<String>,
}

impl Default for Naming {
    fn default() -> Self {
        Self {
            component: None,
            tags: DEFAULT_NAME_TAGS.iter().map(|t| (*t).to_owned()).collect(),
            strip_prefixes: Vec::new(),
            strip_suffixes: Vec::new(),
        }
    }
}

/// Everything a state file is read with.
#[derive(Clone)]
pub struct Options {
    /// The source id the items are reported under, e.g. `terraform/prod-network`.
    pub source_id: String,
    /// Attributes kept per resource type; a type not listed here keeps its defaults
    /// ([`DEFAULT_ATTRIBUTES`]) and a type in neither keeps none (its type and address still count).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Component naming.
    pub naming: Naming,
    /// Whether data sources (`data.aws_ami.x`) are kept: they are reads, not infrastructure.
    pub include_data_sources: bool,
    /// The keyed fingerprint for sensitive attributes.
    pub fingerprint: SecretFingerprint,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("source_id", &self.source_id)
            .field("attributes", &self.attributes)
            .field("naming", &self.naming)
            .field("include_data_sources", &self.include_data_sources)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Defaults for `source_id`, fingerprinting sensitive values with `fingerprint`.
    pub fn new(source_id: impl Into<String>, fingerprint: SecretFingerprint) -> Self {
        Self {
            source_id: source_id.into(),
            attributes: BTreeMap::new(),
            naming: Naming::default(),
            include_data_sources: false,
            fingerprint,
        }
    }

    /// The attributes kept for `resource_type`.
    pub fn allowed(&self, resource_type: &str) -> &[String] {
        if let Some(list) = self.attributes.get(resource_type) {
            return list;
        }
        default_attributes()
            .get(resource_type)
            .map_or(&[], Vec::as_slice)
    }
}

fn default_attributes() -> &'static BTreeMap<&'static str, Vec<String>> {
    static DEFAULTS: std::sync::OnceLock<BTreeMap<&'static str, Vec<String>>> =
        std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        DEFAULT_ATTRIBUTES
            .iter()
            .map(|(t, names)| (*t, names.iter().map(|n| (*n).to_owned()).collect()))
            .collect()
    })
}

/// Whether an attribute name is always treated as sensitive.
pub fn always_sensitive(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ALWAYS_SENSITIVE.iter().any(|s| lower.contains(s))
}
