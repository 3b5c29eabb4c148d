//! `unverified_artifact`: an artifact a component runs in an environment fails that environment's
//! artifact policy. The policy ([`ArtifactPolicy`], per environment) may require a verified
//! signature and/or verified provenance, and may restrict the signer identities and builders
//! allowed (globs). The facts come from the environment's artifact facts (what the OCI enrichment
//! recorded at collection time); the rule only judges them.
//!
//! What fails is named: "signature missing", "signature invalid: <why>", "signed by key:ci, not an
//! allowed identity", "provenance unchecked: registry unreachable …". A fact that could not be
//! checked is reported as *unchecked*, never as missing. An artifact without any facts is
//! unchecked too ("no artifact facts recorded").
//!
//! Severity: the policy's `severity` for the environment if set, else the `[severity]` override
//! of the kind, else high in the last environment of the path and medium before it.

use envtrail_model::view::ComponentEntry;
use envtrail_model::{
    Artifact, ComponentName, Digest, Finding, FindingKind, Severity, Verification,
    VerificationStatus,
};
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::context::Context;
use crate::error::DiffError;
use crate::findings::{finding, list};

/// What one environment requires of the artifacts it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactPolicy {
    /// A verified signature is required.
    pub require_signature: bool,
    /// Verified provenance is required.
    pub require_provenance: bool,
    /// Globs over the verified signer identity (`key:release`, an e-mail, a workflow URL); empty:
    /// any verified identity.
    pub identities: Vec<String>,
    /// Globs over the attested builder id; empty: any builder.
    pub builders: Vec<String>,
    /// The severity of its findings (default: see the module docs).
    pub severity: Option<Severity>,
}

/// An [`ArtifactPolicy`] with its globs compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledArtifactPolicy {
    pub policy: ArtifactPolicy,
    identities: GlobSet,
    builders: GlobSet,
}

impl ArtifactPolicy {
    /// Whether the policy asks anything at all.
    pub fn is_empty(&self) -> bool {
        !self.require_signature
            && !self.require_provenance
            && self.identities.is_empty()
            && self.builders.is_empty()
    }

    /// Compiles the globs; `what` names the policy in errors (`artifacts.prod`).
    pub(crate) fn compile(&self, what: &str) -> Result<CompiledArtifactPolicy, DiffError> {
        let set = |field: &str, globs: &[String]| {
            let mut b = GlobSetBuilder::new();
            for (i, g) in globs.iter().enumerate() {
                b.add(Glob::new(g).map_err(|source| DiffError::Glob {
                    what: format!("{what}.{field}[{i}]"),
                    glob: g.clone(),
                    source,
                })?);
            }
            b.build().map_err(|source| DiffError::Glob {
                what: format!("{what}.{field}"),
                glob: globs.join(","),
                source,
            })
        };
        Ok(CompiledArtifactPolicy {
            identities: set("identities", &self.identities)?,
            builders: set("builders", &self.builders)?,
            policy: self.clone(),
        })
    }
}

impl CompiledArtifactPolicy {
    /// What `artifact` (`None`: no facts) fails, as short phrases.
    fn failures(&self, artifact: Option<&Artifact>) -> Vec<String> {
        let p = &self.policy;
        let mut out = Vec::new();
        let Some(a) = artifact else {
            if !p.is_empty() {
                out.push("unchecked: no artifact facts recorded".to_owned());
            }
            return out;
        };
        if p.require_signature || !p.identities.is_empty() {
            out.extend(judge(
                "signature",
                a.signature.as_ref(),
                p.require_signature,
                |v| v.identity.as_deref(),
                &self.identities,
                "signed by",
                "identity",
            ));
        }
        if p.require_provenance || !p.builders.is_empty() {
            out.extend(judge(
                "provenance",
                a.provenance.as_ref(),
                p.require_provenance,
                |v| v.builder.as_deref(),
                &self.builders,
                "built by",
                "builder",
            ));
        }
        out
    }
}

/// One check: its status if required, then the allow-list if verified.
fn judge(
    what: &str,
    v: Option<&Verification>,
    required: bool,
    who: impl Fn(&Verification) -> Option<&str>,
    allowed: &GlobSet,
    verb: &str,
    noun: &str,
) -> Option<String> {
    let reason = |v: &Verification| {
        v.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    };
    match v {
        None if required => Some(format!("{what} unchecked: not recorded")),
        None => None,
        Some(v) => match v.status {
            VerificationStatus::Verified => {
                let name = who(v);
                match name {
                    _ if allowed.is_empty() => None,
                    Some(name) if allowed.is_match(name) => None,
                    Some(name) => Some(format!("{verb} {name}, not an allowed {noun}")),
                    None => Some(format!("{what} verified without a {noun} to check")),
                }
            }
            _ if !required => None,
            VerificationStatus::Missing => Some(format!("{what} missing{}", reason(v))),
            VerificationStatus::Invalid => Some(format!("{what} invalid{}", reason(v))),
            VerificationStatus::Unchecked => Some(format!("{what} unchecked{}", reason(v))),
        },
    }
}

/// `unverified_artifact` for component `name` of `ctx.envs[k]`.
pub(crate) fn unverified(
    ctx: &Context<'_>,
    k: usize,
    name: &ComponentName,
    entry: &ComponentEntry,
    out: &mut Vec<Finding>,
) {
    let env = &ctx.envs[k];
    let (Some(state), Some(policy)) = (env.state, ctx.policy.artifact_policy(env.name)) else {
        return;
    };
    if policy.policy.is_empty() {
        return;
    }
    let mut failed: Vec<(&Digest, Vec<String>)> = Vec::new();
    let digests: std::collections::BTreeSet<&Digest> = entry
        .current
        .state
        .workloads
        .iter()
        .flat_map(|w| &w.containers)
        .flat_map(|c| c.artifact_digests())
        .collect();
    for d in digests {
        let facts = state.artifacts.get(d);
        let why = policy.failures(facts);
        if !why.is_empty() {
            failed.push((d, why));
        }
    }
    if failed.is_empty() {
        return;
    }
    let mut f = finding(FindingKind::UnverifiedArtifact, env.name, Some(name));
    f.digests = failed.iter().map(|(d, _)| (*d).clone()).collect();
    let mut keys: Vec<String> = failed
        .iter()
        .flat_map(|(_, why)| why.iter())
        .map(|w| {
            if w.starts_with("signature") || w.starts_with("signed") {
                "signature".to_owned()
            } else if w.starts_with("provenance") || w.starts_with("built") {
                "provenance".to_owned()
            } else {
                "facts".to_owned()
            }
        })
        .collect();
    keys.sort();
    keys.dedup();
    f.keys = keys;
    f.message = format!(
        "{name}: {} runs {}",
        env.name,
        list(
            failed
                .iter()
                .map(|(d, why)| format!("{} ({})", d.short(), why.join("; ")))
        ),
    );
    f.evidence.extend(env.current());
    out.push(f);
}

/// The severity of an `unverified_artifact` finding about `environment`, `last` when it is the
/// last environment of the path.
pub(crate) fn severity(
    policy: Option<&CompiledArtifactPolicy>,
    override_: Option<Severity>,
    last: bool,
) -> Severity {
    policy
        .and_then(|p| p.policy.severity)
        .or(override_)
        .unwrap_or(if last {
            FindingKind::UnverifiedArtifact.default_severity()
        } else {
            Severity::Medium
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use envtrail_model::{FindingKind, Severity, Verification, VerificationStatus};

    use super::ArtifactPolicy;
    use crate::Policy;
    use crate::test_support::*;

    fn v(status: VerificationStatus, identity: Option<&str>, reason: Option<&str>) -> Verification {
        Verification {
            status,
            identity: identity.map(str::to_owned),
            builder: identity.map(|i| format!("builder-{i}")),
            source: None,
            reason: reason.map(str::to_owned),
        }
    }

    fn prod_running(sig: Option<Verification>, prov: Option<Verification>) -> EnvBuilder {
        let mut b = EnvBuilder::at("prod").component("api", runs(&[digest(1)]));
        b = b.facts(&digest(1), sig, prov);
        b
    }

    fn policy(env_name: &str, p: ArtifactPolicy) -> Policy {
        Policy {
            artifacts: BTreeMap::from([(env(env_name), p)]),
            ..Policy::default()
        }
    }

    fn report(prod: EnvBuilder, p: &Policy) -> envtrail_model::output::Report {
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(1)]));
        crate::report(
            &input(
                &["staging", "prod"],
                vec![Some(staging.build()), Some(prod.build())],
            ),
            p,
        )
        .unwrap()
    }

    fn require_signature() -> ArtifactPolicy {
        ArtifactPolicy {
            require_signature: true,
            ..ArtifactPolicy::default()
        }
    }

    #[test]
    fn unsigned_image_in_prod_is_high_and_names_what_failed() {
        let prod = prod_running(Some(v(VerificationStatus::Missing, None, None)), None);
        let r = report(prod, &policy("prod", require_signature()));
        let found = of_kind(&r, FindingKind::UnverifiedArtifact);
        assert_eq!(found.len(), 1, "{:?}", r.findings);
        assert_eq!(found[0].severity, Severity::High);
        assert_eq!(found[0].environment, env("prod"));
        assert_eq!(found[0].digests, [digest(1)]);
        assert_eq!(found[0].keys, ["signature"]);
        assert!(
            found[0].message.contains("signature missing"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn verified_with_an_allowed_identity_passes_and_another_identity_fails() {
        let p = ArtifactPolicy {
            identities: vec!["key:release".into()],
            ..require_signature()
        };
        let ok = prod_running(
            Some(v(VerificationStatus::Verified, Some("key:release"), None)),
            None,
        );
        assert!(
            of_kind(
                &report(ok, &policy("prod", p.clone())),
                FindingKind::UnverifiedArtifact
            )
            .is_empty()
        );
        let other = prod_running(
            Some(v(VerificationStatus::Verified, Some("key:dev"), None)),
            None,
        );
        let r = report(other, &policy("prod", p));
        let found = of_kind(&r, FindingKind::UnverifiedArtifact);
        assert!(
            found[0]
                .message
                .contains("signed by key:dev, not an allowed identity"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn unchecked_is_reported_as_unchecked_never_missing() {
        let why = "registry unreachable: 127.0.0.1:1 connection refused";
        let prod = prod_running(
            Some(v(VerificationStatus::Unchecked, None, Some(why))),
            None,
        );
        let r = report(prod, &policy("prod", require_signature()));
        let m = &of_kind(&r, FindingKind::UnverifiedArtifact)[0].message;
        assert!(
            m.contains("signature unchecked: registry unreachable"),
            "{m}"
        );
        assert!(!m.contains("missing"), "{m}");
    }

    #[test]
    fn provenance_and_builders_and_no_facts() {
        let p = ArtifactPolicy {
            require_provenance: true,
            builders: vec!["builder-key:ci".into()],
            ..ArtifactPolicy::default()
        };
        let good = prod_running(
            None,
            Some(v(VerificationStatus::Verified, Some("key:ci"), None)),
        );
        assert!(
            of_kind(
                &report(good, &policy("prod", p.clone())),
                FindingKind::UnverifiedArtifact
            )
            .is_empty()
        );
        let invalid = prod_running(
            None,
            Some(v(
                VerificationStatus::Invalid,
                None,
                Some("attested commit a differs from the image's revision label b"),
            )),
        );
        let r = report(invalid, &policy("prod", p.clone()));
        let f = &of_kind(&r, FindingKind::UnverifiedArtifact)[0];
        assert_eq!(f.keys, ["provenance"]);
        assert!(
            f.message.contains("provenance invalid: attested commit"),
            "{}",
            f.message
        );
        // No facts at all: unchecked, not missing.
        let bare = EnvBuilder::at("prod").component("api", runs(&[digest(1)]));
        let r = report(bare, &policy("prod", p));
        let f = &of_kind(&r, FindingKind::UnverifiedArtifact)[0];
        assert!(f.message.contains("no artifact facts"), "{}", f.message);
    }

    #[test]
    fn severity_is_medium_before_the_last_environment_and_policy_wins() {
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(1)]))
            .facts(
                &digest(1),
                Some(v(VerificationStatus::Missing, None, None)),
                None,
            );
        let prod = prod_running(Some(v(VerificationStatus::Missing, None, None)), None);
        let mut p = policy("staging", require_signature());
        p.artifacts.insert(
            env("prod"),
            ArtifactPolicy {
                severity: Some(Severity::Critical),
                ..require_signature()
            },
        );
        let r = crate::report(
            &input(
                &["staging", "prod"],
                vec![Some(staging.build()), Some(prod.build())],
            ),
            &p,
        )
        .unwrap();
        let found = of_kind(&r, FindingKind::UnverifiedArtifact);
        let sev = |e: &str| {
            found
                .iter()
                .find(|f| f.environment == env(e))
                .unwrap()
                .severity
        };
        assert_eq!(sev("staging"), Severity::Medium);
        assert_eq!(sev("prod"), Severity::Critical);
    }

    #[test]
    fn a_registry_that_failed_is_a_gap_but_leaves_components_known() {
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(1)]))
            .component("worker", runs(&[digest(2)]));
        let mut prod = EnvBuilder::at("prod")
            .component("api", runs(&[digest(1)]))
            .build();
        prod.sources.push(envtrail_model::Source {
            id: "oci/registry.example.com".into(),
            kind: "oci".into(),
            status: envtrail_model::SourceStatus::Failed,
            error: Some("registry.example.com unreachable".into()),
        });
        assert!(prod.is_complete(), "a registry reports no workloads");
        let r = crate::report(
            &input(
                &["staging", "prod"],
                vec![Some(staging.build()), Some(prod)],
            ),
            &Policy::default(),
        )
        .unwrap();
        let gaps = of_kind(&r, FindingKind::CollectionGap);
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].keys, ["oci/registry.example.com"]);
        // The worker is known to be missing: the failed registry does not hide it.
        assert_eq!(
            of_kind(&r, FindingKind::MissingComponent).len(),
            1,
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn no_policy_no_finding_and_bad_glob_is_named() {
        let prod = prod_running(Some(v(VerificationStatus::Missing, None, None)), None);
        assert!(
            of_kind(
                &report(prod, &Policy::default()),
                FindingKind::UnverifiedArtifact
            )
            .is_empty()
        );
        let p = policy(
            "prod",
            ArtifactPolicy {
                identities: vec!["a{b".into()],
                ..ArtifactPolicy::default()
            },
        );
        let err = p.compile().unwrap_err().to_string();
        assert!(err.contains("artifacts.prod.identities[0]"), "{err}");
    }
}
