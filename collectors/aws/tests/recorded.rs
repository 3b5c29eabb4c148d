//! The assembly against responses recorded from real AWS accounts (tests/data/README.md names
//! their origin): the `imageDigest` of running ECS tasks (which moto never reports), tasks that
//! disagree with their service, task definitions with SSM secret references, Lambda image and
//! zip functions.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use envtrail_collect_aws::records::{
    EcsService, EcsTask, EcsTaskDefinition, LambdaAlias, LambdaFunction,
};
use envtrail_collect_aws::{CollectOptions, Naming, ecs_workload, lambda_workload};
use envtrail_model::Fingerprint;
use globset::{Glob, GlobSetBuilder};
use serde_json::Value;

fn recorded(name: &str) -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["data"].clone()
}

fn options() -> CollectOptions {
    CollectOptions::new(Arc::new(|v: &[u8]| {
        let plain = Fingerprint::of_plain_value(&format!("key:{}", String::from_utf8_lossy(v)));
        format!("hmac-{plain}").parse().unwrap()
    }))
}

fn definition(arn: &str, containers: Value) -> BTreeMap<String, EcsTaskDefinition> {
    let d: EcsTaskDefinition = serde_json::from_value(serde_json::json!({
        "taskDefinitionArn": arn, "containerDefinitions": containers
    }))
    .unwrap();
    BTreeMap::from([(arn.to_owned(), d)])
}

#[test]
fn running_task_image_digest_becomes_the_running_digest() {
    let tasks: Vec<EcsTask> =
        serde_json::from_value(recorded("ecs-DescribeTasks-imageDigest.json")["tasks"].clone())
            .unwrap();
    let arn = tasks[0].task_definition_arn.clone();
    let service = EcsService {
        service_name: "c7n-test-service".into(),
        task_definition: arn.clone(),
        desired_count: 1,
        running_count: 1,
        ..EcsService::default()
    };
    let defs = definition(
        &arn,
        serde_json::json!([{"name": "sample-app", "image": "httpd:2.4"}]),
    );
    let w = ecs_workload(
        "aws/644160558196/us-east-1",
        "c7n",
        &service,
        &defs,
        &tasks,
        &Naming::default(),
        &options(),
    )
    .unwrap();
    assert_eq!(w.reference, "ECS/c7n/c7n-test-service");
    assert_eq!(w.component.as_str(), "c7n-test-service");
    assert_eq!(w.containers.len(), 1);
    let c = &w.containers[0];
    assert_eq!(c.image, "httpd:2.4");
    assert_eq!(c.digest, None, "declared by tag");
    assert_eq!(
        c.running_digests
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>(),
        ["sha256:333f7bca9fb72248f301fd2ae4892b86d36cc2fdf4c6aa49a6700f27c8e06daf"]
    );
    assert!(
        !w.metadata.contains_key("ecs.tasks_run"),
        "{:?}",
        w.metadata
    );
}

#[test]
fn tasks_of_other_task_definitions_are_visible() {
    // The four recorded tasks run two task definitions; the service deploys one of them.
    let tasks: Vec<EcsTask> =
        serde_json::from_value(recorded("ecs-DescribeTasks-four-tasks.json")["tasks"].clone())
            .unwrap();
    let services: Vec<EcsService> =
        serde_json::from_value(recorded("ecs-DescribeServices.json")["services"].clone()).unwrap();
    let service = &services[0];
    assert_eq!(service.deployments.len(), 1);
    let defs = definition(
        &service.task_definition,
        serde_json::json!([{"name": "webserver", "image": "nginx:1.27"}]),
    );
    let w = ecs_workload(
        "aws/644160558196/us-east-1",
        "web",
        service,
        &defs,
        &tasks,
        &Naming::default(),
        &options(),
    )
    .unwrap();
    assert_eq!(w.component.as_str(), "home-web");
    assert_eq!(w.metadata["ecs.task_definition"], "task-public-no-vpc:1");
    assert_eq!(w.metadata["ecs.count"], "2 running of 2 desired");
    assert_eq!(
        w.metadata["ecs.tasks_run"],
        "ecs-read-only-root:1 (2), task-public-no-vpc:1 (2)"
    );
    // Those responses carry neither image nor digest: containers are known, digests are not.
    let names: Vec<&str> = w.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Db", "webserver"]);
    assert!(w.containers.iter().all(|c| c.running_digests.is_empty()));
}

#[test]
fn secrets_are_references_and_environment_is_config() {
    let d: EcsTaskDefinition = serde_json::from_value(
        recorded("ecs-DescribeTaskDefinition-ecr-ssm-secrets.json")["taskDefinition"].clone(),
    )
    .unwrap();
    let arn = d.task_definition_arn.clone();
    let service = EcsService {
        service_name: "dev-redash-server".into(),
        task_definition: arn.clone(),
        tags: vec![envtrail_collect_aws::records::EcsTag {
            key: Some("app".into()),
            value: Some("redash".into()),
        }],
        ..EcsService::default()
    };
    let defs = BTreeMap::from([(arn, d)]);
    let naming = Naming {
        strip_prefixes: vec!["dev-".into()],
        ..Naming::default()
    };
    let w = ecs_workload(
        "aws/644160558196/us-east-2",
        "dev",
        &service,
        &defs,
        &[],
        &naming,
        &options(),
    )
    .unwrap();
    assert_eq!(w.component.as_str(), "redash", "the app tag names it");
    assert!(w.containers[0].image.contains("stacklet-redash:842a0206"));
    assert_eq!(
        w.config["server:REDASH_LOG_LEVEL"].value.as_deref(),
        Some("DEBUG")
    );
    let cookie = &w.config["server:REDASH_COOKIE_SECRET"];
    assert_eq!(
        cookie.value.as_deref(),
        Some("arn:aws:ssm:us-east-2:644160558196:parameter/dev/redash/cookie_secret"),
        "a reference, kept as written, never resolved"
    );
    assert!(!cookie.secret);
    assert_eq!(w.config.len(), 21 + 2);
}

fn lambda_from_get_function(data: &Value) -> LambdaFunction {
    let c = &data["Configuration"];
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    LambdaFunction {
        name: s(&c["FunctionName"]).unwrap(),
        version: s(&c["Version"]).unwrap_or_else(|| "$LATEST".into()),
        package_type: s(&c["PackageType"]),
        runtime: s(&c["Runtime"]),
        code_sha256: s(&c["CodeSha256"]),
        image_uri: s(&data["Code"]["ImageUri"]),
        resolved_image_uri: s(&data["Code"]["ResolvedImageUri"]),
        environment: map(&c["Environment"]["Variables"]),
        tags: map(&data["Tags"]),
    }
}

#[test]
fn lambda_image_function_runs_its_resolved_digest() {
    let f = lambda_from_get_function(&recorded("lambda-GetFunction-container-image.json"));
    let naming = Naming {
        tags: vec!["App".into()],
        ..Naming::default()
    };
    let alias = LambdaAlias {
        name: "live".into(),
        function: f.clone(),
    };
    let w = lambda_workload(
        "aws/644160558196/us-east-1",
        &f,
        &[alias],
        &GlobSetBuilder::new().build().unwrap(),
        &naming,
        &options(),
    )
    .unwrap();
    assert_eq!(w.component.as_str(), "AssetDB");
    assert_eq!(w.reference, "Lambda/kapilt-assetdb-current-caches");
    let function = &w.containers[0];
    assert_eq!(function.name, "function");
    assert_eq!(
        function.image,
        "644160558196.dkr.ecr.us-east-1.amazonaws.com/kapilt-assetdb:arm64-latest"
    );
    let expected = "sha256:4c3a84c134c3d2a46c56fc34f167a8a048ff2f566dc64f5b7aea4bbf96609542";
    assert_eq!(function.running_digests[0].as_str(), expected);
    assert_eq!(w.containers[1].name, "alias:live");
    assert_eq!(w.containers[1].running_digests[0].as_str(), expected);
    assert_eq!(w.metadata["lambda.package_type"], "Image");
}

#[test]
fn lambda_zip_code_sha256_is_a_hex_digest_and_env_values_are_fingerprints() {
    let functions = recorded("lambda-ListFunctions-zip.json")["Functions"].clone();
    let mut f = lambda_from_get_function(&serde_json::json!({"Configuration": functions[0]}));
    assert_eq!(
        f.code_sha256.as_deref(),
        Some("qyaQA4CyfLv6R5+dxMlaZ1qpDSOWxK9C5H/O3OKt+vA=")
    );
    f.environment = BTreeMap::from([
        ("LOG_LEVEL".into(), "info".into()),
        ("DB_PASSWORD".into(), "canary-lambda-7f3a".into()),
    ]);
    let allow = {
        let mut b = GlobSetBuilder::new();
        b.add(Glob::new("LOG_*").unwrap());
        b.build().unwrap()
    };
    let w = lambda_workload(
        "aws/1/eu-west-1",
        &f,
        &[],
        &allow,
        &Naming::default(),
        &options(),
    )
    .unwrap();
    assert_eq!(
        w.containers[0].running_digests[0].as_str(),
        "sha256:ab26900380b27cbbfa479f9dc4c95a675aa90d2396c4af42e47fcedce2adfaf0"
    );
    assert_eq!(w.containers[0].image, "lambda:test-pratyush:$LATEST");
    assert_eq!(w.metadata["lambda.runtime"], "python3.9");
    assert_eq!(w.config["LOG_LEVEL"].value.as_deref(), Some("info"));
    let secret = &w.config["DB_PASSWORD"];
    assert!(secret.secret && secret.value.is_none() && secret.fingerprint.is_keyed());
    let json = serde_json::to_string(&w).unwrap();
    assert!(!json.contains("canary-lambda-7f3a"), "{json}");
}
