//! Why a state file was refused. Every error names the state (its path or `s3://` URL) and, for
//! syntax and shape errors, the position (line and column) and the JSON path. Messages never quote
//! attribute values: a state file holds passwords.

/// A state file that cannot be turned into infrastructure items.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not JSON, truncated, or a field of the wrong type.
    #[error("{origin}: line {line}, column {column}{}: {message}", at_path(.path))]
    Syntax {
        /// The state's path or URL.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The JSON path of the field at fault (`resources[3].instances`), when known.
        path: Option<String>,
        /// What is wrong (serde's message, which names types, not values).
        message: String,
    },
    /// A state format other than version 4 (Terraform 0.12 and later, OpenTofu).
    #[error(
        "{origin}: state format version {found}: only version 4 (Terraform 0.12+, OpenTofu) is read"
    )]
    Version {
        /// The state's path or URL.
        origin: String,
        /// The `version` found.
        found: String,
    },
    /// A resource whose fields parse but mean nothing (an empty type or name).
    #[error("{origin}: {path}: {why}")]
    Field {
        /// The state's path or URL.
        origin: String,
        /// The JSON path, e.g. `resources[2].type`.
        path: String,
        /// What is wrong.
        why: String,
    },
}

fn at_path(path: &Option<String>) -> String {
    match path {
        Some(p) if !p.is_empty() && p != "." => format!(" (at {p})"),
        _ => String::new(),
    }
}
