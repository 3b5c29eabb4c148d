//! `envtrail notify` against a real HTTP receiver on loopback (hyper) that records every request
//! and answers as told (200, 429 with Retry-After, 500): each platform's payload shape, the
//! platform limits on long lists, retries, failure without advancing the state, and
//! `--only-changes` across runs. The webhook URLs carry a secret-looking token that must never
//! appear in envtrail's output.

mod support;

use std::time::Instant;

use serde_json::Value;
use support::receiver::{Receiver, SECRET};
use support::{Run, Workspace, assert_valid, snapshot};

/// dev ran api a and web b, then moved web to d; prod runs api c (an unpromoted hotfix, high) and
/// web b (a pending promotion, info).
fn store(ws: &Workspace) {
    let a0 = ws.write_json(
        "dev0.json",
        &snapshot(
            "dev",
            "2026-11-01T09:00:00Z",
            &[("api", 'a', &[]), ("web", 'b', &[])],
        ),
    );
    let run = ws.run(&["import", a0.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let a = ws.write_json(
        "dev.json",
        &snapshot(
            "dev",
            "2026-11-01T10:00:00Z",
            &[("api", 'a', &[]), ("web", 'd', &[])],
        ),
    );
    let b = ws.write_json(
        "prod.json",
        &snapshot(
            "prod",
            "2026-11-01T11:00:00Z",
            &[("api", 'c', &[]), ("web", 'b', &[])],
        ),
    );
    let run = ws.run(&["import", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Runs `envtrail --config notify.toml notify ARGS` with the webhook variables set.
fn notify(ws: &Workspace, receiver: &Receiver, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_envtrail"));
    cmd.current_dir(ws.dir.path())
        .arg("--db")
        .arg(ws.db())
        .arg("--config")
        .arg(ws.path("notify.toml"))
        .arg("notify")
        .args(["--at", "2026-11-01T12:00:00Z"])
        .args(args)
        .env_remove("ENVTRAIL_CONFIG")
        .env("NO_COLOR", "1");
    for (var, path) in [
        ("SLACK_URL", "slack"),
        ("TEAMS_URL", "teams"),
        ("GCHAT_URL", "gchat"),
        ("MM_URL", "mattermost"),
        ("HOOK_URL", "hook"),
    ] {
        cmd.env(var, receiver.url(path));
    }
    let out = cmd.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "the webhook URL leaked: {}{}",
        run.stdout,
        run.stderr
    );
    run
}

fn config(ws: &Workspace, targets: &str) {
    ws.write(
        "notify.toml",
        &format!("[promotion]\npath = [\"dev\", \"prod\"]\n\n{targets}"),
    );
}

const ALL_TARGETS: &str = r#"
[[notify]]
name = "slack"
kind = "slack"
url_env = "SLACK_URL"
report_url = "https://ci.example.com/envtrail/report.html"

[[notify]]
name = "teams"
kind = "teams"
url_env = "TEAMS_URL"
min_severity = "high"
report_url = "https://ci.example.com/envtrail/report.html"

[[notify]]
name = "gchat"
kind = "google_chat"
url_file = "gchat.url"

[[notify]]
name = "mattermost"
kind = "mattermost"
url_env = "MM_URL"

[[notify]]
name = "hook"
kind = "webhook"
url_env = "HOOK_URL"
environments = ["prod"]
kinds = ["unpromoted_hotfix"]
"#;

#[test]
fn every_platform_gets_its_own_payload_shape_with_its_filter() {
    let ws = Workspace::new();
    store(&ws);
    config(&ws, ALL_TARGETS);
    let receiver = Receiver::start();
    ws.write("gchat.url", &format!("{}\n", receiver.url("gchat")));
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
    let total = report["summary"]["total"].as_u64().unwrap();
    assert_eq!(total, 2, "a hotfix and a pending promotion: {report}");

    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = receiver.received();
    let paths: Vec<&str> = got
        .iter()
        .map(|r| r.path.split('/').nth(1).unwrap())
        .collect();
    assert_eq!(paths, ["slack", "teams", "gchat", "mattermost", "hook"]);
    assert!(
        got.iter()
            .all(|r| r.content_type.starts_with("application/json"))
    );
    let body = |name: &str| {
        &got.iter()
            .find(|r| r.path.starts_with(&format!("/{name}/")))
            .unwrap()
            .body
    };

    // Slack: Block Kit with a header, the counts, the findings and the report link.
    let slack = body("slack");
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{total} findings"))
    );
    let all_text = serde_json::to_string(slack).unwrap();
    assert!(all_text.contains("unpromoted_hotfix") && all_text.contains("Open the HTML report"));

    // Teams: an Adaptive Card in a message; only high findings (its filter).
    let teams = body("teams");
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["actions"][0]["type"], "Action.OpenUrl");
    let card_text = serde_json::to_string(&card["content"]["body"]).unwrap();
    assert!(
        card_text.contains("HIGH") && !card_text.contains("INFO "),
        "{card_text}"
    );

    // Google Chat: one text; Mattermost: Markdown text with a username.
    let gchat = body("gchat")["text"].as_str().unwrap();
    assert!(gchat.starts_with("*envtrail:"), "{gchat}");
    let mm = body("mattermost");
    assert_eq!(mm["username"], "envtrail");
    assert!(mm["text"].as_str().unwrap().starts_with("**envtrail:"));

    // The generic webhook: envtrail's document, filtered to prod hotfixes.
    let hook = body("hook");
    assert_eq!(hook["schema"], "envtrail.notify.v1");
    assert_valid("notify.v1.schema.json", hook);
    assert_eq!(hook["mode"], "full");
    assert_eq!(hook["total"], 1);
    assert_eq!(hook["findings"][0]["kind"], "unpromoted_hotfix");
    assert_eq!(hook["findings"][0]["component"], "api");

    // --target picks one; --dry-run posts nothing and prints the payloads.
    receiver.take();
    let run = notify(&ws, &receiver, &["--target", "hook", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(receiver.received().is_empty());
    let dry: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(dry.as_array().unwrap().len(), 1);
    assert_eq!(dry[0]["payload"]["schema"], "envtrail.notify.v1");
}

#[test]
fn long_lists_fit_each_platforms_limits_with_and_n_more() {
    let ws = Workspace::new();
    let n = 150;
    let names: Vec<String> = (0..n)
        .map(|i| format!("service-with-a-rather-long-name-{i:03}-<&>"))
        .collect();
    let spec = |d: char| -> Vec<support::WorkloadSpec> {
        names.iter().map(|n| (n.as_str(), d, &[][..])).collect()
    };
    let a = ws.write_json(
        "dev.json",
        &snapshot("dev", "2026-11-01T10:00:00Z", &spec('a')),
    );
    let b = ws.write_json(
        "prod.json",
        &snapshot("prod", "2026-11-01T11:00:00Z", &spec('c')),
    );
    assert_eq!(
        ws.run(&["import", a.to_str().unwrap(), b.to_str().unwrap()])
            .code,
        0
    );
    config(
        &ws,
        &ALL_TARGETS
            .replace("url_file = \"gchat.url\"", "url_env = \"GCHAT_URL\"")
            .replace("kind = \"slack\"", "kind = \"slack\"\nmax_findings = 200")
            .replace("kind = \"teams\"", "kind = \"teams\"\nmax_findings = 200")
            .replace(
                "kind = \"google_chat\"",
                "kind = \"google_chat\"\nmax_findings = 200",
            )
            .replace(
                "kind = \"mattermost\"",
                "kind = \"mattermost\"\nmax_findings = 200",
            ),
    );
    let receiver = Receiver::start();
    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = receiver.received();
    let body = |name: &str| {
        &got.iter()
            .find(|r| r.path.starts_with(&format!("/{name}/")))
            .unwrap()
            .body
    };
    let more = |text: &str| -> usize {
        let at = text.find("and ").expect("an 'and N more' line");
        text[at + 4..].split(' ').next().unwrap().parse().unwrap()
    };

    let slack = body("slack");
    let blocks = slack["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    let sections: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert!(
        sections.len() > 3,
        "the list was split into several sections"
    );
    assert!(sections.iter().all(|t| t.chars().count() <= 3000));
    let listed = sections
        .iter()
        .map(|t| t.matches("• ").count())
        .sum::<usize>();
    // 150 lines fit in 50 blocks of 3,000 characters: none may be left out silently.
    let omitted = blocks
        .iter()
        .find(|b| b["type"] == "context")
        .map_or(0, |ctx| more(ctx["elements"][0]["text"].as_str().unwrap()));
    assert_eq!(listed + omitted, n, "every finding is listed or counted");
    assert!(
        sections.iter().any(|t| t.contains("-&lt;&amp;&gt;")),
        "Slack markup characters are escaped"
    );

    let gchat = body("gchat")["text"].as_str().unwrap();
    assert!(gchat.chars().count() <= 4096, "{}", gchat.chars().count());
    assert_eq!(
        gchat.matches("\n• ").count()
            + more(gchat.rsplit('\n').find(|l| l.starts_with("and ")).unwrap()),
        n
    );

    let mm = body("mattermost")["text"].as_str().unwrap();
    assert!(mm.chars().count() <= 16_383);
    assert!(mm.matches("\n• ").count() < n && mm.contains(" more"));

    let teams = serde_json::to_vec(body("teams")).unwrap();
    assert!(teams.len() <= 28_000, "{} bytes", teams.len());
    assert!(String::from_utf8(teams).unwrap().contains(" more"));

    // The generic webhook has no limit: it carries all of them.
    assert_eq!(body("hook")["findings"].as_array().unwrap().len(), n);
}

const HOOK_ONLY: &str = r#"
[[notify]]
name = "hook"
kind = "webhook"
url_env = "HOOK_URL"
retries = 2
retry_delay = "20ms"
timeout = "5s"
"#;

#[test]
fn a_429_is_retried_after_its_retry_after() {
    let ws = Workspace::new();
    store(&ws);
    config(&ws, HOOK_ONLY);
    let receiver = Receiver::start();
    receiver.script(&[(429, Some("1"))]);
    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = receiver.received();
    assert_eq!(got.len(), 2, "429, then success");
    let waited = got[1].at - got[0].at;
    assert!(
        waited.as_millis() >= 950,
        "honoured Retry-After: 1 ({waited:?})"
    );
    assert!(run.stderr.contains("HTTP 429"), "{}", run.stderr);
    assert!(run.stderr.contains("after 2 attempts"), "{}", run.stderr);
}

#[test]
fn a_500_until_failure_exits_non_zero_and_does_not_advance_the_state() {
    let ws = Workspace::new();
    store(&ws);
    config(&ws, HOOK_ONLY);
    let receiver = Receiver::start();
    receiver.fail_always(Some(500));
    let run = notify(&ws, &receiver, &["--only-changes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(receiver.take().len(), 3, "the first attempt and 2 retries");
    assert!(
        run.stderr
            .contains("target hook (webhook): delivery failed after 3 attempts: HTTP 500"),
        "{}",
        run.stderr
    );
    // The state was not advanced: once the receiver is back, the same findings are new.
    receiver.fail_always(None);
    let run = notify(&ws, &receiver, &["--only-changes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = receiver.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["mode"], "changes");
    assert!(!got[0].body["new"].as_array().unwrap().is_empty());

    // A 4xx other than 429 is not retried.
    receiver.fail_always(Some(404));
    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(receiver.take().len(), 1);
    assert!(run.stderr.contains("not retried"), "{}", run.stderr);
}

#[test]
fn only_changes_posts_new_then_nothing_then_resolved() {
    let ws = Workspace::new();
    store(&ws);
    config(&ws, HOOK_ONLY);
    let receiver = Receiver::start();

    // 1: everything is new.
    let run = notify(&ws, &receiver, &["--only-changes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = receiver.take();
    assert_eq!(got.len(), 1);
    let first = &got[0].body;
    assert_eq!(first["mode"], "changes");
    let new_kinds: Vec<&str> = first["new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(new_kinds.contains(&"unpromoted_hotfix"), "{new_kinds:?}");
    assert!(first["resolved"].as_array().unwrap().is_empty());

    // 2: nothing changed: nothing posted.
    let run = notify(&ws, &receiver, &["--only-changes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(receiver.take().is_empty(), "nothing posted");
    assert!(run.stderr.contains("nothing changed"), "{}", run.stderr);

    // 3: prod now runs what dev runs: the hotfix is resolved.
    let fixed = ws.write_json(
        "prod2.json",
        &snapshot(
            "prod",
            "2026-11-01T11:30:00Z",
            &[("api", 'a', &[]), ("web", 'b', &[])],
        ),
    );
    assert_eq!(ws.run(&["import", fixed.to_str().unwrap()]).code, 0);
    let run = notify(&ws, &receiver, &["--only-changes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = receiver.take();
    assert_eq!(got.len(), 1);
    let third = &got[0].body;
    assert_valid("notify.v1.schema.json", third);
    assert!(third["new"].as_array().unwrap().is_empty(), "{third}");
    let resolved: Vec<&str> = third["resolved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(resolved, ["unpromoted_hotfix"]);
    assert!(
        third["title"]
            .as_str()
            .unwrap()
            .contains("0 new, 1 resolved")
    );
}

#[test]
fn a_missing_url_variable_is_named_with_a_hint_and_no_url_in_config_is_accepted() {
    let ws = Workspace::new();
    store(&ws);
    config(&ws, &HOOK_ONLY.replace("HOOK_URL", "NOT_SET_ANYWHERE"));
    let receiver = Receiver::start();
    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("NOT_SET_ANYWHERE"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: export the variable"),
        "{}",
        run.stderr
    );
    assert!(receiver.received().is_empty());

    config(
        &ws,
        &HOOK_ONLY.replace(
            "url_env = \"HOOK_URL\"",
            "url = \"https://hooks.example.com/x\"",
        ),
    );
    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("unknown field `url`"), "{}", run.stderr);
}

#[test]
fn a_hung_platform_times_out_and_is_retried_without_printing_the_url() {
    let ws = Workspace::new();
    store(&ws);
    config(
        &ws,
        &HOOK_ONLY
            .replace("timeout = \"5s\"", "timeout = \"300ms\"")
            .replace("retries = 2", "retries = 1"),
    );
    let receiver = Receiver::start();
    receiver.delay(Some(std::time::Duration::from_secs(10)));
    let started = Instant::now();
    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        started.elapsed().as_secs_f64() < 8.0,
        "each attempt is cut at 300ms (the receiver would answer after 10s)"
    );
    assert!(
        run.stderr.contains("delivery failed after 2 attempts"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("timed out") || run.stderr.contains("timeout"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_target_in_the_config_is_an_error_with_a_hint() {
    let ws = Workspace::new();
    store(&ws);
    config(&ws, "");
    let receiver = Receiver::start();
    let run = notify(&ws, &receiver, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no [[notify]] target"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: add a [[notify]] table"),
        "{}",
        run.stderr
    );
    config(&ws, HOOK_ONLY);
    let run = notify(&ws, &receiver, &["--target", "nope"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("no target named \"nope\" (targets: hook)"),
        "{}",
        run.stderr
    );
}
