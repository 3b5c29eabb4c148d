//! End-to-end tests of the `envtrail` binary: import/export, exit codes, errors that name what is
//! at fault, time queries and the report's contract.

mod support;

use serde_json::json;
use support::{Workspace, digest, snapshot};

const T1: &str = "2026-11-18T10:00:00Z";
const T2: &str = "2026-11-19T10:00:00Z";
const T3: &str = "2026-11-20T10:00:00Z";

#[test]
fn import_then_export_round_trips() {
    let ws = Workspace::new();
    let mut snap = snapshot(
        "prod",
        T1,
        &[("api", 'a', &[("LOG_LEVEL", "info")]), ("web", 'b', &[])],
    );
    snap["future_field"] = json!({"kept": true});
    let file = ws.write_json("prod.json", &snap);
    let run = ws.run(&["import", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("prod") && run.stdout.contains("stored"),
        "{}",
        run.stdout
    );

    let run = ws.run(&["export", "--env", "prod", "--at", T2]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exported = run.json();
    let mut expected: envtrail_model::Snapshot = serde_json::from_value(snap).unwrap();
    expected.normalize();
    let exported: envtrail_model::Snapshot = serde_json::from_value(exported).unwrap();
    assert_eq!(exported, expected);
    assert_eq!(exported.extra["future_field"], json!({"kept": true}));
}

#[test]
fn importing_the_same_snapshot_twice_stores_it_once() {
    let ws = Workspace::new();
    let file = ws.write_json("a.json", &snapshot("dev", T1, &[("api", 'a', &[])]));
    assert_eq!(ws.run(&["import", file.to_str().unwrap()]).code, 0);
    let run = ws.run(&["--format", "json", "import", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["imported"][0]["stored"], json!(false));
    let envs = ws.run(&["--format", "json", "envs"]).json();
    assert_eq!(envs["environments"][0]["snapshots"], json!(1));
}

#[test]
fn stdin_import_works() {
    let ws = Workspace::new();
    let text = serde_json::to_string(&snapshot("dev", T1, &[("api", 'a', &[])])).unwrap();
    let run = ws.run_with_stdin(&["import", "-"], Some(&text));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        ws.run(&["--format", "json", "envs"]).json()["environments"][0]["environment"],
        "dev"
    );
}

#[test]
fn a_bad_file_stores_nothing_and_names_file_and_field() {
    let ws = Workspace::new();
    let good = ws.write_json("good.json", &snapshot("dev", T1, &[("api", 'a', &[])]));
    let mut bad = snapshot("dev", T2, &[("api", 'b', &[])]);
    bad["workloads"][0]["containers"][0]["running_digests"][0] = json!("sha256:not-hex");
    let bad = ws.write_json("bad.json", &bad);
    let run = ws.run(&["import", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("bad.json"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("workloads[0].containers[0].running_digests[0]"),
        "{}",
        run.stderr
    );
    // Nothing was stored, not even the good file: the store may not even exist.
    if ws.db().exists() {
        let envs = ws.run(&["--format", "json", "envs"]).json();
        assert_eq!(envs["environments"], json!([]));
    }
}

#[test]
fn secret_values_are_refused_and_never_echoed() {
    let ws = Workspace::new();
    let mut snap = snapshot("prod", T1, &[("api", 'a', &[])]);
    snap["workloads"][0]["config"]["DB_PASSWORD"] = json!({
        "fingerprint": format!("hmac-sha256:{}", "1".repeat(64)), "secret": true, "value": "hunter2"});
    let file = ws.write_json("prod.json", &snap);
    let run = ws.run(&["import", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("DB_PASSWORD"), "{}", run.stderr);
    assert!(!run.stderr.contains("hunter2") && !run.stdout.contains("hunter2"));
}

fn three_env_store(ws: &Workspace) {
    let files = [
        ws.write_json(
            "dev1.json",
            &snapshot("dev", T1, &[("api", 'a', &[("LOG", "info")])]),
        ),
        ws.write_json(
            "dev2.json",
            &snapshot("dev", T3, &[("api", 'b', &[("LOG", "info")])]),
        ),
        ws.write_json(
            "staging1.json",
            &snapshot("staging", T1, &[("api", 'a', &[("LOG", "info")])]),
        ),
        ws.write_json(
            "staging2.json",
            &snapshot("staging", T3, &[("api", 'a', &[("LOG", "info")])]),
        ),
        ws.write_json(
            "prod1.json",
            &snapshot("prod", T1, &[("api", 'a', &[("LOG", "info")])]),
        ),
        // prod now runs 'c', which no upstream environment ever ran: an unpromoted hotfix.
        ws.write_json(
            "prod2.json",
            &snapshot("prod", T3, &[("api", 'c', &[("LOG", "info")])]),
        ),
    ];
    let mut args = vec!["import"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let run = ws.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn report_exit_codes_follow_fail_on() {
    let ws = Workspace::new();
    three_env_store(&ws);
    let at = "2026-11-20T11:00:00Z";
    let run = ws.run(&[
        "report",
        "--path",
        "dev,staging,prod",
        "--at",
        at,
        "--format",
        "json",
    ]);
    assert_eq!(
        run.code, 0,
        "without --fail-on findings do not fail: {}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["schema"], "envtrail.report.v1");
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"unpromoted_hotfix"), "{kinds:?}");
    assert!(kinds.contains(&"pending_promotion"), "{kinds:?}");

    let run = ws.run(&[
        "report",
        "--path",
        "dev,staging,prod",
        "--at",
        at,
        "--fail-on",
        "high",
    ]);
    assert_eq!(
        run.code, 2,
        "a high finding with --fail-on high exits 2: {}",
        run.stderr
    );
    let run = ws.run(&[
        "report",
        "--path",
        "dev,staging,prod",
        "--at",
        at,
        "--fail-on",
        "critical",
    ]);
    assert_eq!(run.code, 0, "nothing critical: {}", run.stderr);

    // Before prod's hotfix the same question had no high finding.
    let run = ws.run(&[
        "report",
        "--path",
        "staging,prod",
        "--at",
        "2026-11-18T11:00:00Z",
        "--fail-on",
        "high",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn errors_exit_1_and_name_what_is_at_fault() {
    let ws = Workspace::new();
    let run = ws.run(&["report", "--path", "dev,prod"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no store at"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);

    three_env_store(&ws);
    let run = ws.run(&["report", "--path", "dev,qa,prod"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("qa"), "{}", run.stderr);

    let run = ws.run(&["asof", "prod", "14/03/2026"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("14/03/2026"), "{}", run.stderr);

    let run = ws.run(&["report"]);
    assert_eq!(run.code, 1, "no path anywhere");
    assert!(run.stderr.contains("no promotion path"), "{}", run.stderr);

    ws.write(
        "envtrail.toml",
        "[promotion]\npath = [\"dev\"]\n[report]\nmax_age = \"1h\"\n",
    );
    let run = ws.run(&["report"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("envtrail.toml") && run.stderr.contains("line 4"),
        "{}",
        run.stderr
    );

    let run = ws.run(&["report", "--fail-on", "urgent", "--path", "dev"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn config_file_supplies_path_and_policy() {
    let ws = Workspace::new();
    three_env_store(&ws);
    ws.write(
        "envtrail.toml",
        "[promotion]\npath = [\"dev\", \"staging\", \"prod\"]\n\n[[ignore]]\nkind = \"unpromoted_hotfix\"\ncomponent = \"api\"\nreason = \"known\"\n",
    );
    let run = ws.run(&[
        "report",
        "--at",
        "2026-11-20T11:00:00Z",
        "--fail-on",
        "high",
        "--format",
        "json",
    ]);
    assert_eq!(
        run.code, 0,
        "the only high finding is ignored: {}",
        run.stdout
    );
    let report = run.json();
    assert_eq!(report["summary"]["ignored"], json!(1));
    assert_eq!(report["ignored"][0]["finding"]["kind"], "unpromoted_hotfix");
}

#[test]
fn asof_states_snapshot_and_window() {
    let ws = Workspace::new();
    three_env_store(&ws);
    let run = ws.run(&["asof", "prod", "2026-11-19", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer = run.json();
    assert_eq!(answer["schema"], "envtrail.asof.v1");
    assert_eq!(
        answer["evidence"]["snapshot"]["taken_at"],
        "2026-11-18T10:00:00Z"
    );
    assert_eq!(
        answer["evidence"]["next"]["taken_at"],
        "2026-11-20T10:00:00Z"
    );
    assert_eq!(answer["components"][0]["artifacts"][0], digest('a'));

    let run = ws.run(&["asof", "prod", "2026-11-01"]);
    assert_eq!(run.code, 1, "before the first snapshot there is no answer");
    assert!(run.stderr.contains("no snapshot"), "{}", run.stderr);

    let table = ws.run(&["asof", "prod", "2026-11-19"]);
    assert!(
        table.stdout.contains("evidence: snapshot"),
        "{}",
        table.stdout
    );
}

#[test]
fn diff_between_times_and_history() {
    let ws = Workspace::new();
    three_env_store(&ws);
    let run = ws.run(&["diff", "prod@2026-11-19", "prod", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let diff = run.json();
    assert_eq!(diff["schema"], "envtrail.diff.v1");
    assert_eq!(diff["changes"][0]["component"], "api");
    assert_eq!(diff["changes"][0]["change"], "changed");

    let run = ws.run(&["diff", "prod", "prod", "--format", "json"]);
    assert_eq!(
        run.json()["changes"],
        json!([]),
        "a state diffed with itself is empty"
    );

    let run = ws.run(&["history", "prod", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = run.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2, "added, then changed: {events:?}");
    assert_eq!(events[1]["change"]["change"], "changed");
    let run = ws.run(&[
        "history",
        "prod",
        "--since",
        "2026-11-19",
        "--format",
        "json",
    ]);
    assert_eq!(run.json()["events"].as_array().unwrap().len(), 1);
}

#[test]
fn verify_passes_on_an_intact_store() {
    let ws = Workspace::new();
    three_env_store(&ws);
    let run = ws.run(&["verify", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["ok"], json!(true));
    assert_eq!(run.json()["snapshots_checked"], json!(6));
}

#[test]
fn markdown_and_table_formats_render() {
    let ws = Workspace::new();
    three_env_store(&ws);
    let md = ws.run(&[
        "report",
        "--path",
        "dev,staging,prod",
        "--format",
        "markdown",
    ]);
    assert_eq!(md.code, 0);
    assert!(md.stdout.contains("| severity"), "{}", md.stdout);
    let table = ws.run(&["envs"]);
    assert!(table.stdout.contains("staging"), "{}", table.stdout);
}

/// Compact JSON of a normalised snapshot: how collectors and `envtrail-fleet` write documents,
/// the layout in which `import` leaves the components the store already holds unparsed.
fn compact(doc: serde_json::Value) -> String {
    let mut snapshot: envtrail_model::Snapshot = serde_json::from_value(doc).unwrap();
    snapshot.normalize();
    serde_json::to_string(&snapshot).unwrap()
}

#[test]
fn components_left_unparsed_are_stored_as_a_full_parse_stores_them() {
    let prod = |at: &str, log: &str, web: char| {
        snapshot(
            "prod",
            at,
            &[
                ("api", 'a', &[("LOG", log)]),
                ("web", web, &[]),
                ("db", 'c', &[]),
            ],
        )
    };
    // api's config changes, then goes back to what it was while web changes.
    let (s1, s2, s3) = (
        prod(T1, "info", 'b'),
        prod(T2, "debug", 'b'),
        prod(T3, "info", 'd'),
    );
    let newest = |ws: &Workspace| {
        let envs = ws.run(&["--format", "json", "envs"]).json();
        envs["environments"][0]["newest"]["hash"].clone()
    };
    let import = |ws: &Workspace, files: &[&std::path::Path]| {
        let mut args = vec!["--format", "json", "import"];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let run = ws.run(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()
    };

    // One file per command, compact: each import leaves what did not change unparsed.
    let one_by_one = Workspace::new();
    let files: Vec<_> = [&s1, &s2, &s3]
        .iter()
        .enumerate()
        .map(|(i, s)| one_by_one.write(&format!("s{i}.json"), &compact((*s).clone())))
        .collect();
    let parsed: Vec<_> = files
        .iter()
        .map(|file| import(&one_by_one, &[file])["imported"][0]["components_parsed"].clone())
        .collect();
    // s1 into a new store: all three; s2: api; s3: api and web.
    assert_eq!(parsed, [json!(3), json!(1), json!(2)]);
    // s2 and s3 in one command: s3's api is left unparsed against the state before the
    // command, which s2 changes first, so s3 is read again in full.
    let together = Workspace::new();
    import(&together, &[&files[0]]);
    let out = import(&together, &[&files[2], &files[1]]);
    let per_file = |field: &str| -> Vec<serde_json::Value> {
        let imported = out["imported"].as_array().unwrap();
        imported.iter().map(|i| i[field].clone()).collect()
    };
    let changed = per_file("components_changed");
    assert_eq!(
        changed,
        [json!(1), json!(2)],
        "s2 then s3, in time order: {out}"
    );
    let parsed = per_file("components_parsed");
    assert_eq!(parsed, [json!(1), json!(3)], "s3 read again in full: {out}");
    // Pretty-printed documents: everything parsed.
    let pretty = Workspace::new();
    for (i, s) in [&s1, &s2, &s3].iter().enumerate() {
        let file = pretty.write_json(&format!("p{i}.json"), s);
        import(&pretty, &[&file]);
    }

    let expected = newest(&pretty);
    assert!(expected.is_string(), "{expected}");
    assert_eq!(newest(&one_by_one), expected, "the same chain");
    assert_eq!(newest(&together), expected, "the same chain");
    let mut s3_normalized: envtrail_model::Snapshot = serde_json::from_value(s3).unwrap();
    s3_normalized.normalize();
    for ws in [&one_by_one, &together] {
        let run = ws.run(&["export", "--env", "prod", "--at", T3]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let exported: envtrail_model::Snapshot = serde_json::from_value(run.json()).unwrap();
        assert_eq!(exported, s3_normalized);
        assert_eq!(ws.run(&["verify"]).code, 0);
    }
}
