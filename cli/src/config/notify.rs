//! The `[[notify]]` tables: the chat targets of `envtrail notify`, each with its platform, where
//! its webhook URL comes from (an environment variable or a file: a webhook URL is a credential,
//! so the config file never holds it and nothing prints it), its filter and its delivery limits.
//! Values are checked when the file is read; the URL itself is read only when a post is made.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use envtrail_model::{EnvName, FindingKind, Severity};
use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    name: Spanned<String>,
    kind: Spanned<String>,
    url_env: Option<Spanned<String>>,
    url_file: Option<Spanned<String>>,
    min_severity: Option<Severity>,
    #[serde(default)]
    environments: Vec<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<FindingKind>,
    max_findings: Option<Spanned<i64>>,
    report_url: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    retry_delay: Option<Spanned<String>>,
}

/// The chat platform of a target: decides the payload's shape and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Slack incoming webhook, Block Kit.
    Slack,
    /// Microsoft Teams workflow webhook ("When a Teams webhook request is received"), an
    /// Adaptive Card.
    Teams,
    /// Google Chat incoming webhook, a text message.
    GoogleChat,
    /// Mattermost incoming webhook (Slack-compatible), Markdown text.
    Mattermost,
    /// Any HTTP endpoint: envtrail's own JSON document (`envtrail.notify.v1`).
    Webhook,
}

impl Platform {
    const NAMES: [(&'static str, Platform); 5] = [
        ("slack", Platform::Slack),
        ("teams", Platform::Teams),
        ("google_chat", Platform::GoogleChat),
        ("mattermost", Platform::Mattermost),
        ("webhook", Platform::Webhook),
    ];

    /// The name used in the config.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("webhook")
    }
}

/// Where a target's webhook URL is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// An environment variable, by name.
    Env(String),
    /// A file (its first line, trimmed), e.g. a mounted Kubernetes Secret.
    File(PathBuf),
}

/// One notification target, checked.
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    /// Its name: chosen with `--target`, and the key of its `--only-changes` state.
    pub name: String,
    /// The platform.
    pub platform: Platform,
    /// Where the URL comes from.
    pub url: UrlSource,
    /// Only findings at or above this severity.
    pub min_severity: Severity,
    /// Only findings about these environments (empty: all).
    pub environments: BTreeSet<EnvName>,
    /// Only findings of these kinds (empty: all).
    pub kinds: BTreeSet<FindingKind>,
    /// How many findings a message lists before "and N more".
    pub max_findings: usize,
    /// A link to the HTML report, shown in the message.
    pub report_url: Option<String>,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Attempts after the first one, on 429, 5xx and network errors.
    pub retries: usize,
    /// The first backoff, doubled after each attempt (a 429's Retry-After wins when longer).
    pub retry_delay: Duration,
}

impl NotifyTarget {
    /// Whether a finding passes this target's filter.
    pub fn wants(&self, f: &envtrail_model::Finding) -> bool {
        f.severity >= self.min_severity
            && (self.environments.is_empty() || self.environments.contains(&f.environment))
            && (self.kinds.is_empty() || self.kinds.contains(&f.kind))
    }
}

pub(super) fn targets(
    file: &Path,
    text: &str,
    raw: &[RawTarget],
) -> Result<Vec<NotifyTarget>, ConfigError> {
    let err = |span: std::ops::Range<usize>, key: String, why: String| ConfigError::Value {
        file: file.to_owned(),
        line: super::line_of(text, span.start),
        key,
        why,
    };
    let duration = |value: &Option<Spanned<String>>, key: String, default: Duration| match value {
        None => Ok(default),
        Some(v) => humantime::parse_duration(v.get_ref())
            .map_err(|e| err(v.span(), key, format!("{e} (e.g. \"10s\", \"500ms\")"))),
    };
    let mut out: Vec<NotifyTarget> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let key = |k: &str| format!("notify[{i}].{k}");
        let name = t.name.get_ref().trim().to_owned();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(err(
                t.name.span(),
                key("name"),
                "must be a non-empty name without white space".into(),
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(err(
                t.name.span(),
                key("name"),
                format!("target {name:?} appears twice"),
            ));
        }
        let platform = Platform::NAMES
            .iter()
            .find(|(n, _)| *n == t.kind.get_ref())
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                err(
                    t.kind.span(),
                    key("kind"),
                    format!(
                        "unknown kind {:?}: expected one of slack, teams, google_chat, mattermost, webhook",
                        t.kind.get_ref()
                    ),
                )
            })?;
        let url = match (&t.url_env, &t.url_file) {
            (Some(v), None) if !v.get_ref().is_empty() => UrlSource::Env(v.get_ref().clone()),
            (None, Some(f)) if !f.get_ref().is_empty() => {
                UrlSource::File(PathBuf::from(f.get_ref()))
            }
            _ => {
                return Err(err(
                    t.name.span(),
                    format!("notify[{i}]"),
                    "give exactly one of url_env (an environment variable) or url_file \
                     (a file) for the webhook URL; the URL itself never goes in the config"
                        .into(),
                ));
            }
        };
        let mut environments = BTreeSet::new();
        for (j, e) in t.environments.iter().enumerate() {
            environments.insert(
                e.get_ref().parse().map_err(|x| {
                    err(e.span(), key(&format!("environments[{j}]")), format!("{x}"))
                })?,
            );
        }
        let count = |v: &Option<Spanned<i64>>, k: &str, default: usize, max: i64| match v {
            None => Ok(default),
            Some(n) if (0..=max).contains(n.get_ref()) => Ok(*n.get_ref() as usize),
            Some(n) => Err(err(
                n.span(),
                key(k),
                format!("must be between 0 and {max}"),
            )),
        };
        let report_url = match &t.report_url {
            Some(u)
                if !(u.get_ref().starts_with("https://") || u.get_ref().starts_with("http://")) =>
            {
                return Err(err(
                    u.span(),
                    key("report_url"),
                    "must be an http:// or https:// URL".into(),
                ));
            }
            other => other.as_ref().map(|u| u.get_ref().clone()),
        };
        out.push(NotifyTarget {
            name,
            platform,
            url,
            min_severity: t.min_severity.unwrap_or(Severity::Info),
            environments,
            kinds: t.kinds.iter().copied().collect(),
            max_findings: count(&t.max_findings, "max_findings", 10, 200)?,
            report_url,
            timeout: duration(&t.timeout, key("timeout"), Duration::from_secs(10))?,
            retries: count(&t.retries, "retries", 4, 20)?,
            retry_delay: duration(&t.retry_delay, key("retry_delay"), Duration::from_secs(1))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("envtrail.toml"), text)
    }

    #[test]
    fn a_target_parses_with_defaults_and_filters() {
        let config = parse(
            "[[notify]]\nname = \"a\"\nkind = \"teams\"\nurl_file = \"/run/secrets/teams\"\n\
             min_severity = \"high\"\nenvironments = [\"prod\"]\nkinds = [\"config_drift\"]\n\
             retry_delay = \"250ms\"\n",
        )
        .unwrap();
        let t = &config.notify[0];
        assert_eq!(t.platform, Platform::Teams);
        assert_eq!(t.url, UrlSource::File("/run/secrets/teams".into()));
        assert_eq!(t.min_severity, Severity::High);
        assert_eq!(t.max_findings, 10);
        assert_eq!(t.retries, 4);
        assert_eq!(t.retry_delay, Duration::from_millis(250));
        assert!(t.kinds.contains(&FindingKind::ConfigDrift));
    }

    #[test]
    fn bad_targets_name_the_key_and_line() {
        let err = parse("[[notify]]\nname = \"a\"\nkind = \"irc\"\nurl_env = \"X\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":3: key `notify[0].kind`") && err.contains("irc"),
            "{err}"
        );
        let err = parse(
            "[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"X\"\nurl_file = \"f\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("exactly one of url_env"), "{err}");
        let err = parse(
            "[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"X\"\n\
             [[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"Y\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(":6: key `notify[1].name`") && err.contains("twice"),
            "{err}"
        );
        let err = parse(
            "[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://hooks.example.com/s3cret\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `url`"), "{err}");
        let err = parse(
            "[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"X\"\nmax_findings = 1000\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("notify[0].max_findings"), "{err}");
    }
}
