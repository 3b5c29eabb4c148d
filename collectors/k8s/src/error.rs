//! The collector's errors. A source that cannot be read is not an error of the run: it becomes a
//! `failed` or `partial` source in the snapshot, with one of these errors' messages as its reason.
//! Messages never carry response bodies (they may hold Secret data) nor kubeconfig contents.

use std::path::PathBuf;

use crate::api::CallError;

/// Why a source (or a part of it) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or has no such context.
    #[error("cannot load kubeconfig {}{}: {message}", path_text(.path), context_text(.context))]
    Kubeconfig {
        /// The file (`None`: the default resolution).
        path: Option<PathBuf>,
        /// The context asked for.
        context: Option<String>,
        /// kube's message (its source chain is dropped: it may quote the file).
        message: String,
    },
    /// In-cluster credentials are not there (not running in a Pod, or no service account).
    #[error("no in-cluster credentials: {0}")]
    InCluster(String),
    /// The HTTP client could not be built from the config.
    #[error("cannot build a client: {0}")]
    Client(String),
    /// An API call failed after its retries.
    #[error("{what}: {source}")]
    Call {
        /// What was being read, e.g. `namespace payments: listing pods`.
        what: String,
        /// The failure.
        #[source]
        source: CallError,
    },
}

fn path_text(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or_else(|| "(default)".to_owned(), |p| p.display().to_string())
}

fn context_text(context: &Option<String>) -> String {
    context
        .as_ref()
        .map_or_else(String::new, |c| format!(" (context {c})"))
}
