//! The diff's one error type. The diff does no IO, so the only ways it can fail are a policy it
//! cannot compile (a bad glob) and an input that contradicts itself (a path that does not match
//! its environments). Each error names the value at fault.

use envtrail_model::EnvName;

/// Why a report or a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A glob in the policy does not compile.
    #[error("invalid glob {glob:?} in {what}")]
    Glob {
        /// Where the glob comes from, e.g. `environment_specific_keys[2]` or `ignores[0].component`.
        what: String,
        /// The glob as written.
        glob: String,
        /// The parser's complaint.
        #[source]
        source: globset::Error,
    },
    /// The report input holds a different number of environments than its path.
    #[error("report input has {environments} environment entries for a path of {path}")]
    PathLength {
        /// Environments in the path.
        path: usize,
        /// Entries in `environments`.
        environments: usize,
    },
    /// An entry of the report input describes another environment than the path says.
    #[error("report input entry {index} is environment {found:?}, but the path names {expected:?}")]
    PathMismatch {
        /// The position in the path.
        index: usize,
        /// The environment the path names there.
        expected: EnvName,
        /// The environment the entry describes.
        found: EnvName,
    },
}
