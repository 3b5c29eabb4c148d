//! `--format junit`: the report as JUnit XML so that CI systems (GitHub, GitLab, Jenkins, Azure)
//! list findings as failed tests. One test suite per environment of the path; each finding is a
//! failed test case named after its component (classname `envtrail.ENV.KIND`), each ignored
//! finding a skipped one, and an environment without findings one passing case. Escaped by
//! minijinja (the template's name ends in `.xml`).

use anyhow::{Context, Result};
use envtrail_model::Finding;
use envtrail_model::output::Report;
use minijinja::{Environment, context};
use serde::Serialize;

const TEMPLATE: &str = include_str!("junit.xml");

#[derive(Serialize)]
struct Case {
    kind: String,
    name: String,
    severity: String,
    message: String,
    detail: String,
    failure: bool,
    skipped: bool,
}

#[derive(Serialize)]
struct Suite {
    environment: String,
    failures: usize,
    skipped: usize,
    cases: Vec<Case>,
}

/// XML 1.0 cannot carry most control characters, even escaped: drop them.
fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

fn case(f: &Finding, failure: bool) -> Case {
    let component = f
        .component
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("({})", f.environment));
    let mut detail = format!(
        "kind: {}\nseverity: {}\nenvironment: {}\n",
        f.kind, f.severity, f.environment
    );
    if let Some(r) = &f.related_environment {
        detail.push_str(&format!("related environment: {r}\n"));
    }
    if !f.digests.is_empty() {
        let d: Vec<String> = f.digests.iter().map(|d| d.to_string()).collect();
        detail.push_str(&format!("digests: {}\n", d.join(", ")));
    }
    if !f.keys.is_empty() {
        detail.push_str(&format!("keys: {}\n", f.keys.join(", ")));
    }
    for e in &f.evidence {
        detail.push_str(&format!(
            "evidence: {} snapshot #{} of {} taken {} hash {}\n",
            e.role,
            e.snapshot.id,
            e.snapshot.environment,
            super::time(&e.snapshot.taken_at),
            e.snapshot.hash
        ));
    }
    Case {
        kind: f.kind.to_string(),
        name: xml_text(&component),
        severity: f.severity.to_string(),
        message: xml_text(&f.message),
        detail: xml_text(&detail),
        failure,
        skipped: !failure,
    }
}

/// The JUnit document for `report`.
pub fn report(report: &Report) -> Result<String> {
    let mut suites: Vec<Suite> = report
        .path
        .iter()
        .map(|env| {
            let mut cases: Vec<Case> = report
                .findings
                .iter()
                .filter(|f| f.environment == *env)
                .map(|f| case(f, true))
                .collect();
            let failures = cases.len();
            cases.extend(
                report
                    .ignored
                    .iter()
                    .filter(|i| i.finding.environment == *env)
                    .map(|i| {
                        let mut c = case(&i.finding, false);
                        c.message = xml_text(&format!(
                            "ignored: {}",
                            i.rule.reason.as_deref().unwrap_or("no reason given")
                        ));
                        c
                    }),
            );
            let skipped = cases.len() - failures;
            if cases.is_empty() {
                cases.push(Case {
                    kind: "report".into(),
                    name: "no findings".into(),
                    severity: String::new(),
                    message: String::new(),
                    detail: String::new(),
                    failure: false,
                    skipped: false,
                });
            }
            Suite {
                environment: env.to_string(),
                failures,
                skipped,
                cases,
            }
        })
        .collect();
    // Findings about an environment outside the path (none today) still show.
    let outside: Vec<Case> = report
        .findings
        .iter()
        .filter(|f| !report.path.contains(&f.environment))
        .map(|f| case(f, true))
        .collect();
    if !outside.is_empty() {
        suites.push(Suite {
            environment: "other".into(),
            failures: outside.len(),
            skipped: 0,
            cases: outside,
        });
    }
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(|s| s.failures).sum();
    let skipped: usize = suites.iter().map(|s| s.skipped).sum();
    let mut env = Environment::new();
    env.add_template("junit.xml", TEMPLATE)
        .context("the JUnit template")?;
    let xml = env.get_template("junit.xml")?.render(context! {
        path_label => report.path.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(" -> "),
        at => super::time(&report.at),
        tests, failures, skipped, suites,
    })?;
    Ok(xml)
}
