//! `mixed_versions`: one container of one workload runs more than one artifact (after identity) —
//! a rollout stuck halfway, or pods that were never restarted. Containers are told apart by
//! workload reference, name and init flag, so a sidecar next to the main container is not mixed.
//! One finding per component and environment, listing `ref/container` keys.

use std::collections::BTreeSet;

use envtrail_model::view::ComponentEntry;
use envtrail_model::{ComponentName, Digest, Finding, FindingKind};

use crate::context::Context;
use crate::findings::{finding, list, plural, shorts};

/// Mixed versions of `name` in `ctx.envs[k]`.
pub(crate) fn mixed_versions(
    ctx: &Context<'_>,
    k: usize,
    name: &ComponentName,
    entry: &ComponentEntry,
    out: &mut Vec<Finding>,
) {
    let mut keys = Vec::new();
    let mut digests: BTreeSet<&Digest> = BTreeSet::new();
    for workload in &entry.current.state.workloads {
        for container in &workload.containers {
            if container.running_digests.len() < 2 {
                continue;
            }
            let distinct: BTreeSet<&Digest> = container
                .running_digests
                .iter()
                .map(|d| ctx.identity.canonical_ref(d))
                .collect();
            if distinct.len() > 1 {
                keys.push(format!("{}/{}", workload.reference, container.name));
                digests.extend(container.running_digests.iter());
            }
        }
    }
    if keys.is_empty() {
        return;
    }
    let env = &ctx.envs[k];
    let mut f = finding(FindingKind::MixedVersions, env.name, Some(name));
    f.message = format!(
        "{name}: {} in {} run more than one artifact: {} ({})",
        plural(keys.len(), "container"),
        env.name,
        list(&keys),
        shorts(digests.iter().copied()),
    );
    f.keys = keys;
    f.digests = digests.into_iter().cloned().collect();
    f.evidence.extend(env.current());
    out.push(f);
}

#[cfg(test)]
mod tests {
    use envtrail_model::FindingKind;

    use crate::test_support::*;

    fn report_for(state: envtrail_model::ComponentState) -> envtrail_model::output::Report {
        let mut i = input(
            &["prod"],
            vec![Some(EnvBuilder::at("prod").component("api", state).build())],
        );
        i.artifact_links = vec![(digest(11), digest(10))];
        run(&i)
    }

    #[test]
    fn one_container_with_two_digests_is_mixed() {
        let report = report_for(
            StateBuilder::new()
                .container("app", &[digest(1), digest(2)])
                .build(),
        );
        assert_eq!(summary_lines(&report), ["mixed_versions prod api"]);
        let f = &report.findings[0];
        assert_eq!(f.keys, ["Deployment/app/main/app"]);
        assert_eq!(f.digests.len(), 2);
    }

    #[test]
    fn sidecar_or_index_and_platform_are_not_mixed() {
        let sidecar = StateBuilder::new()
            .container("app", &[digest(1)])
            .container("envoy", &[digest(5)])
            .container_in("Deployment/app/other", "app", &[digest(2)])
            .build();
        let report = report_for(sidecar);
        assert!(
            of_kind(&report, FindingKind::MixedVersions).is_empty(),
            "{:?}",
            report.findings
        );

        let same = StateBuilder::new()
            .container("app", &[digest(10), digest(11)])
            .build();
        assert!(report_for(same).findings.is_empty());
    }
}
