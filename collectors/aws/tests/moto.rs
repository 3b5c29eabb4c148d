//! The collector against a real AWS emulator (`moto_server`, one per test, see
//! `envtrail_collect_aws::testing`): pagination past one page, two regions, SecureString and
//! Lambda environment canaries, Lambda image functions resolved through moto's ECR, a partial and
//! an unreachable source, and Terraform state objects read from S3.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, LaunchType, Secret, Tag};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, PackageType, Runtime};
use aws_sdk_ssm::types::ParameterType;
use envtrail_collect_aws::testing::{ACCOUNT, Moto};
use envtrail_collect_aws::{
    AccountConfig, CollectOptions, SECURE_STRING_BASIS, SsmPath, collect, fetch_object, sdk_config,
};
use envtrail_model::{Fingerprint, SourceStatus, Workload};

const SECURE_CANARY: &str = "canary-securestring-5d1e9";
const LAMBDA_CANARY: &str = "canary-lambda-env-a77c2";

fn options() -> CollectOptions {
    let mut o = CollectOptions::new(Arc::new(|v: &[u8]| {
        let plain = Fingerprint::of_plain_value(&format!("key:{}", String::from_utf8_lossy(v)));
        format!("hmac-{plain}").parse().unwrap()
    }));
    o.request_timeout = Duration::from_secs(20);
    o
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `n` zip functions `fn-000`... in `region`, tagged `app=<app>`, with a secret-looking env value.
async fn seed_functions(account: &AccountConfig, region: &str, role: &str, n: usize, app: &str) {
    let config = sdk_config(account, region, &options()).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    for i in 0..n {
        lambda
            .create_function()
            .function_name(format!("fn-{i:03}"))
            .runtime(Runtime::Python312)
            .role(role)
            .handler("main.handler")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(format!("zip bytes {i}").into_bytes()))
                    .build(),
            )
            .environment(
                Environment::builder()
                    .variables("LOG_LEVEL", "info")
                    .variables("DB_PASSWORD", LAMBDA_CANARY)
                    .build(),
            )
            .tags("app", app)
            .send()
            .await
            .unwrap();
    }
}

async fn seed_parameters(account: &AccountConfig, region: &str, path: &str, n: usize) {
    let config = sdk_config(account, region, &options()).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    for i in 0..n {
        ssm.put_parameter()
            .name(format!("{path}/key-{i:03}"))
            .value(format!("value-{i}"))
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    for name in ["db/password", "api_token"] {
        ssm.put_parameter()
            .name(format!("{path}/{name}"))
            .value(SECURE_CANARY)
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
}

async fn seed_ecs(account: &AccountConfig, region: &str) {
    let config = sdk_config(account, region, &options()).await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    ecs.create_cluster()
        .cluster_name("shop")
        .send()
        .await
        .unwrap();
    let container = ContainerDefinition::builder()
        .name("api")
        .image("registry.example.com/payments/api:1.4.2")
        .cpu(256)
        .memory(512)
        .environment(
            KeyValuePair::builder()
                .name("LOG_LEVEL")
                .value("warn")
                .build(),
        )
        .secrets(
            Secret::builder()
                .name("DB_PASSWORD")
                .value_from(format!(
                    "arn:aws:ssm:{region}:{ACCOUNT}:parameter/prod/payments/db/password"
                ))
                .build()
                .unwrap(),
        )
        .build();
    ecs.register_task_definition()
        .family("payments-api")
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    for (name, tag) in [
        ("payments-api-prod", Some("payments")),
        ("checkout-prod", None),
    ] {
        let mut req = ecs
            .create_service()
            .cluster("shop")
            .service_name(name)
            .task_definition("payments-api")
            .desired_count(2)
            .launch_type(LaunchType::Fargate);
        if let Some(tag) = tag {
            req = req.tags(Tag::builder().key("app").value(tag).build());
        }
        req.send().await.unwrap();
    }
}

fn by_ref<'a>(workloads: &'a [Workload], reference: &str) -> &'a Workload {
    workloads
        .iter()
        .find(|w| w.reference == reference)
        .unwrap_or_else(|| panic!("{reference} missing"))
}

#[test]
fn pages_regions_and_secret_canaries() {
    let moto = Moto::start().expect("moto_server starts");
    let rt = runtime();
    let mut account = moto.account(&["eu-west-1", "us-east-1"]);
    account.lambda_env_allow = vec!["LOG_*".into()];
    account.ssm_paths = vec![SsmPath {
        path: "/prod/payments".into(),
        component: Some("payments".into()),
    }];
    account.naming.strip_suffixes = vec!["-prod".into()];
    let role = moto.create_role("lambda-exec").unwrap();
    rt.block_on(async {
        seed_functions(&account, "eu-west-1", &role, 55, "payments").await;
        seed_functions(&account, "us-east-1", &role, 1, "payments").await;
        seed_parameters(&account, "eu-west-1", "/prod/payments", 110).await;
        seed_ecs(&account, "eu-west-1").await;
    });

    let collected = rt.block_on(collect(&account, &options()));
    assert_eq!(collected.len(), 2);
    let (eu, us) = (&collected[0], &collected[1]);
    assert_eq!(eu.source.id, format!("aws/{ACCOUNT}/eu-west-1"));
    assert_eq!(us.source.id, format!("aws/{ACCOUNT}/us-east-1"));
    for c in &collected {
        assert_eq!(c.source.status, SourceStatus::Ok, "{:?}", c.source.error);
        assert_eq!(c.source.kind, "aws");
    }

    // Lambda: more than one page of 50.
    let lambdas = |c: &envtrail_collect_aws::Collected| {
        c.workloads
            .iter()
            .filter(|w| w.reference.starts_with("Lambda/"))
            .count()
    };
    assert_eq!(lambdas(eu), 55);
    assert_eq!(lambdas(us), 1);
    let f = by_ref(&eu.workloads, "Lambda/fn-054");
    assert_eq!(f.component.as_str(), "payments");
    assert_eq!(f.config["LOG_LEVEL"].value.as_deref(), Some("info"));
    assert!(f.config["DB_PASSWORD"].secret && f.config["DB_PASSWORD"].value.is_none());
    let zip_digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"zip bytes 54"))
    );
    assert_eq!(f.containers[0].running_digests[0].as_str(), zip_digest);

    // SSM: 112 parameters, pages of 10.
    let ssm = by_ref(&eu.workloads, "SSM/prod/payments");
    assert_eq!(ssm.component.as_str(), "payments");
    assert_eq!(ssm.config.len(), 112);
    assert_eq!(ssm.config["key-107"].value.as_deref(), Some("value-107"));
    let password = &ssm.config["db/password"];
    assert!(password.secret && password.value.is_none() && password.fingerprint.is_keyed());
    assert_eq!(ssm.metadata[SECURE_STRING_BASIS], "version_and_date");

    // ECS: tag names one service, the stripped name the other; secrets stay references.
    let api = by_ref(&eu.workloads, "ECS/shop/payments-api-prod");
    assert_eq!(api.component.as_str(), "payments");
    assert_eq!(
        by_ref(&eu.workloads, "ECS/shop/checkout-prod")
            .component
            .as_str(),
        "checkout"
    );
    assert_eq!(
        api.containers[0].image,
        "registry.example.com/payments/api:1.4.2"
    );
    assert_eq!(api.config["api:LOG_LEVEL"].value.as_deref(), Some("warn"));
    assert!(
        api.config["api:DB_PASSWORD"]
            .value
            .as_deref()
            .unwrap()
            .ends_with("parameter/prod/payments/db/password")
    );

    // No canary anywhere in what the collector produced.
    let all = serde_json::to_string(
        &collected
            .iter()
            .map(|c| (&c.source, &c.workloads))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for canary in [SECURE_CANARY, LAMBDA_CANARY] {
        assert!(!all.contains(canary), "{canary} leaked");
    }
    assert!(!format!("{collected:?}").contains(SECURE_CANARY));

    // With decryption allowed, the SecureString fingerprint is of the value: the same canary
    // under two names gives one fingerprint, and the basis is recorded.
    account.ssm_decrypt = true;
    account.regions = vec!["eu-west-1".into()];
    let decrypted = rt.block_on(collect(&account, &options()));
    let ssm2 = by_ref(&decrypted[0].workloads, "SSM/prod/payments");
    assert_eq!(ssm2.metadata[SECURE_STRING_BASIS], "value");
    assert_eq!(
        ssm2.config["db/password"].fingerprint,
        ssm2.config["api_token"].fingerprint
    );
    assert_ne!(ssm2.config["db/password"].fingerprint, password.fingerprint);
    assert_eq!(
        ssm2.config["db/password"].fingerprint,
        (options().fingerprint)(SECURE_CANARY.as_bytes())
    );
    let all = serde_json::to_string(&decrypted[0].workloads).unwrap();
    assert!(!all.contains(SECURE_CANARY));
}

#[test]
fn image_functions_run_the_ecr_digest_and_aliases_their_versions() {
    let moto = Moto::start().expect("moto_server starts");
    let rt = runtime();
    let account = moto.account(&["eu-west-1"]);
    let role = moto.create_role("lambda-exec").unwrap();
    let digest_v1 = format!("sha256:{}", "ab".repeat(32));
    let digest_v2 = format!("sha256:{}", "cd".repeat(32));
    rt.block_on(async {
        let config = sdk_config(&account, "eu-west-1", &options()).await;
        let ecr = aws_sdk_ecr::Client::new(&config);
        ecr.create_repository()
            .repository_name("api")
            .send()
            .await
            .unwrap();
        for (tag, digest) in [("v1", &digest_v1), ("v2", &digest_v2)] {
            let manifest = serde_json::json!({"schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                           "digest": format!("sha256:{}", tag.repeat(32))}, "layers": []});
            ecr.put_image()
                .repository_name("api")
                .image_manifest(manifest.to_string())
                .image_tag(tag)
                .image_digest(digest)
                .send()
                .await
                .unwrap();
        }
        let lambda = aws_sdk_lambda::Client::new(&config);
        let uri = |tag: &str| format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/api:{tag}");
        lambda
            .create_function()
            .function_name("api")
            .role(&role)
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(uri("v1")).build())
            .send()
            .await
            .unwrap();
        lambda
            .publish_version()
            .function_name("api")
            .send()
            .await
            .unwrap();
        lambda
            .update_function_code()
            .function_name("api")
            .image_uri(uri("v2"))
            .send()
            .await
            .unwrap();
        lambda
            .create_alias()
            .function_name("api")
            .name("live")
            .function_version("1")
            .send()
            .await
            .unwrap();
    });
    let collected = rt.block_on(collect(&account, &options()));
    let c = &collected[0];
    assert_eq!(c.source.status, SourceStatus::Ok, "{:?}", c.source.error);
    let w = by_ref(&c.workloads, "Lambda/api");
    let function = w.containers.iter().find(|c| c.name == "function").unwrap();
    let live = w
        .containers
        .iter()
        .find(|c| c.name == "alias:live")
        .unwrap();
    assert!(function.image.ends_with("/api:v2"), "{}", function.image);
    assert_eq!(function.running_digests[0].as_str(), digest_v2);
    assert_eq!(live.running_digests[0].as_str(), digest_v1);
    assert_eq!(w.metadata["lambda.aliases"], "live → 1");
}

#[test]
fn a_failing_service_makes_the_source_partial() {
    let moto = Moto::start().expect("moto_server starts");
    let rt = runtime();
    let mut account = moto.account(&["eu-west-1"]);
    account.ecs_clusters = vec!["no-such-cluster".into()];
    account.ssm_paths = vec![SsmPath {
        path: "/prod/payments".into(),
        component: None,
    }];
    rt.block_on(seed_parameters(&account, "eu-west-1", "/prod/payments", 3));
    let collected = rt.block_on(collect(&account, &options()));
    let c = &collected[0];
    assert_eq!(c.source.status, SourceStatus::Partial);
    let error = c.source.error.as_deref().unwrap();
    assert!(
        error.contains("ecs: listing services of cluster no-such-cluster"),
        "{error}"
    );
    assert!(!error.contains(SECURE_CANARY));
    // What could be read is there.
    assert_eq!(
        by_ref(&c.workloads, "SSM/prod/payments").component.as_str(),
        "payments"
    );
}

#[test]
fn an_unreachable_account_is_a_failed_source() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut account = AccountConfig {
        account: Some("prod-main".into()),
        regions: vec!["eu-west-1".into()],
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        credentials: envtrail_collect_aws::Credentials::Static {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        },
        ecs: true,
        lambda: true,
        ..AccountConfig::default()
    };
    let mut o = options();
    o.max_attempts = 2;
    o.request_timeout = Duration::from_secs(2);
    let collected = runtime().block_on(collect(&account, &o));
    let c = &collected[0];
    assert_eq!(c.source.id, "aws/prod-main/eu-west-1");
    assert_eq!(c.source.status, SourceStatus::Failed);
    assert!(c.workloads.is_empty());
    let error = c.source.error.as_deref().unwrap();
    assert!(error.starts_with("sts: who am I"), "{error}");

    // Without a configured account the profile (or `default`) names it.
    account.account = None;
    let collected = runtime().block_on(collect(&account, &o));
    assert_eq!(collected[0].source.id, "aws/default/eu-west-1");
}

#[test]
fn terraform_state_objects_are_read_from_s3() {
    let moto = Moto::start().expect("moto_server starts");
    let rt = runtime();
    let account = moto.account(&["eu-west-1"]);
    let state = br#"{"version": 4, "serial": 3, "lineage": "l", "resources": []}"#;
    rt.block_on(async {
        let config = sdk_config(&account, "eu-west-1", &options()).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket("states")
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("states")
            .key("prod/network.tfstate")
            .body(state.to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let bytes = rt
        .block_on(fetch_object(
            &account,
            "eu-west-1",
            "s3://states/prod/network.tfstate",
            &options(),
        ))
        .unwrap();
    assert_eq!(bytes, state);
    let err = rt
        .block_on(fetch_object(
            &account,
            "eu-west-1",
            "s3://states/missing.tfstate",
            &options(),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("s3: reading s3://states/missing.tfstate"),
        "{err}"
    );
    assert!(err.contains("NoSuchKey"), "{err}");
}
