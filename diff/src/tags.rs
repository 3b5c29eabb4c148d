//! `mutable_tag`: the same repository:tag was resolved to different digests, in different
//! environments or over time. Tags are recorded on the artifact facts at collection time (the OCI
//! enrichment resolves them then), so every environment's current facts and the store's tag
//! history ([`ReportInput::tag_history`]) say where each tag pointed and when.
//!
//! One finding per environment of the path whose current facts carry a tag that has pointed
//! elsewhere (in another environment or in an earlier snapshot): the finding names the digests,
//! where and when each was seen, and is about the components of that environment that declare the
//! tag or run what it points to. A platform manifest and its index count as one digest.

use std::collections::{BTreeMap, BTreeSet};

use envtrail_model::time::format_time;
use envtrail_model::view::{ReportInput, SnapshotRef, TagSighting};
use envtrail_model::{ComponentName, Digest, EnvName, Finding, FindingKind};

use crate::context::{Context, evidence};
use crate::findings::{finding, list};

/// Where one (canonical) digest was seen under a tag: environment → (first, last).
type Seen<'a> = BTreeMap<&'a EnvName, (&'a SnapshotRef, &'a SnapshotRef)>;

/// Every `mutable_tag` finding of the report.
pub(crate) fn mutable_tags(ctx: &Context<'_>, input: &ReportInput, out: &mut Vec<Finding>) {
    // The environments' current facts count even without history.
    let current: Vec<TagSighting> = ctx
        .envs
        .iter()
        .filter_map(|e| e.state)
        .flat_map(|state| {
            state.artifacts.values().flat_map(move |a| {
                a.tags.iter().map(move |tag| TagSighting {
                    repository: a.repository.clone(),
                    tag: tag.clone(),
                    digest: a.digest.clone(),
                    environment: state.environment.clone(),
                    first: state.snapshot.clone(),
                    last: state.snapshot.clone(),
                })
            })
        })
        .collect();
    // (repository, tag) → canonical digest → environment → (first, last).
    let mut tags: BTreeMap<(&str, &str), BTreeMap<Digest, Seen<'_>>> = BTreeMap::new();
    for s in input.tag_history.iter().chain(&current) {
        if s.first.taken_at > ctx.at {
            continue;
        }
        let seen = tags
            .entry((s.repository.as_str(), s.tag.as_str()))
            .or_default()
            .entry(ctx.identity.canonical(&s.digest))
            .or_default()
            .entry(&s.environment)
            .or_insert((&s.first, &s.last));
        if s.first.taken_at < seen.0.taken_at {
            seen.0 = &s.first;
        }
        if s.last.taken_at > seen.1.taken_at {
            seen.1 = &s.last;
        }
    }

    for e in &ctx.envs {
        let Some(state) = e.state else { continue };
        let mut done = BTreeSet::new();
        for a in state.artifacts.values() {
            for tag in &a.tags {
                let key = (a.repository.as_str(), tag.as_str());
                let Some(digests) = tags.get(&key) else {
                    continue;
                };
                if digests.len() < 2 || !done.insert(key) {
                    continue;
                }
                let now = ctx.identity.canonical(&a.digest);
                let image = format!("{}:{tag}", a.repository);
                let components = components_of(state, &image, &now, ctx);
                let mut f = finding(FindingKind::MutableTag, e.name, None);
                f.digests = digests.keys().cloned().collect();
                f.keys = vec![image.clone()];
                let mut places: Vec<String> = Vec::new();
                for (d, seen) in digests {
                    let wheres = list(seen.iter().map(|(env, (first, last))| {
                        if first.seq == last.seq && first.environment == last.environment {
                            format!("{env} {}", format_time(&first.taken_at))
                        } else {
                            format!(
                                "{env} {} to {}",
                                format_time(&first.taken_at),
                                format_time(&last.taken_at)
                            )
                        }
                    }));
                    places.push(format!("{} ({wheres})", d.short()));
                    for (first, last) in seen.values() {
                        f.evidence.push(evidence("tag_seen", first));
                        if last != first {
                            f.evidence.push(evidence("tag_seen", last));
                        }
                    }
                }
                let other = digests
                    .values()
                    .flat_map(|s| s.keys())
                    .find(|env| **env != e.name);
                f.related_environment = other.map(|env| (*env).clone());
                f.message = format!(
                    "{image} is mutable: it resolved to {}; {} now has {}",
                    places.join(" and "),
                    e.name,
                    now.short(),
                );
                f.evidence.extend(e.current());
                if components.is_empty() {
                    out.push(f);
                } else {
                    for c in components {
                        let mut f = f.clone();
                        f.component = Some(c.clone());
                        out.push(f);
                    }
                }
            }
        }
    }
}

/// The components of `state` that declare `image` or run `digest` (canonical).
fn components_of<'a>(
    state: &'a envtrail_model::view::EnvironmentState,
    image: &str,
    digest: &Digest,
    ctx: &Context<'_>,
) -> Vec<&'a ComponentName> {
    state
        .components
        .iter()
        .filter(|(_, entry)| {
            entry
                .current
                .state
                .workloads
                .iter()
                .flat_map(|w| &w.containers)
                .any(|c| {
                    c.image == image
                        || c.artifact_digests()
                            .any(|d| ctx.identity.canonical_ref(d) == digest)
                })
        })
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use envtrail_model::FindingKind;
    use envtrail_model::view::TagSighting;

    use crate::test_support::*;

    const REPO: &str = "registry.example.com/app";

    #[test]
    fn tag_on_different_digests_in_two_environments() {
        let staging = EnvBuilder::at("staging")
            .component("app", runs(&[digest(2)]))
            .tagged(&digest(2), REPO, "1.0");
        let prod = EnvBuilder::at("prod")
            .component("app", runs(&[digest(1)]))
            .tagged(&digest(1), REPO, "1.0");
        let r = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        let found = of_kind(&r, FindingKind::MutableTag);
        assert_eq!(found.len(), 2, "{:?}", r.findings);
        let prod = found.iter().find(|f| f.environment == env("prod")).unwrap();
        assert_eq!(prod.component, Some(component("app")));
        assert_eq!(prod.related_environment, Some(env("staging")));
        assert_eq!(prod.keys, [format!("{REPO}:1.0")]);
        let mut want = vec![digest(1), digest(2)];
        want.sort();
        assert_eq!(prod.digests, want);
        assert!(
            prod.message.contains(&digest(1).short()) && prod.message.contains(&digest(2).short())
        );
        assert!(
            prod.message.contains("2026-03-10T11:00:00Z"),
            "when each was seen: {}",
            prod.message
        );
    }

    #[test]
    fn tag_moved_over_time_in_one_environment() {
        let prod = EnvBuilder::at("prod")
            .component("app", runs(&[digest(1)]))
            .tagged(&digest(2), REPO, "1.0");
        let mut i = input(&["prod"], vec![Some(prod.build())]);
        i.tag_history.push(TagSighting {
            repository: REPO.into(),
            tag: "1.0".into(),
            digest: digest(1),
            environment: env("prod"),
            first: snap("prod", 1, 48),
            last: snap("prod", 2, 24),
        });
        let r = run(&i);
        let found = of_kind(&r, FindingKind::MutableTag);
        assert_eq!(found.len(), 1, "{:?}", r.findings);
        assert!(found[0].message.contains(" to "), "{}", found[0].message);
        assert_eq!(found[0].related_environment, None);
        assert!(
            found[0]
                .evidence
                .iter()
                .any(|e| e.role == "tag_seen" && e.snapshot.seq == 2)
        );
    }

    #[test]
    fn same_digest_everywhere_and_index_of_platform_are_not_mutable() {
        let staging = EnvBuilder::at("staging")
            .component("app", runs(&[digest(1)]))
            .tagged(&digest(1), REPO, "1.0");
        // prod recorded the tag on the index of the platform manifest staging recorded.
        let prod = EnvBuilder::at("prod")
            .component("app", runs(&[digest(1)]))
            .index(&digest(1), &digest(9))
            .tagged(&digest(9), REPO, "1.0");
        let r = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        assert!(
            of_kind(&r, FindingKind::MutableTag).is_empty(),
            "{:?}",
            r.findings
        );
    }
}
