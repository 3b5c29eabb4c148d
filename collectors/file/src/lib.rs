//! Reads snapshot v1 files: the collector that `envtrail import` uses, and the one every other
//! collector's output can be checked against.
//!
//! Errors name the file and the JSON path of the field at fault (`workloads[3].containers[0].digest`),
//! so that a user can fix a file without guessing. A secret's value is never echoed: validation
//! messages only ever name the key.
//!
//! ```
//! let json = br#"{"schema": "envtrail.snapshot.v1", "environment": "dev",
//!                "taken_at": "2026-11-20T10:00:00Z", "sources": [], "workloads": []}"#;
//! let snapshot = envtrail_collect_file::parse_snapshot("dev.json", json).unwrap();
//! assert_eq!(snapshot.environment.as_str(), "dev");
//!
//! let err = envtrail_collect_file::parse_snapshot("bad.json", br#"{"schema": "envtrail.snapshot.v1",
//!     "environment": "dev", "taken_at": "yesterday"}"#).unwrap_err();
//! assert!(err.to_string().contains("bad.json: field `taken_at`"));
//! ```

mod parallel;

use std::io::Read;
use std::path::Path;

use envtrail_model::{Snapshot, SnapshotError};

/// Why a snapshot file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read")]
    Io {
        /// The file (or `-` for stdin).
        file: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or a field has the wrong type or value.
    #[error("{file}: field `{field}`: {message}")]
    Json {
        /// The file.
        file: String,
        /// JSON path of the field (`.` for the document itself).
        field: String,
        /// What serde said, without the input's value where it could be a secret.
        message: String,
    },
    /// The document parsed but breaks a rule of the format.
    #[error("{file}: {source}")]
    Invalid {
        /// The file.
        file: String,
        /// The rule broken.
        #[source]
        source: SnapshotError,
    },
}

/// Parses and validates one snapshot document. `file` names it in errors.
pub fn parse_snapshot(file: &str, bytes: &[u8]) -> Result<Snapshot, ReadError> {
    // The fast path parses without tracking where it is, the large arrays in parallel
    // ([`parallel`]); a document it does not take is parsed again with `serde_path_to_error`,
    // which names the field at fault (tracking the path of every value cost ~20% of the parse
    // of a large snapshot).
    let snapshot = match parallel::parse(bytes) {
        Some(snapshot) => snapshot,
        None => parse_with_path(file, bytes)?,
    };
    snapshot.validate().map_err(|source| ReadError::Invalid {
        file: file.to_owned(),
        source,
    })?;
    Ok(snapshot)
}

/// The slow parse that names the field at fault.
fn parse_with_path(file: &str, bytes: &[u8]) -> Result<Snapshot, ReadError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let snapshot: Snapshot = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        ReadError::Json {
            file: file.to_owned(),
            field: if path.is_empty() {
                ".".to_owned()
            } else {
                path
            },
            message: redact(err.inner()),
        }
    })?;
    de.end().map_err(|err| ReadError::Json {
        file: file.to_owned(),
        field: ".".to_owned(),
        message: err.to_string(),
    })?;
    Ok(snapshot)
}

/// serde_json quotes the offending value in some messages ("invalid type: string \"hunter2\"");
/// a config value could be a secret pasted in the wrong place, so values are cut out.
fn redact(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    for ch in text.chars() {
        match ch {
            '"' if !in_quotes => {
                in_quotes = true;
                out.push_str("\"…");
            }
            '"' => {
                in_quotes = false;
                out.push('"');
            }
            _ if in_quotes => {}
            _ => out.push(ch),
        }
    }
    out
}

/// Reads one snapshot file; `-` reads standard input.
pub fn read_snapshot_file(path: &Path) -> Result<Snapshot, ReadError> {
    let name = path.display().to_string();
    let bytes = if name == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|source| ReadError::Io {
                file: name.clone(),
                source,
            })?;
        buf
    } else {
        std::fs::read(path).map_err(|source| ReadError::Io {
            file: name.clone(),
            source,
        })?
    };
    parse_snapshot(&name, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "schema": "envtrail.snapshot.v1", "environment": "prod", "taken_at": "2026-11-20T10:00:00Z",
      "sources": [{"id": "k8s/prod", "kind": "kubernetes", "status": "ok"}],
      "workloads": [{"component": "api", "source": "k8s/prod", "ref": "Deployment/p/api",
        "containers": [{"name": "api", "image": "r/api:1",
          "running_digests": ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}],
        "config": {"DB_PASSWORD": {"fingerprint": "hmac-sha256:1111111111111111111111111111111111111111111111111111111111111111", "secret": true}}}]
    }"#;

    #[test]
    fn reads_a_valid_snapshot() {
        let s = parse_snapshot("good.json", GOOD.as_bytes()).unwrap();
        assert_eq!(s.workloads.len(), 1);
    }

    #[test]
    fn bad_digest_names_file_and_field() {
        let bad = GOOD.replace("sha256:0000", "sha256:zz00");
        let err = parse_snapshot("prod.json", bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("prod.json: field `workloads[0].containers[0].running_digests[0]`"),
            "{err}"
        );
    }

    #[test]
    fn secret_value_is_refused_without_echoing_it() {
        let bad = GOOD.replace(r#""secret": true"#, r#""secret": true, "value": "hunter2""#);
        let err = parse_snapshot("prod.json", bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.DB_PASSWORD.value"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn type_errors_do_not_echo_values() {
        let bad = GOOD.replace(
            r#""ref": "Deployment/p/api""#,
            r#""ref": "Deployment/p/api", "config": "hunter2""#,
        );
        let err = parse_snapshot("x.json", bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn trailing_garbage_and_non_json_are_errors() {
        assert!(parse_snapshot("x.json", b"not json").is_err());
        let trailing = format!("{GOOD} {{}}");
        assert!(parse_snapshot("x.json", trailing.as_bytes()).is_err());
    }

    #[test]
    fn missing_file_names_it() {
        let err = read_snapshot_file(Path::new("/nonexistent/snap.json")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/snap.json"));
    }
}
