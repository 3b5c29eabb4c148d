//! Promotion findings for one component in one downstream environment D, against its adjacent
//! upstream U and the environments further up the path:
//!
//! - every artifact D runs is classified by where it was seen (first sighting at or before the
//!   report time): in U (normal; `out_of_order_promotion` when D ran it before U did), in an
//!   environment further up but not in the ones between (`skipped_environment`, one finding per
//!   skipped environment), or nowhere upstream (`unpromoted_hotfix`);
//! - when everything D runs was seen in U, and U runs an artifact D never ran,
//!   `pending_promotion`: D is simply behind.
//!
//! No promotion finding is made when D's artifacts are unknown (no digest at all) or equal, after
//! artifact identity, to U's current ones. A claim that an environment never ran an artifact needs
//! that environment's evidence: it must have a snapshot, complete or reporting the component.

use std::collections::{BTreeMap, BTreeSet};

use envtrail_model::view::{ComponentEntry, SnapshotRef};
use envtrail_model::{ComponentName, Digest, Finding, FindingKind};

use crate::compare::same_state;
use crate::components::same_artifacts;
use crate::context::{Context, evidence};
use crate::findings::{finding, list, shorts};
use envtrail_model::time::format_time as format;

/// Promotion findings for `name`, which D (`ctx.envs[k]`, `k >= 1`) runs as `d_entry` and U
/// (`ctx.envs[k - 1]`) as `u_entry`.
pub(crate) fn promotion(
    ctx: &Context<'_>,
    k: usize,
    name: &ComponentName,
    u_entry: Option<&ComponentEntry>,
    d_entry: &ComponentEntry,
    out: &mut Vec<Finding>,
) {
    let (d, u) = (&ctx.envs[k], &ctx.envs[k - 1]);
    if let Some(u_entry) = u_entry
        && (same_state(u_entry, d_entry)
            || same_artifacts(ctx.identity, &u_entry.current.state, &d_entry.current.state))
    {
        return;
    }
    let ours = ctx.identity.artifacts(&d_entry.current.state);
    if ours.is_empty() {
        return;
    }

    let mut out_of_order: Vec<(&Digest, &SnapshotRef, &SnapshotRef)> = Vec::new();
    let mut hotfix: Vec<&Digest> = Vec::new();
    // skipped environment → (digest, environment where it was seen).
    let mut skipped: BTreeMap<usize, Vec<(&Digest, usize)>> = BTreeMap::new();
    for &digest in &ours {
        if let Some(first_up) = u.first_seen(name, digest) {
            if let Some(first_here) = d.first_seen(name, digest)
                && first_here.taken_at < first_up.taken_at
            {
                out_of_order.push((digest, first_here, first_up));
            }
            continue;
        }
        match (0..k - 1)
            .rev()
            .find(|&i| ctx.envs[i].first_seen(name, digest).is_some())
        {
            Some(i) => {
                for j in i + 1..k {
                    skipped.entry(j).or_default().push((digest, i));
                }
            }
            None => hotfix.push(digest),
        }
    }
    let all_seen_upstream = hotfix.is_empty() && skipped.is_empty();

    let current = |i: usize| ctx.envs[i].current();
    if !hotfix.is_empty() && (0..k).all(|i| ctx.envs[i].knows_absence(name)) {
        let mut f = finding(FindingKind::UnpromotedHotfix, d.name, Some(name));
        f.related_environment = Some(u.name.clone());
        f.digests = hotfix.iter().map(|&x| x.clone()).collect();
        f.message = format!(
            "{name}: {} runs {} which never ran in {}; the next promotion would overwrite it",
            d.name,
            shorts(hotfix.iter().copied()),
            list((0..k).map(|i| ctx.envs[i].name)),
        );
        f.evidence.extend(current(k));
        f.evidence.extend(
            hotfix
                .iter()
                .filter_map(|x| d.first_seen(name, x))
                .map(|s| evidence("first_seen", s)),
        );
        f.evidence.extend((0..k).filter_map(current));
        out.push(f);
    }

    for (j, digests) in skipped {
        if !ctx.envs[j].knows_absence(name) {
            continue;
        }
        let seen_in: BTreeSet<usize> = digests.iter().map(|&(_, i)| i).collect();
        let mut f = finding(FindingKind::SkippedEnvironment, d.name, Some(name));
        f.related_environment = Some(ctx.envs[j].name.clone());
        f.digests = digests.iter().map(|&(x, _)| x.clone()).collect();
        f.message = format!(
            "{name}: {} runs {} which ran in {} but never in {}",
            d.name,
            shorts(digests.iter().map(|&(x, _)| x)),
            list(seen_in.iter().map(|&i| ctx.envs[i].name)),
            ctx.envs[j].name,
        );
        f.evidence.extend(current(k));
        f.evidence.extend(current(j));
        f.evidence.extend(
            digests
                .iter()
                .filter_map(|&(x, i)| ctx.envs[i].first_seen(name, x))
                .map(|s| evidence("first_seen", s)),
        );
        out.push(f);
    }

    if !out_of_order.is_empty() {
        let (_, here, up) = out_of_order[0];
        let mut f = finding(FindingKind::OutOfOrderPromotion, d.name, Some(name));
        f.related_environment = Some(u.name.clone());
        f.digests = out_of_order.iter().map(|&(x, _, _)| x.clone()).collect();
        f.message = format!(
            "{name}: {} reached {} ({}) before it first ran in {} ({})",
            shorts(out_of_order.iter().map(|&(x, _, _)| x)),
            d.name,
            format(&here.taken_at),
            u.name,
            format(&up.taken_at),
        );
        for &(_, here, up) in &out_of_order {
            f.evidence.push(evidence("first_seen", here));
            f.evidence.push(evidence("first_seen", up));
        }
        out.push(f);
    }

    if all_seen_upstream && let Some(u_entry) = u_entry {
        let theirs = ctx.identity.artifacts(&u_entry.current.state);
        let pending: Vec<&Digest> = theirs
            .iter()
            .copied()
            .filter(|x| d.first_seen(name, x).is_none())
            .collect();
        if !pending.is_empty() {
            let mut f = finding(FindingKind::PendingPromotion, d.name, Some(name));
            f.related_environment = Some(u.name.clone());
            f.digests = pending.iter().map(|&x| x.clone()).collect();
            f.message = format!(
                "{name}: {} runs {} which {} has not received yet ({} runs {})",
                u.name,
                shorts(pending.iter().copied()),
                d.name,
                d.name,
                shorts(ours.iter().copied()),
            );
            f.evidence.extend(current(k - 1));
            f.evidence.extend(current(k));
            f.evidence.extend(
                pending
                    .iter()
                    .filter_map(|x| u.first_seen(name, x))
                    .map(|s| evidence("first_seen", s)),
            );
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use envtrail_model::{FindingKind, SourceStatus};

    use crate::test_support::*;

    const PENDING: FindingKind = FindingKind::PendingPromotion;
    const HOTFIX: FindingKind = FindingKind::UnpromotedHotfix;
    const SKIPPED: FindingKind = FindingKind::SkippedEnvironment;
    const ORDER: FindingKind = FindingKind::OutOfOrderPromotion;

    fn promotion_kinds(report: &envtrail_model::output::Report) -> Vec<String> {
        summary_lines(report)
            .into_iter()
            .filter(|l| {
                [PENDING, HOTFIX, SKIPPED, ORDER]
                    .iter()
                    .any(|k| l.starts_with(k.as_str()))
            })
            .collect()
    }

    /// dev moved on to d2; staging still runs d1, which dev ran before.
    fn behind() -> (EnvBuilder, EnvBuilder) {
        let dev = EnvBuilder::at("dev")
            .component_since("api", runs(&[digest(2)]), snap("dev", 2, 5))
            .seen(&digest(1), snap("dev", 1, 20));
        let staging = EnvBuilder::at("staging").component_since(
            "api",
            runs(&[digest(1)]),
            snap("staging", 1, 10),
        );
        (dev, staging)
    }

    #[test]
    fn pending_promotion_when_downstream_is_behind() {
        let (dev, staging) = behind();
        let report = run(&input(
            &["dev", "staging"],
            vec![Some(dev.build()), Some(staging.build())],
        ));
        assert_eq!(promotion_kinds(&report), ["pending_promotion staging api"]);
        let f = of_kind(&report, PENDING)[0];
        assert_eq!(f.related_environment, Some(env("dev")));
        assert_eq!(f.digests, [digest(2)], "only the pending artifact");
        assert!(f.message.contains(&digest(2).short()), "{}", f.message);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.role == "first_seen" && e.snapshot.seq == 2)
        );
    }

    #[test]
    fn no_pending_when_downstream_already_ran_it_or_runs_the_same() {
        // staging ran d2 before and rolled back to d1: not "not received yet".
        let (dev, staging) = behind();
        let staging = staging.seen(&digest(2), snap("staging", 1, 10));
        let report = run(&input(
            &["dev", "staging"],
            vec![Some(dev.build()), Some(staging.build())],
        ));
        assert!(promotion_kinds(&report).is_empty(), "{:?}", report.findings);

        let dev = EnvBuilder::at("dev").component("api", runs(&[digest(1)]));
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(1)]));
        let report = run(&input(
            &["dev", "staging"],
            vec![Some(dev.build()), Some(staging.build())],
        ));
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn unpromoted_hotfix_when_never_seen_upstream() {
        let dev = EnvBuilder::at("dev").component("api", runs(&[digest(1)]));
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(1)]));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(9)]));
        let report = run(&input(
            &["dev", "staging", "prod"],
            vec![Some(dev.build()), Some(staging.build()), Some(prod.build())],
        ));
        assert_eq!(promotion_kinds(&report), ["unpromoted_hotfix prod api"]);
        let f = of_kind(&report, HOTFIX)[0];
        assert_eq!(f.digests, [digest(9)]);
        assert_eq!(f.related_environment, Some(env("staging")));
        assert!(f.message.contains("dev, staging"), "{}", f.message);
    }

    #[test]
    fn no_hotfix_when_seen_upstream_earlier() {
        // staging ran d9 once (now back on d1), so prod's d9 came through staging.
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(1)]))
            .seen(&digest(9), snap("staging", 1, 30));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(9)]));
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert!(of_kind(&report, HOTFIX).is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn hotfix_not_claimed_when_upstream_cannot_vouch() {
        // staging's source failed and it did not report api: it may run d9, unreported.
        let staging = EnvBuilder::at("staging")
            .component("web", runs(&[digest(3)]))
            .source("aws/staging", SourceStatus::Failed, Some("403"));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(9)]));
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert!(of_kind(&report, HOTFIX).is_empty(), "{:?}", report.findings);

        // An upstream environment with no snapshot at all cannot vouch either.
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(1)]));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(9)]));
        let report = run(&input(
            &["dev", "staging", "prod"],
            vec![None, Some(staging.build()), Some(prod.build())],
        ));
        assert!(of_kind(&report, HOTFIX).is_empty(), "{:?}", report.findings);

        // But a partial upstream that did report the component does vouch for it.
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(1)]))
            .source("aws/staging", SourceStatus::Partial, Some("throttled"));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(9)]));
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert_eq!(of_kind(&report, HOTFIX).len(), 1, "{:?}", report.findings);
    }

    #[test]
    fn skipped_environment_when_seen_further_up_only() {
        let dev = EnvBuilder::at("dev")
            .component("api", runs(&[digest(3)]))
            .seen(&digest(2), snap("dev", 1, 30));
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(2)]));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(3)]));
        let report = run(&input(
            &["dev", "staging", "prod"],
            vec![Some(dev.build()), Some(staging.build()), Some(prod.build())],
        ));
        // Not a hotfix (dev ran it) and not pending (prod is not behind staging); staging itself
        // is behind dev.
        assert_eq!(
            promotion_kinds(&report),
            [
                "skipped_environment prod api",
                "pending_promotion staging api"
            ]
        );
        let f = of_kind(&report, SKIPPED)[0];
        assert_eq!(f.related_environment, Some(env("staging")));
        assert_eq!(f.digests, [digest(3)]);
        assert!(
            f.message.contains("ran in dev but never in staging"),
            "{}",
            f.message
        );
    }

    #[test]
    fn no_skipped_environment_when_it_went_through() {
        let dev = EnvBuilder::at("dev").component("api", runs(&[digest(4)]));
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(4)]))
            .seen(&digest(3), snap("staging", 1, 40));
        let prod =
            EnvBuilder::at("prod").component_since("api", runs(&[digest(3)]), snap("prod", 1, 20));
        let dev = dev.seen(&digest(3), snap("dev", 1, 50));
        let report = run(&input(
            &["dev", "staging", "prod"],
            vec![Some(dev.build()), Some(staging.build()), Some(prod.build())],
        ));
        assert!(
            of_kind(&report, SKIPPED).is_empty(),
            "{:?}",
            report.findings
        );
        assert_eq!(promotion_kinds(&report), ["pending_promotion prod api"]);
    }

    #[test]
    fn out_of_order_when_downstream_ran_it_first() {
        // prod has run d2 for 20h; staging first ran it 10h ago and has moved on to d3.
        let staging = EnvBuilder::at("staging")
            .component_since("api", runs(&[digest(3)]), snap("staging", 2, 5))
            .seen(&digest(2), snap("staging", 1, 10));
        let prod =
            EnvBuilder::at("prod").component_since("api", runs(&[digest(2)]), snap("prod", 1, 20));
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        // It co-occurs with pending: staging's d3 has not reached prod.
        assert_eq!(
            promotion_kinds(&report),
            [
                "out_of_order_promotion prod api",
                "pending_promotion prod api"
            ]
        );
        let f = of_kind(&report, ORDER)[0];
        assert_eq!(f.digests, [digest(2)]);
        let roles: Vec<_> = f
            .evidence
            .iter()
            .map(|e| (e.role.as_str(), e.snapshot.environment.as_str()))
            .collect();
        assert_eq!(roles, [("first_seen", "prod"), ("first_seen", "staging")]);
    }

    #[test]
    fn no_out_of_order_when_upstream_ran_it_first() {
        let staging = EnvBuilder::at("staging")
            .component_since("api", runs(&[digest(3)]), snap("staging", 2, 5))
            .seen(&digest(2), snap("staging", 1, 30));
        let prod =
            EnvBuilder::at("prod").component_since("api", runs(&[digest(2)]), snap("prod", 1, 20));
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert!(of_kind(&report, ORDER).is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn unknown_artifacts_yield_no_promotion_finding() {
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(1)]));
        let prod = EnvBuilder::at("prod")
            .component("api", StateBuilder::new().container_unknown("app").build());
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert!(promotion_kinds(&report).is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn index_and_platform_digest_are_one_artifact() {
        // staging runs the index d10, prod the platform manifest d11 inside it.
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(10)]));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(11)]));
        let mut i = input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        );
        i.artifact_links = vec![(digest(11), digest(10))];
        let report = run(&i);
        assert!(report.findings.is_empty(), "{:?}", report.findings);

        // The same link recorded only in an artifact fact; staging has since moved on to d12.
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(12)]))
            .seen(&digest(10), snap("staging", 1, 30));
        let prod = EnvBuilder::at("prod")
            .component("api", runs(&[digest(11)]))
            .index(&digest(11), &digest(10));
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert_eq!(promotion_kinds(&report), ["pending_promotion prod api"]);
    }

    #[test]
    fn states_without_sightings_count_what_they_ran() {
        let strip = |mut e: envtrail_model::view::EnvironmentState| {
            e.sightings.clear();
            e
        };
        // dev ran d1 before d2 (an earlier interval); staging runs d1; no sightings anywhere.
        let dev = EnvBuilder::new("dev", snap("dev", 2, 1))
            .component_since("api", runs(&[digest(2)]), snap("dev", 2, 1))
            .previous(
                "api",
                runs(&[digest(1)]),
                snap("dev", 1, 20),
                snap("dev", 2, 1),
            );
        let staging = EnvBuilder::at("staging").component("api", runs(&[digest(1)]));
        let report = run(&input(
            &["dev", "staging"],
            vec![Some(strip(dev.build())), Some(strip(staging.build()))],
        ));
        assert_eq!(promotion_kinds(&report), ["pending_promotion staging api"]);
    }

    #[test]
    fn sightings_after_the_report_time_do_not_count() {
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(1)]))
            .seen(&digest(9), snap("staging", 9, -5));
        let prod = EnvBuilder::at("prod").component("api", runs(&[digest(9)]));
        let report = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert_eq!(promotion_kinds(&report), ["unpromoted_hotfix prod api"]);
    }

    #[test]
    fn a_linked_digest_seen_upstream_counts_for_its_class() {
        // staging ran the index d10 long ago; prod runs the platform manifest d11 inside it.
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(1)]))
            .seen(&digest(10), snap("staging", 1, 30));
        let prod =
            EnvBuilder::at("prod").component_since("api", runs(&[digest(11)]), snap("prod", 1, 20));
        let mut i = input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        );
        i.artifact_links = vec![(digest(11), digest(10))];
        let report = run(&i);
        // Not a hotfix; staging has moved on to d1 since, which prod has not received.
        assert_eq!(promotion_kinds(&report), ["pending_promotion prod api"]);
    }
}
