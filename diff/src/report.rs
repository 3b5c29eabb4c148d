//! `envtrail report`: every finding along a promotion path at one instant. Checks the input,
//! builds the shared [`Context`], runs every rule (in parallel over components), applies the
//! policy's severities and ignore rules, counts, and sorts with [`Finding::sort_key`] so the
//! output is the same whatever the thread schedule.

use std::collections::BTreeMap;

use envtrail_model::output::{EnvironmentEvidence, IgnoredFinding, REPORT_SCHEMA, Report, Summary};
use envtrail_model::revision::MergeFacts;
use envtrail_model::view::{ComponentEntry, ReportInput};
use envtrail_model::{ComponentName, Finding};
use rayon::prelude::*;

use crate::artifacts::unverified;
use crate::compare::{evidence, join};
use crate::config_drift::config_drift;
use crate::context::Context;
use crate::error::DiffError;
use crate::findings::normalize;
use crate::health::health;
use crate::identity::ArtifactIdentity;
use crate::infra_drift::infra_drift;
use crate::merge_back::{link_hotfixes, unmerged_hotfixes};
use crate::mixed_versions::mixed_versions;
use crate::out_of_band::out_of_band;
use crate::policy::Policy;
use crate::presence::{missing, orphan};
use crate::promotion::promotion;
use crate::tags::mutable_tags;

/// The report for `input` under `policy`. `chain_head` is left `None` for the caller to fill.
pub fn report(input: &ReportInput, policy: &Policy) -> Result<Report, DiffError> {
    report_with_merge_facts(input, policy, &MergeFacts::new())
}

/// [`report`], plus `unmerged_hotfix` findings from merge-back facts (by artifact digest) that the
/// git collector computed.
pub fn report_with_merge_facts(
    input: &ReportInput,
    policy: &Policy,
    merge_facts: &MergeFacts,
) -> Result<Report, DiffError> {
    check(input)?;
    let policy = policy.compile()?;
    let identity = ArtifactIdentity::for_environments(
        &input.artifact_links,
        input.environments.iter().flatten(),
    );
    let ctx = Context::new(
        input.at,
        &input.path,
        &input.environments,
        &identity,
        &policy,
    );

    let mut found: Vec<Finding> = Vec::new();
    for k in 0..ctx.envs.len() {
        health(&ctx, k, &mut found);
        found.extend(component_findings(&ctx, k));
    }
    mutable_tags(&ctx, input, &mut found);
    unmerged_hotfixes(&ctx, merge_facts, &mut found);
    link_hotfixes(&mut found);

    let today = input.at.date_naive();
    let mut findings = Vec::with_capacity(found.len());
    let mut ignored = Vec::new();
    for mut f in found {
        f.severity = policy.finding_severity(&f, &input.path);
        normalize(&mut f);
        match policy.ignore_rule(&f, today) {
            Some(rule) => ignored.push(IgnoredFinding {
                finding: f,
                rule: rule.to_ref(),
            }),
            None => findings.push(f),
        }
    }
    // Rules emit findings in component order per environment: grouped by severity and kind
    // first (cheap keys), each group is a few sorted runs, which the full sort merges in near
    // linear time instead of comparing names n log n times.
    findings.sort_by_key(|f| (std::cmp::Reverse(f.severity), f.kind));
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    ignored.sort_by(|a, b| a.finding.sort_key().cmp(&b.finding.sort_key()));

    Ok(Report {
        schema: REPORT_SCHEMA.to_owned(),
        at: input.at,
        path: input.path.clone(),
        environments: ctx
            .envs
            .iter()
            .map(|e| match e.state {
                Some(state) => evidence(state),
                None => EnvironmentEvidence {
                    environment: e.name.clone(),
                    snapshot: None,
                    next: None,
                    sources: Vec::new(),
                    complete: false,
                },
            })
            .collect(),
        chain_head: None,
        summary: summarize(&findings, ignored.len()),
        findings,
        ignored,
    })
}

fn check(input: &ReportInput) -> Result<(), DiffError> {
    if input.path.len() != input.environments.len() {
        return Err(DiffError::PathLength {
            path: input.path.len(),
            environments: input.environments.len(),
        });
    }
    for (index, (name, state)) in input.path.iter().zip(&input.environments).enumerate() {
        if let Some(state) = state
            && state.environment != *name
        {
            return Err(DiffError::PathMismatch {
                index,
                expected: name.clone(),
                found: state.environment.clone(),
            });
        }
    }
    Ok(())
}

/// The findings about components of `ctx.envs[k]`, and about components of its upstream neighbour
/// that it lacks.
fn component_findings(ctx: &Context<'_>, k: usize) -> Vec<Finding> {
    static NONE: BTreeMap<ComponentName, ComponentEntry> = BTreeMap::new();
    let Some(state) = ctx.envs[k].state else {
        return Vec::new();
    };
    let upstream = if k > 0 { ctx.envs[k - 1].state } else { None };
    let rows = join(upstream.map_or(&NONE, |u| &u.components), &state.components);
    rows.par_iter()
        .with_min_len(256)
        .flat_map_iter(|&(name, up, here)| {
            let mut out = Vec::new();
            let Some(entry) = here else {
                // Only upstream (so k > 0).
                missing(ctx, k, name, &mut out);
                return out;
            };
            out_of_band(ctx, k, name, entry, &mut out);
            unverified(ctx, k, name, entry, &mut out);
            mixed_versions(ctx, k, name, entry, &mut out);
            if k > 0 {
                promotion(ctx, k, name, up, entry, &mut out);
                match up {
                    Some(u_entry) => {
                        config_drift(ctx, k, name, u_entry, entry, &mut out);
                        infra_drift(ctx, k, name, u_entry, entry, &mut out);
                    }
                    None => orphan(ctx, k, name, &mut out),
                }
            }
            out
        })
        .collect()
}

fn summarize(findings: &[Finding], ignored: usize) -> Summary {
    let mut summary = Summary {
        total: findings.len(),
        ignored,
        ..Summary::default()
    };
    for f in findings {
        *summary.by_severity.entry(f.severity).or_default() += 1;
        *summary.by_kind.entry(f.kind).or_default() += 1;
    }
    summary.highest = findings.iter().map(|f| f.severity).max();
    summary
}
