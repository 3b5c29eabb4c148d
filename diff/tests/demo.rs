//! The demo fleet in `snapshots/` against its oracle (`snapshots/README.md`): the report at
//! 2026-11-20T12:00:00Z under `snapshots/demo.toml`. The environment states are built here the way
//! the store builds them (intervals of equal state per component, first sightings per artifact),
//! so the diff is checked on realistic data without depending on the store.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use envtrail_diff::{ArtifactPolicy, IgnoreRule, Policy, report};
use envtrail_model::output::Report;
use envtrail_model::view::{
    ComponentEntry, EnvironmentState, ReportInput, Sighting, SnapshotRef, StateInterval,
    TagSighting,
};
use envtrail_model::{Digest, EnvName, FindingKind, Snapshot, Timestamp, parse_time};

fn snapshots() -> Vec<Snapshot> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots");
    let mut all: Vec<Snapshot> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect();
    all.sort_by_key(|s| s.taken_at);
    all
}

/// The snapshots of `environment`, with the references the store would give them.
fn refs<'a>(all: &'a [Snapshot], environment: &EnvName) -> Vec<(SnapshotRef, &'a Snapshot)> {
    all.iter()
        .enumerate()
        .filter(|(_, s)| &s.environment == environment)
        .enumerate()
        .map(|(seq, (id, s))| {
            let r = SnapshotRef {
                id: id as i64 + 1,
                environment: environment.clone(),
                seq: seq as i64 + 1,
                taken_at: s.taken_at,
                hash: format!("{environment}-{}", seq + 1),
            };
            (r, s)
        })
        .collect()
}

/// What the store would answer for `environment` at `at`.
fn state_at(all: &[Snapshot], environment: &EnvName, at: Timestamp) -> Option<EnvironmentState> {
    let mine = refs(all, environment);
    let upto = mine.iter().take_while(|(r, _)| r.taken_at <= at).count();
    let (snapshot, current) = mine.get(upto.checked_sub(1)?)?.clone();
    let next = mine.get(upto).map(|(r, _)| r.clone());

    let mut sightings: HashMap<_, Sighting> = HashMap::new();
    let mut intervals: BTreeMap<_, Vec<StateInterval>> = BTreeMap::new();
    for (i, (r, s)) in mine[..upto].iter().enumerate() {
        for (name, state) in s.component_states() {
            for d in state.artifact_digests() {
                sightings
                    .entry(d)
                    .or_insert_with(|| Sighting { first: r.clone() });
            }
            let hash = state.state_hash();
            let list = intervals.entry(name).or_default();
            // Continue the open interval only if it ran up to the previous snapshot.
            let continues = list.last().is_some_and(|last: &StateInterval| {
                last.state_hash == hash && last.until.as_ref() == Some(r)
            });
            if continues {
                let last = list.last_mut().unwrap();
                last.until = mine.get(i + 1).map(|(r, _)| r.clone());
            } else {
                list.push(StateInterval {
                    from: r.clone(),
                    until: mine.get(i + 1).map(|(r, _)| r.clone()),
                    state_hash: hash,
                    state: Arc::new(state),
                });
            }
        }
    }
    let components = current
        .component_states()
        .into_keys()
        .map(|name| {
            let mut list = intervals.remove(&name).unwrap();
            let mut current = list.pop().unwrap();
            current.until = None;
            (
                name,
                ComponentEntry {
                    current,
                    previous: list,
                },
            )
        })
        .collect();
    Some(EnvironmentState {
        environment: environment.clone(),
        at,
        snapshot,
        next,
        sources: current.sources.clone(),
        components,
        artifacts: current
            .artifacts
            .iter()
            .map(|a| (a.digest.clone(), a.clone()))
            .collect(),
        sightings,
    })
}

/// What the store's tag history would answer at `at`: per environment, where each tag of the
/// artifact facts pointed, from the first to the last snapshot recording it.
fn tag_history(all: &[Snapshot], path: &[EnvName], at: Timestamp) -> Vec<TagSighting> {
    let mut out: BTreeMap<(String, String, Digest, EnvName), (SnapshotRef, SnapshotRef)> =
        BTreeMap::new();
    for env in path {
        for (r, s) in refs(all, env).into_iter().filter(|(r, _)| r.taken_at <= at) {
            for a in &s.artifacts {
                for tag in &a.tags {
                    let key = (
                        a.repository.clone(),
                        tag.clone(),
                        a.digest.clone(),
                        env.clone(),
                    );
                    out.entry(key)
                        .and_modify(|seen| seen.1 = r.clone())
                        .or_insert_with(|| (r.clone(), r.clone()));
                }
            }
        }
    }
    out.into_iter()
        .map(
            |((repository, tag, digest, environment), (first, last))| TagSighting {
                repository,
                tag,
                digest,
                environment,
                first,
                last,
            },
        )
        .collect()
}

/// `snapshots/demo.toml`, by hand (the diff does not read TOML).
fn demo_policy() -> Policy {
    Policy {
        environment_specific_keys: ["DB_HOST", "DB_PASSWORD", "*_URL", "*_API_KEY"]
            .map(String::from)
            .to_vec(),
        environment_specific_attributes: [
            "instance_class",
            "allocated_storage",
            "backup_retention_period",
            "multi_az",
            "password",
        ]
        .map(String::from)
        .to_vec(),
        ignores: vec![IgnoreRule {
            kind: FindingKind::OrphanComponent,
            component: "ops-toolbox".into(),
            expires: Some("2027-01-31".parse().unwrap()),
            reason: Some("break-glass debug pod".into()),
        }],
        artifacts: [(
            "prod".parse().unwrap(),
            ArtifactPolicy {
                require_signature: true,
                identities: [
                    "https://github.com/acme/*/.github/workflows/release.yml@refs/tags/*",
                    "key:istio",
                ]
                .map(String::from)
                .to_vec(),
                ..ArtifactPolicy::default()
            },
        )]
        .into(),
        ..Policy::default()
    }
}

fn demo_report() -> Report {
    let all = snapshots();
    let at = parse_time("2026-11-20T12:00:00Z").unwrap();
    let path: Vec<EnvName> = ["dev", "staging", "prod"]
        .map(|e| e.parse().unwrap())
        .to_vec();
    let environments = path.iter().map(|e| state_at(&all, e, at)).collect();
    let tag_history = tag_history(&all, &path, at);
    let artifact_links = all
        .iter()
        .flat_map(|s| &s.artifacts)
        .filter_map(|a| a.index_digest.clone().map(|i| (a.digest.clone(), i)))
        .collect();
    report(
        &ReportInput {
            at,
            path,
            environments,
            artifact_links,
            tag_history,
        },
        &demo_policy(),
    )
    .unwrap()
}

#[test]
fn demo_report_matches_the_oracle() {
    let r = demo_report();
    let rows: Vec<String> = r
        .findings
        .iter()
        .map(|f| {
            let short: Vec<_> = f.digests.iter().map(|d| d.short()).collect();
            format!(
                "{} {} {} {} {} [{}] [{}]",
                f.severity,
                f.kind,
                f.environment,
                f.component.as_ref().map_or("-", |c| c.as_str()),
                f.related_environment.as_ref().map_or("-", |e| e.as_str()),
                f.keys.join(","),
                short.join(","),
            )
        })
        .collect();
    let expected = [
        "high unpromoted_hotfix prod payments-api staging [] [6cb211a25e79]",
        "high skipped_environment prod inventory-api staging [] [4711c00f0abe]",
        "high collection_gap prod - - [aws/123456789012/eu-west-1] []",
        "high unverified_artifact prod legacy-reports - [signature] [7c7e2fb3d7f1]",
        "medium out_of_order_promotion prod orders-worker staging [] [53933a9eaa9c]",
        "medium out_of_band_change prod orders-worker - [DB_HOST] [53933a9eaa9c]",
        "medium orphan_component prod legacy-reports - [] []",
        "medium stale_snapshot dev - - [] []",
        "medium mutable_tag prod ops-toolbox dev [registry.acme.example/platform/toolbox:2026.11.1] [014f43f35a2f,2d0e7ea1d058]",
        "low config_drift prod notifications staging [EMAIL_BATCH_SIZE,FEATURE_SMS_FALLBACK] []",
        "low mixed_versions prod notifications - [Deployment/notify/notifications/sender] [4ad8343898a4,e5acd767efd2]",
        "info pending_promotion staging checkout-web dev [] [77d35f246408]",
        "info pending_promotion staging inventory-api dev [] [4711c00f0abe]",
        "info missing_component staging search-api dev [] []",
    ];
    assert_eq!(rows, expected, "\n{}", rows.join("\n"));

    assert_eq!(r.ignored.len(), 1);
    let ignored = &r.ignored[0];
    assert_eq!(ignored.finding.kind, FindingKind::OrphanComponent);
    assert_eq!(
        ignored.finding.component.as_ref().unwrap().as_str(),
        "ops-toolbox"
    );
    assert_eq!(ignored.rule.expires.as_deref(), Some("2027-01-31"));
    assert_eq!(r.summary.total, 14);
    assert_eq!(r.summary.ignored, 1);
    assert_eq!(r.summary.by_kind[&FindingKind::PendingPromotion], 2);

    let gap = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::CollectionGap)
        .unwrap();
    assert!(gap.message.contains("connect timeout"), "{}", gap.message);
    let unverified = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::UnverifiedArtifact)
        .unwrap();
    assert!(
        unverified
            .message
            .contains("7c7e2fb3d7f1 (signature missing)"),
        "{}",
        unverified.message
    );
    let moved = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::MutableTag)
        .unwrap();
    // The tag moved over time: the rebuild is recorded in prod's newest snapshot, the first
    // build in every environment before it.
    assert!(
        moved
            .message
            .contains("resolved to 014f43f35a2f (prod 2026-11-20T08:00:00Z)")
            && moved
                .message
                .contains("prod 2026-11-12T14:00:00Z to 2026-11-15T14:00:00Z"),
        "{}",
        moved.message
    );
    assert_eq!(
        moved
            .evidence
            .iter()
            .filter(|e| e.role == "tag_seen")
            .count(),
        5
    );
    let oob = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::OutOfBandChange)
        .unwrap();
    let roles: Vec<_> = oob
        .evidence
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e.role,
                envtrail_model::time::format_time(&e.snapshot.taken_at)
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            "before_change 2026-11-15T14:00:00Z",
            "after_change 2026-11-20T08:00:00Z"
        ]
    );
}

#[test]
fn no_finding_message_carries_a_config_value() {
    let r = demo_report();
    let json = serde_json::to_string(&r).unwrap();
    for value in ["orders-db-replica", "hmac-sha256"] {
        assert!(!json.contains(value), "{value:?} leaked into the report");
    }
}
