//! `envtrail prune` end to end with the real binary on the demo snapshots: a dry run changes
//! nothing; the prune signs a checkpoint; answers after the cut are byte-for-byte the same;
//! questions before it fail naming the checkpoint; `verify` checks the chain from the checkpoint
//! and its signature, and catches a tampered checkpoint or row.

mod support;

use serde_json::Value;
use support::{Workspace, assert_valid};

/// The demo snapshots in the workspace's store, and an evidence key `k.pem`.
fn demo_store(ws: &Workspace) {
    ws.import_demo_snapshots();
    let keygen = ws.run(&["evidence", "keygen", "--out", "k.pem"]);
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
}

/// The answers that must not change: prod and dev after the cut, as JSON and as tables.
fn kept_answers(ws: &Workspace) -> Vec<String> {
    let cases: &[&[&str]] = &[
        &["--format", "json", "asof", "prod", "2026-11-17"],
        &["asof", "prod", "2026-11-15T14:00:00Z"],
        &["--format", "json", "asof", "dev", "2026-11-21"],
        &[
            "--format",
            "json",
            "asof",
            "staging",
            "2026-11-16T12:00:00Z",
        ],
        &[
            "--format",
            "json",
            "export",
            "--env",
            "prod",
            "--at",
            "2026-11-18",
        ],
        &[
            "--format",
            "json",
            "history",
            "prod",
            "--since",
            "2026-11-16",
        ],
        &["diff", "staging@2026-11-17", "prod@2026-11-17"],
    ];
    cases
        .iter()
        .map(|args| {
            let run = ws.run(args);
            assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
            run.stdout
        })
        .collect()
}

#[test]
fn prune_keeps_answers_after_the_cut_and_refuses_questions_before_it() {
    let ws = Workspace::new();
    demo_store(&ws);
    let before = kept_answers(&ws);

    // A dry run shows the checkpoint and changes nothing.
    let dry = ws.run(&[
        "--format",
        "json",
        "prune",
        "--before",
        "2026-11-17",
        "--dry-run",
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let doc = dry.json();
    assert_valid("prune.v1.schema.json", &doc);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["signature"], Value::Null);
    assert_eq!(doc["checkpoint"]["removed"]["snapshots"], 4);
    let still = ws.run(&["asof", "prod", "2026-11-13"]);
    assert_eq!(
        still.code, 0,
        "a dry run removed something: {}",
        still.stderr
    );

    // Without a key, no prune.
    let keyless = ws.run(&["prune", "--before", "2026-11-17"]);
    assert_eq!(keyless.code, 1);
    assert!(keyless.stderr.contains("--key"), "{}", keyless.stderr);

    let run = ws.run(&[
        "--format",
        "json",
        "prune",
        "--before",
        "2026-11-17",
        "--key",
        "k.pem",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pruned = run.json();
    assert_valid("prune.v1.schema.json", &pruned);
    assert_eq!(pruned["dry_run"], false);
    assert_eq!(pruned["checkpoint"]["number"], 1);
    assert_eq!(pruned["checkpoint"]["cut"]["snapshot_id"], 5);
    assert_eq!(
        pruned["checkpoint"]["removed"],
        doc["checkpoint"]["removed"]
    );
    let key_id = pruned["signature"]["key_id"].as_str().unwrap().to_owned();
    assert_eq!(pruned["checkpoint"]["key_id"], key_id.as_str());
    let secret: String = std::fs::read_to_string(ws.path("k.pem"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));

    assert_eq!(kept_answers(&ws), before, "an answer after the cut changed");

    // verify: the chain from the checkpoint on, the pruned range, the signature.
    let verify = ws.run(&["verify", "--key", "k.pem.pub"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.starts_with("ok: 6 snapshots")
            && verify.stdout.contains(
                "pruned: history before 2026-11-17T00:00:00Z was removed by checkpoint #1"
            )
            && verify.stdout.contains("from snapshot #5")
            && verify.stdout.contains("prod #6 2026-11-15T14:00:00Z")
            && verify.stdout.contains("verified, key sha256:")
            && verify.stdout.contains("checked against --key"),
        "{}",
        verify.stdout
    );
    let json = ws.run(&["--format", "json", "verify", "--key", "k.pem.pub"]);
    let json = json.json();
    assert_valid("verify.v1.schema.json", &json);
    assert_eq!(json["checkpoint"]["signature"], "verified");
    assert_eq!(json["checkpoint"]["key_pinned"], true);
    let unpinned = ws.run(&["verify"]);
    assert_eq!(unpinned.code, 0);
    assert!(
        unpinned.stdout.contains("pass --key PUB to pin it"),
        "{}",
        unpinned.stdout
    );

    // Before the cut: an error naming the checkpoint, never an empty answer.
    for args in [
        &["asof", "prod", "2026-11-13"][..],
        &["history", "prod"],
        &["history", "prod", "--since", "2026-11-01"],
        &["export", "--env", "prod", "--at", "2026-11-13"],
        &["diff", "prod@2026-11-13", "prod"],
        &[
            "evidence",
            "export",
            "--env",
            "prod",
            "--from",
            "2026-11-13",
            "--key",
            "k.pem",
            "--out",
            "early.json",
        ],
    ] {
        let run = ws.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr
                .contains("was pruned by checkpoint #1 (prune --before 2026-11-17T00:00:00Z)")
                && run.stderr.contains("hint: "),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(!ws.path("early.json").exists());

    // Evidence from the kept snapshot on still exports and verifies without the database.
    let export = ws.run(&[
        "evidence",
        "export",
        "--env",
        "prod",
        "--from",
        "2026-11-17",
        "--key",
        "k.pem",
        "--out",
        "b.json",
    ]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let check = ws.run(&["evidence", "verify", "b.json", "--key", "k.pem.pub"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    // Pruning again before the same instant: nothing to do, said so, exit 0.
    let again = ws.run(&["prune", "--before", "2026-11-17", "--key", "k.pem"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.starts_with("nothing to prune"),
        "{}",
        again.stdout
    );

    // Imports continue the chain; a later prune chains to the first checkpoint.
    let later = ws.run(&[
        "--format",
        "json",
        "prune",
        "--before",
        "2026-11-21",
        "--key",
        "k.pem",
        "--vacuum",
    ]);
    assert_eq!(later.code, 0, "{}", later.stderr);
    let later = later.json();
    assert_eq!(later["checkpoint"]["number"], 2);
    assert_eq!(later["vacuumed"], true);
    assert!(later["checkpoint"]["previous"].is_string());
    let verify = ws.run(&["verify", "--key", "k.pem.pub"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("2 prunes in all"),
        "{}",
        verify.stdout
    );
}

fn pruned_store(ws: &Workspace) {
    demo_store(ws);
    let run = ws.run(&["prune", "--before", "2026-11-17", "--key", "k.pem"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn sql(ws: &Workspace, statement: &str) {
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let changed = conn.execute(statement, []).unwrap();
    assert!(changed > 0, "the tampering changed nothing: {statement}");
}

#[test]
fn verify_catches_a_tampered_checkpoint_or_a_row_after_the_cut() {
    // The checkpoint's record: one byte of its counts.
    let ws = Workspace::new();
    pruned_store(&ws);
    sql(
        &ws,
        "UPDATE checkpoints SET body = CAST(replace(CAST(body AS TEXT), '\"snapshots\":4', '\"snapshots\":3') AS BLOB)",
    );
    let run = ws.run(&["verify", "--key", "k.pem.pub"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("FAILED")
            && run.stdout.contains(
                "checkpoint #1: the signature does not verify over the checkpoint's bytes"
            )
            && run.stdout.contains("checkpoint signature: FAILED"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
    // A store that does not verify is not pruned further.
    let refused = ws.run(&["prune", "--before", "2026-11-21", "--key", "k.pem"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("does not verify, so it is not pruned"),
        "{}",
        refused.stderr
    );

    // Pinned to another key.
    let ws = Workspace::new();
    pruned_store(&ws);
    assert_eq!(
        ws.run(&["evidence", "keygen", "--out", "other.pem"]).code,
        0
    );
    let run = ws.run(&["verify", "--key", "other.pem.pub"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("not by the key given"),
        "{}",
        run.stdout
    );

    // A snapshot after the cut.
    let ws = Workspace::new();
    pruned_store(&ws);
    sql(
        &ws,
        "UPDATE snapshots SET taken_at = taken_at + 1 WHERE id = 8",
    );
    let run = ws.run(&["verify"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("snapshot #8: first broken link"),
        "{}",
        run.stdout
    );

    // The checkpoint and its records removed, to pass the store off as never pruned.
    let ws = Workspace::new();
    pruned_store(&ws);
    sql(&ws, "DELETE FROM pruned");
    sql(&ws, "DELETE FROM checkpoints");
    let run = ws.run(&["verify"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("without the genesis link"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_bad_key_prunes_nothing() {
    let ws = Workspace::new();
    demo_store(&ws);
    ws.write("bad.pem", "not a key\n");
    let run = ws.run(&["prune", "--before", "2026-11-17", "--key", "bad.pem"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("bad.pem"), "{}", run.stderr);
    let still = ws.run(&["asof", "prod", "2026-11-13"]);
    assert_eq!(still.code, 0, "{}", still.stderr);
    let verify = ws.run(&["--format", "json", "verify"]);
    assert_eq!(verify.json()["snapshots_checked"], 10);
    assert_eq!(verify.json().get("checkpoint"), None);
}
