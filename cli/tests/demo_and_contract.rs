//! The demo shows every finding kind; JSON outputs match their committed schemas; tampering with
//! the store is caught by `verify` with the first broken snapshot named.

mod support;

use envtrail_model::FindingKind;
use serde_json::Value;
use support::{Workspace, assert_valid, snapshot};

#[test]
fn demo_shows_every_finding_kind_and_exits_by_threshold() {
    let ws = Workspace::new();
    let run = ws.run(&["demo", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_valid("report.v1.schema.json", &report);
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    // The backbone's eleven kinds (issue 2) and the artifact kinds mutable_tag and
    // unverified_artifact (issue 4). A kind the demo does not carry an example of yet goes into
    // `not_in_demo`, with the reason, until it does: unmerged_hotfix needs git repositories
    // (merge-back facts); its end-to-end test is cli/tests/merge_back.rs. infra_drift: the demo's
    // only attributes that differ (database sizes) are declared environment-specific; its
    // end-to-end test is cli/tests/collect_aws.rs.
    let not_in_demo = [FindingKind::UnmergedHotfix, FindingKind::InfraDrift];
    for kind in FindingKind::ALL.iter().filter(|k| !not_in_demo.contains(k)) {
        assert!(
            kinds.contains(&kind.as_str()),
            "the demo lacks {kind}: {kinds:?}"
        );
    }
    assert!(
        report["summary"]["ignored"].as_u64().unwrap() >= 1,
        "the demo shows an ignore rule"
    );
    // The failed AWS source means unknown, never missing, in prod.
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "missing_component" && f["environment"] == "prod")
    );

    let run = ws.run(&["demo", "--fail-on", "high"]);
    assert_eq!(run.code, 2, "the demo has high findings");
    assert!(run.stdout.contains("unpromoted_hotfix"), "{}", run.stdout);
    let run = ws.run(&["demo", "--fail-on", "critical"]);
    assert_eq!(run.code, 0);
}

#[test]
fn demo_markdown_renders_a_table() {
    let ws = Workspace::new();
    let run = ws.run(&["demo", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("## envtrail report"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| high"), "{}", run.stdout);
}

fn store_with_history(ws: &Workspace) {
    let files = [
        ws.write_json(
            "a.json",
            &snapshot(
                "dev",
                "2026-11-18T10:00:00Z",
                &[("api", 'a', &[("LOG", "info")])],
            ),
        ),
        ws.write_json(
            "b.json",
            &snapshot(
                "prod",
                "2026-11-18T11:00:00Z",
                &[("api", 'a', &[("LOG", "info")])],
            ),
        ),
        ws.write_json(
            "c.json",
            &snapshot(
                "prod",
                "2026-11-19T11:00:00Z",
                &[("api", 'b', &[("LOG", "debug")])],
            ),
        ),
    ];
    let mut args = vec!["import"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let run = ws.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn every_json_output_matches_its_schema() {
    let ws = Workspace::new();
    let file = ws.write_json(
        "first.json",
        &snapshot("dev", "2026-11-17T10:00:00Z", &[("api", 'a', &[])]),
    );
    let run = ws.run(&["--format", "json", "import", file.to_str().unwrap()]);
    assert_valid("import.v1.schema.json", &run.json());
    store_with_history(&ws);
    let cases: &[(&[&str], &str)] = &[
        (&["envs"], "envs.v1.schema.json"),
        (
            &["asof", "prod", "2026-11-19T12:00:00Z"],
            "asof.v1.schema.json",
        ),
        (&["diff", "dev", "prod"], "diff.v1.schema.json"),
        (&["history", "prod"], "history.v1.schema.json"),
        (&["verify"], "verify.v1.schema.json"),
        (&["report", "--path", "dev,prod"], "report.v1.schema.json"),
    ];
    for (args, schema_file) in cases {
        let mut full = vec!["--format", "json"];
        full.extend_from_slice(args);
        let run = ws.run(&full);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let doc = run.json();
        assert_valid(schema_file, &doc);
        let expected = schema_file.trim_end_matches(".schema.json");
        assert_eq!(doc["schema"], format!("envtrail.{expected}"), "{args:?}");
    }
    let run = ws.run(&["export", "--env", "prod"]);
    assert_valid("snapshot.v1.schema.json", &run.json());
}

#[test]
fn verify_names_the_first_tampered_snapshot() {
    let ws = Workspace::new();
    store_with_history(&ws);
    assert_eq!(ws.run(&["verify"]).code, 0);
    {
        let conn = rusqlite::Connection::open(ws.db()).unwrap();
        // Rewrite prod's first snapshot header: claim it was taken an hour later.
        let changed = conn
            .execute(
                "UPDATE snapshots SET header = CAST(replace(CAST(header AS TEXT), '2026-11-18T11:00:00Z', '2026-11-18T12:00:00Z') AS BLOB) \
                 WHERE seq = 1 AND env_id = (SELECT id FROM environments WHERE name = 'prod')",
                [],
            )
            .unwrap();
        assert_eq!(changed, 1, "the test must really change a row");
    }
    let run = ws.run(&["verify", "--format", "json"]);
    assert_eq!(
        run.code, 1,
        "a tampered store fails verification: {}",
        run.stdout
    );
    let result = run.json();
    assert_eq!(result["ok"], Value::Bool(false));
    let first = &result["problems"][0];
    assert_eq!(
        first["snapshot_id"], 2,
        "prod's first snapshot is the store's second: {result}"
    );
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
}

#[test]
fn verify_catches_a_changed_state_body() {
    let ws = Workspace::new();
    store_with_history(&ws);
    {
        let conn = rusqlite::Connection::open(ws.db()).unwrap();
        let changed = conn
            .execute(
                "UPDATE states SET body = CAST(replace(CAST(body AS TEXT), 'Deployment/api-prod', 'Deployment/api-evil') AS BLOB) \
                 WHERE instr(CAST(body AS TEXT), 'Deployment/api-prod') > 0",
                [],
            )
            .unwrap();
        assert!(changed >= 1, "the test must really change a row");
    }
    let run = ws.run(&["verify"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);
}
