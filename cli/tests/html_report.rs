//! The HTML report in a real browser: Debian's headless Chromium (installed by scripts/test) loads
//! the page inside a probe page that reads the report's DOM with `querySelector` and writes what it
//! saw as JSON, which `--dump-dom` hands back. Covers the matrix's content and statuses, the
//! findings filters (driven by the URL fragment), escaping of hostile names, a screenshot, and the
//! load time of a 2,000 components × 4 environments report.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Workspace, snapshot};

/// The flags test-servers.md gives for headless Chromium on these machines, with a fresh profile.
fn chromium(profile: &Path) -> Command {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // The probe page reads the report page through an iframe: both are file:// URLs.
        "--allow-file-access-from-files",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

const PROBE: &str = r##"<!DOCTYPE html><html><head><meta charset="utf-8"><script>
function probe() {
  var f = document.getElementById("r"), d = f.contentDocument, w = f.contentWindow;
  var q = function (s) { return Array.prototype.slice.call(d.querySelectorAll(s)); };
  var nav = w.performance.getEntriesByType("navigation")[0];
  var out = {
    title: d.title,
    ready: d.body.dataset.ready,
    init_ms: Number(d.body.dataset.initMs),
    load_ms: nav ? nav.loadEventStart : -1,
    scripts: d.scripts.length,
    external: q("[src],link[href]").length,
    environments: q("#matrix thead th[data-env]").map(function (th) { return th.textContent; }),
    rows: q("#matrix tbody tr").map(function (tr) {
      return { component: tr.dataset.component, name: tr.querySelector("th").textContent,
        cells: Array.prototype.map.call(tr.querySelectorAll("td"), function (td) {
          return { env: td.dataset.env, status: td.dataset.status,
                   symbol: td.querySelector(".sym").textContent,
                   version: td.querySelector(".ver").textContent,
                   digest: td.querySelector(".dig").textContent, title: td.title || "" }; }) };
    }),
    findings_total: q("#findings tbody tr").length,
    findings_shown: q("#findings tbody tr").filter(function (tr) { return !tr.hidden; })
      .map(function (tr) { return tr.dataset.kind + " " + tr.dataset.severity + " " + tr.dataset.env + " " + tr.dataset.component; }),
    shown_label: d.getElementById("shown").textContent,
    chain_head: d.getElementById("chain-head").textContent,
    evidence: q("#evidence-table tbody tr").map(function (tr) { return tr.textContent; })
  };
  document.getElementById("out").textContent = JSON.stringify(out);
}
</script></head><body><pre id="out">not loaded</pre>
<iframe id="r" width="1200" height="800" onload="probe()" src="REPORT"></iframe></body></html>"##;

/// Loads `report` (with `fragment`, e.g. `severity=high`) through the probe; returns what the
/// probe read and the wall time Chromium took.
fn read_dom(dir: &Path, report: &Path, fragment: &str) -> (Value, Duration) {
    let probe = dir.join(format!("probe-{}.html", fragment.len()));
    let src = format!("file://{}#{fragment}", report.display());
    std::fs::write(&probe, PROBE.replace("REPORT", &src)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = chromium(profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()))
        .output()
        .expect("chromium runs (scripts/test installs Debian's chromium)");
    let elapsed = started.elapsed();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium failed: {dom}");
    let start = dom.find("<pre id=\"out\">").expect("the probe page") + "<pre id=\"out\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the probe did not read the report ({e}): {text}"));
    (value, elapsed)
}

fn screenshot(report: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path())
        .arg("--window-size=1400,1000")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 10_000,
        "a blank page is smaller: {}",
        bytes.len()
    );
}

fn artifact_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const HOSTILE: &str = "<script>document.title='pwned'</script>";

fn small_store(ws: &Workspace) {
    // dev first ran api a, then moved to b: staging (a) is pending; prod runs a hotfix c; web is the
    // same everywhere; the hostile name is only in dev.
    let files = [
        ws.write_json(
            "dev1.json",
            &snapshot(
                "dev",
                "2026-11-01T10:00:00Z",
                &[("api", 'a', &[]), ("web", 'd', &[])],
            ),
        ),
        ws.write_json(
            "dev2.json",
            &snapshot(
                "dev",
                "2026-11-02T10:00:00Z",
                &[("api", 'b', &[]), ("web", 'd', &[]), (HOSTILE, 'e', &[])],
            ),
        ),
        ws.write_json(
            "staging.json",
            &snapshot(
                "staging",
                "2026-11-02T11:00:00Z",
                &[("api", 'a', &[]), ("web", 'd', &[])],
            ),
        ),
        ws.write_json(
            "prod.json",
            &snapshot(
                "prod",
                "2026-11-02T12:00:00Z",
                &[("api", 'c', &[]), ("web", 'd', &[])],
            ),
        ),
    ];
    let mut args = vec!["import"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let run = ws.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn the_matrix_filters_and_evidence_read_right_in_chromium() {
    let ws = Workspace::new();
    small_store(&ws);
    let run = ws.run(&[
        "report",
        "--path",
        "dev,staging,prod",
        "--at",
        "2026-11-02T13:00:00Z",
        "--out",
        "report.html",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = ws.path("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "--out .html writes HTML"
    );
    assert!(
        !html.contains(HOSTILE) && html.contains("&lt;script&gt;"),
        "the hostile name is escaped"
    );

    let (dom, _) = read_dom(ws.dir.path(), &report, "");
    assert_eq!(dom["ready"], "yes", "the page's script ran: {dom}");
    assert_eq!(dom["scripts"], 1, "no injected script: {dom}");
    assert_eq!(dom["external"], 0, "nothing is fetched: {dom}");
    assert!(
        dom["title"]
            .as_str()
            .unwrap()
            .starts_with("envtrail report"),
        "{dom}"
    );
    assert_eq!(
        dom["environments"],
        serde_json::json!(["dev", "staging", "prod"])
    );
    let rows = dom["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec![HOSTILE, "api", "web"], "shown as text");
    let cell = |component: &str, env: usize| -> &Value {
        &rows
            .iter()
            .find(|r| r["component"] == component)
            .unwrap_or_else(|| panic!("row {component}"))["cells"][env]
    };
    let status = |component: &str, env: usize| cell(component, env)["status"].as_str().unwrap();
    assert_eq!(status("api", 0), "current");
    assert_eq!(status("api", 1), "pending");
    assert_eq!(status("api", 2), "hotfix");
    assert_eq!(status("web", 2), "current");
    assert_eq!(status(HOSTILE, 0), "current");
    assert_eq!(status(HOSTILE, 1), "absent");
    assert_eq!(cell("api", 2)["symbol"], "!", "status shown by symbol too");
    assert_eq!(cell("api", 1)["symbol"], "↑");
    assert_eq!(cell("api", 2)["version"], "x", "the image tag");
    assert_eq!(cell("api", 2)["digest"], "cccccccccccc", "the short digest");
    assert!(
        cell("api", 2)["title"]
            .as_str()
            .unwrap()
            .contains("unpromoted_hotfix"),
        "the cell's findings on hover: {}",
        cell("api", 2)
    );
    let total = dom["findings_total"].as_u64().unwrap();
    assert!(total >= 3, "{dom}");
    assert_eq!(dom["shown_label"], total.to_string());
    let evidence = dom["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 3);
    assert!(
        evidence[2]
            .as_str()
            .unwrap()
            .contains("2026-11-02T12:00:00Z")
    );
    let head = dom["chain_head"].as_str().unwrap();
    assert_eq!(head.len(), 64, "the chain head: {head}");
    let verify = ws.run(&["verify", "--format", "json"]).json();
    assert_eq!(
        verify["chain_head"], head,
        "the page names the store's head"
    );

    // Filters, from the URL fragment: only high and above in prod.
    let (dom, _) = read_dom(ws.dir.path(), &report, "severity=high&env=prod");
    let shown: Vec<&str> = dom["findings_shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(shown, vec!["unpromoted_hotfix high prod api"], "{dom}");
    assert_eq!(dom["shown_label"], "1");
    let (dom, _) = read_dom(ws.dir.path(), &report, "kind=pending_promotion");
    let shown = dom["findings_shown"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "{dom}");
    assert!(
        shown[0]
            .as_str()
            .unwrap()
            .starts_with("pending_promotion info staging api")
    );

    screenshot(&report, &artifact_dir().join("report-small.png"));
}

#[test]
fn the_demo_page_renders_and_prints_with_a_screenshot() {
    let ws = Workspace::new();
    let run = ws.run(&["demo", "--format", "html"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("@media print"), "print CSS");
    let report = ws.write("demo.html", &run.stdout);
    let (dom, _) = read_dom(ws.dir.path(), &report, "");
    assert_eq!(
        dom["environments"],
        serde_json::json!(["dev", "staging", "prod"])
    );
    let statuses: std::collections::BTreeSet<&str> = dom["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["cells"].as_array().unwrap())
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    for s in [
        "current", "pending", "hotfix", "skipped", "unknown", "absent",
    ] {
        assert!(statuses.contains(s), "the demo shows {s}: {statuses:?}");
    }
    let png = artifact_dir().join("report-demo.png");
    screenshot(&report, &png);
    // A PDF print of the page (what "Save as PDF" gives) works too.
    let pdf = ws.path("demo.pdf");
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path())
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg("--no-pdf-header-footer")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));
}

#[test]
fn a_report_of_2000_components_in_4_environments_loads_fast() {
    let ws = Workspace::new();
    let n = 2000;
    let names: Vec<String> = (0..n).map(|i| format!("svc-{i:04}")).collect();
    let spec = |f: &dyn Fn(usize) -> char| -> Vec<support::WorkloadSpec> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), f(i), &[][..]))
            .collect()
    };
    // dev moved every tenth component on (pending in qa); prod runs a hotfix of every fiftieth.
    let snaps = [
        snapshot("dev", "2026-11-01T10:00:00Z", &spec(&|_| 'a')),
        snapshot(
            "dev",
            "2026-11-02T10:00:00Z",
            &spec(&|i| if i % 10 == 0 { 'b' } else { 'a' }),
        ),
        snapshot("qa", "2026-11-02T10:30:00Z", &spec(&|_| 'a')),
        snapshot("staging", "2026-11-02T11:00:00Z", &spec(&|_| 'a')),
        snapshot(
            "prod",
            "2026-11-02T12:00:00Z",
            &spec(&|i| if i % 50 == 0 { 'c' } else { 'a' }),
        ),
    ];
    let files: Vec<String> = snaps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            ws.write_json(&format!("s{i}.json"), s)
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    assert_eq!(ws.run(&args).code, 0);

    let started = Instant::now();
    let run = ws.run(&[
        "report",
        "--path",
        "dev,qa,staging,prod",
        "--at",
        "2026-11-02T13:00:00Z",
        "--out",
        "big.html",
    ]);
    let render = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = ws.path("big.html");
    let size = std::fs::metadata(&report).unwrap().len();

    let (dom, wall) = read_dom(ws.dir.path(), &report, "");
    let rows = dom["rows"].as_array().unwrap();
    assert_eq!(rows.len(), n);
    assert!(
        rows.iter()
            .all(|r| r["cells"].as_array().unwrap().len() == 4)
    );
    let count = |status: &str| {
        rows.iter()
            .flat_map(|r| r["cells"].as_array().unwrap())
            .filter(|c| c["status"] == status)
            .count()
    };
    assert_eq!(count("pending"), n / 10);
    assert_eq!(count("hotfix"), n / 50);
    let load_ms = dom["load_ms"].as_f64().unwrap();
    let init_ms = dom["init_ms"].as_f64().unwrap();
    eprintln!(
        "2000x4 report: envtrail report --out {:.2}s, {} KB, {} findings; Chromium load event at {load_ms:.0} ms, \
         filter script {init_ms:.1} ms, whole headless run {:.2}s",
        render.as_secs_f64(),
        size / 1024,
        dom["findings_total"],
        wall.as_secs_f64()
    );
    // Generous bounds for a shared, loaded 2-core CI machine (measured figures: docs/reports.md).
    assert!(load_ms < 10_000.0, "load took {load_ms} ms");
    assert!(init_ms < 1_000.0, "the filter script took {init_ms} ms");

    // Filtering the long list stays quick: apply a filter through the fragment.
    let (dom, _) = read_dom(ws.dir.path(), &report, "kind=unpromoted_hotfix");
    assert_eq!(dom["findings_shown"].as_array().unwrap().len(), n / 50);
    assert!(dom["init_ms"].as_f64().unwrap() < 1_000.0);
    screenshot(&report, &artifact_dir().join("report-2000x4.png"));
}
