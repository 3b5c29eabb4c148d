//! The config file, `envtrail.toml`: the promotion path, report policy (severity overrides,
//! environment-specific config keys, ignore rules, snapshot age), each environment's sources
//! (`[environments.<env>]`, typed in [`sources`]), the HMAC key's origin (`[secrets]`) and
//! collection limits (`[collect]`). A bad file is an error naming the key and the line.

pub mod aws;
pub mod merge_back;
pub mod notify;
pub mod oci;
pub mod sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use envtrail_diff::{IgnoreRule, Policy};
use envtrail_model::{EnvName, FindingKind, Severity};
use serde::Deserialize;
use toml::Spanned;

pub use sources::{CollectConfig, EnvironmentConfig, SecretsConfig};

/// The name looked for in the current directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "envtrail.toml";

/// Why the config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read")]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, or a value of the wrong type (the message carries the line).
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value that parsed but means nothing.
    #[error("{file}:{line}: key `{key}`: {why}")]
    Value {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key at fault.
        key: String,
        /// What is wrong.
        why: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    promotion: RawPromotion,
    #[serde(default)]
    report: RawReport,
    #[serde(default)]
    severity: BTreeMap<FindingKind, Severity>,
    #[serde(default)]
    config: RawConfigKeys,
    #[serde(default)]
    ignore: Vec<RawIgnore>,
    /// Per-environment sources.
    #[serde(default)]
    environments: BTreeMap<String, sources::RawEnvironment>,
    #[serde(default)]
    secrets: sources::RawSecrets,
    #[serde(default)]
    collect: sources::RawCollect,
    /// The OCI registry enrichment.
    oci: Option<oci::RawOci>,
    /// The targets of `envtrail notify`.
    #[serde(default)]
    notify: Vec<notify::RawTarget>,
    /// Hotfix merge-back: repositories of the running revisions.
    #[serde(default)]
    merge_back: merge_back::RawMergeBack,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPromotion {
    #[serde(default)]
    path: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    max_snapshot_age: Option<Spanned<String>>,
    fail_on: Option<Severity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfigKeys {
    #[serde(default)]
    environment_specific: Vec<Spanned<String>>,
    /// Infrastructure attributes expected to differ (never `infra_drift`).
    #[serde(default)]
    environment_specific_attributes: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIgnore {
    kind: FindingKind,
    #[serde(default = "any_component")]
    component: Spanned<String>,
    reason: Option<String>,
    expires: Option<Spanned<String>>,
}

fn any_component() -> Spanned<String> {
    Spanned::new(0..0, "*".to_owned())
}

/// The config, checked.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it was read from (`None`: no file, defaults).
    pub file: Option<PathBuf>,
    /// The promotion path, upstream first (may be empty).
    pub path: Vec<EnvName>,
    /// The report policy.
    pub policy: Policy,
    /// The default `--fail-on`.
    pub fail_on: Option<Severity>,
    /// Environment sections, by name: their sources.
    pub environments: BTreeMap<EnvName, EnvironmentConfig>,
    /// Where the HMAC key for Secret fingerprints comes from.
    pub secrets: SecretsConfig,
    /// Limits of `envtrail collect`.
    pub collect: CollectConfig,
    /// The OCI registry enrichment (`[oci]`; off when the table is absent).
    pub oci: oci::OciSettings,
    /// The targets of `envtrail notify` (`[[notify]]`).
    pub notify: Vec<notify::NotifyTarget>,
    /// Hotfix merge-back (`[merge_back]`; off without repositories).
    pub merge_back: merge_back::MergeBackConfig,
}

impl Config {
    /// Loads `explicit` if given (it must exist), else `envtrail.toml` in the current directory if
    /// present, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        match explicit {
            Some(path) => Self::from_file(path),
            None => {
                let default = Path::new(DEFAULT_CONFIG_FILE);
                if default.exists() {
                    Self::from_file(default)
                } else {
                    Ok(Self::default())
                }
            }
        }
    }

    /// Reads and checks one file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks the text of a config file; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| ConfigError::Syntax {
            file: file.to_owned(),
            message: describe_toml_error(text, &err),
        })?;
        let value_error =
            |span: std::ops::Range<usize>, key: &str, why: String| ConfigError::Value {
                file: file.to_owned(),
                line: line_of(text, span.start),
                key: key.to_owned(),
                why,
            };

        let mut path = Vec::new();
        for (i, name) in raw.promotion.path.iter().enumerate() {
            let env: EnvName = name.get_ref().parse().map_err(|e| {
                value_error(name.span(), &format!("promotion.path[{i}]"), format!("{e}"))
            })?;
            if path.contains(&env) {
                return Err(value_error(
                    name.span(),
                    &format!("promotion.path[{i}]"),
                    format!("environment {env:?} appears twice in the path"),
                ));
            }
            path.push(env);
        }

        let mut policy = Policy::default();
        if let Some(age) = &raw.report.max_snapshot_age {
            let duration = humantime::parse_duration(age.get_ref()).map_err(|e| {
                value_error(
                    age.span(),
                    "report.max_snapshot_age",
                    format!("{e} (e.g. \"24h\", \"90m\")"),
                )
            })?;
            policy.max_snapshot_age = chrono::Duration::from_std(duration)
                .map_err(|e| value_error(age.span(), "report.max_snapshot_age", e.to_string()))?;
        }
        policy.severities = raw.severity;
        for (i, glob) in raw.config.environment_specific.iter().enumerate() {
            globset::Glob::new(glob.get_ref()).map_err(|e| {
                value_error(
                    glob.span(),
                    &format!("config.environment_specific[{i}]"),
                    e.to_string(),
                )
            })?;
            policy
                .environment_specific_keys
                .push(glob.get_ref().clone());
        }
        for (i, glob) in raw
            .config
            .environment_specific_attributes
            .iter()
            .enumerate()
        {
            globset::Glob::new(glob.get_ref()).map_err(|e| {
                value_error(
                    glob.span(),
                    &format!("config.environment_specific_attributes[{i}]"),
                    e.to_string(),
                )
            })?;
            policy
                .environment_specific_attributes
                .push(glob.get_ref().clone());
        }
        for (i, rule) in raw.ignore.iter().enumerate() {
            globset::Glob::new(rule.component.get_ref()).map_err(|e| {
                value_error(
                    rule.component.span(),
                    &format!("ignore[{i}].component"),
                    e.to_string(),
                )
            })?;
            let expires = match &rule.expires {
                None => None,
                Some(date) => Some(
                    chrono::NaiveDate::parse_from_str(date.get_ref(), "%Y-%m-%d").map_err(|e| {
                        value_error(
                            date.span(),
                            &format!("ignore[{i}].expires"),
                            format!("{e}: expected a date like \"2027-01-31\""),
                        )
                    })?,
                ),
            };
            policy.ignores.push(IgnoreRule {
                kind: rule.kind,
                component: rule.component.get_ref().clone(),
                expires,
                reason: rule.reason.clone(),
            });
        }

        let spans = sources::Spans { file, text };
        let secrets = sources::secrets(&spans, &raw.secrets)?;
        let collect = sources::collect(&spans, &raw.collect)?;
        let merge_back = merge_back::merge_back(&spans, &raw.merge_back)?;
        let mut environments = BTreeMap::new();
        let oci = oci::oci(
            file,
            text,
            raw.oci.as_ref().unwrap_or(&Default::default()),
            raw.oci.is_some(),
        )?;
        for (name, mut table) in raw.environments {
            let env: EnvName = name.parse().map_err(|e| ConfigError::Value {
                file: file.to_owned(),
                line: find_line(text, &format!("[environments.{name}")).unwrap_or(1),
                key: format!("environments.{name}"),
                why: format!("{e}"),
            })?;
            if let Some(artifacts) = table.artifacts.take() {
                let checked = oci::artifact_policy(file, text, &name, &artifacts)?;
                policy.artifacts.insert(env.clone(), checked);
            }
            let typed = sources::environment(&spans, &name, table)?;
            environments.insert(env, typed);
        }

        let notify = notify::targets(file, text, &raw.notify)?;

        Ok(Config {
            notify,
            file: Some(file.to_owned()),
            path,
            policy,
            fail_on: raw.report.fail_on,
            environments,
            secrets,
            collect,
            oci,
            merge_back,
        })
    }
}

/// toml's own message already carries `line N, column M` and the key; keep it on one line.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim().to_owned();
    match err.span() {
        Some(span) => format!("line {}: {message}", line_of(text, span.start)),
        None => message,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.find(needle).map(|offset| line_of(text, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("envtrail.toml"), text)
    }

    #[test]
    fn full_config_parses() {
        let config = parse(
            r#"
[promotion]
path = ["dev", "staging", "prod"]
[report]
max_snapshot_age = "36h"
fail_on = "high"
[severity]
config_drift = "medium"
[config]
environment_specific = ["DB_HOST", "*_URL"]
[[ignore]]
kind = "orphan_component"
component = "legacy-*"
reason = "decommissioning"
expires = "2027-01-31"
"#,
        )
        .unwrap();
        assert_eq!(config.path.len(), 3);
        assert_eq!(config.policy.max_snapshot_age, chrono::Duration::hours(36));
        assert_eq!(
            config.policy.severities[&FindingKind::ConfigDrift],
            Severity::Medium
        );
        assert_eq!(
            config.policy.environment_specific_keys,
            vec!["DB_HOST", "*_URL"]
        );
        assert_eq!(
            config.policy.ignores[0].expires.unwrap().to_string(),
            "2027-01-31"
        );
        assert_eq!(config.fail_on, Some(Severity::High));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err =
            parse("[promotion]\npath = [\"dev\"]\n\n[report]\nmax_age = \"1h\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 5"), "{text}");
        assert!(text.contains("max_age"), "{text}");
    }

    #[test]
    fn bad_severity_names_line() {
        let err = parse("[severity]\nconfig_drift = \"urgent\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("urgent"), "{err}");
    }

    #[test]
    fn bad_duration_and_date_name_key_and_line() {
        let err = parse("[report]\nmax_snapshot_age = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2: key `report.max_snapshot_age`"), "{err}");
        let err = parse("\n[[ignore]]\nkind = \"config_drift\"\nexpires = \"31/01/2027\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":4: key `ignore[0].expires`"), "{err}");
    }

    #[test]
    fn duplicate_env_in_path_is_refused() {
        let err = parse("[promotion]\npath = [\"dev\", \"dev\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("appears twice"), "{err}");
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").unwrap();
        assert!(config.path.is_empty());
        assert_eq!(config.policy.max_snapshot_age, chrono::Duration::hours(24));
    }
}
