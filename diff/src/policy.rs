//! The report policy: severity overrides, environment-specific config keys, ignore rules and the
//! allowed snapshot age. [`Policy`] is plain data the CLI fills from `envtrail.toml`;
//! [`CompiledPolicy`] is the same with its globs compiled once, which is what the diff consults.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use chrono::NaiveDate;
use envtrail_model::output::IgnoreRuleRef;
use envtrail_model::{EnvName, Finding, FindingKind, Severity};
use globset::{Glob, GlobMatcher, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::artifacts::{ArtifactPolicy, CompiledArtifactPolicy};
use crate::error::DiffError;

/// How findings are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Overrides of [`FindingKind::default_severity`].
    pub severities: BTreeMap<FindingKind, Severity>,
    /// Globs of config keys that are expected to differ between environments (`DB_HOST`,
    /// `*_URL`): they never yield `config_drift`.
    pub environment_specific_keys: Vec<String>,
    /// Globs of infrastructure attributes expected to differ between environments, matched
    /// against `<type>.<attribute>` and `<attribute>` (`aws_db_instance.identifier`, `tags*`):
    /// they never yield `infra_drift`.
    pub environment_specific_attributes: Vec<String>,
    /// Rules that silence findings; the first rule that applies wins.
    pub ignores: Vec<IgnoreRule>,
    /// An environment whose newest snapshot is older than this (measured against the report
    /// time) yields `stale_snapshot`.
    pub max_snapshot_age: chrono::Duration,
    /// Per environment: what the artifacts it runs must prove (`unverified_artifact`).
    pub artifacts: BTreeMap<EnvName, ArtifactPolicy>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            severities: BTreeMap::new(),
            environment_specific_keys: Vec::new(),
            environment_specific_attributes: Vec::new(),
            ignores: Vec::new(),
            max_snapshot_age: chrono::Duration::hours(24),
            artifacts: BTreeMap::new(),
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
    /// Answers of `environment_specific` so far: the same few hundred keys are asked about for
    /// every component, and a glob match costs more than a lookup.
    environment_specific_seen: KeyCache,
    environment_specific_attributes: GlobSet,
    ignores: Vec<GlobMatcher>,
    artifacts: BTreeMap<EnvName, CompiledArtifactPolicy>,
}

/// A memo of key → whether it is environment-specific, shared by the report's threads.
#[derive(Debug, Default)]
struct KeyCache(RwLock<HashMap<Box<str>, bool>>);

impl Clone for KeyCache {
    fn clone(&self) -> Self {
        Self::default()
    }
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
        let mut attributes = GlobSetBuilder::new();
        for (i, attribute) in self.environment_specific_attributes.iter().enumerate() {
            attributes.add(glob(
                format!("environment_specific_attributes[{i}]"),
                attribute,
            )?);
        }
        let environment_specific_attributes =
            attributes.build().map_err(|source| DiffError::Glob {
                what: "environment_specific_attributes".to_owned(),
                glob: self.environment_specific_attributes.join(","),
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
        let artifacts = self
            .artifacts
            .iter()
            .map(|(env, p)| Ok((env.clone(), p.compile(&format!("artifacts.{env}"))?)))
            .collect::<Result<_, DiffError>>()?;
        Ok(CompiledPolicy {
            policy: self.clone(),
            environment_specific,
            environment_specific_seen: KeyCache::default(),
            environment_specific_attributes,
            ignores,
            artifacts,
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

    /// The severity of `finding` in a report along `path`: [`Self::severity`], except for
    /// `unverified_artifact`, whose severity comes from the environment's artifact policy, else
    /// the override, else high in the last environment of the path and medium before it.
    pub fn finding_severity(&self, finding: &Finding, path: &[EnvName]) -> Severity {
        if finding.kind != FindingKind::UnverifiedArtifact {
            return self.severity(finding.kind);
        }
        crate::artifacts::severity(
            self.artifacts.get(&finding.environment),
            self.policy.severities.get(&finding.kind).copied(),
            path.last() == Some(&finding.environment),
        )
    }

    /// The artifact policy of `env`, if it has one.
    pub(crate) fn artifact_policy(&self, env: &EnvName) -> Option<&CompiledArtifactPolicy> {
        self.artifacts.get(env)
    }

    /// Whether `key` is declared environment-specific.
    pub fn is_environment_specific(&self, key: &str) -> bool {
        if self.environment_specific.is_empty() {
            return false;
        }
        let cache = &self.environment_specific_seen.0;
        if let Some(&known) = cache.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return known;
        }
        let answer = self.environment_specific.is_match(key);
        cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.into(), answer);
        answer
    }

    /// Whether attribute `attribute` of resources of type `resource_type` is declared
    /// environment-specific.
    pub fn is_environment_specific_attribute(&self, resource_type: &str, attribute: &str) -> bool {
        let set = &self.environment_specific_attributes;
        !set.is_empty()
            && (set.is_match(attribute) || set.is_match(format!("{resource_type}.{attribute}")))
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

#[cfg(test)]
mod tests {
    use chrono::Days;
    use envtrail_model::{FindingKind, Severity, SourceStatus};

    use super::*;
    use crate::test_support::*;

    /// staging and prod: `payments` drifts in config, `legacy` is an orphan, prod has a gap.
    fn input_with_findings() -> envtrail_model::view::ReportInput {
        let staging = EnvBuilder::at("staging").component(
            "payments",
            StateBuilder::new()
                .container("a", &[digest(1)])
                .config("K", "1")
                .build(),
        );
        let prod = EnvBuilder::at("prod")
            .component(
                "payments",
                StateBuilder::new()
                    .container("a", &[digest(1)])
                    .config("K", "2")
                    .build(),
            )
            .component("legacy", runs(&[digest(7)]))
            .source("aws/prod", SourceStatus::Failed, Some("boom"));
        input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        )
    }

    fn rule(kind: FindingKind, component: &str, expires: Option<NaiveDate>) -> IgnoreRule {
        IgnoreRule {
            kind,
            component: component.into(),
            expires,
            reason: Some("known".into()),
        }
    }

    #[test]
    fn ignore_rules_move_findings_and_are_counted() {
        let policy = Policy {
            ignores: vec![rule(FindingKind::ConfigDrift, "pay*", None)],
            ..Policy::default()
        };
        let report = crate::report(&input_with_findings(), &policy).unwrap();
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.kind != FindingKind::ConfigDrift)
        );
        assert_eq!(report.ignored.len(), 1);
        assert_eq!(report.ignored[0].finding.kind, FindingKind::ConfigDrift);
        assert_eq!(report.ignored[0].rule.component, "pay*");
        assert_eq!(report.ignored[0].rule.reason.as_deref(), Some("known"));
        assert_eq!(report.summary.ignored, 1);
        assert_eq!(report.summary.total, report.findings.len());
        assert!(
            !report
                .summary
                .by_kind
                .contains_key(&FindingKind::ConfigDrift)
        );
    }

    #[test]
    fn expired_ignore_rules_do_not_apply() {
        let today = t0().date_naive();
        let yesterday = today.checked_sub_days(Days::new(1)).unwrap();
        let expired = Policy {
            ignores: vec![rule(
                FindingKind::OrphanComponent,
                "legacy",
                Some(yesterday),
            )],
            ..Policy::default()
        };
        let report = crate::report(&input_with_findings(), &expired).unwrap();
        assert!(report.ignored.is_empty());
        assert_eq!(report.summary.ignored, 0);

        let last_day = Policy {
            ignores: vec![rule(FindingKind::OrphanComponent, "legacy", Some(today))],
            ..Policy::default()
        };
        let report = crate::report(&input_with_findings(), &last_day).unwrap();
        assert_eq!(report.ignored.len(), 1);
        assert_eq!(
            report.ignored[0].rule.expires.as_deref(),
            Some("2026-03-10")
        );
    }

    #[test]
    fn component_less_findings_match_only_star() {
        let policy = Policy {
            ignores: vec![
                rule(FindingKind::CollectionGap, "a*", None),
                rule(FindingKind::OrphanComponent, "pay*", None),
            ],
            ..Policy::default()
        };
        let report = crate::report(&input_with_findings(), &policy).unwrap();
        assert!(report.ignored.is_empty(), "{:?}", report.ignored);

        let star = Policy {
            ignores: vec![rule(FindingKind::CollectionGap, "*", None)],
            ..Policy::default()
        };
        let report = crate::report(&input_with_findings(), &star).unwrap();
        assert_eq!(report.ignored.len(), 1);
        assert_eq!(report.ignored[0].finding.kind, FindingKind::CollectionGap);
    }

    #[test]
    fn severity_overrides_apply_and_drive_the_summary() {
        let default = crate::report(&input_with_findings(), &Policy::default()).unwrap();
        let drift = |r: &envtrail_model::output::Report| {
            r.findings
                .iter()
                .find(|f| f.kind == FindingKind::ConfigDrift)
                .unwrap()
                .severity
        };
        assert_eq!(drift(&default), Severity::Low);
        let policy = Policy {
            severities: BTreeMap::from([(FindingKind::ConfigDrift, Severity::Critical)]),
            ..Policy::default()
        };
        let report = crate::report(&input_with_findings(), &policy).unwrap();
        assert_eq!(drift(&report), Severity::Critical);
        assert_eq!(report.summary.highest, Some(Severity::Critical));
        assert_eq!(
            report.findings[0].kind,
            FindingKind::ConfigDrift,
            "most severe first"
        );
    }

    #[test]
    fn bad_glob_is_an_error_naming_it() {
        let policy = Policy {
            environment_specific_keys: vec!["DB_*".into(), "[oops".into()],
            ..Policy::default()
        };
        let err = policy.compile().unwrap_err().to_string();
        assert!(
            err.contains("[oops") && err.contains("environment_specific_keys[1]"),
            "{err}"
        );
        let policy = Policy {
            ignores: vec![rule(FindingKind::ConfigDrift, "a{b", None)],
            ..Policy::default()
        };
        let err = crate::report(&input_with_findings(), &policy)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ignores[0].component"), "{err}");
    }

    #[test]
    fn environment_specific_keys_match_globs_every_time() {
        let policy = Policy {
            environment_specific_keys: vec!["DB_HOST".into(), "*_URL".into()],
            ..Policy::default()
        }
        .compile()
        .unwrap();
        for _ in 0..2 {
            assert!(policy.is_environment_specific("DB_HOST"));
            assert!(policy.is_environment_specific("PAYMENT_URL"));
            assert!(!policy.is_environment_specific("LOG_LEVEL"));
            assert!(!policy.is_environment_specific("URL_PREFIX"));
        }
        let copy = policy.clone();
        assert!(copy.is_environment_specific("CALLBACK_URL"));
        assert!(!CompiledPolicy::default().is_environment_specific("DB_HOST"));
    }
}
