//! The report policy: severity overrides, environment-specific config keys, ignore rules and the
//! allowed snapshot age. [`Policy`] is plain data the CLI fills from `envtrail.toml`;
//! [`CompiledPolicy`] is the same with its globs compiled once, which is what the diff consults.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use envtrail_model::output::IgnoreRuleRef;
use envtrail_model::{Finding, FindingKind, Severity};
use globset::{Glob, GlobMatcher, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::error::DiffError;

/// How findings are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Overrides of [`FindingKind::default_severity`].
    pub severities: BTreeMap<FindingKind, Severity>,
    /// Globs of config keys that are expected to differ between environments (`DB_HOST`,
    /// `*_URL`): they never yield `config_drift`.
    pub environment_specific_keys: Vec<String>,
    /// Rules that silence findings; the first rule that applies wins.
    pub ignores: Vec<IgnoreRule>,
    /// An environment whose newest snapshot is older than this (measured against the report
    /// time) yields `stale_snapshot`.
    pub max_snapshot_age: chrono::Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            severities: BTreeMap::new(),
            environment_specific_keys: Vec::new(),
            ignores: Vec::new(),
            max_snapshot_age: chrono::Duration::hours(24),
        }
    }
}

/// A rule that moves matching findings from `findings` to `ignored`.
///
/// It applies to a finding when the kinds are equal, the `component` glob matches the finding's
/// component (a finding about no component matches only the glob `*`), and `expires` is absent
/// or the report time's date (UTC) is on or before it: an expired rule silences nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoreRule {
    /// The kind of finding it silences.
    pub kind: FindingKind,
    /// A glob over component names.
    pub component: String,
    /// The last day (inclusive) the rule applies.
    pub expires: Option<NaiveDate>,
    /// Why, for the audit trail.
    pub reason: Option<String>,
}

impl IgnoreRule {
    /// The rule as printed next to the findings it silenced.
    pub fn to_ref(&self) -> IgnoreRuleRef {
        IgnoreRuleRef {
            kind: self.kind,
            component: self.component.clone(),
            reason: self.reason.clone(),
            expires: self.expires.map(|d| d.format("%Y-%m-%d").to_string()),
        }
    }
}

/// A [`Policy`] with its globs compiled.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    policy: Policy,
    environment_specific: GlobSet,
    ignores: Vec<GlobMatcher>,
}

impl Policy {
    /// Compiles the globs; the error names the glob at fault.
    pub fn compile(&self) -> Result<CompiledPolicy, DiffError> {
        let glob = |what: String, text: &str| {
            Glob::new(text).map_err(|source| DiffError::Glob {
                what,
                glob: text.to_owned(),
                source,
            })
        };
        let mut keys = GlobSetBuilder::new();
        for (i, key) in self.environment_specific_keys.iter().enumerate() {
            keys.add(glob(format!("environment_specific_keys[{i}]"), key)?);
        }
        let environment_specific = keys.build().map_err(|source| DiffError::Glob {
            what: "environment_specific_keys".to_owned(),
            glob: self.environment_specific_keys.join(","),
            source,
        })?;
        let ignores = self
            .ignores
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                Ok(glob(format!("ignores[{i}].component"), &rule.component)?.compile_matcher())
            })
            .collect::<Result<_, DiffError>>()?;
        Ok(CompiledPolicy {
            policy: self.clone(),
            environment_specific,
            ignores,
        })
    }
}

impl Default for CompiledPolicy {
    fn default() -> Self {
        Policy::default()
            .compile()
            .expect("the default policy has no globs")
    }
}

impl CompiledPolicy {
    /// The policy it was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The severity of `kind`: the override if any, else the kind's default.
    pub fn severity(&self, kind: FindingKind) -> Severity {
        self.policy
            .severities
            .get(&kind)
            .copied()
            .unwrap_or_else(|| kind.default_severity())
    }

    /// Whether `key` is declared environment-specific.
    pub fn is_environment_specific(&self, key: &str) -> bool {
        !self.environment_specific.is_empty() && self.environment_specific.is_match(key)
    }

    /// The allowed snapshot age.
    pub fn max_snapshot_age(&self) -> chrono::Duration {
        self.policy.max_snapshot_age
    }

    /// The first rule that silences `finding` on `today`, if any.
    pub fn ignore_rule(&self, finding: &Finding, today: NaiveDate) -> Option<&IgnoreRule> {
        self.policy
            .ignores
            .iter()
            .zip(&self.ignores)
            .find_map(|(rule, matcher)| {
                let component_matches = match &finding.component {
                    Some(component) => matcher.is_match(component.as_str()),
                    None => rule.component == "*",
                };
                let live = rule.expires.is_none_or(|last| today <= last);
                (rule.kind == finding.kind && component_matches && live).then_some(rule)
            })
    }
}
