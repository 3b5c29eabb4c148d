//! `unmerged_hotfix`: an environment runs an artifact built from a commit that is not on its
//! repository's mainline, so the next release cut from the mainline would drop the fix.
//!
//! Pure: the facts ([`MergeFacts`], by artifact digest) are computed by the git collector and
//! handed in; this module only reads them. Only `unmerged` facts make findings: `unknown` (commit
//! not found, repository unreachable) never does, and a cherry-picked commit counts as merged. A
//! platform manifest and its image index share their facts (artifact identity). When the same
//! artifact is also an `unpromoted_hotfix` in the same environment, both messages say so: the two
//! findings are two sides of one hotfix (made downstream, and never merged back).

use std::collections::BTreeSet;

use envtrail_model::revision::{MergeFacts, MergeStatus, RevisionFact};
use envtrail_model::{ComponentName, Digest, EnvName, Finding, FindingKind};

use crate::context::Context;
use crate::findings::{finding, list};

/// Appends an `unmerged_hotfix` per (environment, component, artifact) whose fact is unmerged.
pub(crate) fn unmerged_hotfixes(ctx: &Context<'_>, facts: &MergeFacts, out: &mut Vec<Finding>) {
    if facts.is_empty() {
        return;
    }
    let fact_of = |digest: &Digest| -> Option<&RevisionFact> {
        let canonical = ctx.identity.canonical_ref(digest);
        std::iter::once(digest)
            .chain(ctx.identity.members(canonical))
            .find_map(|d| facts.get(d))
    };
    // (component, canonical digest) -> environments running it, for the messages.
    let running_in = |name: &ComponentName, digest: &Digest| -> Vec<&EnvName> {
        ctx.envs
            .iter()
            .filter(|e| {
                e.state
                    .and_then(|s| s.components.get(name))
                    .is_some_and(|entry| {
                        ctx.identity
                            .artifacts(&entry.current.state)
                            .contains(ctx.identity.canonical_ref(digest))
                    })
            })
            .map(|e| e.name)
            .collect()
    };
    for env in &ctx.envs {
        let Some(state) = env.state else { continue };
        for (name, entry) in &state.components {
            for digest in ctx.identity.artifacts(&entry.current.state) {
                let Some(fact) = fact_of(digest) else {
                    continue;
                };
                if fact.status != MergeStatus::Unmerged {
                    continue;
                }
                let mut f = finding(FindingKind::UnmergedHotfix, env.name, Some(name));
                f.digests = vec![digest.clone()];
                f.keys = vec![fact.revision.clone()];
                let short = &fact.revision[..fact.revision.len().min(12)];
                let branches = if fact.branches.is_empty() {
                    String::new()
                } else {
                    format!(" (it is on {})", list(&fact.branches))
                };
                f.message = format!(
                    "{name}: {} runs {} built from commit {short} of {}, which is not on {}{branches}; \
                     running in {}; the next release from {} would drop it",
                    env.name,
                    digest.short(),
                    fact.repository,
                    fact.mainline,
                    list(running_in(name, digest)),
                    fact.mainline,
                );
                f.evidence.extend(env.current());
                out.push(f);
            }
        }
    }
}

/// Notes in both messages when an `unpromoted_hotfix` and an `unmerged_hotfix` are about the same
/// artifact of the same component in the same environment.
pub(crate) fn link_hotfixes(found: &mut [Finding]) {
    let key = |f: &Finding, d: &Digest| (f.environment.clone(), f.component.clone(), d.clone());
    let unmerged: BTreeSet<_> = found
        .iter()
        .filter(|f| f.kind == FindingKind::UnmergedHotfix)
        .flat_map(|f| f.digests.iter().map(|d| key(f, d)))
        .collect();
    let unpromoted: BTreeSet<_> = found
        .iter()
        .filter(|f| f.kind == FindingKind::UnpromotedHotfix)
        .flat_map(|f| f.digests.iter().map(|d| key(f, d)))
        .collect();
    for f in found.iter_mut() {
        let (other, note) = match f.kind {
            FindingKind::UnmergedHotfix => (
                &unpromoted,
                "; linked: also an unpromoted_hotfix (it never ran upstream)",
            ),
            FindingKind::UnpromotedHotfix => (
                &unmerged,
                "; linked: also an unmerged_hotfix (its commit is not on the mainline)",
            ),
            _ => continue,
        };
        if f.digests.iter().any(|d| other.contains(&key(f, d))) {
            f.message.push_str(note);
        }
    }
}

#[cfg(test)]
mod tests {
    use envtrail_model::revision::{MergeFacts, MergeStatus, RevisionFact};
    use envtrail_model::{FindingKind, Severity};

    use crate::test_support::*;
    use crate::{Policy, report, report_with_merge_facts};

    fn fact(status: MergeStatus, branches: &[&str]) -> RevisionFact {
        RevisionFact {
            revision: "c0ffee1234567890c0ffee1234567890c0ffee12".into(),
            repository: "https://git.example.com/shop/api.git".into(),
            mainline: "main".into(),
            status,
            branches: branches.iter().map(|b| b.to_string()).collect(),
            detail: None,
        }
    }

    /// staging and prod both run d2 (promoted normally); prod also runs d9 in `hotfix`, never
    /// upstream.
    fn input() -> envtrail_model::view::ReportInput {
        let staging = EnvBuilder::at("staging")
            .component("api", runs(&[digest(2)]))
            .component("hotfix", runs(&[digest(8)]));
        let prod = EnvBuilder::at("prod")
            .component("api", runs(&[digest(2)]))
            .component("hotfix", runs(&[digest(9)]));
        super::super::test_support::input(
            &["staging", "prod"],
            vec![Some(staging.build()), Some(prod.build())],
        )
    }

    fn with(facts: MergeFacts) -> envtrail_model::output::Report {
        report_with_merge_facts(&input(), &Policy::default(), &facts).unwrap()
    }

    #[test]
    fn an_unmerged_revision_is_a_high_finding_in_every_environment_running_it() {
        let r = with(MergeFacts::from([(
            digest(2),
            fact(MergeStatus::Unmerged, &["release/1.4"]),
        )]));
        let found = of_kind(&r, FindingKind::UnmergedHotfix);
        assert_eq!(found.len(), 2, "{:?}", summary_lines(&r));
        let envs: Vec<_> = found.iter().map(|f| f.environment.as_str()).collect();
        assert_eq!(envs, ["prod", "staging"]);
        let f = found[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.component.as_ref().unwrap().as_str(), "api");
        assert_eq!(f.digests, [digest(2)]);
        assert_eq!(f.keys, ["c0ffee1234567890c0ffee1234567890c0ffee12"]);
        assert!(f.message.contains("c0ffee123456"), "{}", f.message);
        assert!(f.message.contains("not on main"), "{}", f.message);
        assert!(f.message.contains("release/1.4"), "{}", f.message);
        assert!(
            f.message.contains("running in staging, prod"),
            "{}",
            f.message
        );
        assert_eq!(f.evidence[0].role, "current");
        // Nothing links it: d2 ran upstream.
        assert!(!f.message.contains("linked"), "{}", f.message);
    }

    #[test]
    fn merged_cherry_picked_and_unknown_revisions_make_no_finding() {
        let plain = report(&input(), &Policy::default()).unwrap();
        for status in [
            MergeStatus::Merged,
            MergeStatus::CherryPicked,
            MergeStatus::Unknown,
        ] {
            let r = with(MergeFacts::from([(digest(2), fact(status, &[]))]));
            assert!(
                of_kind(&r, FindingKind::UnmergedHotfix).is_empty(),
                "{status:?}"
            );
            assert_eq!(r, plain, "{status:?}: the report is unchanged");
        }
    }

    #[test]
    fn an_unpromoted_and_unmerged_hotfix_are_linked_both_ways() {
        let r = with(MergeFacts::from([(
            digest(9),
            fact(MergeStatus::Unmerged, &[]),
        )]));
        let unmerged = of_kind(&r, FindingKind::UnmergedHotfix);
        let unpromoted = of_kind(&r, FindingKind::UnpromotedHotfix);
        assert_eq!((unmerged.len(), unpromoted.len()), (1, 1));
        assert_eq!(unmerged[0].component, unpromoted[0].component);
        assert!(
            unmerged[0].message.contains("also an unpromoted_hotfix"),
            "{}",
            unmerged[0].message
        );
        assert!(
            unpromoted[0].message.contains("also an unmerged_hotfix"),
            "{}",
            unpromoted[0].message
        );
    }

    #[test]
    fn facts_on_an_image_index_apply_to_its_platform_manifest() {
        let prod = EnvBuilder::at("prod")
            .component("api", runs(&[digest(3)]))
            .index(&digest(3), &digest(4));
        let input = super::super::test_support::input(&["prod"], vec![Some(prod.build())]);
        let facts = MergeFacts::from([(digest(4), fact(MergeStatus::Unmerged, &[]))]);
        let r = report_with_merge_facts(&input, &Policy::default(), &facts).unwrap();
        assert_eq!(
            of_kind(&r, FindingKind::UnmergedHotfix).len(),
            1,
            "{:?}",
            summary_lines(&r)
        );
    }
}
