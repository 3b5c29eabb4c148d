//! Merge-back facts: whether the source revision an artifact was built from is on its
//! repository's mainline. The git collector (`envtrail-collect-git`) computes them with gix; the
//! diff turns the unmerged ones into `unmerged_hotfix` findings without doing any IO itself.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::Digest;

/// Where a revision stands against the mainline.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MergeStatus {
    /// The commit is an ancestor of (or is) the mainline head.
    Merged,
    /// Not an ancestor, but a mainline commit records it as cherry-picked
    /// (`(cherry picked from commit <sha>)`, as `git cherry-pick -x` writes).
    CherryPicked,
    /// The commit exists in the repository and is not on the mainline.
    Unmerged,
    /// Could not tell: the commit is not in the repository, or the repository could not be read
    /// or fetched. Never reported as unmerged.
    Unknown,
}

/// What is known about one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevisionFact {
    /// The commit id as the artifact recorded it.
    pub revision: String,
    /// The repository checked (URL or path, as configured).
    pub repository: String,
    /// The mainline branch.
    pub mainline: String,
    /// The result.
    pub status: MergeStatus,
    /// Branches (other than the mainline) whose tips contain the commit, where known.
    #[serde(default)]
    pub branches: Vec<String>,
    /// For `unknown`: why. For `cherry_picked`: the mainline commit that carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The facts of every artifact whose revision was checked, by artifact digest.
pub type MergeFacts = BTreeMap<Digest, RevisionFact>;
