//! `envtrail metrics`: a report's figures in the Prometheus text exposition format (0.0.4), or
//! OpenMetrics 1.0 text with `--openmetrics`, for node_exporter's textfile collector or a
//! Pushgateway, so that drift can drive alerts. Every series is a gauge describing the report's
//! instant. Series by environment × severity are always present (zeros included), so an alert
//! such as `envtrail_findings_by_severity{severity="high"} > 0` has a series to read from the
//! first run on.

use std::collections::BTreeMap;
use std::fmt::Write;

use envtrail_model::Severity;
use envtrail_model::output::Report;
use envtrail_model::time::Timestamp;

/// Escapes a label value: backslash, double quote and line feed (the exposition format's rule).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let parts: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", parts.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn family<'a>(out: &'a mut String, name: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    Family { out }
}

fn seconds(t: &Timestamp) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The metrics of `report`, as of `now` (snapshot ages are measured against it).
pub fn render(report: &Report, now: Timestamp, openmetrics: bool) -> String {
    let mut out = String::new();
    let envs: Vec<&str> = report.path.iter().map(|e| e.as_str()).collect();

    let mut by_kind: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    let mut by_severity: BTreeMap<(&str, Severity), usize> = BTreeMap::new();
    for f in &report.findings {
        *by_kind
            .entry((f.environment.as_str(), f.kind.as_str(), f.severity.as_str()))
            .or_default() += 1;
        *by_severity
            .entry((f.environment.as_str(), f.severity))
            .or_default() += 1;
    }

    let mut fam = family(
        &mut out,
        "envtrail_findings",
        "Findings reported, by environment, kind and severity (ignored findings excluded).",
    );
    for ((env, kind, severity), n) in &by_kind {
        fam.sample(
            "envtrail_findings",
            &[("environment", env), ("kind", kind), ("severity", severity)],
            *n as f64,
        );
    }
    let mut fam = family(
        &mut out,
        "envtrail_findings_by_severity",
        "Findings reported, by environment and severity; every pair present, zeros included.",
    );
    for env in &envs {
        for sev in Severity::ALL {
            let n = by_severity.get(&(*env, sev)).copied().unwrap_or(0);
            fam.sample(
                "envtrail_findings_by_severity",
                &[("environment", env), ("severity", sev.as_str())],
                n as f64,
            );
        }
    }
    let mut ignored: BTreeMap<&str, usize> = envs.iter().map(|e| (*e, 0)).collect();
    for i in &report.ignored {
        *ignored.entry(i.finding.environment.as_str()).or_default() += 1;
    }
    let mut fam = family(
        &mut out,
        "envtrail_findings_ignored",
        "Findings silenced by ignore rules, by environment.",
    );
    for (env, n) in &ignored {
        fam.sample(
            "envtrail_findings_ignored",
            &[("environment", env)],
            *n as f64,
        );
    }

    let mut fam = family(
        &mut out,
        "envtrail_snapshot_timestamp_seconds",
        "When the snapshot the report used for each environment was taken (Unix time).",
    );
    for e in &report.environments {
        if let Some(s) = &e.snapshot {
            fam.sample(
                "envtrail_snapshot_timestamp_seconds",
                &[("environment", e.environment.as_str())],
                seconds(&s.taken_at),
            );
        }
    }
    let mut fam = family(
        &mut out,
        "envtrail_snapshot_age_seconds",
        "Age of the snapshot the report used for each environment, at the time the metrics were written.",
    );
    for e in &report.environments {
        if let Some(s) = &e.snapshot {
            fam.sample(
                "envtrail_snapshot_age_seconds",
                &[("environment", e.environment.as_str())],
                ((now - s.taken_at).num_milliseconds() as f64 / 1000.0).max(0.0),
            );
        }
    }
    let mut fam = family(
        &mut out,
        "envtrail_snapshot_present",
        "1 when the environment has a snapshot at the report's instant, else 0.",
    );
    for e in &report.environments {
        fam.sample(
            "envtrail_snapshot_present",
            &[("environment", e.environment.as_str())],
            if e.snapshot.is_some() { 1.0 } else { 0.0 },
        );
    }
    let mut fam = family(
        &mut out,
        "envtrail_collection_gaps",
        "Sources of the environment's snapshot that failed or were read only in part.",
    );
    for e in &report.environments {
        let gaps = e
            .sources
            .iter()
            .filter(|s| s.status != envtrail_model::SourceStatus::Ok)
            .count();
        fam.sample(
            "envtrail_collection_gaps",
            &[("environment", e.environment.as_str())],
            gaps as f64,
        );
    }
    let mut fam = family(
        &mut out,
        "envtrail_source_up",
        "1 when a source of the environment's snapshot reported everything, 0 when it failed or was partial.",
    );
    for e in &report.environments {
        for s in &e.sources {
            fam.sample(
                "envtrail_source_up",
                &[
                    ("environment", e.environment.as_str()),
                    ("source", &s.id),
                    ("kind", &s.kind),
                    ("status", s.status.as_str()),
                ],
                if s.status == envtrail_model::SourceStatus::Ok {
                    1.0
                } else {
                    0.0
                },
            );
        }
    }
    let mut fam = family(
        &mut out,
        "envtrail_report_timestamp_seconds",
        "The instant the report describes (Unix time).",
    );
    fam.sample(
        "envtrail_report_timestamp_seconds",
        &[],
        seconds(&report.at),
    );
    if openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
