//! `tf-bench`: parses and stores a generated Terraform state of about 20 MB (issue 5's target: at
//! most 2 s), without the AWS SDK, so it builds in release quickly:
//!
//! ```text
//! cargo run --release -p envtrail-collect-terraform --example tf-bench -- [MB]
//! ```
//!
//! The state holds RDS instances, EC2 instances and Lambda functions in 200 modules, each with the
//! attribute bulk real states carry (40 extra attributes, tags, a sensitive password). Timed: the
//! parse (allow-lists, fingerprints, naming) and one `Store::import` of the snapshot into a fresh
//! store file. Exit 1 when the target is missed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use envtrail_model::{Fingerprint, SNAPSHOT_SCHEMA, Snapshot, Source, SourceStatus};
use envtrail_store::Store;
use serde_json::json;

/// A state of about `mb` MB: RDS instances, EC2 instances and Lambda functions in modules, each
/// with the attribute bulk real states carry.
fn generate_state(mb: usize) -> Vec<u8> {
    let mut resources = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < mb * 1_000_000 {
        let tags = json!({"app": format!("app-{}", i % 200), "team": "platform"});
        let filler: serde_json::Map<String, serde_json::Value> = (0..40)
            .map(|k| {
                (
                    format!("attribute_{k:02}"),
                    json!(format!("value-{i}-{k}-abcdefghij")),
                )
            })
            .collect();
        let mut attributes = json!({
            "engine": "postgres", "engine_version": "15.4", "instance_class": "db.r6g.large",
            "allocated_storage": 100, "multi_az": true, "password": format!("pw-{i}"),
            "tags": tags, "tags_all": tags, "arn": format!("arn:aws:rds:eu-west-1:123456789012:db:db-{i}"),
        });
        attributes
            .as_object_mut()
            .expect("an object")
            .extend(filler);
        let kind = ["aws_db_instance", "aws_instance", "aws_lambda_function"][i % 3];
        let resource = json!({
            "module": format!("module.app_{}", i % 200), "mode": "managed",
            "type": kind,
            "name": format!("r{i}"), "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [{"schema_version": 1, "attributes": attributes,
                           "sensitive_attributes": [[{"type": "get_attr", "value": "password"}]],
                           "private": "bnVsbA==", "dependencies": []}]
        });
        size += serde_json::to_vec_pretty(&resource)
            .expect("a JSON value serialises")
            .len();
        resources.push(resource);
        i += 1;
    }
    serde_json::to_vec_pretty(&json!({
        "version": 4, "terraform_version": "1.9.8", "serial": 1, "lineage": "bench",
        "outputs": {}, "resources": resources
    }))
    .expect("a JSON value serialises")
}

fn main() -> ExitCode {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let bytes = generate_state(mb);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let fingerprint = Arc::new(|v: &[u8]| {
        format!(
            "hmac-{}",
            Fingerprint::of_plain_value(&String::from_utf8_lossy(v))
        )
        .parse()
        .expect("a sha256 fingerprint with a prefix")
    });
    let started = Instant::now();
    let options = envtrail_collect_terraform::Options::new("terraform/bench", fingerprint);
    let state = envtrail_collect_terraform::parse(&bytes, "bench.tfstate", &options)
        .expect("a valid state");
    let parsed = started.elapsed();
    let items = state.items.len();
    let snapshot = Snapshot {
        schema: SNAPSHOT_SCHEMA.to_owned(),
        environment: "prod".parse().expect("a valid name"),
        taken_at: chrono::Utc::now(),
        sources: vec![Source {
            id: "terraform/bench".into(),
            kind: "terraform".into(),
            status: SourceStatus::Ok,
            error: None,
        }],
        workloads: Vec::new(),
        artifacts: Vec::new(),
        infrastructure: state.items,
        extra: Default::default(),
    };
    let mut store = Store::open(&dir.path().join("bench.db")).expect("a new store");
    let outcome = store.import(snapshot).expect("the snapshot is stored");
    let took = started.elapsed();
    let ok = took <= Duration::from_secs(2);
    println!(
        "terraform state ({:.1} MB, {items} resources, {} components): parse {:.2} s, parse + store {:.2} s (target <= 2 s) {}",
        bytes.len() as f64 / 1e6,
        outcome.components,
        parsed.as_secs_f64(),
        took.as_secs_f64(),
        if ok { "met" } else { "MISSED" }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
