//! Records → workloads: one per ECS service (`ECS/<cluster>/<service>`), Lambda function
//! (`Lambda/<name>`) and Parameter Store path (`SSM/prod/payments`: `SSM` then the path).
//!
//! - ECS: each container of the service's task definition, with the declared image (and digest
//!   when pinned) and the digests its running tasks report; tasks of other task definitions
//!   (a rollout in progress, stuck tasks) add their digests too, so a disagreement shows as
//!   `mixed_versions`, and the metadata names the task definitions that run. Literal environment
//!   values become `<container>:<NAME>` config; `secrets` become references (their `valueFrom`),
//!   never resolved.
//! - Lambda: container `function` is `$LATEST`, `alias:<name>` each alias; Image functions run
//!   their `ResolvedImageUri` digest, Zip functions their `CodeSha256` as `sha256:<hex>`.
//!   Environment values are keyed fingerprints unless allow-listed.
//! - SSM: keys relative to the path; String/StringList values kept (with fingerprints),
//!   SecureString only as a keyed fingerprint of the decrypted value or of version and date.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use envtrail_model::{ComponentName, ConfigValue, Container, Digest, Fingerprint, Workload};
use globset::GlobSet;

use crate::config::{CollectOptions, Naming};
use crate::records::{
    EcsService, EcsTask, EcsTaskDefinition, LambdaAlias, LambdaFunction, Parameter, ParameterKind,
};

/// The metadata key telling how SecureString fingerprints were made.
pub const SECURE_STRING_BASIS: &str = "ssm.secure_string_fingerprint";

/// The component of a resource: the first configured tag with a usable value, else its name with
/// the naming affixes stripped; `None` when neither makes a valid name.
pub fn component(
    naming: &Naming,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Option<ComponentName> {
    naming
        .tags
        .iter()
        .filter_map(|t| tags.get(t))
        .find_map(|v| v.parse().ok())
        .or_else(|| {
            strip(name, &naming.strip_prefixes, &naming.strip_suffixes)
                .parse()
                .ok()
        })
}

fn strip<'a>(text: &'a str, prefixes: &[String], suffixes: &[String]) -> &'a str {
    let mut out = text;
    if let Some(rest) = prefixes.iter().find_map(|p| out.strip_prefix(p.as_str()))
        && !rest.is_empty()
    {
        out = rest;
    }
    if let Some(rest) = suffixes.iter().find_map(|s| out.strip_suffix(s.as_str()))
        && !rest.is_empty()
    {
        out = rest;
    }
    out
}

/// The digest an image reference pins (`repo@sha256:...`), if any.
pub fn image_digest(image: &str) -> Option<Digest> {
    image.rsplit_once('@').and_then(|(_, d)| d.parse().ok())
}

/// A Lambda `CodeSha256` as a digest: base64 of 32 bytes (Zip), or 64 hex digits (Image).
pub fn code_digest(code_sha256: &str) -> Option<Digest> {
    if code_sha256.len() == 64 {
        return format!("sha256:{}", code_sha256.to_ascii_lowercase())
            .parse()
            .ok();
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(code_sha256)
        .ok()?;
    (bytes.len() == 32)
        .then(|| format!("sha256:{}", hex::encode(bytes)).parse().ok())
        .flatten()
}

fn plain(value: &str, max: usize) -> ConfigValue {
    ConfigValue {
        fingerprint: Fingerprint::of_plain_value(value),
        value: (value.len() <= max).then(|| value.to_owned()),
        secret: false,
    }
}

fn secret(options: &CollectOptions, bytes: &[u8]) -> ConfigValue {
    ConfigValue {
        fingerprint: (options.fingerprint)(bytes),
        value: None,
        secret: true,
    }
}

/// `family:revision` of a task definition ARN (its last path segment).
fn short_task_definition(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The workload of one ECS service. `definitions` holds every task definition its service or
/// tasks refer to; `tasks` its tasks (any status but `STOPPED` counts as running).
pub fn ecs_workload(
    source: &str,
    cluster: &str,
    service: &EcsService,
    definitions: &BTreeMap<String, EcsTaskDefinition>,
    tasks: &[EcsTask],
    naming: &Naming,
    options: &CollectOptions,
) -> Option<Workload> {
    let tags: BTreeMap<String, String> = service
        .tags
        .iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
        .collect();
    let component = component(naming, &service.service_name, &tags)?;
    let definition = definitions.get(&service.task_definition);
    let running: Vec<&EcsTask> = tasks
        .iter()
        .filter(|t| t.last_status.as_deref() != Some("STOPPED"))
        .collect();

    let mut containers: BTreeMap<String, Container> = BTreeMap::new();
    let mut config = BTreeMap::new();
    for c in definition.map_or(&[][..], |d| &d.container_definitions) {
        containers.insert(
            c.name.clone(),
            Container {
                name: c.name.clone(),
                image: c.image.clone(),
                digest: image_digest(&c.image),
                running_digests: Vec::new(),
                init: false,
            },
        );
        for kv in &c.environment {
            if let Some(name) = &kv.name {
                let value = kv.value.as_deref().unwrap_or_default();
                config.insert(
                    format!("{}:{name}", c.name),
                    plain(value, options.max_config_value_bytes),
                );
            }
        }
        for s in &c.secrets {
            // A reference, not the secret: it is kept as written.
            config.insert(
                format!("{}:{}", c.name, s.name),
                plain(&s.value_from, options.max_config_value_bytes),
            );
        }
    }
    for task in &running {
        for tc in &task.containers {
            let digest = tc.image_digest.as_deref().and_then(|d| d.parse().ok());
            let entry = containers
                .entry(tc.name.clone())
                .or_insert_with(|| Container {
                    // A container only tasks of another task definition have.
                    name: tc.name.clone(),
                    image: tc.image.clone().unwrap_or_default(),
                    digest: tc.image.as_deref().and_then(image_digest),
                    running_digests: Vec::new(),
                    init: false,
                });
            entry.running_digests.extend(digest);
        }
    }

    let mut metadata = BTreeMap::new();
    metadata.insert(
        "ecs.task_definition".to_owned(),
        short_task_definition(&service.task_definition).to_owned(),
    );
    metadata.insert(
        "ecs.count".to_owned(),
        format!(
            "{} running of {} desired",
            service.running_count, service.desired_count
        ),
    );
    if service.deployments.len() > 1 {
        let text: Vec<String> = service
            .deployments
            .iter()
            .map(|d| {
                format!(
                    "{} {} ({} running)",
                    d.status.as_deref().unwrap_or("?"),
                    short_task_definition(d.task_definition.as_deref().unwrap_or("?")),
                    d.running_count
                )
            })
            .collect();
        metadata.insert("ecs.deployments".to_owned(), text.join(", "));
    }
    let mut by_definition: BTreeMap<&str, usize> = BTreeMap::new();
    for task in &running {
        *by_definition
            .entry(short_task_definition(&task.task_definition_arn))
            .or_default() += 1;
    }
    let disagree = by_definition.len() > 1
        || by_definition
            .keys()
            .any(|d| *d != short_task_definition(&service.task_definition));
    if disagree {
        let text: Vec<String> = by_definition
            .iter()
            .map(|(d, n)| format!("{d} ({n})"))
            .collect();
        metadata.insert("ecs.tasks_run".to_owned(), text.join(", "));
    }
    for (key, value) in &tags {
        if naming.tags.contains(key) {
            metadata.insert(format!("tag.{key}"), value.clone());
        }
    }

    Some(Workload {
        component,
        source: source.to_owned(),
        reference: format!("ECS/{cluster}/{}", service.service_name),
        containers: containers.into_values().collect(),
        config,
        metadata,
    })
}

fn lambda_container(name: String, f: &LambdaFunction) -> Container {
    let image_function = f.package_type.as_deref() == Some("Image");
    let running = if image_function {
        f.resolved_image_uri
            .as_deref()
            .and_then(image_digest)
            .or_else(|| f.code_sha256.as_deref().and_then(code_digest))
    } else {
        f.code_sha256.as_deref().and_then(code_digest)
    };
    let image = match (&f.image_uri, image_function) {
        (Some(uri), true) => uri.clone(),
        _ => format!("lambda:{}:{}", f.name, f.version),
    };
    Container {
        name,
        digest: image_digest(&image),
        image,
        running_digests: running.into_iter().collect(),
        init: false,
    }
}

/// The workload of one Lambda function (`$LATEST`) and its aliases.
pub fn lambda_workload(
    source: &str,
    function: &LambdaFunction,
    aliases: &[LambdaAlias],
    allow: &GlobSet,
    naming: &Naming,
    options: &CollectOptions,
) -> Option<Workload> {
    let component = component(naming, &function.name, &function.tags)?;
    let mut containers = vec![lambda_container("function".to_owned(), function)];
    for alias in aliases {
        containers.push(lambda_container(
            format!("alias:{}", alias.name),
            &alias.function,
        ));
    }
    let config = function
        .environment
        .iter()
        .map(|(key, value)| {
            let v = if allow.is_match(key) {
                plain(value, options.max_config_value_bytes)
            } else {
                secret(options, value.as_bytes())
            };
            (key.clone(), v)
        })
        .collect();
    let mut metadata = BTreeMap::new();
    for (key, value) in [
        ("lambda.package_type", &function.package_type),
        ("lambda.runtime", &function.runtime),
    ] {
        if let Some(v) = value {
            metadata.insert(key.to_owned(), v.clone());
        }
    }
    if !aliases.is_empty() {
        let text: Vec<String> = aliases
            .iter()
            .map(|a| format!("{} → {}", a.name, a.function.version))
            .collect();
        metadata.insert("lambda.aliases".to_owned(), text.join(", "));
    }
    Some(Workload {
        component,
        source: source.to_owned(),
        reference: format!("Lambda/{}", function.name),
        containers,
        config,
        metadata,
    })
}

/// The workload of one Parameter Store path. `decrypted` says whether SecureString values were
/// read (and so fingerprinted) or only their version and date.
pub fn ssm_workload(
    source: &str,
    path: &str,
    component_name: Option<&str>,
    parameters: &[Parameter],
    decrypted: bool,
    naming: &Naming,
    options: &CollectOptions,
) -> Option<Workload> {
    let trimmed = path.trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    let component = match component_name {
        Some(c) => c.parse().ok()?,
        None => strip(last, &naming.strip_prefixes, &naming.strip_suffixes)
            .parse()
            .ok()?,
    };
    let mut config = BTreeMap::new();
    let mut secure = false;
    for p in parameters {
        let key = p
            .name
            .strip_prefix(trimmed)
            .map(|k| k.trim_start_matches('/'))
            .filter(|k| !k.is_empty())
            .unwrap_or(&p.name)
            .to_owned();
        let value = match p.kind {
            ParameterKind::SecureString => {
                secure = true;
                match (&p.value, decrypted) {
                    (Some(v), true) => secret(options, v.as_bytes()),
                    _ => {
                        let basis = format!(
                            "version={};last_modified={}",
                            p.version,
                            p.last_modified.as_deref().unwrap_or("")
                        );
                        secret(options, basis.as_bytes())
                    }
                }
            }
            ParameterKind::String | ParameterKind::StringList => plain(
                p.value.as_deref().unwrap_or_default(),
                options.max_config_value_bytes,
            ),
        };
        config.insert(key, value);
    }
    let mut metadata = BTreeMap::new();
    if secure {
        metadata.insert(
            SECURE_STRING_BASIS.to_owned(),
            if decrypted {
                "value"
            } else {
                "version_and_date"
            }
            .to_owned(),
        );
    }
    Some(Workload {
        component,
        source: source.to_owned(),
        reference: format!("SSM{trimmed}"),
        containers: Vec::new(),
        config,
        metadata,
    })
}

/// The distinct task definitions a service and its tasks refer to.
pub fn task_definitions_of(service: &EcsService, tasks: &[EcsTask]) -> BTreeSet<String> {
    std::iter::once(service.task_definition.clone())
        .chain(tasks.iter().map(|t| t.task_definition_arn.clone()))
        .filter(|a| !a.is_empty())
        .collect()
}
