//! `config_drift`: adjacent environments U → D both run a component whose config keys differ
//! (a key present on one side only, or different fingerprint sets), not counting keys the policy
//! declares environment-specific. One finding per (component, U, D) naming the keys, never their
//! values.

use envtrail_model::view::ComponentEntry;
use envtrail_model::{ComponentName, Finding, FindingKind};

use crate::compare::same_state;
use crate::components::{changed_keys, same_config};
use crate::context::Context;
use crate::findings::{finding, list, plural};

/// Config drift of `name` between U (`ctx.envs[k - 1]`) and D (`ctx.envs[k]`).
pub(crate) fn config_drift(
    ctx: &Context<'_>,
    k: usize,
    name: &ComponentName,
    u_entry: &ComponentEntry,
    d_entry: &ComponentEntry,
    out: &mut Vec<Finding>,
) {
    let (u_state, d_state) = (&*u_entry.current.state, &*d_entry.current.state);
    if same_state(u_entry, d_entry) || same_config(u_state, d_state) {
        return;
    }
    let keys: Vec<&str> = changed_keys(u_state, d_state)
        .into_iter()
        .filter(|key| !ctx.policy.is_environment_specific(key))
        .collect();
    if keys.is_empty() {
        return;
    }
    let (u, d) = (&ctx.envs[k - 1], &ctx.envs[k]);
    let mut f = finding(FindingKind::ConfigDrift, d.name, Some(name));
    f.related_environment = Some(u.name.clone());
    f.message = format!(
        "{name}: {} differ between {} and {}: {}",
        plural(keys.len(), "config key"),
        u.name,
        d.name,
        list(&keys),
    );
    f.keys = keys.into_iter().map(str::to_owned).collect();
    f.evidence.extend(u.current());
    f.evidence.extend(d.current());
    out.push(f);
}
