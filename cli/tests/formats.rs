//! The report's other formats: JUnit XML (parsed by a real XML parser), the terminal table
//! (coloured and width-aware only on a real pseudo-terminal, plain when piped or with `NO_COLOR`),
//! and `report --out FILE` choosing the format from the extension.

mod support;

use std::process::Command;

use support::{Workspace, snapshot};

#[test]
fn junit_lists_every_finding_as_a_failed_test_case() {
    let ws = Workspace::new();
    let json = ws.run(&["demo", "--format", "json"]).json();
    let run = ws.run(&["demo", "--format", "junit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = roxmltree::Document::parse(&run.stdout).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(
        failures.len() as u64,
        json["summary"]["total"].as_u64().unwrap()
    );
    assert_eq!(
        root.attribute("failures").unwrap(),
        failures.len().to_string()
    );
    let skipped = doc
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .count();
    assert_eq!(skipped as u64, json["summary"]["ignored"].as_u64().unwrap());
    let suites: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(
        suites,
        ["envtrail.dev", "envtrail.staging", "envtrail.prod"]
    );
    let hotfix = failures
        .iter()
        .find(|f| f.attribute("type") == Some("unpromoted_hotfix"))
        .unwrap();
    let case = hotfix.parent().unwrap();
    assert_eq!(case.attribute("name"), Some("payments-api"));
    assert_eq!(
        case.attribute("classname"),
        Some("envtrail.prod.unpromoted_hotfix")
    );
    assert!(
        hotfix
            .text()
            .unwrap()
            .contains("evidence: current snapshot #")
    );
}

#[test]
fn junit_escapes_names_and_an_environment_without_findings_passes() {
    let ws = Workspace::new();
    let hostile = "<a&b>\"x\"";
    let a = ws.write_json(
        "a.json",
        &snapshot("dev", "2026-11-01T10:00:00Z", &[(hostile, 'a', &[])]),
    );
    let b = ws.write_json(
        "b.json",
        &snapshot("prod", "2026-11-01T11:00:00Z", &[(hostile, 'b', &[])]),
    );
    let run = ws.run(&["import", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = ws.run(&[
        "report",
        "--path",
        "dev,prod",
        "--at",
        "2026-11-01T12:00:00Z",
        "--out",
        "junit.xml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(ws.path("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let dev = cases
        .iter()
        .find(|c| c.attribute("classname") == Some("envtrail.dev.report"))
        .expect("a passing case for dev");
    assert_eq!(dev.attribute("name"), Some("no findings"));
    assert!(!dev.children().any(|n| n.is_element()), "it passes");
    assert!(
        cases.iter().any(|c| c.attribute("name") == Some(hostile)
            && c.attribute("classname") == Some("envtrail.prod.unpromoted_hotfix")),
        "the hostile name round-trips through XML escaping: {text}"
    );
}

/// Runs `envtrail ARGS` under a real pseudo-terminal of `cols` columns (util-linux `script`).
fn on_a_tty(ws: &Workspace, args: &str, cols: u16, no_color: bool) -> String {
    let bin = env!("CARGO_BIN_EXE_envtrail");
    let mut cmd = Command::new("script");
    cmd.current_dir(ws.dir.path())
        .arg("-qec")
        .arg(format!("stty cols {cols}; {bin} {args}"))
        .arg("/dev/null")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().expect("util-linux script runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_table_is_coloured_and_fits_a_terminal_and_is_plain_when_piped() {
    let ws = Workspace::new();
    let tty = on_a_tty(&ws, "demo", 80, false);
    assert!(tty.contains("\u{1b}["), "colour on a terminal: {tty}");
    assert!(tty.contains("\u{1b}[38;5;9m"), "high findings in red");
    // The table lines (the demo's note on stderr shares the terminal).
    let widest = tty
        .lines()
        .filter(|l| l.contains('│') || l.contains('┌'))
        .map(|l| {
            // Display width: drop escape sequences, count characters.
            let mut w = 0;
            let mut esc = false;
            for c in l.trim_end_matches('\r').chars() {
                match (esc, c) {
                    (false, '\u{1b}') => esc = true,
                    (true, 'm') => esc = false,
                    (true, _) => {}
                    _ => w += 1,
                }
            }
            w
        })
        .max()
        .unwrap();
    assert!(widest <= 80, "fits 80 columns: {widest}");

    let plain = on_a_tty(&ws, "demo", 80, true);
    assert!(!plain.contains('\u{1b}'), "NO_COLOR: {plain}");
    assert!(plain.contains("unpromoted_h"));

    let piped = ws.run(&["demo"]);
    assert!(!piped.stdout.contains('\u{1b}'), "piped output is plain");
    assert!(
        piped.stdout.contains("unpromoted_hotfix"),
        "and not wrapped"
    );
}

#[test]
fn report_out_takes_the_format_from_the_extension_and_refuses_elsewhere() {
    let ws = Workspace::new();
    let a = ws.write_json(
        "a.json",
        &snapshot("dev", "2026-11-01T10:00:00Z", &[("api", 'a', &[])]),
    );
    assert_eq!(ws.run(&["import", a.to_str().unwrap()]).code, 0);
    for (file, start) in [
        ("r.html", "<!DOCTYPE html>"),
        ("r.json", "{"),
        ("r.md", "## envtrail report"),
        ("r.xml", "<?xml"),
        ("r.txt", "envtrail report"),
    ] {
        let run = ws.run(&["report", "--path", "dev", "--out", file]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.is_empty(), "--out writes the file, not stdout");
        let text = std::fs::read_to_string(ws.path(file)).unwrap();
        assert!(text.starts_with(start), "{file}: {text}");
    }
    // An explicit --format wins over the extension.
    let run = ws.run(&[
        "--format", "json", "report", "--path", "dev", "--out", "x.html",
    ]);
    assert_eq!(run.code, 0);
    assert!(
        std::fs::read_to_string(ws.path("x.html"))
            .unwrap()
            .starts_with('{')
    );
    let run = ws.run(&["report", "--path", "dev", "--out", "no/such/folder/r.html"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("writing no/such/folder/r.html")
            && run.stderr.contains("hint: the folder of --out must exist"),
        "{}",
        run.stderr
    );
    let run = ws.run(&["--format", "html", "envs"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
}

#[test]
fn completions_and_the_man_page_come_from_the_clap_definitions() {
    let ws = Workspace::new();
    let bash = ws.run(&["completions", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    for word in ["notify", "metrics", "report", "--only-changes", "--out"] {
        assert!(bash.stdout.contains(word), "bash completes {word}");
    }
    // The script is valid bash.
    let script = ws.write("envtrail.bash", &bash.stdout);
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let zsh = ws.run(&["completions", "zsh"]);
    assert!(
        zsh.stdout.starts_with("#compdef envtrail"),
        "{}",
        zsh.stdout
    );
    let fish = ws.run(&["completions", "fish"]);
    assert!(fish.stdout.contains("complete -c envtrail"));
    let bad = ws.run(&["completions", "tcsh"]);
    assert_eq!(bad.code, 1, "an unknown shell is a usage error");

    let man = ws.run(&["man"]);
    assert_eq!(man.code, 0);
    assert!(man.stdout.contains(".TH envtrail 1"), "{}", man.stdout);
    assert!(man.stdout.contains("notify") && man.stdout.contains("metrics"));
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let ws = Workspace::new();
    let a = ws.write_json(
        "a.json",
        &snapshot("dev", "2026-11-01T10:00:00Z", &[("api", 'a', &[])]),
    );
    assert_eq!(ws.run(&["import", a.to_str().unwrap()]).code, 0);
    let db = ws.db();
    let tty = on_a_tty(
        &ws,
        &format!("--db {} report --path dev --out r.html", db.display()),
        80,
        false,
    );
    assert!(tty.contains("building the report"), "{tty}");
    let piped = ws.run(&["report", "--path", "dev", "--out", "r.html"]);
    assert_eq!(piped.code, 0);
    assert!(!piped.stderr.contains("building"), "{}", piped.stderr);
    assert!(!piped.stderr.contains('\u{1b}'));
}
