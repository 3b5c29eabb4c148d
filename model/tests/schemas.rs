//! The JSON Schemas of envtrail's exchange format and JSON outputs: generated here from the model's
//! types, committed under `schemas/`, and checked.
//!
//! - `committed_schemas_are_up_to_date` regenerates every schema and fails, naming the file and the
//!   first differing line, when the committed text is stale. To regenerate after changing a type:
//!
//!   ```text
//!   ENVTRAIL_UPDATE_SCHEMAS=1 cargo test -p envtrail-model --test schemas
//!   ```
//!
//!   then review and commit `schemas/`. Within one schema version fields may only be added: a diff
//!   that removes or renames a field breaks the contract and needs a new version.
//! - `example_snapshots_are_valid` checks every `snapshots/**/*.json` against
//!   `schemas/snapshot.v1.schema.json` and through serde plus [`Snapshot::validate`].
//! - `broken_snapshots_are_rejected` proves the schema can fail, and that it accepts unknown fields
//!   (the v1 compatibility rule).
//!
//! Besides what schemars derives, the generator adds what the types check in code but cannot say
//! through derive: the `schema` field's constant, and the patterns of digests, fingerprints and
//! names (mirroring `envtrail_model::names`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use envtrail_model::evidence::{
    EVIDENCE_CHECK_SCHEMA, EVIDENCE_SCHEMA, EvidenceCheck, EvidenceFile,
};
use envtrail_model::output::{
    ASOF_SCHEMA, AsOf, Comparison, DIFF_SCHEMA, ENVS_SCHEMA, Environments, HISTORY_SCHEMA, History,
    IMPORT_SCHEMA, ImportResult, NOTIFY_SCHEMA, NotifyMessage, REPORT_SCHEMA, Report,
    VERIFY_SCHEMA, VerifyResult,
};
use envtrail_model::{SNAPSHOT_SCHEMA, Snapshot};
use schemars::{Schema, schema_for};
use serde_json::{Map, Value, json};

/// The environment variable that makes the up-to-date test rewrite the files instead of failing.
const UPDATE_VAR: &str = "ENVTRAIL_UPDATE_SCHEMAS";

/// Patterns of the string newtypes, the same rules as their `FromStr` in `envtrail_model::names`.
const DIGEST_PATTERN: &str = "^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$";
const FINGERPRINT_PATTERN: &str = "^(sha256|hmac-sha256):[0-9a-f]{64}$";
/// What no name may contain: white space and control characters (`char::is_control`).
const NOT_IN_NAMES: &str = r"\s\u0000-\u001f\u007f-\u009f";

fn updating() -> bool {
    std::env::var_os(UPDATE_VAR).is_some_and(|v| v == "1")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("model/ has a parent")
        .to_owned()
}

/// Every generated schema: its file under `schemas/` and its finished schema.
fn schemas() -> Vec<(&'static str, Schema)> {
    vec![
        (
            "snapshot.v1.schema.json",
            finish(schema_for!(Snapshot), SNAPSHOT_SCHEMA),
        ),
        (
            "report.v1.schema.json",
            finish(schema_for!(Report), REPORT_SCHEMA),
        ),
        (
            "asof.v1.schema.json",
            finish(schema_for!(AsOf), ASOF_SCHEMA),
        ),
        (
            "diff.v1.schema.json",
            finish(schema_for!(Comparison), DIFF_SCHEMA),
        ),
        (
            "history.v1.schema.json",
            finish(schema_for!(History), HISTORY_SCHEMA),
        ),
        (
            "envs.v1.schema.json",
            finish(schema_for!(Environments), ENVS_SCHEMA),
        ),
        (
            "verify.v1.schema.json",
            finish(schema_for!(VerifyResult), VERIFY_SCHEMA),
        ),
        (
            "import.v1.schema.json",
            finish(schema_for!(ImportResult), IMPORT_SCHEMA),
        ),
        (
            "notify.v1.schema.json",
            finish(schema_for!(NotifyMessage), NOTIFY_SCHEMA),
        ),
        (
            "evidence.v1.schema.json",
            finish(schema_for!(EvidenceFile), EVIDENCE_SCHEMA),
        ),
        (
            "evidence-check.v1.schema.json",
            finish(schema_for!(EvidenceCheck), EVIDENCE_CHECK_SCHEMA),
        ),
    ]
}

/// Names the schema after its version string and adds the constraints derive cannot express.
fn finish(schema: Schema, schema_id: &str) -> Schema {
    let mut value = schema.to_value();
    let root = value
        .as_object_mut()
        .expect("a generated schema is an object");
    let short = schema_id
        .strip_prefix("envtrail.")
        .expect("schema ids start with envtrail.");
    root.insert("$id".into(), json!(format!("urn:envtrail:{short}")));
    root.insert("title".into(), json!(schema_id));
    let schema_field = root
        .get_mut("properties")
        .and_then(|p| p.get_mut("schema"))
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{schema_id}: the document has no `schema` property"));
    schema_field.insert("const".into(), json!(schema_id));
    if let Some(defs) = root.get_mut("$defs").and_then(Value::as_object_mut) {
        let constrain = |def: Option<&mut Value>, extra: Value| {
            if let Some(Value::Object(def)) = def {
                def.extend(
                    extra
                        .as_object()
                        .expect("constraints are an object")
                        .clone(),
                );
            }
        };
        constrain(defs.get_mut("Digest"), json!({"pattern": DIGEST_PATTERN}));
        constrain(
            defs.get_mut("Fingerprint"),
            json!({"pattern": FINGERPRINT_PATTERN}),
        );
        constrain(
            defs.get_mut("EnvName"),
            json!({"minLength": 1, "maxLength": 253, "pattern": format!("^[^{NOT_IN_NAMES}@,]+$")}),
        );
        constrain(
            defs.get_mut("ComponentName"),
            json!({"minLength": 1, "maxLength": 253, "pattern": format!("^[^{NOT_IN_NAMES}]+$")}),
        );
    }
    // Object key order must not depend on serde_json's `preserve_order` feature, which another crate
    // of the workspace could switch on: sort every map, then schemars orders the keywords.
    Schema::try_from(sorted(value)).expect("still a schema")
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn render(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema serialises");
    text.push('\n');
    text
}

/// Where two texts first differ, for the failure message.
fn first_difference(committed: &str, generated: &str) -> String {
    let mut committed_lines = committed.lines();
    let mut generated_lines = generated.lines();
    for line in 1.. {
        match (committed_lines.next(), generated_lines.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => break,
            (a, b) => {
                return format!(
                    "first difference at line {line}:\n  committed: {}\n  generated: {}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                );
            }
        }
    }
    "the texts differ only in line endings".into()
}

#[test]
fn committed_schemas_are_up_to_date() {
    let dir = workspace_root().join("schemas");
    let update = updating();
    let mut stale = String::new();
    for (file, schema) in schemas() {
        let path = dir.join(file);
        let generated = render(&schema);
        let committed = std::fs::read_to_string(&path).ok();
        if committed.as_deref() == Some(generated.as_str()) {
            continue;
        }
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &generated)
                .unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
            eprintln!("updated schemas/{file}");
            continue;
        }
        match committed {
            None => writeln!(stale, "schemas/{file} is missing").unwrap(),
            Some(committed) => writeln!(
                stale,
                "schemas/{file} is stale: {}",
                first_difference(&committed, &generated)
            )
            .unwrap(),
        }
    }
    assert!(
        stale.is_empty(),
        "{stale}\nhint: the model's types changed; regenerate with\n  \
         {UPDATE_VAR}=1 cargo test -p envtrail-model --test schemas\n\
         review the diff (v1 only grows: no field renamed or removed) and commit schemas/"
    );
}

#[test]
fn every_schema_is_valid_and_named_after_its_version() {
    for (file, schema) in schemas() {
        let value = schema.to_value();
        jsonschema::meta::validate(&value)
            .unwrap_or_else(|e| panic!("schemas/{file} is not a valid JSON Schema: {e}"));
        let title = value["title"].as_str().unwrap();
        assert_eq!(value["properties"]["schema"]["const"], title, "{file}");
        assert!(
            value["$id"].as_str().unwrap().starts_with("urn:envtrail:"),
            "{file}"
        );
        jsonschema::validator_for(&value)
            .unwrap_or_else(|e| panic!("schemas/{file} does not compile: {e}"));
    }
}

/// The v1 rule: unknown fields are kept (top level) or ignored (inside items), never an error. So
/// the snapshot schema must not close any object.
#[test]
fn snapshot_schema_allows_unknown_fields() {
    fn closed_objects(value: &Value, at: &str, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let here = format!("{at}/{key}");
                    if matches!(
                        key.as_str(),
                        "additionalProperties" | "unevaluatedProperties"
                    ) && *v == Value::Bool(false)
                    {
                        found.push(here.clone());
                    }
                    closed_objects(v, &here, found);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    closed_objects(v, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let schema = schema_for!(Snapshot).to_value();
    let mut found = Vec::new();
    closed_objects(&schema, "", &mut found);
    assert!(
        found.is_empty(),
        "the snapshot schema refuses unknown fields at {found:?}"
    );
}

/// A validator for the committed `schemas/snapshot.v1.schema.json`; while the schemas are being
/// regenerated (the other test may be rewriting the file), for the freshly generated schema.
fn snapshot_validator() -> jsonschema::Validator {
    let schema: Value = if updating() {
        schemas().swap_remove(0).1.to_value()
    } else {
        let path = workspace_root().join("schemas/snapshot.v1.schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("the committed schema is JSON")
    };
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the committed snapshot schema compiles")
}

/// The schema's complaints about `instance`, one per line, with the JSON pointer at fault.
fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect()
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("failed to read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn example_snapshots_are_valid() {
    let root = workspace_root();
    let dir = root.join("snapshots");
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no snapshot found under {}",
        dir.display()
    );
    let validator = snapshot_validator();
    let mut failures = String::new();
    for path in &files {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                writeln!(failures, "{name}: not JSON: {e}").unwrap();
                continue;
            }
        };
        for error in schema_errors(&validator, &value) {
            writeln!(failures, "{name}: schema: {error}").unwrap();
        }
        match serde_json::from_value::<Snapshot>(value) {
            Err(e) => writeln!(failures, "{name}: does not deserialise: {e}").unwrap(),
            Ok(snapshot) => {
                if let Err(e) = snapshot.validate() {
                    writeln!(failures, "{name}: invalid: {e}").unwrap();
                }
                // The demo's files are named after what they hold, so a listing reads as a timeline.
                if path.parent() == Some(dir.as_path()) {
                    let expected = format!(
                        "{}-{}.json",
                        envtrail_model::time::format_time(&snapshot.taken_at).replace(':', "-"),
                        snapshot.environment
                    );
                    let actual = path.file_name().unwrap().to_string_lossy();
                    if actual != expected {
                        writeln!(failures, "{name}: should be named {expected}").unwrap();
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "invalid example snapshots:\n{failures}"
    );
}

fn minimal_snapshot() -> Value {
    json!({
        "schema": "envtrail.snapshot.v1",
        "environment": "prod",
        "taken_at": "2026-11-20T10:00:00Z",
        "sources": [{"id": "k8s/prod-eu", "kind": "kubernetes", "status": "ok"}],
        "workloads": [{
            "component": "payments-api",
            "source": "k8s/prod-eu",
            "ref": "Deployment/payments/api",
            "containers": [{
                "name": "api",
                "image": "registry.acme.example/payments/api:1.4.2",
                "running_digests": [format!("sha256:{}", "a".repeat(64))]
            }],
            "config": {
                "LOG_LEVEL": {
                    "fingerprint": envtrail_model::Fingerprint::of_plain_value("info"),
                    "value": "info"
                },
                "STRIPE_KEY": {"fingerprint": format!("hmac-sha256:{}", "b".repeat(64)), "secret": true}
            }
        }],
        "artifacts": [{
            "digest": format!("sha256:{}", "a".repeat(64)),
            "repository": "registry.acme.example/payments/api",
            "created": "2026-11-19T08:00:00Z"
        }]
    })
}

#[test]
fn broken_snapshots_are_rejected() {
    let validator = snapshot_validator();
    let good = minimal_snapshot();
    assert_eq!(schema_errors(&validator, &good), Vec::<String>::new());
    serde_json::from_value::<Snapshot>(good.clone())
        .unwrap()
        .validate()
        .unwrap();

    type Break = fn(&mut Value);
    let cases: &[(&str, Break, &str)] = &[
        (
            "a digest in upper case",
            |s| {
                s["workloads"][0]["containers"][0]["running_digests"][0] =
                    json!(format!("sha256:{}", "A".repeat(64)))
            },
            "/workloads/0/containers/0/running_digests/0",
        ),
        (
            "a truncated digest",
            |s| s["artifacts"][0]["digest"] = json!("sha256:abc123"),
            "/artifacts/0/digest",
        ),
        (
            "an md5 fingerprint",
            |s| {
                s["workloads"][0]["config"]["LOG_LEVEL"]["fingerprint"] =
                    json!(format!("md5:{}", "c".repeat(64)))
            },
            "/workloads/0/config/LOG_LEVEL/fingerprint",
        ),
        (
            "another schema version",
            |s| s["schema"] = json!("envtrail.snapshot.v2"),
            "/schema",
        ),
        (
            "an unknown source status",
            |s| s["sources"][0]["status"] = json!("down"),
            "/sources/0/status",
        ),
        (
            "a time without a zone",
            |s| s["taken_at"] = json!("2026-11-20 10:00"),
            "/taken_at",
        ),
        (
            "an environment with a comma",
            |s| s["environment"] = json!("staging,prod"),
            "/environment",
        ),
        (
            "a component with a space",
            |s| s["workloads"][0]["component"] = json!("payments api"),
            "/workloads/0/component",
        ),
        (
            "a missing environment",
            |s| {
                s.as_object_mut().unwrap().remove("environment");
            },
            "",
        ),
    ];
    for (what, break_it, pointer) in cases {
        let mut broken = good.clone();
        break_it(&mut broken);
        let errors = schema_errors(&validator, &broken);
        assert!(!errors.is_empty(), "the schema accepted {what}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("at `{pointer}`:"))),
            "{what}: expected an error at `{pointer}`, got {errors:?}"
        );
        // The types refuse the same document, so the schema says no more than the code.
        let refused_by_code = serde_json::from_value::<Snapshot>(broken)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate().map_err(|e| e.to_string()))
            .is_err();
        assert!(
            refused_by_code,
            "the types accepted {what}, which the schema refuses"
        );
    }
}

#[test]
fn unknown_fields_are_accepted() {
    let validator = snapshot_validator();
    let mut newer = minimal_snapshot();
    newer["collector"] = json!({"name": "envtrail-collect-k8s", "version": "1.3.0"});
    newer["workloads"][0]["replicas"] = json!(3);
    newer["workloads"][0]["containers"][0]["resources"] = json!({"cpu": "500m"});
    newer["sources"][0]["api_version"] = json!("v1.31");
    assert_eq!(schema_errors(&validator, &newer), Vec::<String>::new());
    let snapshot: Snapshot = serde_json::from_value(newer).unwrap();
    snapshot.validate().unwrap();
    assert!(
        snapshot.extra.contains_key("collector"),
        "unknown top-level fields are kept"
    );
}
