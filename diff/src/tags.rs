//! `mutable_tag`: the same repository:tag was resolved to different digests, in different
//! environments or over time. Tags are recorded on the artifact facts at collection time (the OCI
//! enrichment resolves them then), so every environment's current facts and the store's tag
//! history ([`ReportInput::tag_history`]) say where each tag pointed and when.
//!
//! One finding per environment of the path whose current facts carry a tag that has pointed
//! elsewhere (in another environment or in an earlier snapshot): the finding names the digests,
//! where and when each was seen, and is about the components of that environment that declare the
//! tag or run what it points to. A platform manifest and its index count as one digest.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use envtrail_model::time::format_time;
use envtrail_model::view::{EnvironmentState, ReportInput, SnapshotRef};
use envtrail_model::{ComponentName, Digest, EnvName, Finding, FindingKind};

use crate::context::{Context, evidence};
use crate::findings::{finding, list};

/// Where one (canonical) digest was seen under a tag: environment → (first, last).
type Seen<'a> = BTreeMap<&'a EnvName, (&'a SnapshotRef, &'a SnapshotRef)>;

/// (repository, tag) → canonical digest → environment → (first, last). Everything borrowed: a
/// fleet records a tag on most of its artifacts, so nothing is cloned per tag.
type Tags<'a> = HashMap<(&'a str, &'a str), BTreeMap<&'a Digest, Seen<'a>>>;

/// One record of where a tag pointed: from the store's tag history or an environment's current
/// artifact facts.
struct Sighted<'a> {
    repository: &'a str,
    tag: &'a str,
    digest: &'a Digest,
    environment: &'a EnvName,
    first: &'a SnapshotRef,
    last: &'a SnapshotRef,
}

/// Every tag record at or before the report time: the history, then the environments' current
/// facts (which count even without history).
fn sightings<'a, 'c>(
    ctx: &'c Context<'a>,
    input: &'a ReportInput,
) -> impl Iterator<Item = Sighted<'a>> + 'c {
    let history = input.tag_history.iter().map(|s| Sighted {
        repository: &s.repository,
        tag: &s.tag,
        digest: &s.digest,
        environment: &s.environment,
        first: &s.first,
        last: &s.last,
    });
    let current = ctx.envs.iter().filter_map(|e| e.state).flat_map(|state| {
        state.artifacts.values().flat_map(move |a| {
            a.tags.iter().map(move |tag| Sighted {
                repository: &a.repository,
                tag,
                digest: &a.digest,
                environment: &state.environment,
                first: &state.snapshot,
                last: &state.snapshot,
            })
        })
    });
    history
        .chain(current)
        .filter(move |s| s.first.taken_at <= ctx.at)
}

/// Every `mutable_tag` finding of the report.
pub(crate) fn mutable_tags<'a>(ctx: &Context<'a>, input: &'a ReportInput, out: &mut Vec<Finding>) {
    // First pass, cheap: which tags pointed at more than one artifact? (`None`: several.) Most
    // tags of a fleet never move, and only the ones that did need the detail below.
    let mut pointed: HashMap<(&str, &str), Option<&Digest>> = HashMap::new();
    for s in sightings(ctx, input) {
        let digest = ctx.identity.canonical_ref(s.digest);
        pointed
            .entry((s.repository, s.tag))
            .and_modify(|seen| {
                if *seen != Some(digest) {
                    *seen = None;
                }
            })
            .or_insert(Some(digest));
    }
    pointed.retain(|_, seen| seen.is_none());
    if pointed.is_empty() {
        return;
    }
    let mut tags: Tags<'a> = HashMap::new();
    for s in sightings(ctx, input) {
        if !pointed.contains_key(&(s.repository, s.tag)) {
            continue;
        }
        let seen = tags
            .entry((s.repository, s.tag))
            .or_default()
            .entry(ctx.identity.canonical_ref(s.digest))
            .or_default()
            .entry(s.environment)
            .or_insert((s.first, s.last));
        if s.first.taken_at < seen.0.taken_at {
            seen.0 = s.first;
        }
        if s.last.taken_at > seen.1.taken_at {
            seen.1 = s.last;
        }
    }

    for e in &ctx.envs {
        let Some(state) = e.state else { continue };
        let mut done = BTreeSet::new();
        let mut users: Option<Users<'_>> = None;
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
                let components = users
                    .get_or_insert_with(|| Users::index(state, ctx))
                    .using(&image, &now);
                let mut f = finding(FindingKind::MutableTag, e.name, None);
                f.digests = digests.keys().map(|&d| d.clone()).collect();
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

/// Which components of one environment declare each image and run each artifact: built once
/// per environment that has a mutable tag, so that naming the components of every mutable tag
/// does not scan the whole environment again.
struct Users<'a> {
    by_image: HashMap<&'a str, Vec<&'a ComponentName>>,
    by_digest: HashMap<&'a Digest, Vec<&'a ComponentName>>,
}

impl<'a> Users<'a> {
    fn index(state: &'a EnvironmentState, ctx: &Context<'a>) -> Self {
        let mut users = Users {
            by_image: HashMap::new(),
            by_digest: HashMap::new(),
        };
        for (name, entry) in &state.components {
            for c in entry
                .current
                .state
                .workloads
                .iter()
                .flat_map(|w| &w.containers)
            {
                users
                    .by_image
                    .entry(c.image.as_str())
                    .or_default()
                    .push(name);
                for d in c.artifact_digests() {
                    users
                        .by_digest
                        .entry(ctx.identity.canonical_ref(d))
                        .or_default()
                        .push(name);
                }
            }
        }
        users
    }

    /// The components that declare `image` or run `digest` (canonical), by name.
    fn using(&self, image: &str, digest: &Digest) -> Vec<&'a ComponentName> {
        let mut names: Vec<&ComponentName> = self
            .by_image
            .get(image)
            .into_iter()
            .chain(self.by_digest.get(digest))
            .flatten()
            .copied()
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
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

    #[test]
    fn mutable_tag_names_components_by_image_or_digest_once_each() {
        let staging = EnvBuilder::at("staging")
            .component("app", runs(&[digest(2)]))
            .tagged(&digest(2), REPO, "latest");
        // prod: `app` declares registry.example.com/app:latest, `worker` runs what the tag
        // points to here, `other` neither.
        let prod = EnvBuilder::at("prod")
            .component("app", runs(&[digest(1)]))
            .component(
                "worker",
                StateBuilder::new().container("w", &[digest(1)]).build(),
            )
            .component(
                "other",
                StateBuilder::new().container("o", &[digest(3)]).build(),
            )
            .tagged(&digest(1), REPO, "latest");
        let r = run(&input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        ));
        let in_prod: Vec<_> = of_kind(&r, FindingKind::MutableTag)
            .into_iter()
            .filter(|f| f.environment == env("prod"))
            .map(|f| f.component.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(in_prod, ["app", "worker"]);
    }
}
