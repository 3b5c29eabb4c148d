//! Merge-back facts from git repositories, in pure Rust (gix: no libgit2, no git binary): for
//! each revision an artifact was built from, is that commit on the repository's mainline?
//!
//! - One walk from the mainline head collects its ancestors; each revision is then a set lookup,
//!   so 500 revisions cost one walk of the history, not 500.
//! - A commit that is not an ancestor but that a mainline commit records as cherry-picked
//!   (`(cherry picked from commit <sha>)`, written by `git cherry-pick -x`) is `cherry_picked`.
//!   A squash merge records nothing of the kind: its commits stay `unmerged` (see
//!   docs/findings.md, `unmerged_hotfix`, for the limit and what to do).
//! - For an unmerged commit, the branches (local and remote-tracking) whose tips contain it are
//!   named.
//! - A commit the repository does not have, or a repository that cannot be opened, gives
//!   `unknown` with the reason: never `unmerged`.
//!
//! Repositories are local paths or `file://` URLs, opened where they are, or remote URLs kept as
//! bare mirrors in the cache directory (`<cache>/<url with every non-alphanumeric byte as _>`, see
//! [`local_path`]). [`check`] refreshes a remote's mirror first with [`fetch_into_cache`], which
//! runs `git clone --mirror` / `git remote update --prune` so that private repositories use the
//! usual git credentials (credential helpers, ssh keys); the ancestry itself is read with gix. A
//! fetch that fails or times out makes every revision of that repository `unknown` (a stale
//! mirror could miss a merge and claim `unmerged` falsely).
//!
//! ```no_run
//! use envtrail_collect_git::{RepoSpec, check};
//!
//! let spec = RepoSpec { url: "/srv/git/shop.git".into(), mainline: "main".into() };
//! let facts = check(&spec, std::path::Path::new("/var/cache/envtrail/git"),
//!                   &["1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5".to_owned()]);
//! println!("{:?}", facts["1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5"].status);
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use envtrail_model::revision::{MergeStatus, RevisionFact};
use gix::ObjectId;

/// A repository as the config maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// A local path, a `file://` URL, or a remote URL (looked up in the cache directory).
    pub url: String,
    /// The mainline branch, e.g. `main`.
    pub mainline: String,
}

/// Why a repository could not be read. Becomes the `detail` of `unknown` facts.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository could not be opened.
    #[error("repository {url} could not be opened at {path}")]
    Open {
        /// The configured URL or path.
        url: String,
        /// Where it was looked for.
        path: PathBuf,
        /// What gix said.
        #[source]
        source: Box<gix::Error>,
    },
    /// The mainline branch does not exist.
    #[error(
        "repository {url} has no branch {mainline} (looked for refs/heads/{mainline} and refs/remotes/origin/{mainline})"
    )]
    NoMainline {
        /// The configured URL or path.
        url: String,
        /// The branch.
        mainline: String,
    },
    /// Reading the repository failed.
    #[error("reading repository {url}: {message}")]
    Read {
        /// The configured URL or path.
        url: String,
        /// What went wrong (gix's error, rendered).
        message: String,
    },
    /// A remote repository could not be fetched into the cache.
    #[error("fetching remote repository {url} into {path} failed: {why}")]
    Fetch {
        /// The URL.
        url: String,
        /// The cache entry.
        path: PathBuf,
        /// git's message, or the timeout.
        why: String,
    },
}

/// How long one fetch may take.
pub const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Clones `url` as a bare mirror into the cache, or updates the mirror already there, with the
/// git binary (the usual credentials apply; prompts are disabled). Returns the mirror's path.
pub fn fetch_into_cache(url: &str, cache_dir: &Path) -> Result<PathBuf, GitError> {
    use std::process::{Command, Stdio};
    let path = cache_dir.join(cache_name(url));
    let fail = |why: String| GitError::Fetch {
        url: url.to_owned(),
        path: path.clone(),
        why,
    };
    std::fs::create_dir_all(cache_dir).map_err(|e| fail(format!("creating the cache: {e}")))?;
    let mut cmd = Command::new("git");
    if path.join("HEAD").exists() {
        cmd.arg("--git-dir")
            .arg(&path)
            .args(["remote", "update", "--prune"]);
    } else {
        cmd.args(["clone", "--mirror", "--quiet", url]).arg(&path);
    }
    let mut child = cmd
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("running git: {e}")))?;
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > FETCH_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "timed out after {}s",
                    FETCH_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use std::io::Read as _;
            let _ = pipe.read_to_string(&mut stderr);
        }
        let last = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(fail(format!("git exited with {status}: {}", last.trim())));
    }
    Ok(path)
}

/// Where the repository of `url` is read from: the path itself, or its cache entry.
pub fn local_path(url: &str, cache_dir: &Path) -> PathBuf {
    if let Some(path) = url.strip_prefix("file://") {
        return PathBuf::from(path);
    }
    if !url.contains("://") && !looks_like_scp(url) {
        return PathBuf::from(url);
    }
    cache_dir.join(cache_name(url))
}

/// `git@host:path` (scp-like ssh).
fn looks_like_scp(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && url[..colon].contains('@'),
        (Some(colon), None) => url[..colon].contains('@'),
        _ => false,
    }
}

/// The cache directory entry of a remote URL.
pub fn cache_name(url: &str) -> String {
    url.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `url` is remote (fetched into the cache) rather than a local path.
pub fn is_remote(url: &str) -> bool {
    !url.starts_with("file://") && (url.contains("://") || looks_like_scp(url))
}

/// The facts of every revision (keyed as given) against `spec`'s mainline.
pub fn check(
    spec: &RepoSpec,
    cache_dir: &Path,
    revisions: &[String],
) -> BTreeMap<String, RevisionFact> {
    let fact =
        |revision: &str, status, branches: Vec<String>, detail: Option<String>| RevisionFact {
            revision: revision.to_owned(),
            repository: spec.url.clone(),
            mainline: spec.mainline.clone(),
            status,
            branches,
            detail,
        };
    let checked = match Checked::load(spec, cache_dir) {
        Ok(c) => c,
        Err(e) => {
            let why = e.to_string();
            return revisions
                .iter()
                .map(|r| {
                    (
                        r.clone(),
                        fact(r, MergeStatus::Unknown, vec![], Some(why.clone())),
                    )
                })
                .collect();
        }
    };
    let mut out = BTreeMap::new();
    let mut unmerged = Vec::new();
    for revision in revisions {
        match checked.resolve(revision) {
            None => {
                out.insert(
                    revision.clone(),
                    fact(
                        revision,
                        MergeStatus::Unknown,
                        vec![],
                        Some(format!("commit {revision} is not in {}", spec.url)),
                    ),
                );
            }
            Some(id) if checked.ancestors.contains(&id) => {
                out.insert(
                    revision.clone(),
                    fact(revision, MergeStatus::Merged, vec![], None),
                );
            }
            Some(id) => unmerged.push((revision, id)),
        }
    }
    if unmerged.is_empty() {
        return out;
    }
    let picks = checked.cherry_picks();
    let branches = checked.branches_containing(unmerged.iter().map(|(_, id)| *id));
    for (revision, id) in unmerged {
        let on = branches.get(&id).cloned().unwrap_or_default();
        let f = match picks.get(&id) {
            Some(pick) => fact(
                revision,
                MergeStatus::CherryPicked,
                on,
                Some(format!("cherry-picked to {} as {pick}", spec.mainline)),
            ),
            None => fact(revision, MergeStatus::Unmerged, on, None),
        };
        out.insert(revision.clone(), f);
    }
    out
}

/// An open repository with its mainline's ancestors.
struct Checked {
    repo: gix::Repository,
    url: String,
    mainline: String,
    head: ObjectId,
    ancestors: HashSet<ObjectId>,
}

impl Checked {
    fn load(spec: &RepoSpec, cache_dir: &Path) -> Result<Checked, GitError> {
        let path = if is_remote(&spec.url) {
            fetch_into_cache(&spec.url, cache_dir)?
        } else {
            local_path(&spec.url, cache_dir)
        };
        let repo = gix::open(&path).map_err(|source| GitError::Open {
            url: spec.url.clone(),
            path: path.clone(),
            source: Box::new(source),
        })?;
        let read = |e: &dyn std::fmt::Display| GitError::Read {
            url: spec.url.clone(),
            message: e.to_string(),
        };
        let mut head = None;
        for name in [
            format!("refs/heads/{}", spec.mainline),
            format!("refs/remotes/origin/{}", spec.mainline),
        ] {
            if let Some(mut r) = repo
                .try_find_reference(name.as_str())
                .map_err(|e| read(&e))?
            {
                head = Some(r.peel_to_id().map_err(|e| read(&e))?.detach());
                break;
            }
        }
        let head = head.ok_or_else(|| GitError::NoMainline {
            url: spec.url.clone(),
            mainline: spec.mainline.clone(),
        })?;
        let mut ancestors = HashSet::new();
        for info in repo.rev_walk([head]).all().map_err(|e| read(&e))? {
            ancestors.insert(info.map_err(|e| read(&e))?.id);
        }
        Ok(Checked {
            repo,
            url: spec.url.clone(),
            mainline: spec.mainline.clone(),
            head,
            ancestors,
        })
    }

    /// The commit a revision names, if the repository has it.
    fn resolve(&self, revision: &str) -> Option<ObjectId> {
        let id = match ObjectId::from_hex(revision.as_bytes()) {
            Ok(id) => id,
            Err(_) => self.repo.rev_parse_single(revision).ok()?.detach(),
        };
        self.repo.find_commit(id).ok().map(|c| c.id)
    }

    /// Commit recorded as cherry-picked → the mainline commit recording it.
    fn cherry_picks(&self) -> HashMap<ObjectId, ObjectId> {
        const MARK: &str = "(cherry picked from commit ";
        let mut out = HashMap::new();
        let Ok(walk) = self.repo.rev_walk([self.head]).all() else {
            return out;
        };
        for info in walk.flatten() {
            let Ok(commit) = info.object() else { continue };
            let message = commit.message_raw_sloppy().to_string();
            for (i, _) in message.match_indices(MARK) {
                let rest = &message[i + MARK.len()..];
                let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                if let Ok(id) = ObjectId::from_hex(hex.as_bytes()) {
                    out.entry(id).or_insert(commit.id);
                }
            }
        }
        out
    }

    /// For each commit, the branches (other than the mainline) whose tips contain it.
    fn branches_containing(
        &self,
        commits: impl IntoIterator<Item = ObjectId>,
    ) -> HashMap<ObjectId, Vec<String>> {
        let wanted: HashSet<ObjectId> = commits.into_iter().collect();
        let mut out: HashMap<ObjectId, Vec<String>> = HashMap::new();
        let Ok(platform) = self.repo.references() else {
            return out;
        };
        let mut tips = Vec::new();
        for refs in [platform.local_branches(), platform.remote_branches()] {
            let Ok(refs) = refs else { continue };
            for mut r in refs.flatten() {
                let name = r.name().shorten().to_string();
                if name == self.mainline || name == format!("origin/{}", self.mainline) {
                    continue;
                }
                if let Ok(id) = r.peel_to_id() {
                    tips.push((name, id.detach()));
                }
            }
        }
        for (name, tip) in tips {
            let Ok(walk) = self.repo.rev_walk([tip]).with_hidden([self.head]).all() else {
                continue;
            };
            for info in walk.flatten() {
                if wanted.contains(&info.id) {
                    out.entry(info.id).or_default().push(name.clone());
                }
            }
        }
        for names in out.values_mut() {
            names.sort();
            names.dedup();
        }
        out
    }
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Checked({} {} at {})",
            self.url, self.mainline, self.head
        )
    }
}
