//! Turns answers into text: `json` (the documents in `envtrail_model::output`, with their `schema`
//! field), `table` for terminals and `markdown` for PR comments. Data goes to stdout; nothing here
//! prints.

mod evidence;
pub mod html;
pub mod junit;
pub mod matrix;
pub mod metrics;
mod tables;

pub use evidence::evidence_check;

use anyhow::Result;
use envtrail_model::output::{
    AsOf, ChangeKind, Comparison, ComponentChange, Environments, History, ImportResult, Report,
    VerifyResult,
};
use envtrail_model::view::SnapshotRef;
use envtrail_model::{Digest, Timestamp};
use serde::Serialize;

use crate::args::Format;
use tables::Doc;

fn json<T: Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)?)
}

fn time(t: &Timestamp) -> String {
    envtrail_model::time::format_time(t)
}

fn snapshot_label(s: &SnapshotRef) -> String {
    format!(
        "#{} {} ({})",
        s.id,
        time(&s.taken_at),
        &s.hash[..s.hash.len().min(12)]
    )
}

fn digests(list: &[Digest]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(|d| d.short())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `envtrail import`.
pub fn import(result: &ImportResult, format: Format) -> Result<String> {
    if format == Format::Json {
        return json(result);
    }
    let mut doc = Doc::new(format);
    doc.table(
        &[
            "file",
            "environment",
            "taken at",
            "snapshot",
            "stored",
            "changed / components",
        ],
        result.imported.iter().map(|i| {
            vec![
                i.file.clone(),
                i.snapshot.environment.to_string(),
                time(&i.snapshot.taken_at),
                format!("#{} {}", i.snapshot.id, &i.snapshot.hash[..12]),
                if i.stored {
                    "stored".into()
                } else {
                    "already stored".into()
                },
                format!("{} / {}", i.components_changed, i.components),
            ]
        }),
    );
    Ok(doc.finish())
}

/// `envtrail envs`.
pub fn envs(result: &Environments, format: Format, now: Timestamp) -> Result<String> {
    if format == Format::Json {
        return json(result);
    }
    let mut doc = Doc::new(format);
    if result.environments.is_empty() {
        doc.line("no environments stored yet");
        return Ok(doc.finish());
    }
    doc.table(
        &[
            "environment",
            "snapshots",
            "newest",
            "age",
            "components",
            "complete",
        ],
        result.environments.iter().map(|e| {
            let incomplete: Vec<String> = e
                .sources
                .iter()
                .filter(|s| s.status != envtrail_model::SourceStatus::Ok)
                .map(|s| format!("{} {}", s.id, s.status.as_str()))
                .collect();
            vec![
                e.environment.to_string(),
                e.snapshots.to_string(),
                snapshot_label(&e.newest),
                age(now - e.newest.taken_at),
                e.components.to_string(),
                if e.complete {
                    "yes".into()
                } else {
                    format!("no: {}", incomplete.join(", "))
                },
            ]
        }),
    );
    Ok(doc.finish())
}

fn age(d: chrono::Duration) -> String {
    let minutes = d.num_minutes();
    if minutes < 0 {
        "in the future".into()
    } else if minutes < 120 {
        format!("{minutes}m")
    } else if minutes < 48 * 60 {
        format!("{}h", minutes / 60)
    } else {
        format!("{}d", minutes / (24 * 60))
    }
}

fn change_kind(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
        ChangeKind::Unknown => "unknown (source incomplete)",
    }
}

fn change_detail(change: &ComponentChange) -> String {
    let mut parts = Vec::new();
    if change.artifacts_changed {
        parts.push(format!(
            "artifacts {} -> {}",
            digests(&change.left_artifacts),
            digests(&change.right_artifacts)
        ));
    }
    if !change.config.is_empty() {
        let keys: Vec<String> = change
            .config
            .iter()
            .map(|k| {
                let mut key = k.key.clone();
                if k.environment_specific {
                    key.push_str(" (env-specific)");
                }
                key
            })
            .collect();
        parts.push(format!("config {}", keys.join(", ")));
    }
    if !change.infrastructure.is_empty() {
        let attrs: Vec<String> = change
            .infrastructure
            .iter()
            .map(|a| {
                let show = |v: &Option<serde_json::Value>| {
                    v.as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into())
                };
                format!(
                    "{}.{} {} -> {}",
                    a.address,
                    a.attribute,
                    show(&a.left),
                    show(&a.right)
                )
            })
            .collect();
        parts.push(format!("infrastructure {}", attrs.join(", ")));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

/// `envtrail diff`.
pub fn comparison(result: &Comparison, format: Format) -> Result<String> {
    if format == Format::Json {
        return json(result);
    }
    let mut doc = Doc::new(format);
    for (label, side) in [("left", &result.left), ("right", &result.right)] {
        let snapshot = side
            .evidence
            .snapshot
            .as_ref()
            .map(snapshot_label)
            .unwrap_or_default();
        doc.line(&format!(
            "{label}: {} at {} — snapshot {snapshot}{}",
            side.environment,
            time(&side.at),
            if side.evidence.complete {
                ""
            } else {
                " (incomplete sources)"
            }
        ));
    }
    doc.blank();
    if result.changes.is_empty() {
        doc.line(&format!(
            "no differences ({} components equal)",
            result.unchanged
        ));
        return Ok(doc.finish());
    }
    doc.table(
        &["component", "change", "detail"],
        result.changes.iter().map(|c| {
            vec![
                c.component.to_string(),
                change_kind(c.change).into(),
                change_detail(c),
            ]
        }),
    );
    doc.line(&format!(
        "{} changed, {} equal",
        result.changes.len(),
        result.unchanged
    ));
    Ok(doc.finish())
}

/// `envtrail report` in any format; `input` (what the report was computed from) is needed for
/// the HTML page's matrix.
pub fn report_with_input(
    result: &Report,
    input: &envtrail_model::view::ReportInput,
    format: Format,
) -> Result<String> {
    match format {
        Format::Html => html::report(result, &matrix::build(input, result)),
        _ => report(result, format),
    }
}

/// `envtrail report` (every format but `html`, which needs [`report_with_input`]).
pub fn report(result: &Report, format: Format) -> Result<String> {
    match format {
        Format::Json => return json(result),
        Format::Junit => return junit::report(result),
        Format::Html => anyhow::bail!("the html format needs the report's input"),
        Format::Table | Format::Markdown => {}
    }
    let mut doc = Doc::new(format);
    doc.heading(&format!(
        "envtrail report: {} at {}",
        result
            .path
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(" -> "),
        time(&result.at)
    ));
    doc.table(
        &["environment", "snapshot", "next", "complete"],
        result.environments.iter().map(|e| {
            vec![
                e.environment.to_string(),
                e.snapshot
                    .as_ref()
                    .map(snapshot_label)
                    .unwrap_or_else(|| "none".into()),
                e.next
                    .as_ref()
                    .map(snapshot_label)
                    .unwrap_or_else(|| "-".into()),
                if e.complete {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        }),
    );
    if let Some(head) = &result.chain_head {
        doc.line(&format!("chain head: {head}"));
    }
    doc.blank();
    if result.findings.is_empty() {
        doc.line("no findings");
    } else {
        doc.table_with_severity(
            &["severity", "kind", "component", "environment", "message"],
            result.findings.iter().map(|f| {
                let env = match &f.related_environment {
                    Some(related) => format!("{} (vs {related})", f.environment),
                    None => f.environment.to_string(),
                };
                vec![
                    f.severity.to_string(),
                    f.kind.to_string(),
                    f.component
                        .as_ref()
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into()),
                    env,
                    f.message.clone(),
                ]
            }),
            Some(0),
        );
    }
    let s = &result.summary;
    let by_severity: Vec<String> = envtrail_model::Severity::ALL
        .iter()
        .rev()
        .filter_map(|sev| s.by_severity.get(sev).map(|n| format!("{n} {sev}")))
        .collect();
    doc.line(&format!(
        "{} findings{}{}",
        s.total,
        if by_severity.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_severity.join(", "))
        },
        if s.ignored > 0 {
            format!("; {} ignored by rules", s.ignored)
        } else {
            String::new()
        }
    ));
    if !result.ignored.is_empty() {
        doc.blank();
        doc.table(
            &["ignored", "component", "environment", "rule"],
            result.ignored.iter().map(|i| {
                vec![
                    i.finding.kind.to_string(),
                    i.finding
                        .component
                        .as_ref()
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    i.finding.environment.to_string(),
                    format!(
                        "{}{}",
                        i.rule
                            .reason
                            .clone()
                            .unwrap_or_else(|| "no reason given".into()),
                        i.rule
                            .expires
                            .as_ref()
                            .map(|e| format!(" (until {e})"))
                            .unwrap_or_default()
                    ),
                ]
            }),
        );
    }
    Ok(doc.finish())
}

/// `envtrail asof`.
pub fn asof(result: &AsOf, format: Format) -> Result<String> {
    if format == Format::Json {
        return json(result);
    }
    let mut doc = Doc::new(format);
    let e = &result.evidence;
    doc.heading(&format!("{} at {}", e.environment, time(&result.at)));
    if let Some(s) = &e.snapshot {
        doc.line(&format!(
            "evidence: snapshot {} (chain link {})",
            snapshot_label(s),
            s.hash
        ));
        match &e.next {
            Some(next) => doc.line(&format!(
                "window: this state held from {} until at least the next snapshot {}",
                time(&s.taken_at),
                snapshot_label(next)
            )),
            None => doc.line(&format!(
                "window: from {} (no later snapshot yet)",
                time(&s.taken_at)
            )),
        }
    }
    for source in &e.sources {
        if source.status != envtrail_model::SourceStatus::Ok {
            doc.line(&format!(
                "warning: source {} {}: {} — what it reports is unknown in this snapshot",
                source.id,
                source.status.as_str(),
                source.error.as_deref().unwrap_or("no reason recorded")
            ));
        }
    }
    doc.blank();
    let mut rows = Vec::new();
    for c in &result.components {
        for w in &c.workloads {
            for container in &w.containers {
                let running: Vec<Digest> = container.artifact_digests().cloned().collect();
                rows.push(vec![
                    c.component.to_string(),
                    w.reference.clone(),
                    format!(
                        "{}{}",
                        container.name,
                        if container.init { " (init)" } else { "" }
                    ),
                    container.image.clone(),
                    digests(&running),
                    w.config.len().to_string(),
                    time(&c.since.taken_at),
                ]);
            }
        }
        for item in &c.infrastructure {
            rows.push(vec![
                c.component.to_string(),
                item.address.clone(),
                item.resource_type.clone(),
                "-".into(),
                "-".into(),
                item.attributes.len().to_string(),
                time(&c.since.taken_at),
            ]);
        }
    }
    doc.table(
        &[
            "component",
            "workload",
            "container",
            "image",
            "digest",
            "config keys",
            "since",
        ],
        rows,
    );
    if let Some(chain) = &result.chain {
        evidence::chain(&mut doc, chain);
    }
    Ok(doc.finish())
}

/// `envtrail history`.
pub fn history(result: &History, format: Format) -> Result<String> {
    if format == Format::Json {
        return json(result);
    }
    let mut doc = Doc::new(format);
    doc.heading(&format!("history of {}", result.environment));
    if result.events.is_empty() {
        doc.line("no changes in this period");
        return Ok(doc.finish());
    }
    doc.table(
        &["snapshot", "component", "change", "detail"],
        result.events.iter().map(|e| {
            vec![
                snapshot_label(&e.snapshot),
                e.change.component.to_string(),
                change_kind(e.change.change).into(),
                change_detail(&e.change),
            ]
        }),
    );
    if let Some(chain) = &result.chain {
        evidence::chain(&mut doc, chain);
    }
    Ok(doc.finish())
}

/// `envtrail verify`.
pub fn verify(result: &VerifyResult, format: Format) -> Result<String> {
    if format == Format::Json {
        return json(result);
    }
    let mut doc = Doc::new(format);
    if result.ok {
        doc.line(&format!(
            "ok: {} snapshots, chain head {}",
            result.snapshots_checked,
            result.chain_head.as_deref().unwrap_or("(empty store)")
        ));
    } else {
        doc.line(&format!(
            "FAILED after checking {} snapshots",
            result.snapshots_checked
        ));
        for p in &result.problems {
            match p.snapshot_id {
                Some(id) => doc.line(&format!("- snapshot #{id}: {}", p.message)),
                None => doc.line(&format!("- {}", p.message)),
            }
        }
    }
    Ok(doc.finish())
}
