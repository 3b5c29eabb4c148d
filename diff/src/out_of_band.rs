//! `out_of_band_change`: a component's config changed between snapshots of one environment while
//! its artifacts stayed the same — someone edited it live instead of deploying. Walking the
//! component's intervals back from the current one while the artifacts (after identity) equal the
//! current ones, every step whose config fingerprints differ is a change; the finding lists the
//! keys of every such step and, per step, the snapshot before (`before_change`: the first snapshot
//! of the older state) and after (`after_change`: the first snapshot of the newer state). It stays
//! reported until the component's next deployment (an artifact change) in that environment.
//!
//! Environment-specific keys count here: they may differ between environments, not change live.
//! A component whose artifacts are unknown is skipped: no deployment can be told apart.

use envtrail_model::time::format_time;
use envtrail_model::view::ComponentEntry;
use envtrail_model::{ComponentName, Finding, FindingKind};

use crate::components::{changed_keys, same_artifacts, same_config};
use crate::context::{Context, evidence};
use crate::findings::{finding, list, plural};

/// Out-of-band config changes of `name` in `ctx.envs[k]`.
pub(crate) fn out_of_band(
    ctx: &Context<'_>,
    k: usize,
    name: &ComponentName,
    entry: &ComponentEntry,
    out: &mut Vec<Finding>,
) {
    if entry.previous.is_empty() {
        return;
    }
    let current = &entry.current;
    if ctx.identity.artifacts(&current.state).is_empty() {
        return;
    }
    let mut keys: Vec<&str> = Vec::new();
    let mut steps = Vec::new();
    let mut later = current;
    for earlier in entry.previous.iter().rev() {
        if !same_artifacts(ctx.identity, &earlier.state, &current.state) {
            break;
        }
        if earlier.state_hash != later.state_hash && !same_config(&earlier.state, &later.state) {
            keys.extend(changed_keys(&earlier.state, &later.state));
            steps.push((earlier, later));
        }
        later = earlier;
    }
    if steps.is_empty() {
        return;
    }
    keys.sort_unstable();
    keys.dedup();
    let env = &ctx.envs[k];
    let mut f = finding(FindingKind::OutOfBandChange, env.name, Some(name));
    f.digests = ctx
        .identity
        .artifacts(&current.state)
        .into_iter()
        .cloned()
        .collect();
    f.message = format!(
        "{name}: config changed in {} without a deployment ({}: {}), last at {}",
        env.name,
        plural(keys.len(), "key"),
        list(&keys),
        format_time(&steps[0].1.from.taken_at),
    );
    f.keys = keys.into_iter().map(str::to_owned).collect();
    for (before, after) in steps.into_iter().rev() {
        f.evidence.push(evidence("before_change", &before.from));
        f.evidence.push(evidence("after_change", &after.from));
    }
    out.push(f);
}

#[cfg(test)]
mod tests {
    use envtrail_model::FindingKind;

    use crate::test_support::*;

    fn state(d: u32, log: &str) -> envtrail_model::ComponentState {
        StateBuilder::new()
            .container("app", &[digest(d)])
            .config("LOG_LEVEL", log)
            .build()
    }

    fn report_for(prod: EnvBuilder) -> envtrail_model::output::Report {
        run(&input(&["prod"], vec![Some(prod.build())]))
    }

    #[test]
    fn config_edited_live_is_out_of_band() {
        let prod = EnvBuilder::new("prod", snap("prod", 3, 1))
            .component_since("api", state(1, "debug"), snap("prod", 2, 10))
            .previous(
                "api",
                state(1, "info"),
                snap("prod", 1, 20),
                snap("prod", 2, 10),
            );
        let report = report_for(prod);
        assert_eq!(summary_lines(&report), ["out_of_band_change prod api"]);
        let f = &report.findings[0];
        assert_eq!(f.keys, ["LOG_LEVEL"]);
        assert_eq!(f.digests, [digest(1)]);
        let roles: Vec<_> = f
            .evidence
            .iter()
            .map(|e| (e.role.as_str(), e.snapshot.seq))
            .collect();
        assert_eq!(roles, [("before_change", 1), ("after_change", 2)]);
        assert!(
            !f.message.contains("debug") && !f.message.contains("info"),
            "{}",
            f.message
        );
    }

    #[test]
    fn config_changed_with_a_deployment_is_not_out_of_band() {
        let prod = EnvBuilder::new("prod", snap("prod", 3, 1))
            .component_since("api", state(2, "debug"), snap("prod", 2, 10))
            .previous(
                "api",
                state(1, "info"),
                snap("prod", 1, 20),
                snap("prod", 2, 10),
            );
        assert!(report_for(prod).findings.is_empty());
    }

    #[test]
    fn out_of_band_change_ends_at_the_next_deployment() {
        // info → debug live on d1, then d2 deployed: nothing to report any more.
        let prod = EnvBuilder::new("prod", snap("prod", 4, 1))
            .component_since("api", state(2, "debug"), snap("prod", 3, 5))
            .previous(
                "api",
                state(1, "info"),
                snap("prod", 1, 20),
                snap("prod", 2, 10),
            )
            .previous(
                "api",
                state(1, "debug"),
                snap("prod", 2, 10),
                snap("prod", 3, 5),
            );
        let report = report_for(prod);
        assert!(
            of_kind(&report, FindingKind::OutOfBandChange).is_empty(),
            "{:?}",
            report.findings
        );
    }
}
