//! `envtrail collect` with AWS and Terraform sources end to end, against a real `moto_server`:
//! staging (eu-west-1, state on disk) and prod (us-east-1, state in S3, plus an account nobody
//! answers for) each run a Lambda function and a Parameter Store path of component `payments`,
//! and their Terraform states disagree on the Postgres version. `report` gives `infra_drift`
//! and the `collection_gap`; SecureString and Lambda environment canaries reach neither the
//! database file nor any output. A truncated state stores nothing.

use std::path::Path;
use std::process::{Command, Stdio};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use aws_sdk_ssm::types::ParameterType;
use envtrail_collect_aws::testing::Moto;
use envtrail_collect_aws::{CollectOptions, sdk_config};
use envtrail_model::Fingerprint;
use serde_json::{Value, json};

const KEY: &str = "e2e-hmac-key-0123456789abcdef";
const SECURE_CANARY: &str = "canary-ssm-securestring-0b7d";
const LAMBDA_CANARY: &str = "canary-lambda-secret-93fe";
const STATE_CANARY: &str = "canary-tfstate-password-c4a1";

fn envtrail(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_envtrail"))
        .current_dir(dir)
        .args(["--db", "envtrail.db", "--config", "envtrail.toml"])
        .args(args)
        .env_remove("ENVTRAIL_DB")
        .env_remove("ENVTRAIL_CONFIG")
        .env_remove("AWS_PROFILE")
        .env("ENVTRAIL_TEST_HMAC", KEY)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the envtrail binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn state(env: &str, version: &str) -> String {
    json!({"version": 4, "terraform_version": "1.9.8", "serial": 12, "lineage": format!("lineage-{env}"),
      "resources": [
        {"module": format!("module.payments_{env}"), "mode": "managed", "type": "aws_db_instance", "name": "main",
         "instances": [{"attributes": {"engine": "postgres", "engine_version": version,
            "instance_class": "db.r6g.large", "password": STATE_CANARY,
            "identifier": format!("payments-{env}"), "tags": {"app": "payments"}},
            "sensitive_attributes": [[{"type": "get_attr", "value": "password"}]]}]}
      ]})
    .to_string()
}

fn options() -> CollectOptions {
    CollectOptions::new(std::sync::Arc::new(|v: &[u8]| {
        format!(
            "hmac-{}",
            Fingerprint::of_plain_value(&String::from_utf8_lossy(v))
        )
        .parse()
        .unwrap()
    }))
}

/// In `region`: Lambda `payments-api-<env>` (tag app=payments) and `/<env>/payments` parameters.
async fn seed(moto: &Moto, env: &str, region: &str, role: &str) {
    let account = moto.account(&[region]);
    let config = sdk_config(&account, region, &options()).await;
    aws_sdk_lambda::Client::new(&config)
        .create_function()
        .function_name(format!("payments-api-{env}"))
        .runtime(Runtime::Python312)
        .role(role)
        .handler("main.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(b"same code".to_vec()))
                .build(),
        )
        .environment(
            Environment::builder()
                .variables("LOG_LEVEL", "info")
                .variables("STRIPE_KEY", LAMBDA_CANARY)
                .build(),
        )
        .tags("app", "payments")
        .send()
        .await
        .unwrap();
    let ssm = aws_sdk_ssm::Client::new(&config);
    for (name, value, kind) in [
        ("FEATURE_X", "on", ParameterType::String),
        ("db/password", SECURE_CANARY, ParameterType::SecureString),
    ] {
        ssm.put_parameter()
            .name(format!("/{env}/payments/{name}"))
            .value(value)
            .r#type(kind)
            .send()
            .await
            .unwrap();
    }
}

#[test]
fn aws_and_terraform_sources_end_to_end() {
    let moto = Moto::start().expect("moto_server starts");
    let role = moto.create_role("lambda-exec").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        seed(&moto, "staging", "eu-west-1", &role).await;
        seed(&moto, "prod", "us-east-1", &role).await;
        let account = moto.account(&["us-east-1"]);
        let config = sdk_config(&account, "us-east-1", &options()).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket("states").send().await.unwrap();
        s3.put_object()
            .bucket("states")
            .key("prod/payments.tfstate")
            .body(state("prod", "14.9").into_bytes().into())
            .send()
            .await
            .unwrap();
    });

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("staging.tfstate"), state("staging", "15.4")).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = moto.endpoint();
    let config = format!(
        r#"[promotion]
path = ["staging", "prod"]
[secrets]
hmac_key_env = "ENVTRAIL_TEST_HMAC"
[collect]
retries = 1
request_timeout = "5s"
[config]
environment_specific_attributes = ["identifier"]

[[environments.staging.aws]]
regions = ["eu-west-1"]
endpoint_url = "{endpoint}"
lambda_env_allow = ["LOG_*"]
[[environments.staging.aws.ssm]]
path = "/staging/payments"
[environments.staging.aws.naming]
strip_suffixes = ["-staging"]
[[environments.staging.terraform]]
id = "payments"
state = "staging.tfstate"
[environments.staging.terraform.naming]
strip_suffixes = ["_staging"]

[[environments.prod.aws]]
regions = ["us-east-1"]
endpoint_url = "{endpoint}"
lambda_env_allow = ["LOG_*"]
[[environments.prod.aws.ssm]]
path = "/prod/payments"
[environments.prod.aws.naming]
strip_suffixes = ["-prod"]
[[environments.prod.aws]]
account = "unreachable"
regions = ["eu-central-1"]
endpoint_url = "http://127.0.0.1:{closed}"
[[environments.prod.terraform]]
id = "payments"
state = "s3://states/prod/payments.tfstate"
[environments.prod.terraform.naming]
strip_suffixes = ["_prod"]
"#
    );
    std::fs::write(dir.path().join("envtrail.toml"), config).unwrap();

    let (code, collect_out, collect_err) = envtrail(dir.path(), &["collect"]);
    assert_eq!(
        code, 3,
        "a failed source makes the snapshot incomplete\nstdout:\n{collect_out}\nstderr:\n{collect_err}"
    );
    assert!(
        collect_err.contains("source aws/unreachable/eu-central-1 failed"),
        "{collect_err}"
    );

    let (code, export, stderr) = envtrail(dir.path(), &["export", "--env", "prod"]);
    assert_eq!(code, 0, "{stderr}");
    let snapshot: Value = serde_json::from_str(&export).unwrap();
    let sources: Vec<(String, String)> = snapshot["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("aws/123456789012/us-east-1".to_owned(), "ok".to_owned()),
            (
                "aws/unreachable/eu-central-1".to_owned(),
                "failed".to_owned()
            ),
            ("terraform/payments".to_owned(), "ok".to_owned()),
        ]
    );
    let refs: Vec<&str> = snapshot["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["Lambda/payments-api-prod", "SSM/prod/payments"]);
    assert!(
        snapshot["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["component"] == "payments")
    );
    let db = &snapshot["infrastructure"][0];
    assert_eq!(db["address"], "module.payments.aws_db_instance.main");
    assert_eq!(
        db["metadata"]["address"],
        "module.payments_prod.aws_db_instance.main"
    );
    assert_eq!(db["attributes"]["engine_version"], "14.9");
    assert_eq!(snapshot["terraform_states"][0]["lineage"], "lineage-prod");
    assert_eq!(snapshot["terraform_states"][0]["serial"], 12);

    let (code, report_out, stderr) = envtrail(
        dir.path(),
        &["report", "--format", "json", "--at", "2100-01-01"],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&report_out).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let of = |kind: &str| {
        findings
            .iter()
            .filter(|f| f["kind"] == kind)
            .collect::<Vec<_>>()
    };
    let drift = of("infra_drift");
    assert_eq!(drift.len(), 1, "{findings:#?}");
    assert_eq!(drift[0]["component"], "payments");
    assert_eq!(drift[0]["environment"], "prod");
    assert_eq!(drift[0]["related_environment"], "staging");
    assert_eq!(
        drift[0]["keys"],
        json!(["module.payments.aws_db_instance.main.engine_version"]),
        "identifier is environment-specific; the password fingerprints are equal: {findings:#?}"
    );
    assert!(
        drift[0]["message"]
            .as_str()
            .unwrap()
            .contains("staging 15.4, prod 14.9")
    );
    let gaps = of("collection_gap");
    assert_eq!(gaps.len(), 1, "{findings:#?}");
    assert_eq!(gaps[0]["environment"], "prod");
    assert!(of("missing_component").is_empty() && of("orphan_component").is_empty());
    let (_, text_report, _) = envtrail(dir.path(), &["report", "--at", "2100-01-01"]);

    // No canary in the database file or in any output.
    let db_bytes = std::fs::read(dir.path().join("envtrail.db")).unwrap();
    let mut everything = String::from_utf8_lossy(&db_bytes).into_owned();
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let path = file.unwrap().path();
        if path.to_string_lossy().contains("envtrail.db") && path.is_file() {
            everything.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    assert!(
        everything.contains("FEATURE_X") && everything.contains("engine_version"),
        "the database file holds the collected content in clear, so the canary check means something"
    );
    for text in [
        &collect_out,
        &collect_err,
        &export,
        &report_out,
        &text_report,
    ] {
        everything.push_str(text);
    }
    for canary in [SECURE_CANARY, LAMBDA_CANARY, STATE_CANARY] {
        assert!(!everything.contains(canary), "{canary} leaked");
    }
    assert!(
        everything.contains("payments-api-prod"),
        "the check reads real content"
    );
}

#[test]
fn a_truncated_state_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let full = state("prod", "14.9");
    std::fs::write(dir.path().join("prod.tfstate"), &full[..full.len() - 40]).unwrap();
    std::fs::write(
        dir.path().join("envtrail.toml"),
        r#"[secrets]
hmac_key_env = "ENVTRAIL_TEST_HMAC"
[[environments.prod.terraform]]
state = "prod.tfstate"
"#,
    )
    .unwrap();
    let (code, stdout, stderr) = envtrail(dir.path(), &["collect"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("environment prod: nothing stored"),
        "{stderr}"
    );
    assert!(stderr.contains("prod.tfstate: line 1, column"), "{stderr}");
    assert!(!stderr.contains(STATE_CANARY), "{stderr}");
    let (code, _, stderr) = envtrail(dir.path(), &["export", "--env", "prod"]);
    assert_ne!(code, 0, "no snapshot of prod exists: {stderr}");
}
