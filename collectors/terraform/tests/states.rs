//! The parser against real state files written by other projects (tests/data/README.md names
//! their origins): addresses with modules, `count` and `for_each` indexes, data sources, sensitive
//! attributes, clear-text passwords in old states; and against broken input.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use envtrail_collect_terraform::{Error, Options, parse};
use envtrail_model::Fingerprint;
use serde_json::json;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// A stand-in for the CLI's HMAC: keyed by a prefix, recognisable in assertions.
fn options() -> Options {
    Options::new(
        "terraform/test",
        Arc::new(|v: &[u8]| {
            let mut keyed = b"test-key:".to_vec();
            keyed.extend_from_slice(v);
            let plain = Fingerprint::of_plain_value(&String::from_utf8_lossy(&keyed));
            format!("hmac-{plain}").parse().unwrap()
        }),
    )
}

#[test]
fn db_instance_keeps_defaults_and_never_the_clear_password() {
    let bytes = data("driftctl-aws_db_instance.tfstate");
    let mut opts = options();
    opts.attributes.insert(
        "aws_db_instance".into(),
        vec!["engine".into(), "engine_version".into(), "password".into()],
    );
    let state = parse(&bytes, "db.tfstate", &opts).unwrap();
    assert_eq!(state.terraform_version.as_deref(), Some("0.12.28"));
    assert_eq!(state.serial, Some(125));
    assert_eq!(
        state.lineage.as_deref(),
        Some("bb54c6d5-e17e-32af-f929-762d81156285")
    );
    assert_eq!(state.items.len(), 1);
    let db = &state.items[0];
    assert_eq!(db.address, "aws_db_instance.default");
    assert_eq!(db.resource_type, "aws_db_instance");
    assert_eq!(db.attributes["engine"], json!("mysql"));
    assert_eq!(db.attributes["engine_version"], json!("5.7.26"));
    // The 0.12 state lists no sensitive attributes; `password` is fingerprinted by its name.
    let password = db.attributes["password"].as_str().unwrap();
    assert!(password.starts_with("hmac-sha256:"), "{password}");
    let clear =
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["resources"][0]["instances"]
            [0]["attributes"]["password"]
            .as_str()
            .unwrap()
            .to_owned();
    let out = serde_json::to_string(&state.items).unwrap();
    assert!(!out.contains(&clear), "the clear password leaked: {out}");

    // With the defaults, only the allow-list is kept: the password is not there at all.
    let state = parse(&bytes, "db.tfstate", &options()).unwrap();
    let keys: Vec<&str> = state.items[0]
        .attributes
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.contains(&"instance_class") && keys.contains(&"multi_az"),
        "{keys:?}"
    );
    assert!(
        !keys.contains(&"password") && !keys.contains(&"endpoint"),
        "{keys:?}"
    );
}

#[test]
fn modules_count_and_for_each_give_full_addresses() {
    let state = parse(
        &data("tfstate-lookup-modules-foreach.tfstate"),
        "lookup.tfstate",
        &options(),
    )
    .unwrap();
    let addresses: Vec<&str> = state.items.iter().map(|i| i.address.as_str()).collect();
    for expected in [
        "module.logs.aws_cloudwatch_log_group.main[\"app\"]",
        "module.logs.aws_cloudwatch_log_group.main[\"web\"]",
        "aws_iam_role_policy_attachment.ec2[0]",
        "aws_iam_role_policy_attachment.ec2[1]",
        "module.webapp.module.ecs_task_roles.aws_iam_role.task_execution_role",
        "module.subnets.aws_subnet.main[1]",
        "aws_iam_user.users[\"foo.bar\"]",
        "aws_iam_user.user[\"me\"]",
    ] {
        assert!(
            addresses.contains(&expected),
            "{expected} missing from {addresses:?}"
        );
    }
    assert!(
        !addresses
            .iter()
            .any(|a| a.contains("terraform_remote_state")),
        "data sources are left out by default: {addresses:?}"
    );
    assert!(state.skipped > 0);
    // Outermost module names the component when no tag does.
    let roles = state
        .items
        .iter()
        .find(|i| i.resource_type == "aws_iam_role")
        .unwrap();
    assert_eq!(roles.component.as_str(), "webapp");
    let sorted = {
        let mut a = addresses.clone();
        a.sort();
        a
    };
    assert_eq!(addresses, sorted, "items are sorted by address");
}

#[test]
fn data_sources_only_when_asked() {
    let bytes = data("driftctl-data-source.tfstate");
    let state = parse(&bytes, "data.tfstate", &options()).unwrap();
    assert!(state.items.is_empty());
    let mut opts = options();
    opts.include_data_sources = true;
    let state = parse(&bytes, "data.tfstate", &opts).unwrap();
    assert_eq!(state.items.len(), 1);
    assert!(
        state.items[0].address.starts_with("data.aws_ami."),
        "{}",
        state.items[0].address
    );

    let mixed = parse(
        &data("driftctl-outputs-data-and-managed.tfstate"),
        "valid.tfstate",
        &options(),
    )
    .unwrap();
    let types: Vec<&str> = mixed
        .items
        .iter()
        .map(|i| i.resource_type.as_str())
        .collect();
    assert_eq!(types, ["aws_instance"]);
    assert!(mixed.items[0].attributes.contains_key("instance_type"));
}

#[test]
fn sensitive_attributes_become_keyed_fingerprints() {
    let mut opts = options();
    opts.attributes
        .insert("test_instance".into(), vec!["ami".into(), "id".into()]);
    let state = parse(
        &data("opentofu-sensitive-attributes.tfstate"),
        "tofu.tfstate",
        &opts,
    )
    .unwrap();
    let item = &state.items[0];
    let ami = item.attributes["ami"].as_str().unwrap();
    assert!(ami.starts_with("hmac-sha256:"), "{ami}");
    assert_ne!(ami, "abc");
    assert_eq!(item.attributes["id"], json!("621124146446964903"));
    // The same value gives the same fingerprint: environments still compare.
    let again = parse(
        &data("opentofu-sensitive-attributes.tfstate"),
        "tofu.tfstate",
        &opts,
    )
    .unwrap();
    assert_eq!(again.items[0].attributes["ami"], item.attributes["ami"]);
}

#[test]
fn lambda_ecr_and_module_fixtures_parse() {
    let lambda = parse(
        &data("driftctl-aws_lambda_function.tfstate"),
        "l.tfstate",
        &options(),
    )
    .unwrap();
    assert_eq!(lambda.items.len(), 2);
    assert_eq!(lambda.items[0].attributes["runtime"], json!("nodejs12.x"));
    assert!(lambda.items[0].attributes.contains_key("source_code_hash"));

    let ecr = parse(
        &data("driftctl-aws_ecr_repository.tfstate"),
        "e.tfstate",
        &options(),
    )
    .unwrap();
    assert_eq!(ecr.terraform_version.as_deref(), Some("0.14.5"));
    assert!(ecr.items[0].attributes.contains_key("image_tag_mutability"));

    let module = parse(&data("driftctl-module.tfstate"), "m.tfstate", &options()).unwrap();
    assert!(
        module
            .items
            .iter()
            .all(|i| i.address.starts_with("module.iam_iam-user.")),
        "{:?}",
        module.items
    );
}

#[test]
fn environment_affixes_and_tags_make_addresses_meet() {
    let state = |env: &str| {
        json!({"version": 4, "serial": 1, "lineage": "x", "resources": [
            {"module": format!("module.payments_{env}"), "mode": "managed", "type": "aws_db_instance",
             "name": "main", "instances": [{"attributes": {
                 "engine": "postgres", "engine_version": if env == "prod" {"14.9"} else {"15.4"},
                 "tags": {"service": "payments-db"}}}]},
            {"mode": "managed", "type": "aws_sqs_queue", "name": format!("{env}_jobs"),
             "instances": [{"attributes": {"fifo_queue": false}}]}
        ]})
        .to_string()
    };
    let mut opts = options();
    opts.naming.strip_suffixes = vec!["_staging".into(), "_prod".into()];
    opts.naming.strip_prefixes = vec!["staging_".into(), "prod_".into()];
    let staging = parse(state("staging").as_bytes(), "s", &opts).unwrap();
    let prod = parse(state("prod").as_bytes(), "p", &opts).unwrap();
    let addresses = |s: &envtrail_collect_terraform::State| -> Vec<String> {
        s.items.iter().map(|i| i.address.clone()).collect()
    };
    assert_eq!(addresses(&staging), addresses(&prod));
    assert_eq!(
        addresses(&prod),
        ["aws_sqs_queue.jobs", "module.payments.aws_db_instance.main"]
    );
    let db = &prod.items[1];
    assert_eq!(db.component.as_str(), "payments-db", "the tag wins");
    assert_eq!(
        db.metadata,
        BTreeMap::from([(
            "address".to_owned(),
            "module.payments_prod.aws_db_instance.main".to_owned()
        )])
    );
    assert_eq!(prod.items[0].component.as_str(), "jobs");
}

#[test]
fn truncated_state_names_file_and_position() {
    let bytes = data("driftctl-aws_db_instance.tfstate");
    let cut = &bytes[..bytes.len() / 2];
    let err = parse(cut, "s3://states/prod.tfstate", &options()).unwrap_err();
    let Error::Syntax { line, column, .. } = &err else {
        panic!("expected a syntax error, got {err:?}");
    };
    let text = err.to_string();
    assert!(
        text.starts_with("s3://states/prod.tfstate: line "),
        "{text}"
    );
    assert!(*line > 40 && *column > 0, "{text}");
    assert!(text.contains("EOF"), "{text}");
}

#[test]
fn wrong_shapes_and_versions_are_refused_with_the_path() {
    let err = parse(
        br#"{"version": 4, "resources": [{"type": "aws_instance", "name": "a", "instances": {}}]}"#,
        "bad.tfstate",
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bad.tfstate: line 1") && err.contains("resources[0].instances"),
        "{err}"
    );

    let err = parse(
        br#"{"version": 3, "modules": []}"#,
        "old.tfstate",
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("old.tfstate: state format version 3"), "{err}");

    let err = parse(
        br#"{"version": 4, "resources": [{"mode": "managed", "type": "", "name": "a"}]}"#,
        "empty.tfstate",
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("empty.tfstate: resources[0].type"), "{err}");

    let err = parse(b"{\"version\": 4} trailing", "junk.tfstate", &options())
        .unwrap_err()
        .to_string();
    assert!(err.contains("junk.tfstate: line 1, column"), "{err}");

    let err = parse(b"", "empty-file.tfstate", &options())
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty-file.tfstate: line 1"), "{err}");
}
