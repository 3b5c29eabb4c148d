//! `envtrail metrics`: the output parses as Prometheus text (with the `prometheus-parse` crate and a
//! strict line check of our own), carries the right figures, and `--openmetrics` ends with `# EOF`.

mod support;

use prometheus_parse::{Scrape, Value};
use serde_json::json;
use support::{Workspace, snapshot};

fn store(ws: &Workspace) {
    let dev = snapshot(
        "dev",
        "2026-11-01T10:00:00Z",
        &[("api", 'a', &[]), ("web", 'b', &[])],
    );
    let mut prod = snapshot(
        "prod",
        "2026-11-01T11:00:00Z",
        &[("api", 'c', &[]), ("web", 'b', &[])],
    );
    // A second source of prod failed: a collection gap.
    prod["sources"].as_array_mut().unwrap().push(
        json!({"id": "aws/\"quoted\"", "kind": "aws", "status": "failed", "error": "timeout"}),
    );
    let a = ws.write_json("dev.json", &dev);
    let b = ws.write_json("prod.json", &prod);
    let run = ws.run(&["import", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn gauge(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Gauge(v) => v,
            ref other => panic!("{metric} is not a gauge: {other:?}"),
        })
}

/// Every line is a HELP or TYPE comment or `name{label="value",...} number` (the exposition
/// format's grammar, with escaped label values).
fn strict_check(text: &str, openmetrics: bool) {
    let mut lines: Vec<&str> = text.lines().collect();
    if openmetrics {
        assert_eq!(lines.pop(), Some("# EOF"));
    }
    for line in lines {
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(
                rest.starts_with("HELP envtrail_") || rest.starts_with("TYPE envtrail_"),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value of {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.starts_with("envtrail_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if name_end < series.len() {
            let labels = series[name_end..]
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap();
            // label="value" pairs, values with \\ \" \n escapes only.
            let mut rest = labels;
            while !rest.is_empty() {
                let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => {
                            let (_, e) = chars.next().unwrap();
                            assert!(matches!(e, '\\' | '"' | 'n'), "{line}");
                        }
                        Some((i, '"')) => break i,
                        Some(_) => {}
                        None => panic!("unterminated label in {line}"),
                    }
                };
                rest = after[end + 1..]
                    .strip_prefix(',')
                    .unwrap_or(&after[end + 1..]);
            }
        }
    }
}

#[test]
fn metrics_parse_and_carry_findings_ages_and_gaps() {
    let ws = Workspace::new();
    store(&ws);
    let run = ws.run(&[
        "metrics",
        "--path",
        "dev,prod",
        "--at",
        "2026-11-01T12:00:00Z",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    strict_check(&run.stdout, false);
    let scrape =
        Scrape::parse(run.stdout.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    let report = ws
        .run(&[
            "--format",
            "json",
            "report",
            "--path",
            "dev,prod",
            "--at",
            "2026-11-01T12:00:00Z",
        ])
        .json();
    let total: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "envtrail_findings")
        .map(|s| match s.value {
            Value::Gauge(v) => v,
            _ => unreachable!(),
        })
        .sum();
    assert_eq!(total as u64, report["summary"]["total"].as_u64().unwrap());
    assert_eq!(
        gauge(
            &scrape,
            "envtrail_findings",
            &[
                ("environment", "prod"),
                ("kind", "unpromoted_hotfix"),
                ("severity", "high")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        gauge(
            &scrape,
            "envtrail_findings",
            &[("environment", "prod"), ("kind", "collection_gap")]
        ),
        Some(1.0)
    );
    // Stable series for alerts: every environment × severity, zeros included.
    assert_eq!(
        gauge(
            &scrape,
            "envtrail_findings_by_severity",
            &[("environment", "dev"), ("severity", "critical")]
        ),
        Some(0.0)
    );
    assert_eq!(
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "envtrail_findings_by_severity")
            .count(),
        10
    );
    assert_eq!(
        gauge(
            &scrape,
            "envtrail_collection_gaps",
            &[("environment", "prod")]
        ),
        Some(1.0)
    );
    assert_eq!(
        gauge(
            &scrape,
            "envtrail_collection_gaps",
            &[("environment", "dev")]
        ),
        Some(0.0)
    );
    assert!(
        run.stdout.contains(r#"envtrail_source_up{environment="prod",source="aws/\"quoted\"",kind="aws",status="failed"} 0"#),
        "the quoted source id is escaped: {}",
        run.stdout
    );
    assert_eq!(
        gauge(
            &scrape,
            "envtrail_snapshot_timestamp_seconds",
            &[("environment", "prod")]
        ),
        Some(chrono_ts("2026-11-01T11:00:00Z"))
    );
    let age = gauge(
        &scrape,
        "envtrail_snapshot_age_seconds",
        &[("environment", "dev")],
    )
    .unwrap();
    let expected = chrono::Utc::now().timestamp() as f64 - chrono_ts("2026-11-01T10:00:00Z");
    assert!((age - expected).abs() < 120.0, "age {age} vs {expected}");
}

fn chrono_ts(t: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp() as f64
}

#[test]
fn openmetrics_ends_with_eof_and_out_writes_a_file() {
    let ws = Workspace::new();
    store(&ws);
    let run = ws.run(&[
        "metrics",
        "--path",
        "dev,prod",
        "--openmetrics",
        "--out",
        "envtrail.prom",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let text = std::fs::read_to_string(ws.path("envtrail.prom")).unwrap();
    assert!(text.ends_with("# EOF\n"));
    strict_check(&text, true);
    let run = ws.run(&["metrics"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("hint: pass --path"), "{}", run.stderr);
}
