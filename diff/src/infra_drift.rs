//! `infra_drift`: adjacent environments U → D both have the same infrastructure resource of a
//! component and it differs in an attribute the policy does not declare environment-specific
//! (staging on Postgres 15.4, prod on 14.9).
//!
//! Resources are matched by address (the collector has already normalised module and resource
//! names, `module.payments_prod` → `module.payments`); what is left is matched by resource type
//! when exactly one resource of that type remains on each side (the component, named by a tag,
//! says they are the same thing). A resource on one side only is no drift: it may be unreported
//! (a failed state source is a `collection_gap`) or built differently by design, and `envtrail
//! diff` shows it. Sensitive attributes are compared by keyed fingerprint; messages quote short
//! plain values only, never a fingerprint.

use std::collections::{BTreeMap, BTreeSet};

use envtrail_model::view::ComponentEntry;
use envtrail_model::{ComponentName, Finding, FindingKind, InfraItem};
use serde_json::Value;

use crate::components::TYPE_ATTRIBUTE;
use crate::context::Context;
use crate::findings::{finding, list, plural};

/// Values longer than this are not quoted in a message.
const QUOTED: usize = 40;

/// Infrastructure drift of `name` between U (`ctx.envs[k - 1]`) and D (`ctx.envs[k]`).
pub(crate) fn infra_drift(
    ctx: &Context<'_>,
    k: usize,
    name: &ComponentName,
    u_entry: &ComponentEntry,
    d_entry: &ComponentEntry,
    out: &mut Vec<Finding>,
) {
    let (u_items, d_items) = (
        &u_entry.current.state.infrastructure,
        &d_entry.current.state.infrastructure,
    );
    if u_items.is_empty() || d_items.is_empty() {
        return;
    }
    let mut differences = Vec::new();
    for (u_item, d_item) in pairs(u_items, d_items) {
        for (attribute, u_value, d_value) in differing(u_item, d_item) {
            if ctx
                .policy
                .is_environment_specific_attribute(&d_item.resource_type, attribute)
            {
                continue;
            }
            differences.push(Difference {
                address: &d_item.address,
                attribute,
                upstream: u_value,
                downstream: d_value,
            });
        }
    }
    if differences.is_empty() {
        return;
    }
    let (u, d) = (&ctx.envs[k - 1], &ctx.envs[k]);
    let mut f = finding(FindingKind::InfraDrift, d.name, Some(name));
    f.related_environment = Some(u.name.clone());
    let described: Vec<String> = differences
        .iter()
        .map(|x| x.describe(u.name.as_str(), d.name.as_str()))
        .collect();
    f.message = format!(
        "{name}: infrastructure differs between {} and {} ({}: {})",
        u.name,
        d.name,
        plural(differences.len(), "attribute"),
        list(&described),
    );
    f.keys = differences
        .iter()
        .map(|x| format!("{}.{}", x.address, x.attribute))
        .collect();
    f.evidence.extend(u.current());
    f.evidence.extend(d.current());
    out.push(f);
}

struct Difference<'a> {
    address: &'a str,
    attribute: &'a str,
    upstream: Option<&'a Value>,
    downstream: Option<&'a Value>,
}

impl Difference<'_> {
    fn describe(&self, u: &str, d: &str) -> String {
        let quoted = |v: Option<&Value>| match v {
            None => Some("unset".to_owned()),
            Some(Value::String(s)) if s.starts_with("hmac-sha256:") => None,
            Some(Value::String(s)) if s.len() <= QUOTED => Some(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => Some(v.to_string()),
            Some(_) => None,
        };
        match (quoted(self.upstream), quoted(self.downstream)) {
            (Some(a), Some(b)) => format!("{} {}: {u} {a}, {d} {b}", self.address, self.attribute),
            _ => format!("{} {}", self.address, self.attribute),
        }
    }
}

/// Matched resources: by address first, then by type where exactly one of a type is left on each
/// side.
fn pairs<'a>(u: &'a [InfraItem], d: &'a [InfraItem]) -> Vec<(&'a InfraItem, &'a InfraItem)> {
    let d_by_address: BTreeMap<&str, &InfraItem> =
        d.iter().map(|i| (i.address.as_str(), i)).collect();
    let mut out = Vec::new();
    let mut matched_d = BTreeSet::new();
    let mut left_u = Vec::new();
    for item in u {
        match d_by_address.get(item.address.as_str()) {
            Some(other) if matched_d.insert(other.address.as_str()) => out.push((item, *other)),
            _ => left_u.push(item),
        }
    }
    let left_d: Vec<&InfraItem> = d
        .iter()
        .filter(|i| !matched_d.contains(i.address.as_str()))
        .collect();
    let by_type = |items: &[&'a InfraItem]| {
        let mut map: BTreeMap<&'a str, Vec<&'a InfraItem>> = BTreeMap::new();
        for i in items {
            map.entry(i.resource_type.as_str()).or_default().push(*i);
        }
        map
    };
    let (ut, dt) = (by_type(&left_u), by_type(&left_d));
    for (kind, us) in &ut {
        if let (Some(ds), [one]) = (dt.get(kind), us.as_slice())
            && let [other] = ds.as_slice()
        {
            out.push((*one, *other));
        }
    }
    out
}

/// The attributes (and the type) that differ between two matched resources.
fn differing<'a>(
    u: &'a InfraItem,
    d: &'a InfraItem,
) -> Vec<(&'a str, Option<&'a Value>, Option<&'a Value>)> {
    let mut out = Vec::new();
    if u.resource_type != d.resource_type {
        out.push((TYPE_ATTRIBUTE, None, None));
        return out;
    }
    let names: BTreeSet<&str> = u
        .attributes
        .keys()
        .chain(d.attributes.keys())
        .map(String::as_str)
        .collect();
    for name in names {
        let (a, b) = (u.attributes.get(name), d.attributes.get(name));
        if a != b {
            out.push((name, a, b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use envtrail_model::{FindingKind, SourceStatus};
    use serde_json::json;

    use crate::Policy;
    use crate::test_support::*;

    fn db(version: &str, class: &str, identifier: &str) -> StateBuilder {
        StateBuilder::new().container("api", &[digest(1)]).infra(
            "module.payments.aws_db_instance.main",
            "aws_db_instance",
            json!({"engine": "postgres", "engine_version": version,
                   "instance_class": class, "identifier": identifier,
                   "password": "hmac-sha256:".to_owned() + &"a".repeat(64)}),
        )
    }

    fn report(
        staging: StateBuilder,
        prod: EnvBuilder,
        policy: &Policy,
    ) -> envtrail_model::output::Report {
        let staging = EnvBuilder::at("staging").component("payments", staging.build());
        let i = input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        );
        crate::report(&i, policy).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            environment_specific_attributes: vec!["identifier".into(), "aws_sqs_queue.*".into()],
            ..Policy::default()
        }
    }

    #[test]
    fn differing_engine_version_is_infra_drift() {
        let prod = EnvBuilder::at("prod").component(
            "payments",
            db("14.9", "db.r6g.large", "payments-prod").build(),
        );
        let r = report(
            db("15.4", "db.r6g.large", "payments-staging"),
            prod,
            &policy(),
        );
        assert_eq!(summary_lines(&r), ["infra_drift prod payments"]);
        let f = &r.findings[0];
        assert_eq!(
            f.keys,
            ["module.payments.aws_db_instance.main.engine_version"]
        );
        assert_eq!(f.related_environment, Some(env("staging")));
        assert!(
            f.message
                .contains("engine_version: staging 15.4, prod 14.9"),
            "{}",
            f.message
        );
        assert_eq!(f.severity, envtrail_model::Severity::Medium);
    }

    #[test]
    fn equal_or_environment_specific_attributes_are_not_drift() {
        let prod = EnvBuilder::at("prod").component(
            "payments",
            db("15.4", "db.r6g.large", "payments-prod").build(),
        );
        let r = report(
            db("15.4", "db.r6g.large", "payments-staging"),
            prod,
            &policy(),
        );
        assert!(r.findings.is_empty(), "{:?}", r.findings);

        // Without the policy, the identifier is drift.
        let prod = EnvBuilder::at("prod").component(
            "payments",
            db("15.4", "db.r6g.large", "payments-prod").build(),
        );
        let r = report(
            db("15.4", "db.r6g.large", "payments-staging"),
            prod,
            &Policy::default(),
        );
        assert_eq!(
            of_kind(&r, FindingKind::InfraDrift)[0].keys,
            ["module.payments.aws_db_instance.main.identifier"]
        );
    }

    #[test]
    fn a_fingerprinted_attribute_is_named_never_quoted() {
        let staging = StateBuilder::new().infra(
            "aws_db_instance.main",
            "aws_db_instance",
            json!({"password": "hmac-sha256:".to_owned() + &"a".repeat(64)}),
        );
        let prod = EnvBuilder::at("prod").component(
            "payments",
            StateBuilder::new()
                .infra(
                    "aws_db_instance.main",
                    "aws_db_instance",
                    json!({"password": "hmac-sha256:".to_owned() + &"b".repeat(64)}),
                )
                .build(),
        );
        let r = report(staging, prod, &Policy::default());
        let f = &of_kind(&r, FindingKind::InfraDrift)[0];
        assert!(!f.message.contains("hmac-sha256"), "{}", f.message);
        assert!(
            f.message.contains("aws_db_instance.main password"),
            "{}",
            f.message
        );
    }

    #[test]
    fn resources_on_one_side_or_from_a_failed_source_are_not_drift() {
        // prod's state source failed: the database is not reported there at all.
        let prod = EnvBuilder::at("prod")
            .component(
                "payments",
                StateBuilder::new().container("api", &[digest(1)]).build(),
            )
            .source(
                "terraform/prod",
                SourceStatus::Failed,
                Some("s3://states/prod.tfstate: AccessDenied"),
            );
        let r = report(db("15.4", "db.r6g.large", "x"), prod, &policy());
        assert_eq!(summary_lines(&r), ["collection_gap prod -"]);

        // A resource only upstream is not drift either (and not a removal).
        let prod = EnvBuilder::at("prod").component(
            "payments",
            StateBuilder::new()
                .container("api", &[digest(1)])
                .infra(
                    "aws_sqs_queue.jobs",
                    "aws_sqs_queue",
                    json!({"fifo_queue": false}),
                )
                .build(),
        );
        let r = report(db("15.4", "db.r6g.large", "x"), prod, &policy());
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn leftovers_meet_by_type_within_a_component() {
        let staging = StateBuilder::new().infra(
            "aws_db_instance.payments_staging_db",
            "aws_db_instance",
            json!({"engine_version": "15.4"}),
        );
        let prod = EnvBuilder::at("prod").component(
            "payments",
            StateBuilder::new()
                .infra(
                    "aws_db_instance.pay_prd",
                    "aws_db_instance",
                    json!({"engine_version": "14.9"}),
                )
                .build(),
        );
        let r = report(staging, prod, &Policy::default());
        let f = &of_kind(&r, FindingKind::InfraDrift)[0];
        assert_eq!(f.keys, ["aws_db_instance.pay_prd.engine_version"]);

        // Two of a type left on one side: ambiguous, no match, no finding.
        let staging = StateBuilder::new()
            .infra(
                "aws_db_instance.a",
                "aws_db_instance",
                json!({"engine_version": "15.4"}),
            )
            .infra(
                "aws_db_instance.b",
                "aws_db_instance",
                json!({"engine_version": "15.4"}),
            );
        let prod = EnvBuilder::at("prod").component(
            "payments",
            StateBuilder::new()
                .infra(
                    "aws_db_instance.c",
                    "aws_db_instance",
                    json!({"engine_version": "14.9"}),
                )
                .build(),
        );
        let r = report(staging, prod, &Policy::default());
        assert!(
            of_kind(&r, FindingKind::InfraDrift).is_empty(),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn bad_attribute_glob_names_it() {
        let policy = Policy {
            environment_specific_attributes: vec!["[x".into()],
            ..Policy::default()
        };
        let err = policy.compile().unwrap_err().to_string();
        assert!(err.contains("environment_specific_attributes[0]"), "{err}");
    }
}
