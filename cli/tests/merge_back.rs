//! Hotfix merge-back end to end: a real git repository (built with the git binary in a temp dir,
//! read by envtrail with gix), snapshots whose artifacts carry revision labels, a `[merge_back]`
//! config, and `envtrail report`.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::Workspace;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs (test setup needs the git binary)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn commit(dir: &Path, file: &str) -> String {
    std::fs::write(dir.join(file), file).unwrap();
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", file]);
    git(dir, &["rev-parse", "HEAD"])
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn snapshot(env: &str, at: &str, d: char, revision: &str) -> Value {
    json!({
        "schema": "envtrail.snapshot.v1",
        "environment": env,
        "taken_at": at,
        "sources": [{"id": "k8s", "kind": "kubernetes", "status": "ok"}],
        "workloads": [{
            "component": "payments-api", "source": "k8s", "ref": "Deployment/p/api",
            "containers": [{"name": "api", "image": "registry.acme.example/payments/api:1",
                            "running_digests": [digest(d)]}]
        }],
        "artifacts": [{"digest": digest(d), "repository": "registry.acme.example/payments/api",
                       "tags": ["1"], "revision": revision}]
    })
}

/// staging runs the mainline head; prod runs a hotfix commit on branch hotfix/1.4.2.
fn setup(ws: &Workspace) -> (String, String) {
    let repo = ws.path("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let main = commit(&repo, "a");
    git(&repo, &["checkout", "-q", "-b", "hotfix/1.4.2"]);
    let hotfix = commit(&repo, "h");
    git(&repo, &["checkout", "-q", "main"]);
    let staging = ws.write_json(
        "staging.json",
        &snapshot("staging", "2026-11-10T10:00:00Z", 'a', &main),
    );
    let prod = ws.write_json(
        "prod.json",
        &snapshot("prod", "2026-11-11T10:00:00Z", 'b', &hotfix),
    );
    let run = ws.run(&["import", staging.to_str().unwrap(), prod.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (main, hotfix)
}

fn report(ws: &Workspace, config: &str) -> Value {
    ws.write("envtrail.toml", config);
    let run = ws.run(&[
        "--format",
        "json",
        "--config",
        "envtrail.toml",
        "report",
        "--path",
        "staging,prod",
        "--at",
        "2026-11-12",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
}

fn of_kind<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn an_unmerged_hotfix_in_prod_is_reported_and_linked() {
    let ws = Workspace::new();
    let (_main, hotfix) = setup(&ws);
    let r = report(
        &ws,
        "[[merge_back.repositories]]\nurl = \"repo\"\nartifacts = [\"registry.acme.example/payments/*\"]\n",
    );
    let unmerged = of_kind(&r, "unmerged_hotfix");
    assert_eq!(unmerged.len(), 1, "{r:#}");
    let f = unmerged[0];
    assert_eq!(f["environment"], "prod");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["keys"][0], hotfix.as_str());
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("hotfix/1.4.2"), "{message}");
    assert!(message.contains("also an unpromoted_hotfix"), "{message}");
    let unpromoted = of_kind(&r, "unpromoted_hotfix");
    assert!(
        unpromoted[0]["message"]
            .as_str()
            .unwrap()
            .contains("also an unmerged_hotfix"),
        "{unpromoted:?}"
    );
}

#[test]
fn without_mapping_or_with_an_unreachable_remote_nothing_is_claimed() {
    let ws = Workspace::new();
    setup(&ws);
    let r = report(&ws, "");
    assert!(of_kind(&r, "unmerged_hotfix").is_empty());
    let r = report(
        &ws,
        "[merge_back]\ncache_dir = \"cache\"\n\n[[merge_back.repositories]]\n\
         url = \"https://127.0.0.1:9/payments.git\"\ncomponents = [\"payments-*\"]\n",
    );
    assert!(
        of_kind(&r, "unmerged_hotfix").is_empty(),
        "unknown is never unmerged: {r:#}"
    );
    assert_eq!(of_kind(&r, "unpromoted_hotfix").len(), 1);
}
