//! Test helpers: a small snapshot builder and row counters.

use envtrail_model::{Digest, EnvName, Snapshot, Timestamp, parse_time};
use serde_json::{Value, json};

use crate::Store;

/// `sha256:` + the character repeated (a valid, recognisable digest).
pub(crate) fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64))
        .parse()
        .unwrap()
}

pub(crate) fn at(s: &str) -> Timestamp {
    parse_time(s).unwrap()
}

pub(crate) fn env(s: &str) -> EnvName {
    s.parse().unwrap()
}

/// Builds v1 snapshots as JSON, so tests read like the files collectors write.
pub(crate) struct SnapBuilder {
    doc: Value,
}

impl SnapBuilder {
    pub(crate) fn new(environment: &str, taken_at: &str) -> Self {
        Self {
            doc: json!({
                "schema": "envtrail.snapshot.v1",
                "environment": environment,
                "taken_at": taken_at,
                "sources": [
                    {"id": "k8s", "kind": "kubernetes", "status": "ok"},
                    {"id": "tf", "kind": "terraform", "status": "ok"}
                ],
                "workloads": [],
                "artifacts": [],
                "infrastructure": []
            }),
        }
    }

    /// A component with one workload running `digest(c)`.
    pub(crate) fn component(self, name: &str, c: char) -> Self {
        self.component_config(name, c, "info")
    }

    /// A component with one workload running `digest(c)` and config `LOG_LEVEL=log`.
    pub(crate) fn component_config(mut self, name: &str, c: char, log: &str) -> Self {
        self.doc["workloads"].as_array_mut().unwrap().push(json!({
            "component": name, "source": "k8s", "ref": format!("Deployment/ns/{name}"),
            "containers": [{"name": name, "image": format!("registry.example.com/{name}:1"),
                            "running_digests": [digest(c)]}],
            "config": {"LOG_LEVEL": {
                "fingerprint": envtrail_model::Fingerprint::of_plain_value(log), "value": log}},
            "metadata": {"helm.sh/chart": format!("{name}-1.0.0")}
        }));
        self
    }

    /// An infrastructure item of `name`.
    pub(crate) fn infra(mut self, name: &str, attrs: Value) -> Self {
        self.doc["infrastructure"].as_array_mut().unwrap().push(json!({
            "component": name, "source": "tf", "address": format!("module.{name}.aws_db_instance.db"),
            "type": "aws_db_instance", "attributes": attrs
        }));
        self
    }

    /// Facts about `digest(c)`, optionally inside index `digest(index)`.
    pub(crate) fn artifact(mut self, c: char, index: Option<char>) -> Self {
        let mut a = json!({
            "digest": digest(c), "repository": "registry.example.com/app",
            "tags": ["1", "latest"], "signature": {"status": "verified", "identity": "ci@example.com"}
        });
        if let Some(i) = index {
            a["index_digest"] = json!(digest(i));
        }
        self.doc["artifacts"].as_array_mut().unwrap().push(a);
        self
    }

    /// Sets source `id`'s status (`ok`, `partial`, `failed`).
    pub(crate) fn source_status(mut self, id: &str, status: &str) -> Self {
        for s in self.doc["sources"].as_array_mut().unwrap() {
            if s["id"] == id {
                s["status"] = json!(status);
                if status != "ok" {
                    s["error"] = json!("403 Forbidden");
                }
            }
        }
        self
    }

    /// An unknown top-level field.
    pub(crate) fn extra(mut self, key: &str, value: Value) -> Self {
        self.doc[key] = value;
        self
    }

    pub(crate) fn build(self) -> Snapshot {
        serde_json::from_value(self.doc).unwrap()
    }
}

/// Rows in `table`.
pub(crate) fn count(store: &Store, table: &str) -> i64 {
    store
        .conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Row counts of every table, to prove a failed import left nothing.
pub(crate) fn counts(store: &Store) -> Vec<(&'static str, i64)> {
    [
        "environments",
        "snapshots",
        "states",
        "artifacts",
        "intervals",
        "sightings",
    ]
    .into_iter()
    .map(|t| (t, count(store, t)))
    .collect()
}

/// A temp-file store (the directory lives as long as the returned guard).
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("envtrail.db")).unwrap();
    (dir, store)
}
