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
