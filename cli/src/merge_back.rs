//! Glue for hotfix merge-back: find each running artifact's revision in the report input, map it
//! to a repository by the `[merge_back]` config, ask the git collector, and hand the facts to the
//! diff (`unmerged_hotfix`). Repositories are checked in parallel threads, one per repository.

use std::collections::{BTreeMap, BTreeSet};

use envtrail_collect_git::RepoSpec;
use envtrail_model::revision::MergeFacts;
use envtrail_model::view::ReportInput;
use envtrail_model::{ComponentName, Digest};
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::merge_back::{MergeBackConfig, RepositoryMapping};

fn globs(patterns: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        // Checked when the config was read.
        b.add(Glob::new(p).expect("config globs are checked at load"));
    }
    b.build().expect("checked globs build")
}

/// The merge-back facts of every artifact the input's environments run with a known revision
/// that the config maps to a repository.
pub fn facts(input: &ReportInput, config: &MergeBackConfig) -> MergeFacts {
    if config.repositories.is_empty() {
        return MergeFacts::new();
    }
    let matchers: Vec<(GlobSet, GlobSet)> = config
        .repositories
        .iter()
        .map(|r| (globs(&r.artifacts), globs(&r.components)))
        .collect();
    // repository index -> revision -> digests built from it.
    let mut wanted: BTreeMap<usize, BTreeMap<String, BTreeSet<Digest>>> = BTreeMap::new();
    for state in input.environments.iter().flatten() {
        // digest -> the components running it here.
        let mut runners: BTreeMap<&Digest, Vec<&ComponentName>> = BTreeMap::new();
        for (name, entry) in &state.components {
            for d in entry.current.state.artifact_digests() {
                if let Some((key, _)) = state.artifacts.get_key_value(&d) {
                    runners.entry(key).or_default().push(name);
                }
            }
        }
        for (digest, artifact) in &state.artifacts {
            let Some(revision) = artifact.revision.as_deref().filter(|r| !r.is_empty()) else {
                continue;
            };
            let components = runners.get(digest).map(Vec::as_slice).unwrap_or_default();
            let found = matchers.iter().position(|(arts, comps)| {
                arts.is_match(&artifact.repository)
                    || components.iter().any(|c| comps.is_match(c.as_str()))
            });
            if let Some(i) = found {
                wanted
                    .entry(i)
                    .or_default()
                    .entry(revision.to_owned())
                    .or_default()
                    .insert(digest.clone());
            }
        }
    }
    let checked: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = wanted
            .iter()
            .map(|(&i, revisions)| {
                let mapping: &RepositoryMapping = &config.repositories[i];
                scope.spawn(move || {
                    let spec = RepoSpec {
                        url: mapping.url.clone(),
                        mainline: mapping.mainline.clone(),
                    };
                    let list: Vec<String> = revisions.keys().cloned().collect();
                    (
                        revisions,
                        envtrail_collect_git::check(&spec, &config.cache_dir, &list),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a repository check does not panic"))
            .collect()
    });
    let mut out = MergeFacts::new();
    for (revisions, facts) in checked {
        for (revision, digests) in revisions {
            if let Some(fact) = facts.get(revision) {
                for d in digests {
                    out.insert(d.clone(), fact.clone());
                }
            }
        }
    }
    out
}
