//! The promotion matrix the HTML report draws: one row per component, one column per environment
//! of the path, each cell the version running there (tag, short digest, revision) and a status
//! derived from the report's findings for that cell. Built from the same [`ReportInput`] the diff
//! read, so the matrix and the findings list cannot disagree about what ran.

use std::collections::{BTreeMap, BTreeSet};

use envtrail_model::output::Report;
use envtrail_model::view::ReportInput;
use envtrail_model::{ComponentName, Digest, FindingKind};
use serde::Serialize;

/// The status of one cell. Shown by colour *and* symbol (colour-blind readers, print).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Runs what its upstream runs (or is the first environment of the path).
    Current,
    /// Upstream runs something this environment has not received yet.
    Pending,
    /// Runs an artifact never seen upstream.
    Hotfix,
    /// Runs an artifact that skipped the environment between.
    Skipped,
    /// Runs an artifact that fails its artifact policy.
    Unverified,
    /// Not known: no snapshot, or a source failed.
    Unknown,
    /// Not deployed here (and the sources were complete).
    Absent,
}

impl CellStatus {
    /// Every status, in legend order.
    pub const ALL: [CellStatus; 7] = [
        CellStatus::Current,
        CellStatus::Pending,
        CellStatus::Hotfix,
        CellStatus::Skipped,
        CellStatus::Unverified,
        CellStatus::Unknown,
        CellStatus::Absent,
    ];

    /// The class and data value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Pending => "pending",
            Self::Hotfix => "hotfix",
            Self::Skipped => "skipped",
            Self::Unverified => "unverified",
            Self::Unknown => "unknown",
            Self::Absent => "absent",
        }
    }

    /// The symbol drawn in the cell: each status has its own shape.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Current => "✓",
            Self::Pending => "↑",
            Self::Hotfix => "!",
            Self::Skipped => "»",
            Self::Unverified => "✗",
            Self::Unknown => "?",
            Self::Absent => "–",
        }
    }

    /// The legend's words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Current => "same as upstream",
            Self::Pending => "pending promotion",
            Self::Hotfix => "unpromoted hotfix",
            Self::Skipped => "skipped an environment",
            Self::Unverified => "unverified artifact",
            Self::Unknown => "unknown (no snapshot or a source failed)",
            Self::Absent => "not deployed",
        }
    }

    /// The status a finding of this kind gives its cell, if any; the most serious wins.
    fn from_kind(kind: FindingKind) -> Option<Self> {
        match kind {
            FindingKind::UnverifiedArtifact => Some(Self::Unverified),
            FindingKind::UnpromotedHotfix => Some(Self::Hotfix),
            FindingKind::SkippedEnvironment => Some(Self::Skipped),
            FindingKind::PendingPromotion => Some(Self::Pending),
            _ => None,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::Unverified => 5,
            Self::Hotfix => 4,
            Self::Skipped => 3,
            Self::Pending => 2,
            Self::Unknown => 1,
            Self::Current | Self::Absent => 0,
        }
    }
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The status.
    pub status: CellStatus,
    /// Tag(s) of the main containers' images (`-` when absent).
    pub version: String,
    /// Short digest(s) running.
    pub digest: String,
    /// Source revision(s) from the artifact facts, when recorded.
    pub revision: String,
    /// Indexes into the report's findings about this cell.
    pub findings: Vec<usize>,
}

/// One row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The component.
    pub component: String,
    /// One cell per environment of the path.
    pub cells: Vec<Cell>,
}

/// The matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// The path, upstream first.
    pub environments: Vec<String>,
    /// Rows by component name.
    pub rows: Vec<Row>,
}

/// The tag of an image reference (`repo:tag`, `repo:tag@sha256:…`), or `-` when it has none.
pub fn image_tag(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    // The last `/` ends the host (which may carry a `:port`).
    let last_part = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last_part.rsplit_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag,
        _ => "-",
    }
}

fn join_set(set: BTreeSet<String>) -> String {
    if set.is_empty() {
        "-".into()
    } else {
        set.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// Builds the matrix of `report`, computed from `input`.
pub fn build(input: &ReportInput, report: &Report) -> Matrix {
    let path = &report.path;
    let mut names: BTreeSet<&ComponentName> = BTreeSet::new();
    for state in input.environments.iter().flatten() {
        names.extend(state.components.keys());
    }
    // (component, environment index) → findings.
    let env_index: BTreeMap<&str, usize> = path
        .iter()
        .enumerate()
        .map(|(i, e)| (e.as_str(), i))
        .collect();
    let mut by_cell: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    for (i, f) in report.findings.iter().enumerate() {
        if let (Some(c), Some(&k)) = (&f.component, env_index.get(f.environment.as_str())) {
            by_cell.entry((c.as_str(), k)).or_default().push(i);
        }
    }

    let rows = names
        .into_iter()
        .map(|name| {
            let cells = (0..path.len())
                .map(|k| {
                    let findings = by_cell.remove(&(name.as_str(), k)).unwrap_or_default();
                    let state = input.environments.get(k).and_then(Option::as_ref);
                    let entry = state.and_then(|s| s.components.get(name));
                    let mut status = match (state, entry) {
                        (None, _) => CellStatus::Unknown,
                        (Some(s), None) if !s.is_complete() => CellStatus::Unknown,
                        (Some(_), None) => CellStatus::Absent,
                        (Some(_), Some(_)) => CellStatus::Current,
                    };
                    for &i in &findings {
                        if let Some(s) = CellStatus::from_kind(report.findings[i].kind)
                            && s.rank() > status.rank()
                        {
                            status = s;
                        }
                    }
                    let (mut tags, mut digests, mut revisions) =
                        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
                    if let (Some(state), Some(entry)) = (state, entry) {
                        for w in &entry.current.state.workloads {
                            for c in w.containers.iter().filter(|c| !c.init) {
                                tags.insert(image_tag(&c.image).to_owned());
                                for d in c.artifact_digests() {
                                    digests.insert(d.short());
                                    if let Some(rev) = revision(state, d) {
                                        revisions.insert(rev);
                                    }
                                }
                            }
                        }
                    }
                    Cell {
                        status,
                        version: join_set(tags),
                        digest: join_set(digests),
                        revision: join_set(revisions),
                        findings,
                    }
                })
                .collect();
            Row {
                component: name.to_string(),
                cells,
            }
        })
        .collect();
    Matrix {
        environments: path.iter().map(|e| e.to_string()).collect(),
        rows,
    }
}

fn revision(state: &envtrail_model::view::EnvironmentState, d: &Digest) -> Option<String> {
    let artifact = state.artifacts.get(d).or_else(|| {
        state
            .artifacts
            .values()
            .find(|a| a.index_digest.as_ref() == Some(d))
    })?;
    artifact
        .revision
        .as_ref()
        .map(|r| r.chars().take(12).collect())
        .or_else(|| artifact.version.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_after_the_host_port() {
        assert_eq!(image_tag("registry.example.com:5000/api:1.4.2"), "1.4.2");
        assert_eq!(image_tag("registry.example.com:5000/api"), "-");
        assert_eq!(image_tag("api:2@sha256:abc"), "2");
        assert_eq!(image_tag("api@sha256:abc"), "-");
    }
}
