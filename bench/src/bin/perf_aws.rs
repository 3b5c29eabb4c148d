//! `envtrail-perf-aws`: the AWS and Terraform performance targets of issue 5.
//!
//! 1. One collection of one account and region against a real `moto_server` seeded with 500
//!    Lambda functions, 200 ECS services and 2,000 SSM parameters: target at most 30 s.
//! 2. A generated Terraform state of about 20 MB parsed and stored (one snapshot import into a
//!    fresh store file): target at most 2 s.
//!
//! Seeding is not timed. Exit codes: 0 both targets met, 1 a target missed, 2 the run failed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, LaunchType, Tag};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use aws_sdk_ssm::types::ParameterType;
use clap::Parser;
use envtrail_collect_aws::testing::Moto;
use envtrail_collect_aws::{CollectOptions, SsmPath, collect, sdk_config};
use envtrail_model::{Fingerprint, SNAPSHOT_SCHEMA, Snapshot, Source, SourceStatus};
use envtrail_store::Store;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

/// Times one AWS collection against moto and one 20 MB Terraform state parse + store.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Lambda functions to seed.
    #[arg(long, default_value_t = 500)]
    functions: usize,
    /// ECS services to seed.
    #[arg(long, default_value_t = 200)]
    services: usize,
    /// SSM parameters to seed (in paths of 100).
    #[arg(long, default_value_t = 2000)]
    parameters: usize,
    /// Size of the generated Terraform state, in MB.
    #[arg(long, default_value_t = 20)]
    state_mb: usize,
    /// Skip the moto part (Terraform only).
    #[arg(long)]
    terraform_only: bool,
}

fn fingerprint() -> envtrail_collect_aws::SecretFingerprint {
    Arc::new(|v: &[u8]| {
        format!(
            "hmac-{}",
            Fingerprint::of_plain_value(&String::from_utf8_lossy(v))
        )
        .parse()
        .expect("a sha256 fingerprint with a prefix")
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::from(0),
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<bool> {
    let mut met = true;
    if !args.terraform_only {
        let took = aws(args)?;
        println!(
            "aws collection ({} functions, {} services, {} parameters): {:.2} s (target <= 30 s) {}",
            args.functions,
            args.services,
            args.parameters,
            took.as_secs_f64(),
            verdict(took <= Duration::from_secs(30))
        );
        met &= took <= Duration::from_secs(30);
    }
    let (size, took) = terraform(args)?;
    println!(
        "terraform state ({:.1} MB, parse + store): {:.2} s (target <= 2 s) {}",
        size as f64 / 1e6,
        took.as_secs_f64(),
        verdict(took <= Duration::from_secs(2))
    );
    met &= took <= Duration::from_secs(2);
    Ok(met)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn aws(args: &Args) -> Result<Duration> {
    let moto = Moto::start().context("starting moto_server")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let region = "eu-west-1";
    let mut account = moto.account(&[region]);
    let paths = args.parameters.div_ceil(100);
    account.ssm_paths = (0..paths)
        .map(|p| SsmPath {
            path: format!("/bench/app-{p:02}"),
            component: None,
        })
        .collect();
    account.lambda_env_allow = vec!["LOG_*".into()];
    let role = moto.create_role("bench-lambda")?;
    let seeding = Instant::now();
    runtime.block_on(async {
        let options = CollectOptions::new(fingerprint());
        let config = sdk_config(&account, region, &options).await;
        let lambda = aws_sdk_lambda::Client::new(&config);
        let ecs = aws_sdk_ecs::Client::new(&config);
        let ssm = aws_sdk_ssm::Client::new(&config);
        futures::stream::iter(0..args.functions)
            .map(|i| {
                let (lambda, role) = (&lambda, &role);
                async move {
                    lambda
                        .create_function()
                        .function_name(format!("bench-fn-{i:04}"))
                        .runtime(Runtime::Python312)
                        .role(role)
                        .handler("main.handler")
                        .code(
                            FunctionCode::builder()
                                .zip_file(Blob::new(format!("code {i}").into_bytes()))
                                .build(),
                        )
                        .environment(
                            Environment::builder()
                                .variables("LOG_LEVEL", "info")
                                .variables("API_KEY", format!("secret-{i}"))
                                .build(),
                        )
                        .tags("app", format!("app-{}", i % 50))
                        .send()
                        .await
                        .map(|_| ())
                        .context("seeding a function")
                }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        ecs.create_cluster().cluster_name("bench").send().await?;
        ecs.register_task_definition()
            .family("bench")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("registry.example.com/bench/app:1.0")
                    .cpu(256)
                    .memory(512)
                    .environment(
                        KeyValuePair::builder()
                            .name("LOG_LEVEL")
                            .value("info")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await?;
        futures::stream::iter(0..args.services)
            .map(|i| {
                let ecs = &ecs;
                async move {
                    ecs.create_service()
                        .cluster("bench")
                        .service_name(format!("svc-{i:04}"))
                        .task_definition("bench")
                        .desired_count(1)
                        .launch_type(LaunchType::Fargate)
                        .tags(
                            Tag::builder()
                                .key("app")
                                .value(format!("app-{}", i % 50))
                                .build(),
                        )
                        .send()
                        .await
                        .map(|_| ())
                        .context("seeding a service")
                }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        futures::stream::iter(0..args.parameters)
            .map(|i| {
                let ssm = &ssm;
                async move {
                    let kind = if i % 10 == 0 {
                        ParameterType::SecureString
                    } else {
                        ParameterType::String
                    };
                    ssm.put_parameter()
                        .name(format!("/bench/app-{:02}/key-{i:05}", i / 100))
                        .value(format!("value-{i}"))
                        .r#type(kind)
                        .send()
                        .await
                        .map(|_| ())
                        .context("seeding a parameter")
                }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok::<_, anyhow::Error>(())
    })?;
    eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    let options = CollectOptions::new(fingerprint());
    let started = Instant::now();
    let collected = runtime.block_on(collect(&account, &options));
    let took = started.elapsed();
    let c = &collected[0];
    ensure!(
        c.source.status == SourceStatus::Ok,
        "the collection failed: {:?}",
        c.source.error
    );
    let count = |prefix: &str| {
        c.workloads
            .iter()
            .filter(|w| w.reference.starts_with(prefix))
            .count()
    };
    let params: usize = c
        .workloads
        .iter()
        .filter(|w| w.reference.starts_with("SSM/"))
        .map(|w| w.config.len())
        .sum();
    ensure!(
        count("Lambda/") == args.functions,
        "functions: {}",
        count("Lambda/")
    );
    ensure!(
        count("ECS/") == args.services,
        "services: {}",
        count("ECS/")
    );
    ensure!(params == args.parameters, "parameters: {params}");
    eprintln!("{} API calls", c.calls);
    Ok(took)
}

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

fn terraform(args: &Args) -> Result<(usize, Duration)> {
    let bytes = generate_state(args.state_mb);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let started = Instant::now();
    let options = envtrail_collect_terraform::Options::new("terraform/bench", fingerprint());
    let state = envtrail_collect_terraform::parse(&bytes, "bench.tfstate", &options)?;
    let items = state.items.len();
    let snapshot = Snapshot {
        schema: SNAPSHOT_SCHEMA.to_owned(),
        environment: "prod".parse()?,
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
    let mut store = Store::open(&db)?;
    store.import(snapshot)?;
    let took = started.elapsed();
    eprintln!("{items} resources");
    Ok((bytes.len(), took))
}
