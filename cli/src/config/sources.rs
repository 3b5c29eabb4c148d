//! The typed `[environments.<env>]` tables (each environment's sources: `[[environments.prod.kubernetes]]`
//! entries), `[secrets]` (where the HMAC key for Secret fingerprints comes from) and `[collect]`
//! (limits of a collection run). Values that parse but mean nothing are refused with the key and
//! its line, like the rest of the config file.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use envtrail_collect_k8s::{
    Credentials, DEFAULT_SERVICE_ACCOUNT_DIR, LabelSelector, Namespaces, Naming, SourceConfig,
};
use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    #[serde(default)]
    kubernetes: Vec<RawKubernetes>,
    /// The artifact policy (`[environments.<env>.artifacts]`), read by `super::oci`.
    pub(super) artifacts: Option<super::oci::RawArtifactPolicy>,
    /// AWS accounts (`[[environments.<env>.aws]]`), read by `super::aws`.
    #[serde(default)]
    pub(super) aws: Vec<super::aws::RawAws>,
    /// Terraform states (`[[environments.<env>.terraform]]`), read by `super::aws`.
    #[serde(default)]
    pub(super) terraform: Vec<super::aws::RawTerraform>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubernetes {
    id: Option<Spanned<String>>,
    kubeconfig: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    in_cluster: Option<Spanned<bool>>,
    service_account_dir: Option<Spanned<String>>,
    #[serde(default)]
    namespaces: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_namespaces: Vec<Spanned<String>>,
    label_selector: Option<Spanned<String>>,
    #[serde(default)]
    naming: RawNaming,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNaming {
    label: Option<Spanned<String>>,
    template: Option<Spanned<String>>,
    #[serde(default)]
    strip_name_prefixes: Vec<String>,
    #[serde(default)]
    strip_name_suffixes: Vec<String>,
    #[serde(default)]
    strip_namespace_prefixes: Vec<String>,
    #[serde(default)]
    strip_namespace_suffixes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecrets {
    hmac_key_file: Option<Spanned<String>>,
    hmac_key_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCollect {
    max_config_value_bytes: Option<Spanned<i64>>,
    concurrency: Option<Spanned<i64>>,
    namespace_concurrency: Option<Spanned<i64>>,
    request_timeout: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    page_size: Option<Spanned<i64>>,
}

/// One environment's sources.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentConfig {
    /// Its Kubernetes sources (clusters), in file order.
    pub kubernetes: Vec<SourceConfig>,
    /// Its AWS accounts, in file order (one source per account and region).
    pub aws: Vec<envtrail_collect_aws::AccountConfig>,
    /// Its Terraform states, in file order (one source each).
    pub terraform: Vec<super::aws::TerraformSource>,
}

impl EnvironmentConfig {
    /// Whether it has any source.
    pub fn has_sources(&self) -> bool {
        !(self.kubernetes.is_empty() && self.aws.is_empty() && self.terraform.is_empty())
    }
}

/// Where the HMAC key for Secret fingerprints comes from (at most one is set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretsConfig {
    /// A file holding the key (relative paths are relative to the config file).
    pub hmac_key_file: Option<PathBuf>,
    /// An environment variable holding the key.
    pub hmac_key_env: Option<String>,
}

/// Limits of a collection run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectConfig {
    /// Config values longer than this are stored as a fingerprint only.
    pub max_config_value_bytes: usize,
    /// API calls in flight at once, across every source.
    pub concurrency: usize,
    /// Namespaces read at once per source.
    pub namespace_concurrency: usize,
    /// The limit on each API call.
    pub request_timeout: Duration,
    /// Retries after a 429, a 5xx, a timeout or a connection error.
    pub retries: usize,
    /// Items per list page.
    pub page_size: u32,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            max_config_value_bytes: envtrail_collect_k8s::DEFAULT_MAX_CONFIG_VALUE_BYTES,
            concurrency: 16,
            namespace_concurrency: 8,
            request_timeout: Duration::from_secs(30),
            retries: 4,
            page_size: 500,
        }
    }
}

/// Builds errors that name a key and the line of a span.
pub(super) struct Spans<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
}

impl Spans<'_> {
    pub(super) fn error(
        &self,
        span: Range<usize>,
        key: &str,
        why: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_owned(),
            line: super::line_of(self.text, span.start),
            key: key.to_owned(),
            why: why.into(),
        }
    }

    /// A path from the config: `~/` is the home directory, a relative path is relative to the
    /// config file's directory.
    pub(super) fn path(&self, raw: &str) -> PathBuf {
        if let Some(rest) = raw.strip_prefix("~/")
            && let Some(home) = std::env::var_os("HOME")
        {
            return PathBuf::from(home).join(rest);
        }
        let path = PathBuf::from(raw);
        match self.file.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    }

    /// A glob from the config, checked.
    pub(super) fn glob(&self, g: &Spanned<String>, key: String) -> Result<String, ConfigError> {
        globset::Glob::new(g.get_ref()).map_err(|e| self.error(g.span(), &key, e.to_string()))?;
        Ok(g.get_ref().clone())
    }
}

fn count(
    spans: &Spans<'_>,
    value: &Option<Spanned<i64>>,
    key: &str,
    min: i64,
    default: usize,
) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if *v.get_ref() >= min => Ok(usize::try_from(*v.get_ref()).unwrap_or(usize::MAX)),
        Some(v) => Err(spans.error(v.span(), key, format!("must be at least {min}"))),
    }
}

pub(super) fn collect(spans: &Spans<'_>, raw: &RawCollect) -> Result<CollectConfig, ConfigError> {
    let d = CollectConfig::default();
    let request_timeout = match &raw.request_timeout {
        None => d.request_timeout,
        Some(t) => humantime::parse_duration(t.get_ref())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                spans.error(
                    t.span(),
                    "collect.request_timeout",
                    "expected a duration like \"30s\"",
                )
            })?,
    };
    let page_size = count(
        spans,
        &raw.page_size,
        "collect.page_size",
        1,
        d.page_size as usize,
    )?;
    Ok(CollectConfig {
        max_config_value_bytes: count(
            spans,
            &raw.max_config_value_bytes,
            "collect.max_config_value_bytes",
            0,
            d.max_config_value_bytes,
        )?,
        concurrency: count(
            spans,
            &raw.concurrency,
            "collect.concurrency",
            1,
            d.concurrency,
        )?,
        namespace_concurrency: count(
            spans,
            &raw.namespace_concurrency,
            "collect.namespace_concurrency",
            1,
            d.namespace_concurrency,
        )?,
        request_timeout,
        retries: count(spans, &raw.retries, "collect.retries", 0, d.retries)?,
        page_size: u32::try_from(page_size).unwrap_or(u32::MAX),
    })
}

pub(super) fn secrets(spans: &Spans<'_>, raw: &RawSecrets) -> Result<SecretsConfig, ConfigError> {
    if let (Some(_), Some(env)) = (&raw.hmac_key_file, &raw.hmac_key_env) {
        return Err(spans.error(
            env.span(),
            "secrets.hmac_key_env",
            "set hmac_key_file or hmac_key_env, not both",
        ));
    }
    if let Some(env) = &raw.hmac_key_env
        && env.get_ref().is_empty()
    {
        return Err(spans.error(env.span(), "secrets.hmac_key_env", "must not be empty"));
    }
    Ok(SecretsConfig {
        hmac_key_file: raw.hmac_key_file.as_ref().map(|f| spans.path(f.get_ref())),
        hmac_key_env: raw.hmac_key_env.as_ref().map(|e| e.get_ref().clone()),
    })
}

pub(super) fn environment(
    spans: &Spans<'_>,
    env: &str,
    mut raw: RawEnvironment,
) -> Result<EnvironmentConfig, ConfigError> {
    let mut ids = BTreeSet::new();
    let mut kubernetes = Vec::new();
    for (i, k) in std::mem::take(&mut raw.kubernetes).into_iter().enumerate() {
        let key = |field: &str| format!("environments.{env}.kubernetes[{i}].{field}");
        let in_cluster = k.in_cluster.as_ref().is_some_and(|b| *b.get_ref());
        if in_cluster
            && let Some(span) = k
                .kubeconfig
                .as_ref()
                .map(Spanned::span)
                .or(k.context.as_ref().map(Spanned::span))
        {
            return Err(spans.error(
                span,
                &key("in_cluster"),
                "in_cluster = true takes no kubeconfig or context",
            ));
        }
        if !in_cluster && let Some(dir) = &k.service_account_dir {
            return Err(spans.error(
                dir.span(),
                &key("service_account_dir"),
                "service_account_dir needs in_cluster = true",
            ));
        }
        let (id, id_span) = match &k.id {
            Some(id) => (id.get_ref().clone(), id.span()),
            None => {
                let span = k
                    .context
                    .as_ref()
                    .or(k.kubeconfig.as_ref())
                    .map_or(0..0, Spanned::span);
                let id = match (&k.context, in_cluster) {
                    (Some(c), _) => c.get_ref().clone(),
                    (None, true) => "in-cluster".to_owned(),
                    (None, false) => "default".to_owned(),
                };
                (id, span)
            }
        };
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(spans.error(
                id_span,
                &key("id"),
                "must be a non-empty name without white space",
            ));
        }
        let id = format!("k8s/{id}");
        if !ids.insert(id.clone()) {
            return Err(spans.error(
                id_span,
                &key("id"),
                format!("source {id:?} appears twice in environment {env:?}: give each cluster its own id"),
            ));
        }
        let globs = |list: &[Spanned<String>], field: &str| -> Result<Vec<String>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(j, g)| {
                    globset::Glob::new(g.get_ref())
                        .map(|_| g.get_ref().clone())
                        .map_err(|e| {
                            spans.error(g.span(), &key(&format!("{field}[{j}]")), e.to_string())
                        })
                })
                .collect()
        };
        let namespaces = Namespaces::new(
            globs(&k.namespaces, "namespaces")?,
            globs(&k.exclude_namespaces, "exclude_namespaces")?,
        )
        .map_err(|e| spans.error(0..0, &key("namespaces"), e.to_string()))?;
        let label_selector = match &k.label_selector {
            None => None,
            Some(s) => Some(
                s.get_ref()
                    .parse::<LabelSelector>()
                    .map_err(|e| spans.error(s.span(), &key("label_selector"), e.to_string()))?,
            ),
        };
        let mut naming = Naming {
            strip_name_prefixes: k.naming.strip_name_prefixes,
            strip_name_suffixes: k.naming.strip_name_suffixes,
            strip_namespace_prefixes: k.naming.strip_namespace_prefixes,
            strip_namespace_suffixes: k.naming.strip_namespace_suffixes,
            ..Naming::default()
        };
        if let Some(label) = &k.naming.label {
            naming.label = Some(label.get_ref().clone()).filter(|l| !l.is_empty());
        }
        if let Some(template) = &k.naming.template {
            naming.template = template.get_ref().clone();
            naming.check().map_err(|e| {
                spans.error(template.span(), &key("naming.template"), e.to_string())
            })?;
        }
        let credentials = if in_cluster {
            Credentials::InCluster {
                service_account_dir: k.service_account_dir.as_ref().map_or_else(
                    || PathBuf::from(DEFAULT_SERVICE_ACCOUNT_DIR),
                    |d| spans.path(d.get_ref()),
                ),
            }
        } else {
            Credentials::Kubeconfig {
                path: k.kubeconfig.as_ref().map(|p| spans.path(p.get_ref())),
                context: k.context.as_ref().map(|c| c.get_ref().clone()),
            }
        };
        kubernetes.push(SourceConfig {
            id,
            credentials,
            namespaces,
            label_selector,
            naming,
        });
    }
    let aws = super::aws::aws(spans, env, raw.aws)?;
    let terraform = super::aws::terraform(spans, env, raw.terraform, &aws)?;
    Ok(EnvironmentConfig {
        kubernetes,
        aws,
        terraform,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/envtrail/envtrail.toml"), text)
    }

    #[test]
    fn kubernetes_sources_are_typed() {
        let config = parse(
            r#"
[secrets]
hmac_key_file = "hmac.key"
[collect]
max_config_value_bytes = 100
request_timeout = "5s"
[[environments.prod.kubernetes]]
id = "prod-eu"
kubeconfig = "kube/prod.yaml"
context = "eu"
namespaces = ["payments-*"]
exclude_namespaces = ["*-canary"]
label_selector = "tier in (web,api)"
[environments.prod.kubernetes.naming]
template = "{namespace}"
strip_namespace_suffixes = ["-prod"]
[[environments.prod.kubernetes]]
context = "us"
[[environments.staging.kubernetes]]
in_cluster = true
"#,
        )
        .unwrap();
        assert_eq!(
            config.secrets.hmac_key_file,
            Some(PathBuf::from("/etc/envtrail/hmac.key"))
        );
        assert_eq!(config.collect.max_config_value_bytes, 100);
        assert_eq!(config.collect.request_timeout, Duration::from_secs(5));
        let prod = &config.environments[&"prod".parse().unwrap()].kubernetes;
        assert_eq!(prod[0].id, "k8s/prod-eu");
        assert_eq!(prod[1].id, "k8s/us");
        assert_eq!(
            prod[0].credentials,
            Credentials::Kubeconfig {
                path: Some("/etc/envtrail/kube/prod.yaml".into()),
                context: Some("eu".into())
            }
        );
        assert!(prod[0].namespaces.matches("payments-prod"));
        assert!(!prod[0].namespaces.matches("payments-canary"));
        assert_eq!(prod[0].naming.template, "{namespace}");
        assert_eq!(prod[1].naming, Naming::default());
        let staging = &config.environments[&"staging".parse().unwrap()].kubernetes;
        assert_eq!(
            staging[0].credentials,
            Credentials::InCluster {
                service_account_dir: DEFAULT_SERVICE_ACCOUNT_DIR.into()
            }
        );
        assert_eq!(staging[0].id, "k8s/in-cluster");
    }

    #[test]
    fn bad_source_values_name_key_and_line() {
        let cases = [
            (
                "[[environments.prod.kubernetes]]\nnamespaces = [\"[a\"]\n",
                ":2: key `environments.prod.kubernetes[0].namespaces[0]`",
            ),
            (
                "[[environments.prod.kubernetes]]\ncontext = \"a\"\nlabel_selector = \"app in web\"\n",
                ":3: key `environments.prod.kubernetes[0].label_selector`",
            ),
            (
                "[[environments.prod.kubernetes]]\ncontext = \"a\"\n[[environments.prod.kubernetes]]\ncontext = \"a\"\n",
                ":4: key `environments.prod.kubernetes[1].id`",
            ),
            (
                "[[environments.prod.kubernetes]]\n[environments.prod.kubernetes.naming]\ntemplate = \"{app}\"\n",
                ":3: key `environments.prod.kubernetes[0].naming.template`",
            ),
            (
                "[[environments.prod.kubernetes]]\ncontext = \"a\"\nin_cluster = true\n",
                ":2: key `environments.prod.kubernetes[0].in_cluster`",
            ),
            (
                "[secrets]\nhmac_key_file = \"k\"\nhmac_key_env = \"K\"\n",
                ":3: key `secrets.hmac_key_env`",
            ),
            (
                "[collect]\nrequest_timeout = \"soon\"\n",
                ":2: key `collect.request_timeout`",
            ),
            (
                "[collect]\nconcurrency = 0\n",
                ":2: key `collect.concurrency`",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}\n=> {err}");
        }
    }

    #[test]
    fn unknown_source_keys_name_the_line() {
        let err = parse("[[environments.prod.kubernetes]]\ncontext = \"a\"\nnamespace = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("namespace"), "{err}");
    }
}
