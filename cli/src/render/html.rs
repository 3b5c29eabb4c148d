//! `--format html`: the report as one self-contained page (inline CSS and JS, nothing fetched), for
//! release managers, CI artifacts and audits. Rendered with minijinja from `report.html`; the
//! template's name ends in `.html`, so minijinja HTML-escapes every value it prints: component
//! names, messages and reasons come from clusters and configs and are never trusted as markup.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use envtrail_model::Severity;
use envtrail_model::output::Report;
use minijinja::{Environment, context};
use serde::Serialize;

use super::matrix::{CellStatus, Matrix};

const TEMPLATE: &str = include_str!("report.html");

#[derive(Serialize)]
struct FindingView<'a> {
    kind: &'a str,
    severity: &'a str,
    rank: usize,
    component: String,
    environment: &'a str,
    related: Option<&'a str>,
    message: &'a str,
    evidence: String,
}

#[derive(Serialize)]
struct EvidenceView {
    environment: String,
    snapshot: String,
    taken_at: String,
    hash: String,
    next: String,
    sources: String,
}

#[derive(Serialize)]
struct IgnoredView<'a> {
    kind: &'a str,
    component: String,
    environment: &'a str,
    reason: &'a str,
    expires: &'a str,
}

#[derive(Serialize)]
struct Named {
    name: &'static str,
    symbol: &'static str,
    label: &'static str,
    count: usize,
}

/// The page for `report` with its `matrix`.
pub fn report(report: &Report, matrix: &Matrix) -> Result<String> {
    let time = super::time;
    let findings: Vec<FindingView> = report
        .findings
        .iter()
        .map(|f| FindingView {
            kind: f.kind.as_str(),
            severity: f.severity.as_str(),
            rank: Severity::ALL
                .iter()
                .position(|s| *s == f.severity)
                .unwrap_or(0),
            component: f
                .component
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            environment: f.environment.as_str(),
            related: f.related_environment.as_ref().map(|e| e.as_str()),
            message: &f.message,
            evidence: f
                .evidence
                .iter()
                .map(|e| format!("{} #{}", e.role, e.snapshot.id))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let evidence: Vec<EvidenceView> = report
        .environments
        .iter()
        .map(|e| EvidenceView {
            environment: e.environment.to_string(),
            snapshot: e
                .snapshot
                .as_ref()
                .map(|s| format!("#{} (seq {})", s.id, s.seq))
                .unwrap_or_else(|| "none".into()),
            taken_at: e
                .snapshot
                .as_ref()
                .map(|s| time(&s.taken_at))
                .unwrap_or_else(|| "-".into()),
            hash: e
                .snapshot
                .as_ref()
                .map(|s| s.hash.clone())
                .unwrap_or_else(|| "-".into()),
            next: e
                .next
                .as_ref()
                .map(|s| format!("#{} {}", s.id, time(&s.taken_at)))
                .unwrap_or_else(|| "-".into()),
            sources: if e.sources.is_empty() {
                "-".into()
            } else {
                e.sources
                    .iter()
                    .map(|s| format!("{} {}", s.id, s.status.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
        .collect();
    let ignored: Vec<IgnoredView> = report
        .ignored
        .iter()
        .map(|i| IgnoredView {
            kind: i.finding.kind.as_str(),
            component: i
                .finding
                .component
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            environment: i.finding.environment.as_str(),
            reason: i.rule.reason.as_deref().unwrap_or("no reason given"),
            expires: i.rule.expires.as_deref().unwrap_or("-"),
        })
        .collect();
    let severities: Vec<Named> = Severity::ALL
        .iter()
        .rev()
        .map(|s| Named {
            name: s.as_str(),
            symbol: "",
            label: "",
            count: report.summary.by_severity.get(s).copied().unwrap_or(0),
        })
        .collect();
    let statuses: Vec<Named> = CellStatus::ALL
        .iter()
        .map(|s| Named {
            name: s.as_str(),
            symbol: s.symbol(),
            label: s.label(),
            count: 0,
        })
        .collect();
    let symbols: BTreeMap<&str, &str> = CellStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.symbol()))
        .collect();
    let labels: BTreeMap<&str, &str> = CellStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.label()))
        .collect();
    let kinds: Vec<&str> = report.summary.by_kind.keys().map(|k| k.as_str()).collect();
    let severity_names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();

    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)
        .context("the HTML report template")?;
    let page = env
        .get_template("report.html")?
        .render(context! {
            version => env!("CARGO_PKG_VERSION"),
            schema => report.schema,
            path_label => report.path.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(" → "),
            at => time(&report.at),
            total => report.summary.total,
            ignored => report.summary.ignored,
            severities,
            statuses,
            symbols,
            labels,
            kinds,
            severity_names,
            matrix,
            findings,
            ignored_findings => ignored,
            evidence,
            chain_head => report.chain_head.as_deref().unwrap_or("(empty store)"),
        })
        .context("rendering the HTML report")?;
    Ok(page)
}
