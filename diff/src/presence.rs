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
