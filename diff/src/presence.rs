//! Whether components exist where the path says they should:
//!
//! - `orphan_component`: a component runs in D and in no upstream environment's current state.
//!   Never claimed while an upstream environment has no snapshot or has a failed or partial
//!   source (it may be there, unreported).
//! - `missing_component`: a component runs in U but not in the adjacent downstream D. Never
//!   claimed while D has a failed or partial source: the `collection_gap` covers it.

use envtrail_model::{ComponentName, Finding, FindingKind};

use crate::context::Context;
use crate::findings::{finding, list};

/// `name` runs in D (`ctx.envs[k]`, `k >= 1`): is it an orphan?
pub(crate) fn orphan(ctx: &Context<'_>, k: usize, name: &ComponentName, out: &mut Vec<Finding>) {
    let upstream = &ctx.envs[..k];
    if upstream
        .iter()
        .any(|e| e.state.is_some_and(|s| s.components.contains_key(name)))
    {
        return;
    }
    if !upstream.iter().all(|e| e.is_complete()) {
        return;
    }
    let d = &ctx.envs[k];
    let mut f = finding(FindingKind::OrphanComponent, d.name, Some(name));
    f.message = format!(
        "{name}: runs in {} but in no upstream environment ({})",
        d.name,
        list(upstream.iter().map(|e| e.name)),
    );
    f.evidence.extend(d.current());
    f.evidence
        .extend(upstream.iter().filter_map(|e| e.current()));
    out.push(f);
}

/// `name` runs in U (`ctx.envs[k - 1]`) and not in D (`ctx.envs[k]`): is it missing?
pub(crate) fn missing(ctx: &Context<'_>, k: usize, name: &ComponentName, out: &mut Vec<Finding>) {
    let (u, d) = (&ctx.envs[k - 1], &ctx.envs[k]);
    if !d.is_complete() {
        return;
    }
    let mut f = finding(FindingKind::MissingComponent, d.name, Some(name));
    f.related_environment = Some(u.name.clone());
    f.message = format!("{name}: runs in {} but not in {}", u.name, d.name);
    f.evidence.extend(u.current());
    f.evidence.extend(d.current());
    out.push(f);
}

#[cfg(test)]
mod tests {
    use envtrail_model::{FindingKind, SourceStatus};

    use crate::test_support::*;

    fn path(
        dev: Option<EnvBuilder>,
        staging: EnvBuilder,
        prod: EnvBuilder,
    ) -> envtrail_model::output::Report {
        run(&input(
            &["dev", "staging", "prod"],
            vec![
                dev.map(EnvBuilder::build),
                Some(staging.build()),
                Some(prod.build()),
            ],
        ))
    }

    fn base(name: &str) -> EnvBuilder {
        EnvBuilder::at(name).component("api", runs(&[digest(1)]))
    }

    #[test]
    fn orphan_component_runs_nowhere_upstream() {
        let report = path(
            Some(base("dev")),
            base("staging"),
            base("prod").component("legacy", runs(&[digest(7)])),
        );
        let orphans = of_kind(&report, FindingKind::OrphanComponent);
        assert_eq!(orphans.len(), 1, "{:?}", report.findings);
        assert_eq!(orphans[0].component, Some(component("legacy")));
        assert_eq!(orphans[0].environment, env("prod"));
    }

    #[test]
    fn no_orphan_while_upstream_is_incomplete_or_missing() {
        let legacy = || base("prod").component("legacy", runs(&[digest(7)]));
        let failed = base("staging").source("aws/staging", SourceStatus::Failed, Some("timeout"));
        let report = path(Some(base("dev")), failed, legacy());
        assert!(
            of_kind(&report, FindingKind::OrphanComponent).is_empty(),
            "{:?}",
            report.findings
        );
        assert_eq!(of_kind(&report, FindingKind::CollectionGap).len(), 1);

        let report = path(None, base("staging"), legacy());
        assert!(
            of_kind(&report, FindingKind::OrphanComponent).is_empty(),
            "{:?}",
            report.findings
        );
    }

    #[test]
    fn component_further_upstream_is_not_orphan() {
        let dev = base("dev").component("beta", runs(&[digest(7)]));
        let report = path(
            Some(dev),
            base("staging"),
            base("prod").component("beta", runs(&[digest(7)])),
        );
        assert!(
            of_kind(&report, FindingKind::OrphanComponent).is_empty(),
            "{:?}",
            report.findings
        );
        // staging lacks it: that is a missing component, reported on staging.
        let missing = of_kind(&report, FindingKind::MissingComponent);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].environment, env("staging"));
        assert_eq!(missing[0].related_environment, Some(env("dev")));
    }

    #[test]
    fn missing_component_runs_upstream_only() {
        let staging = base("staging").component("worker", runs(&[digest(5)]));
        let report = path(
            Some(base("dev").component("worker", runs(&[digest(5)]))),
            staging,
            base("prod"),
        );
        assert_eq!(summary_lines(&report), ["missing_component prod worker"]);
        assert!(
            report.findings[0]
                .message
                .contains("runs in staging but not in prod")
        );
    }

    #[test]
    fn failed_source_never_yields_missing_component() {
        let staging = base("staging").component("worker", runs(&[digest(5)]));
        let prod = base("prod").source(
            "aws/prod",
            SourceStatus::Partial,
            Some("AccessDenied on ecs"),
        );
        let report = path(
            Some(base("dev").component("worker", runs(&[digest(5)]))),
            staging,
            prod,
        );
        assert!(
            of_kind(&report, FindingKind::MissingComponent).is_empty(),
            "{:?}",
            report.findings
        );
        assert_eq!(summary_lines(&report), ["collection_gap prod -"]);
    }
}
