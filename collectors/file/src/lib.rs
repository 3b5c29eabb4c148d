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

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use envtrail_model::{EnvName, QuickHash, Snapshot, SnapshotError, UnparsedComponent};

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
    parse_snapshot_against(file, bytes, |_| HashMap::new()).map(|parsed| parsed.snapshot)
}

/// A parsed and validated snapshot document whose `unparsed` components were left out of
/// `snapshot.workloads` because their bytes were the states the store already holds; store it
/// with `envtrail_store::Store::import_parts`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSnapshot {
    /// The document, without the unparsed components' workloads.
    pub snapshot: Snapshot,
    /// The components left unparsed, by name.
    pub unparsed: Vec<UnparsedComponent>,
}

/// [`parse_snapshot`] that does not parse what a store already holds: `known` is asked, with the
/// document's environment, for the quick hashes of the states the store holds for it by
/// component (`envtrail_store::Store::open_quick_hashes`), and a component whose workload texts
/// in the document have that quick hash is left unparsed (the texts are then exactly the compact
/// serialisation of the stored state: documents written by collectors and `envtrail-fleet`
/// are). An hourly snapshot that changed 1% of its components is then 1% parsed. The checks
/// between fields still cover the unparsed workloads (their source exists, no workload twice).
pub fn parse_snapshot_against(
    file: &str,
    bytes: &[u8],
    known: impl FnOnce(&EnvName) -> HashMap<String, QuickHash>,
) -> Result<ParsedSnapshot, ReadError> {
    // The fast path parses without tracking where it is, the large arrays in parallel
    // ([`parallel`]); a document it does not take is parsed again with `serde_path_to_error`,
    // which names the field at fault (tracking the path of every value cost ~20% of the parse
    // of a large snapshot).
    let (snapshot, unparsed) = match parallel::parse_leaving(bytes, known) {
        // A document that fails its checks is parsed in full for the error, so that the error
        // names the workload by its index in the document.
        Some((snapshot, unparsed))
            if !unparsed.is_empty() && snapshot.validate_with(&unparsed).is_err() =>
        {
            return parse_snapshot(file, bytes).map(|snapshot| ParsedSnapshot {
                snapshot,
                unparsed: Vec::new(),
            });
        }
        Some(pair) => pair,
        None => (parse_with_path(file, bytes)?, Vec::new()),
    };
    snapshot
        .validate_with(&unparsed)
        .map_err(|source| ReadError::Invalid {
            file: file.to_owned(),
            source,
        })?;
    Ok(ParsedSnapshot { snapshot, unparsed })
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
    let bytes = read_document(path)?;
    parse_snapshot(&path.display().to_string(), &bytes)
}

/// The bytes of one snapshot file, unparsed; `-` reads standard input.
pub fn read_document(path: &Path) -> Result<Vec<u8>, ReadError> {
    let name = path.display().to_string();
    if name == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|source| ReadError::Io { file: name, source })?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(|source| ReadError::Io { file: name, source })
    }
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

/// Leaving unchanged components unparsed ([`parse_snapshot_against`]).
#[cfg(test)]
mod leaving_unparsed {
    use std::collections::HashMap;

    use envtrail_model::{ComponentState, QuickHash, Snapshot};
    use serde_json::json;

    use super::*;

    fn digest(i: usize) -> String {
        format!("sha256:{i:064x}")
    }

    /// prod with components c0..c4; c3 has two workloads, c4 a Terraform item too.
    fn document(app_of_c1: usize) -> Snapshot {
        let workload = |component: &str, reference: &str, app: usize| {
            json!({"component": component, "source": "k8s", "ref": reference,
                   "containers": [{"name": "app", "image": "r/app:1", "running_digests": [digest(app)]}],
                   "config": {"LOG": {"fingerprint": digest(7), "value": "info"}}})
        };
        let mut s: Snapshot = serde_json::from_value(json!({
            "schema": "envtrail.snapshot.v1", "environment": "prod",
            "taken_at": "2026-11-20T10:00:00Z",
            "sources": [{"id": "k8s", "kind": "kubernetes", "status": "ok"},
                        {"id": "tf", "kind": "terraform", "status": "ok"}],
            "workloads": [
                workload("c0", "Deployment/c0", 1), workload("c1", "Deployment/c1", app_of_c1),
                workload("c2", "Deployment/c2", 3), workload("c3", "Deployment/c3a", 4),
                workload("c3", "Deployment/c3b", 5), workload("c4", "Deployment/c4", 6)],
            "infrastructure": [{"component": "c4", "source": "tf", "address": "aws_db.c4",
                                "type": "aws_db", "attributes": {"engine": "15"}}]
        }))
        .unwrap();
        s.normalize();
        s
    }

    /// What a store that imported `snapshot` holds: the quick hash of each component's state.
    fn held(snapshot: &Snapshot) -> HashMap<String, QuickHash> {
        snapshot
            .component_states()
            .into_iter()
            .map(|(name, state)| (name.to_string(), state.quick_hash()))
            .collect()
    }

    #[test]
    fn only_the_changed_components_are_parsed_and_the_rest_is_what_the_store_holds() {
        let before = document(2);
        let after = document(22);
        let bytes = serde_json::to_vec(&after).unwrap();
        let mut asked = None;
        let parsed = parse_snapshot_against("prod.json", &bytes, |env| {
            asked = Some(env.clone());
            held(&before)
        })
        .unwrap();
        assert_eq!(asked.unwrap().as_str(), "prod");

        let left: Vec<&str> = parsed
            .unparsed
            .iter()
            .map(|c| c.component.as_str())
            .collect();
        // c1 changed; c4 has an infrastructure item, so it is always parsed.
        assert_eq!(left, ["c0", "c2", "c3"]);
        let parsed_names: Vec<&str> = parsed
            .snapshot
            .workloads
            .iter()
            .map(|w| w.component.as_str())
            .collect();
        assert_eq!(parsed_names, ["c1", "c4"]);
        let c3 = &parsed.unparsed[2];
        let refs: Vec<(usize, &str, &str)> = c3
            .workloads
            .iter()
            .map(|w| (w.index, w.source.as_str(), w.reference.as_str()))
            .collect();
        assert_eq!(
            refs,
            [(3, "k8s", "Deployment/c3a"), (4, "k8s", "Deployment/c3b")]
        );

        // Each component left out has exactly the state the store holds for it, so the
        // snapshot the store will rebuild is the document's.
        let full = parse_snapshot("prod.json", &bytes).unwrap();
        let states = full.component_states();
        for component in &parsed.unparsed {
            let state: &ComponentState = &states[&component.component];
            assert_eq!(component.quick, state.quick_hash());
            assert_eq!(held(&before)[component.component.as_str()], component.quick);
        }
        let mut rebuilt = parsed.snapshot.clone();
        for component in &parsed.unparsed {
            rebuilt
                .workloads
                .extend(states[&component.component].workloads.iter().cloned());
        }
        rebuilt.normalize();
        assert_eq!(rebuilt, full);
    }

    #[test]
    fn a_document_in_another_layout_or_another_environment_is_parsed_in_full() {
        let before = document(2);
        let pretty = serde_json::to_vec_pretty(&before).unwrap();
        let parsed = parse_snapshot_against("prod.json", &pretty, |_| held(&before)).unwrap();
        assert!(
            parsed.unparsed.is_empty(),
            "pretty-printed texts are not the stored form"
        );
        assert_eq!(
            parsed.snapshot,
            parse_snapshot("prod.json", &pretty).unwrap()
        );

        let compact = serde_json::to_vec(&before).unwrap();
        let parsed = parse_snapshot_against("prod.json", &compact, |_| HashMap::new()).unwrap();
        assert!(
            parsed.unparsed.is_empty(),
            "a store without this environment"
        );
        assert_eq!(parsed.snapshot.workloads.len(), 6);
    }

    #[test]
    fn an_unparsed_workload_still_needs_its_source_and_the_error_names_its_index() {
        let before = document(2);
        let mut after = document(2);
        // The `k8s` source disappears (renamed), the workload texts stay the same.
        after.sources.retain(|s| s.id != "k8s");
        after.sources.push(
            serde_json::from_value(json!({"id": "k8s-2", "kind": "kubernetes", "status": "ok"}))
                .unwrap(),
        );
        let bytes = serde_json::to_vec(&after).unwrap();
        let err = parse_snapshot_against("prod.json", &bytes, |_| held(&before))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("prod.json: field `workloads[0].source`"),
            "the document's own index, as a full parse names it: {err}"
        );
    }
}
