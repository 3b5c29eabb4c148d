//! Helpers for the end-to-end tests: a temp workspace, snapshot files built from JSON, and a way to
//! run the real `envtrail` binary and read its exit code, stdout and stderr.

#![allow(dead_code)]

pub mod receiver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A temp directory with a store path in it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("envtrail.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn write_json(&self, name: &str, value: &Value) -> PathBuf {
        self.write(name, &serde_json::to_string_pretty(value).unwrap())
    }

    /// Imports every bundled example snapshot (`snapshots/*.json`, the demo's data), in name
    /// order, into the workspace's store.
    pub fn import_demo_snapshots(&self) {
        let mut files: Vec<String> = std::fs::read_dir(repo_root().join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| p.display().to_string())
            .collect();
        files.sort();
        let mut args = vec!["import"];
        args.extend(files.iter().map(String::as_str));
        let run = self.run(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }

    /// Runs `envtrail --db <ws>/envtrail.db ARGS` in the workspace directory.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_envtrail"));
        cmd.current_dir(self.dir.path())
            .arg("--db")
            .arg(self.db())
            .args(args)
            .env_remove("ENVTRAIL_DB")
            .env_remove("ENVTRAIL_CONFIG")
            .env_remove("ENVTRAIL_EVIDENCE_KEY")
            .env("NO_COLOR", "1")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the envtrail binary runs");
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

/// `sha256:` + 64 hex digits made from one character.
pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// The plain fingerprint of a value.
pub fn fp(value: &str) -> String {
    envtrail_model::Fingerprint::of_plain_value(value).to_string()
}

/// One workload for [`snapshot`]: component name, digest character, config (key, value) pairs.
pub type WorkloadSpec<'a> = (&'a str, char, &'a [(&'a str, &'a str)]);

/// A snapshot with one ok source and the given workloads (component, digest, config pairs).
pub fn snapshot(env: &str, taken_at: &str, workloads: &[WorkloadSpec]) -> Value {
    let source = format!("k8s/{env}");
    let workloads: Vec<Value> = workloads
        .iter()
        .map(|(component, d, config)| {
            let config: serde_json::Map<String, Value> = config
                .iter()
                .map(|(k, v)| (k.to_string(), json!({"fingerprint": fp(v), "value": v})))
                .collect();
            json!({
                "component": component,
                "source": source,
                "ref": format!("Deployment/{component}-{env}/{component}"),
                "containers": [{"name": "main", "image": format!("registry.example.com/{component}:x"),
                                "running_digests": [digest(*d)]}],
                "config": config,
            })
        })
        .collect();
    json!({
        "schema": "envtrail.snapshot.v1",
        "environment": env,
        "taken_at": taken_at,
        "sources": [{"id": source, "kind": "kubernetes", "status": "ok"}],
        "workloads": workloads,
    })
}

/// The committed JSON Schema `schemas/<name>`, compiled.
pub fn schema(name: &str) -> jsonschema::Validator {
    let path = repo_root().join("schemas").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Asserts that `doc` is valid against `schemas/<schema_file>`, listing every error with where.
pub fn assert_valid(schema_file: &str, doc: &Value) {
    let errors: Vec<String> = schema(schema_file)
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}
