//! Whether the evidence itself can be trusted:
//!
//! - `collection_gap`: one finding per failed or partial source of an environment's snapshot,
//!   keyed by source id, with the source's error text; about no component.
//! - `stale_snapshot`: the environment's snapshot in force is older than the policy's
//!   `max_snapshot_age`, measured against the report time. An environment of the path with no
//!   snapshot at or before the report time also yields `stale_snapshot`, with the message
//!   "no snapshot at or before T": nothing at all is known about it.

use envtrail_model::time::format_time;
use envtrail_model::{Finding, FindingKind};

use crate::context::Context;
use crate::findings::finding;

/// Collection gaps and staleness of `ctx.envs[k]`.
pub(crate) fn health(ctx: &Context<'_>, k: usize, out: &mut Vec<Finding>) {
    let env = &ctx.envs[k];
    let Some(state) = env.state else {
        let mut f = finding(FindingKind::StaleSnapshot, env.name, None);
        f.message = format!(
            "{}: no snapshot at or before {}",
            env.name,
            format_time(&ctx.at)
        );
        out.push(f);
        return;
    };
    for source in state.incomplete_sources() {
        let mut f = finding(FindingKind::CollectionGap, env.name, None);
        f.keys = vec![source.id.clone()];
        f.message = format!(
            "{}: source {} is {}: {}",
            env.name,
            source.id,
            source.status.as_str(),
            source.error.as_deref().unwrap_or("no error given"),
        );
        f.evidence.extend(env.current());
        out.push(f);
    }
    let age = ctx.at - state.snapshot.taken_at;
    if age > ctx.policy.max_snapshot_age() {
        let mut f = finding(FindingKind::StaleSnapshot, env.name, None);
        f.message = format!(
            "{}: newest snapshot was taken {} ({} old), more than the allowed {}",
            env.name,
            format_time(&state.snapshot.taken_at),
            human(age),
            human(ctx.policy.max_snapshot_age()),
        );
        f.evidence.extend(env.current());
        out.push(f);
    }
}

/// `3d 4h`, `5h 20m`, `12m`.
fn human(d: chrono::Duration) -> String {
    let minutes = d.num_minutes();
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, _) => format!("{hours}h {mins}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(chrono::Duration::minutes(12)), "12m");
        assert_eq!(human(chrono::Duration::minutes(320)), "5h 20m");
        assert_eq!(human(chrono::Duration::hours(76)), "3d 4h");
    }
}

#[cfg(test)]
mod finding_tests {
    use envtrail_model::{FindingKind, SourceStatus};

    use crate::test_support::*;

    #[test]
    fn collection_gap_per_incomplete_source_with_its_error() {
        let prod = EnvBuilder::at("prod")
            .source("aws/prod", SourceStatus::Failed, Some("ExpiredToken"))
            .source("tf/prod", SourceStatus::Partial, None)
            .source("oci", SourceStatus::Ok, None);
        let report = run(&input(&["prod"], vec![Some(prod.build())]));
        let gaps = of_kind(&report, FindingKind::CollectionGap);
        assert_eq!(gaps.len(), 2, "{:?}", report.findings);
        assert_eq!(gaps[0].keys, ["aws/prod"]);
        assert!(
            gaps[0].message.contains("failed: ExpiredToken"),
            "{}",
            gaps[0].message
        );
        assert_eq!(gaps[1].keys, ["tf/prod"]);
        assert!(gaps.iter().all(|g| g.component.is_none()));
        assert!(!report.environments[0].complete);
    }

    #[test]
    fn complete_sources_are_no_gap() {
        let report = run(&input(
            &["prod"],
            vec![Some(EnvBuilder::at("prod").build())],
        ));
        assert!(report.findings.is_empty());
        assert!(report.environments[0].complete);
    }

    #[test]
    fn stale_snapshot_past_the_allowed_age() {
        let old = EnvBuilder::new("prod", snap("prod", 1, 30));
        let fresh = EnvBuilder::new("dev", snap("dev", 1, 23));
        let report = run(&input(
            &["dev", "prod"],
            vec![Some(fresh.build()), Some(old.build())],
        ));
        assert_eq!(summary_lines(&report), ["stale_snapshot prod -"]);
        assert!(
            report.findings[0].message.contains("1d 6h old"),
            "{}",
            report.findings[0].message
        );
    }

    #[test]
    fn environment_without_snapshot_is_stale() {
        let report = run(&input(
            &["dev", "prod"],
            vec![None, Some(EnvBuilder::at("prod").build())],
        ));
        assert_eq!(summary_lines(&report), ["stale_snapshot dev -"]);
        assert!(
            report.findings[0]
                .message
                .contains("no snapshot at or before 2026-03-10T12:00:00Z")
        );
        assert_eq!(report.environments[0].snapshot, None);
    }
}
