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

/// Promotion findings for `name`, which D (`ctx.envs[k]`, `k >= 1`) runs as `d_entry`.
pub(crate) fn promotion(
    ctx: &Context<'_>,
    k: usize,
    name: &ComponentName,
    d_entry: &ComponentEntry,
    out: &mut Vec<Finding>,
) {
    let (d, u) = (&ctx.envs[k], &ctx.envs[k - 1]);
    let u_entry = u.state.and_then(|s| s.components.get(name));
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
        if let Some(first_up) = u.first_seen(digest) {
            if let Some(first_here) = d.first_seen(digest)
                && first_here.taken_at < first_up.taken_at
            {
                out_of_order.push((digest, first_here, first_up));
            }
            continue;
        }
        match (0..k - 1)
            .rev()
            .find(|&i| ctx.envs[i].first_seen(digest).is_some())
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
                .filter_map(|x| d.first_seen(x))
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
                .filter_map(|&(x, i)| ctx.envs[i].first_seen(x))
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
            .filter(|x| d.first_seen(x).is_none())
            .collect();
        if !pending.is_empty() {
            let mut f = finding(FindingKind::PendingPromotion, d.name, Some(name));
            f.related_environment = Some(u.name.clone());
            f.digests = pending.iter().chain(&ours).map(|&x| x.clone()).collect();
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
                    .filter_map(|x| u.first_seen(x))
                    .map(|s| evidence("first_seen", s)),
            );
            out.push(f);
        }
    }
}
