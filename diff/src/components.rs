//! How one component differs between two states: its artifacts (after artifact identity), its
//! config keys (by fingerprint) and its infrastructure attributes (matched by address). Used by
//! `compare` (`envtrail diff`), by `envtrail history` and by the config findings.
//!
//! Workload references and source ids are not compared: they carry namespaces, clusters and
//! accounts that differ between environments by design.

use std::collections::{BTreeMap, BTreeSet};

use envtrail_model::output::{AttributeChange, ChangeKind, ComponentChange, KeyChange};
use envtrail_model::{ComponentName, ComponentState, ConfigValue, Fingerprint, InfraItem};
use serde_json::Value;

use crate::identity::ArtifactIdentity;
use crate::policy::CompiledPolicy;

/// The pseudo-attribute that carries an infrastructure item's resource type in an
/// [`AttributeChange`]: it differs when the type changed or when the item exists on one side only.
pub const TYPE_ATTRIBUTE: &str = "@type";

/// How `component` differs from `left` to `right`, or `None` when it does not.
///
/// - only `right`: [`ChangeKind::Added`];
/// - only `left`: [`ChangeKind::Removed`] when `right_complete` (every source of the right side
///   reported everything), else [`ChangeKind::Unknown`] — a failed source may have hidden it;
/// - both: [`ChangeKind::Changed`] when the artifacts differ after `identity`, or a config key
///   differs (environment-specific keys included, flagged), or an infrastructure attribute
///   differs.
///
/// Added, removed and unknown changes list the artifacts of the side that has the component and
/// leave `config` and `infrastructure` empty: the whole component came or went.
pub fn component_change(
    component: &ComponentName,
    left: Option<&ComponentState>,
    right: Option<&ComponentState>,
    right_complete: bool,
    identity: &ArtifactIdentity,
    policy: &CompiledPolicy,
) -> Option<ComponentChange> {
    let raw = |s: Option<&ComponentState>| -> Vec<_> {
        s.map(|s| s.artifact_digests().into_iter().collect())
            .unwrap_or_default()
    };
    let (change, artifacts_changed, config, infrastructure) = match (left, right) {
        (None, None) => return None,
        (None, Some(r)) => (
            ChangeKind::Added,
            !identity.artifacts(r).is_empty(),
            vec![],
            vec![],
        ),
        (Some(l), None) if right_complete => (
            ChangeKind::Removed,
            !identity.artifacts(l).is_empty(),
            vec![],
            vec![],
        ),
        (Some(_), None) => (ChangeKind::Unknown, false, vec![], vec![]),
        (Some(l), Some(r)) => {
            if l == r {
                return None;
            }
            let artifacts_changed = identity.artifacts(l) != identity.artifacts(r);
            let config = key_changes(l, r, policy);
            let infrastructure = attribute_changes(&l.infrastructure, &r.infrastructure);
            if !artifacts_changed && config.is_empty() && infrastructure.is_empty() {
                return None;
            }
            (
                ChangeKind::Changed,
                artifacts_changed,
                config,
                infrastructure,
            )
        }
    };
    Some(ComponentChange {
        component: component.clone(),
        change,
        left_artifacts: raw(left),
        right_artifacts: raw(right),
        artifacts_changed,
        config,
        infrastructure,
    })
}

/// The config keys whose fingerprints differ (present on one side only, or different fingerprint
/// sets), sorted by key. Values never appear, only fingerprints.
pub fn key_changes(
    left: &ComponentState,
    right: &ComponentState,
    policy: &CompiledPolicy,
) -> Vec<KeyChange> {
    changed_keys(left, right)
        .into_iter()
        .map(|key| {
            let fingerprints = |s: &ComponentState| -> Vec<Fingerprint> {
                let set: BTreeSet<&Fingerprint> = s
                    .workloads
                    .iter()
                    .filter_map(|w| w.config.get(key))
                    .map(|v| &v.fingerprint)
                    .collect();
                set.into_iter().cloned().collect()
            };
            let secret = [left, right].iter().any(|s| {
                s.workloads
                    .iter()
                    .filter_map(|w| w.config.get(key))
                    .any(|v| v.secret || v.fingerprint.is_keyed())
            });
            KeyChange {
                key: key.to_owned(),
                left: fingerprints(left),
                right: fingerprints(right),
                secret,
                environment_specific: policy.is_environment_specific(key),
            }
        })
        .collect()
}

/// Whether two states run the same artifacts after identity, without allocating (the common
/// case is one or two containers).
pub fn same_artifacts(
    identity: &ArtifactIdentity,
    left: &ComponentState,
    right: &ComponentState,
) -> bool {
    fn containers(s: &ComponentState) -> impl Iterator<Item = &envtrail_model::Container> {
        s.workloads.iter().flat_map(|w| &w.containers)
    }
    let all_in = |a: &ComponentState, b: &ComponentState| {
        containers(a).all(|c| {
            c.artifact_digests().all(|d| {
                let d = identity.canonical_ref(d);
                containers(b).any(|c| c.artifact_digests().any(|e| identity.canonical_ref(e) == d))
            })
        })
    };
    all_in(left, right) && all_in(right, left)
}

/// Whether two states have the same config fingerprints, key by key.
pub fn same_config(left: &ComponentState, right: &ComponentState) -> bool {
    match (single_config(left), single_config(right)) {
        (Some(l), Some(r)) => {
            l.len() == r.len()
                && l.iter()
                    .zip(r)
                    .all(|((ka, va), (kb, vb))| ka == kb && va.fingerprint == vb.fingerprint)
        }
        _ => changed_keys(left, right).is_empty(),
    }
}

/// The names of the config keys whose fingerprint sets differ between the two states, sorted.
pub fn changed_keys<'a>(left: &'a ComponentState, right: &'a ComponentState) -> Vec<&'a str> {
    if let (Some(l), Some(r)) = (single_config(left), single_config(right)) {
        // The common case, one workload a side: a merge of two sorted maps, no set built.
        let mut keys = Vec::new();
        let (mut l, mut r) = (l.iter().peekable(), r.iter().peekable());
        loop {
            match (l.peek(), r.peek()) {
                (None, None) => break,
                (Some((k, _)), None) => {
                    keys.push(k.as_str());
                    l.next();
                }
                (None, Some((k, _))) => {
                    keys.push(k.as_str());
                    r.next();
                }
                (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                    std::cmp::Ordering::Less => {
                        keys.push(ka.as_str());
                        l.next();
                    }
                    std::cmp::Ordering::Greater => {
                        keys.push(kb.as_str());
                        r.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if va.fingerprint != vb.fingerprint {
                            keys.push(ka.as_str());
                        }
                        l.next();
                        r.next();
                    }
                },
            }
        }
        return keys;
    }
    let (l, r) = (left.config_fingerprints(), right.config_fingerprints());
    let mut keys: Vec<&str> = l
        .iter()
        .filter(|(k, v)| r.get(*k) != Some(*v))
        .map(|(k, _)| *k)
        .chain(r.keys().filter(|k| !l.contains_key(*k)).copied())
        .collect();
    keys.sort_unstable();
    keys
}

/// The config of a state with at most one workload (an empty map for none); `None` when there
/// are several, whose configs must be merged first.
fn single_config(state: &ComponentState) -> Option<&BTreeMap<String, ConfigValue>> {
    static EMPTY: BTreeMap<String, ConfigValue> = BTreeMap::new();
    match state.workloads.as_slice() {
        [] => Some(&EMPTY),
        [w] => Some(&w.config),
        _ => None,
    }
}

/// The infrastructure attributes that differ, items matched by address (the n-th item with one
/// address on the left matches the n-th on the right). An item on one side only yields one change
/// per attribute plus [`TYPE_ATTRIBUTE`].
pub fn attribute_changes(left: &[InfraItem], right: &[InfraItem]) -> Vec<AttributeChange> {
    fn by_address(items: &[InfraItem]) -> BTreeMap<(&str, usize), &InfraItem> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        items
            .iter()
            .map(|item| {
                let n = seen.entry(item.address.as_str()).or_default();
                *n += 1;
                ((item.address.as_str(), *n - 1), item)
            })
            .collect()
    }
    fn attributes(item: Option<&InfraItem>) -> BTreeMap<&str, Value> {
        let Some(item) = item else {
            return BTreeMap::new();
        };
        let mut map: BTreeMap<&str, Value> = item
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        map.insert(TYPE_ATTRIBUTE, Value::String(item.resource_type.clone()));
        map
    }
    let (l, r) = (by_address(left), by_address(right));
    let addresses: BTreeSet<&(&str, usize)> = l.keys().chain(r.keys()).collect();
    let mut changes = Vec::new();
    for key in addresses {
        let (li, ri) = (l.get(key).copied(), r.get(key).copied());
        if let (Some(a), Some(b)) = (li, ri)
            && a.resource_type == b.resource_type
            && a.attributes == b.attributes
        {
            continue;
        }
        let (la, ra) = (attributes(li), attributes(ri));
        let names: BTreeSet<&str> = la.keys().chain(ra.keys()).copied().collect();
        for name in names {
            let (lv, rv) = (la.get(name), ra.get(name));
            if lv != rv {
                changes.push(AttributeChange {
                    address: key.0.to_owned(),
                    attribute: name.to_owned(),
                    left: lv.cloned(),
                    right: rv.cloned(),
                });
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::test_support::{StateBuilder, component, digest};
    use serde_json::json;

    fn change(
        l: Option<&ComponentState>,
        r: Option<&ComponentState>,
        complete: bool,
    ) -> Option<ComponentChange> {
        let policy = Policy {
            environment_specific_keys: vec!["DB_HOST".into()],
            ..Policy::default()
        }
        .compile()
        .unwrap();
        let identity = ArtifactIdentity::new(&[(digest(10), digest(11))]);
        component_change(&component("api"), l, r, complete, &identity, &policy)
    }

    #[test]
    fn equal_states_are_no_change() {
        let s = StateBuilder::new()
            .container("api", &[digest(1)])
            .config("A", "1")
            .build();
        assert_eq!(change(Some(&s), Some(&s.clone()), true), None);
        assert_eq!(change(None, None, true), None);
    }

    #[test]
    fn refs_and_sources_alone_are_no_change() {
        let s = StateBuilder::new()
            .container("api", &[digest(1)])
            .config("A", "1");
        let (staging, prod) = (
            s.clone().namespaced("staging").build(),
            s.namespaced("prod").build(),
        );
        assert_ne!(staging, prod);
        assert_eq!(change(Some(&staging), Some(&prod), true), None);
    }

    #[test]
    fn platform_and_index_digest_are_no_change() {
        let l = StateBuilder::new().container("api", &[digest(10)]).build();
        let r = StateBuilder::new().container("api", &[digest(11)]).build();
        assert_eq!(change(Some(&l), Some(&r), true), None);
    }

    #[test]
    fn new_artifact_is_changed() {
        let l = StateBuilder::new().container("api", &[digest(1)]).build();
        let r = StateBuilder::new().container("api", &[digest(2)]).build();
        let c = change(Some(&l), Some(&r), true).unwrap();
        assert_eq!(c.change, ChangeKind::Changed);
        assert!(c.artifacts_changed);
        assert_eq!(c.left_artifacts, vec![digest(1)]);
        assert_eq!(c.right_artifacts, vec![digest(2)]);
        assert!(c.config.is_empty() && c.infrastructure.is_empty());
    }

    #[test]
    fn added_removed_and_unknown() {
        let s = StateBuilder::new().container("api", &[digest(1)]).build();
        assert_eq!(
            change(None, Some(&s), true).unwrap().change,
            ChangeKind::Added
        );
        assert_eq!(
            change(Some(&s), None, true).unwrap().change,
            ChangeKind::Removed
        );
        let unknown = change(Some(&s), None, false).unwrap();
        assert_eq!(unknown.change, ChangeKind::Unknown);
        assert!(!unknown.artifacts_changed);
    }

    #[test]
    fn config_changes_carry_fingerprints_and_flags_never_values() {
        let l = StateBuilder::new()
            .container("api", &[digest(1)])
            .config("LOG", "info")
            .config("DB_HOST", "db.staging")
            .secret("TOKEN", "hunter2")
            .config("SAME", "x")
            .build();
        let r = StateBuilder::new()
            .container("api", &[digest(1)])
            .config("LOG", "debug")
            .config("DB_HOST", "db.prod")
            .secret("TOKEN", "hunter3")
            .config("SAME", "x")
            .config("NEW", "y")
            .build();
        let c = change(Some(&l), Some(&r), true).unwrap();
        assert_eq!(c.change, ChangeKind::Changed);
        assert!(!c.artifacts_changed);
        let keys: Vec<_> = c.config.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["DB_HOST", "LOG", "NEW", "TOKEN"]);
        let by = |k: &str| c.config.iter().find(|c| c.key == k).unwrap();
        assert!(by("DB_HOST").environment_specific && !by("LOG").environment_specific);
        assert!(by("TOKEN").secret && !by("LOG").secret);
        assert!(by("NEW").left.is_empty() && by("NEW").right.len() == 1);
        let json = serde_json::to_string(&c).unwrap();
        for value in ["info", "debug", "hunter2", "db.prod"] {
            assert!(!json.contains(value), "value {value} leaked: {json}");
        }
    }

    #[test]
    fn infrastructure_attributes_matched_by_address() {
        let l = StateBuilder::new()
            .infra(
                "aws_db_instance.main",
                "aws_db_instance",
                json!({"class": "db.t3", "multi_az": true}),
            )
            .infra("aws_sqs_queue.old", "aws_sqs_queue", json!({"fifo": false}))
            .build();
        let r = StateBuilder::new()
            .infra(
                "aws_db_instance.main",
                "aws_db_instance",
                json!({"class": "db.m5", "multi_az": true}),
            )
            .build();
        let c = change(Some(&l), Some(&r), true).unwrap();
        let got: Vec<_> = c
            .infrastructure
            .iter()
            .map(|a| (a.address.as_str(), a.attribute.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("aws_db_instance.main", "class"),
                ("aws_sqs_queue.old", "@type"),
                ("aws_sqs_queue.old", "fifo")
            ]
        );
        assert_eq!(c.infrastructure[0].left, Some(json!("db.t3")));
        assert_eq!(c.infrastructure[0].right, Some(json!("db.m5")));
        assert_eq!(c.infrastructure[2].right, None);
    }

    #[test]
    fn changed_keys_merges_the_config_of_several_workloads() {
        let one = StateBuilder::new()
            .config("A", "1")
            .config("B", "2")
            .config("C", "3")
            .build();
        let two = StateBuilder::new()
            .config("A", "1")
            .config("C", "4")
            .config("D", "5")
            .build();
        assert_eq!(changed_keys(&one, &two), ["B", "C", "D"]);
        assert!(!same_config(&one, &two));
        assert!(same_config(&one, &one.clone()));

        // The same config split over two workloads: equal as a whole.
        let mut split = StateBuilder::new()
            .container_in("Deployment/app/other", "x", &[])
            .config("A", "1")
            .build();
        split.workloads[0]
            .config
            .insert("B".into(), one.workloads[0].config["B"].clone());
        split.workloads[1]
            .config
            .insert("C".into(), one.workloads[0].config["C"].clone());
        assert_eq!(split.workloads.len(), 2);
        assert!(changed_keys(&one, &split).is_empty());
        assert!(same_config(&split, &one));
        // A key with two values across workloads differs from the same key with one.
        split.workloads[0]
            .config
            .insert("C".into(), two.workloads[0].config["C"].clone());
        assert_eq!(changed_keys(&one, &split), ["C"]);
    }
}
