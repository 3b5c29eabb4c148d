//! `config_drift`: adjacent environments U → D both run a component whose config keys differ
//! (a key present on one side only, or different fingerprint sets), not counting keys the policy
//! declares environment-specific. One finding per (component, U, D) naming the keys, never their
//! values.

use envtrail_model::view::ComponentEntry;
use envtrail_model::{ComponentName, Finding, FindingKind};

use crate::compare::same_state;
use crate::components::changed_keys;
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
    if same_state(u_entry, d_entry) {
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
        "{name}: config differs between {} and {} ({}: {})",
        u.name,
        d.name,
        plural(keys.len(), "key"),
        list(&keys),
    );
    f.keys = keys.into_iter().map(str::to_owned).collect();
    f.evidence.extend(u.current());
    f.evidence.extend(d.current());
    out.push(f);
}

#[cfg(test)]
mod tests {
    use envtrail_model::FindingKind;

    use crate::Policy;
    use crate::test_support::*;

    fn api(log: &str, db: &str, token: &str) -> StateBuilder {
        StateBuilder::new()
            .container("app", &[digest(1)])
            .config("LOG_LEVEL", log)
            .config("DB_HOST", db)
            .secret("API_TOKEN", token)
    }

    fn drift(staging: StateBuilder, prod: StateBuilder) -> envtrail_model::output::Report {
        let staging = EnvBuilder::at("staging").component("api", staging.namespaced("stg").build());
        let prod = EnvBuilder::at("prod").component("api", prod.namespaced("prd").build());
        let policy = Policy {
            environment_specific_keys: vec!["DB_*".into()],
            ..Policy::default()
        };
        let i = input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        );
        crate::report(&i, &policy).unwrap()
    }

    #[test]
    fn config_drift_lists_keys_never_values() {
        let report = drift(
            api("info", "db.staging", "s3cret-staging"),
            api("debug", "db.prod", "s3cret-prod").config("EXTRA", "on"),
        );
        assert_eq!(summary_lines(&report), ["config_drift prod api"]);
        let f = &report.findings[0];
        assert_eq!(f.keys, ["API_TOKEN", "EXTRA", "LOG_LEVEL"]);
        assert_eq!(f.related_environment, Some(env("staging")));
        let json = serde_json::to_string(f).unwrap();
        for value in ["info", "debug", "s3cret", "db.prod", "\"on\""] {
            assert!(!json.contains(value), "value {value:?} leaked: {json}");
        }
    }

    #[test]
    fn environment_specific_keys_are_not_drift() {
        let report = drift(api("info", "db.staging", "t"), api("info", "db.prod", "t"));
        assert!(
            of_kind(&report, FindingKind::ConfigDrift).is_empty(),
            "{:?}",
            report.findings
        );
    }
}
