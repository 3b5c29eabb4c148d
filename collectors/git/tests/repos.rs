//! Real git repositories built with the git binary in temp dirs (test setup only; the code under
//! test reads them with gix): a merged hotfix, an unmerged hotfix branch, a squash-merged branch,
//! a cherry-picked commit, an unknown commit, a missing mainline, an unreachable remote.

use std::path::Path;
use std::process::Command;

use envtrail_collect_git::{RepoSpec, cache_name, check, fetch_into_cache, is_remote, local_path};
use envtrail_model::revision::MergeStatus;

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

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", &format!("change {file}")]);
    git(dir, &["rev-parse", "HEAD"])
}

struct Repo {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    merged: String,
    hotfix: String,
    squashed: String,
    picked: String,
    main_head: String,
}

/// main: base, then a merge of `feature` (merged), a squash of `squash`, a cherry-pick -x of
/// `pick`; `hotfix/1.4.2` keeps one commit never merged.
fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop");
    std::fs::create_dir(&path).unwrap();
    git(&path, &["init", "-q", "-b", "main"]);
    commit(&path, "a", "base");

    git(&path, &["checkout", "-q", "-b", "feature"]);
    let merged = commit(&path, "f", "feature");
    git(&path, &["checkout", "-q", "main"]);
    commit(&path, "b", "main moves on");
    git(
        &path,
        &["merge", "-q", "--no-ff", "-m", "merge feature", "feature"],
    );

    git(&path, &["checkout", "-q", "-b", "hotfix/1.4.2"]);
    let hotfix = commit(&path, "h", "hotfix");
    git(&path, &["checkout", "-q", "main"]);

    git(&path, &["checkout", "-q", "-b", "squash"]);
    commit(&path, "s1", "one");
    let squashed = commit(&path, "s2", "two");
    git(&path, &["checkout", "-q", "main"]);
    git(&path, &["merge", "-q", "--squash", "squash"]);
    git(&path, &["commit", "-q", "-m", "squashed"]);

    git(&path, &["checkout", "-q", "-b", "pick"]);
    let picked = commit(&path, "p", "picked");
    git(&path, &["checkout", "-q", "main"]);
    git(&path, &["cherry-pick", "-x", &picked]);
    let main_head = git(&path, &["rev-parse", "HEAD"]);
    // Delete the branches whose commits reached main, so only hotfix/1.4.2 and squash remain.
    git(&path, &["branch", "-q", "-D", "feature", "pick"]);
    Repo {
        _dir: dir,
        path,
        merged,
        hotfix,
        squashed,
        picked,
        main_head,
    }
}

fn spec(url: &str) -> RepoSpec {
    RepoSpec {
        url: url.to_owned(),
        mainline: "main".to_owned(),
    }
}

#[test]
fn merged_unmerged_squashed_picked_and_unknown_commits() {
    let r = repo();
    let unknown = "0123456789abcdef0123456789abcdef01234567".to_owned();
    let revisions = vec![
        r.merged.clone(),
        r.hotfix.clone(),
        r.squashed.clone(),
        r.picked.clone(),
        r.main_head.clone(),
        unknown.clone(),
    ];
    let cache = tempfile::tempdir().unwrap();
    let facts = check(&spec(r.path.to_str().unwrap()), cache.path(), &revisions);
    assert_eq!(facts.len(), 6);
    assert_eq!(facts[&r.merged].status, MergeStatus::Merged);
    assert_eq!(facts[&r.main_head].status, MergeStatus::Merged);

    let hotfix = &facts[&r.hotfix];
    assert_eq!(hotfix.status, MergeStatus::Unmerged);
    assert_eq!(hotfix.branches, ["hotfix/1.4.2"]);
    assert_eq!(hotfix.mainline, "main");

    // The documented limit: a squash merge leaves no trace of the branch's commits on main.
    let squashed = &facts[&r.squashed];
    assert_eq!(squashed.status, MergeStatus::Unmerged);
    assert_eq!(squashed.branches, ["squash"]);

    let picked = &facts[&r.picked];
    assert_eq!(picked.status, MergeStatus::CherryPicked, "{picked:?}");
    assert!(
        picked
            .detail
            .as_ref()
            .unwrap()
            .contains("cherry-picked to main")
    );

    let u = &facts[&unknown];
    assert_eq!(u.status, MergeStatus::Unknown);
    assert!(u.detail.as_ref().unwrap().contains("is not in"), "{u:?}");
}

#[test]
fn a_short_revision_and_a_file_url_work() {
    let r = repo();
    let short = r.hotfix[..10].to_owned();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", r.path.display());
    assert!(!is_remote(&url));
    let facts = check(&spec(&url), cache.path(), std::slice::from_ref(&short));
    assert_eq!(facts[&short].status, MergeStatus::Unmerged);
}

#[test]
fn unreachable_or_unreadable_repositories_give_unknown_never_unmerged() {
    let r = repo();
    let cache = tempfile::tempdir().unwrap();
    let revisions = vec![r.hotfix.clone()];

    let url = "https://127.0.0.1:9/shop.git";
    assert!(is_remote(url));
    assert_eq!(
        local_path(url, cache.path()),
        cache.path().join(cache_name(url))
    );
    let facts = check(&spec(url), cache.path(), &revisions);
    let f = &facts[&r.hotfix];
    assert_eq!(f.status, MergeStatus::Unknown);
    assert!(
        f.detail
            .as_ref()
            .unwrap()
            .contains("fetching remote repository"),
        "{f:?}"
    );

    let facts = check(&spec("/nonexistent/repo"), cache.path(), &revisions);
    assert_eq!(facts[&r.hotfix].status, MergeStatus::Unknown);
    assert!(
        facts[&r.hotfix]
            .detail
            .as_ref()
            .unwrap()
            .contains("could not be opened"),
        "{:?}",
        facts[&r.hotfix]
    );

    let mut no_mainline = spec(r.path.to_str().unwrap());
    no_mainline.mainline = "trunk".into();
    let facts = check(&no_mainline, cache.path(), &revisions);
    assert_eq!(facts[&r.hotfix].status, MergeStatus::Unknown);
    assert!(
        facts[&r.hotfix]
            .detail
            .as_ref()
            .unwrap()
            .contains("no branch trunk")
    );
}

#[test]
fn scp_like_urls_are_remote() {
    assert!(is_remote("git@github.com:acme/shop.git"));
    assert!(!is_remote("/srv/git/shop"));
    assert!(!is_remote("relative/dir"));
}

#[test]
fn a_remote_is_mirrored_into_the_cache_then_updated() {
    let r = repo();
    let cache = tempfile::tempdir().unwrap();
    // A file:// URL stands for the remote: `git clone --mirror` treats it like any other URL.
    let url = format!("file://{}", r.path.display());
    let mirror = fetch_into_cache(&url, cache.path()).unwrap();
    assert_eq!(mirror, cache.path().join(cache_name(&url)));
    assert!(mirror.join("HEAD").exists());
    let facts = check(
        &spec(mirror.to_str().unwrap()),
        cache.path(),
        std::slice::from_ref(&r.hotfix),
    );
    assert_eq!(facts[&r.hotfix].status, MergeStatus::Unmerged);
    assert_eq!(facts[&r.hotfix].branches, ["hotfix/1.4.2"]);

    // The hotfix is merged upstream; the next fetch updates the mirror and the fact.
    git(
        &r.path,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "merge hotfix",
            "hotfix/1.4.2",
        ],
    );
    fetch_into_cache(&url, cache.path()).unwrap();
    let facts = check(
        &spec(mirror.to_str().unwrap()),
        cache.path(),
        std::slice::from_ref(&r.hotfix),
    );
    assert_eq!(facts[&r.hotfix].status, MergeStatus::Merged);

    let err = fetch_into_cache("file:///nonexistent/repo.git", cache.path()).unwrap_err();
    assert!(err.to_string().contains("git exited"), "{err}");
}
