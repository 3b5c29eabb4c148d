//! One account, end to end: for each region, load the SDK config (standard chain or profile,
//! optionally assuming a role, optionally another endpoint), learn the account id from STS, then
//! read ECS, Lambda and Parameter Store concurrently under one bound on calls in flight. Each
//! region is one source, `aws/<account>/<region>`: `ok`, `partial` (one service failed, e.g. an
//! AccessDenied on ECS) or `failed` (nothing could be read: no credentials, unreachable, denied).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::types::ServiceField;
use envtrail_model::{Source, SourceStatus, Workload};
use futures::{StreamExt, TryStreamExt};
use globset::{Glob, GlobSet, GlobSetBuilder};
use tokio::sync::Semaphore;

use crate::assemble::{ecs_workload, lambda_workload, ssm_workload, task_definitions_of};
use crate::config::{AccountConfig, CollectOptions, Credentials};
use crate::error::{Error, call};
use crate::records::{
    EcsContainerDefinition, EcsDeployment, EcsKeyValue, EcsSecret, EcsService, EcsTag, EcsTask,
    EcsTaskContainer, EcsTaskDefinition, LambdaAlias, LambdaFunction, Parameter, ParameterKind,
};

/// The kind recorded in an AWS source's entry.
pub const SOURCE_KIND: &str = "aws";

/// At most this many problems are spelled out in a source's reason.
const MAX_REASONS: usize = 3;

/// What one region of an account gave.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The source entry, with its status and reason.
    pub source: Source,
    /// Its workloads, sorted by reference.
    pub workloads: Vec<Workload>,
    /// API calls made.
    pub calls: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Reads every region of `account`, concurrently. Never fails: a region that cannot be read is
/// a `failed` source. Results are in the order of `account.regions`.
pub async fn collect(account: &AccountConfig, options: &CollectOptions) -> Vec<Collected> {
    futures::future::join_all(
        account
            .regions
            .iter()
            .map(|region| collect_region(account, region, options)),
    )
    .await
}

/// The SDK config for `account` in `region`: credentials, endpoint, adaptive retry, timeouts.
pub async fn sdk_config(
    account: &AccountConfig,
    region: &str,
    options: &CollectOptions,
) -> SdkConfig {
    let loader = || {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .retry_config(RetryConfig::adaptive().with_max_attempts(options.max_attempts.max(1)))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
                    .operation_attempt_timeout(options.request_timeout)
                    .build(),
            );
        if let Some(profile) = &account.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &account.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Credentials::Static {
            access_key_id,
            secret_access_key,
        } = &account.credentials
        {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                access_key_id,
                secret_access_key,
                None,
                None,
                "envtrail-static",
            ));
        }
        loader
    };
    let base = loader().load().await;
    let Some(role) = &account.role_arn else {
        return base;
    };
    let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("envtrail")
        .region(Region::new(region.to_owned()))
        .configure(&base);
    if let Some(id) = &account.external_id {
        assume = assume.external_id(id);
    }
    let provider = assume.build().await;
    loader().credentials_provider(provider).load().await
}

async fn collect_region(
    account: &AccountConfig,
    region: &str,
    options: &CollectOptions,
) -> Collected {
    let started = Instant::now();
    let config = sdk_config(account, region, options).await;
    let calls = AtomicU64::new(0);
    let reader = Reader {
        config: &config,
        permits: Semaphore::new(options.concurrency.max(1)),
        limit: options.concurrency.max(1),
        calls: &calls,
    };

    let identity = {
        let _permit = reader.permit().await;
        aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
    };
    let fallback = account
        .profile
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let (account_id, identity_error) = match identity {
        Ok(out) => (
            account
                .account
                .clone()
                .or_else(|| out.account().map(str::to_owned))
                .unwrap_or(fallback),
            None,
        ),
        Err(err) => (
            account.account.clone().unwrap_or(fallback),
            Some(call("sts: who am I (GetCallerIdentity)", &err)),
        ),
    };
    let id = format!("aws/{account_id}/{region}");
    let entry = |status, error: Option<String>| Source {
        id: id.clone(),
        kind: SOURCE_KIND.to_owned(),
        status,
        error,
    };
    if let Some(err) = identity_error {
        return Collected {
            source: entry(SourceStatus::Failed, Some(err.to_string())),
            workloads: Vec::new(),
            calls: calls.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        };
    }

    let allow = allow_list(&account.lambda_env_allow);
    let (ecs, lambda, ssm) = tokio::join!(
        async {
            if account.ecs {
                reader.ecs(&id, account, options).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if account.lambda {
                reader.lambda(&id, account, &allow, options).await
            } else {
                Ok(Vec::new())
            }
        },
        reader.ssm(&id, account, options),
    );
    let mut workloads = Vec::new();
    let mut problems = Vec::new();
    let enabled = [account.ecs, account.lambda, !account.ssm_paths.is_empty()];
    // Only what was asked for counts: ECS and Lambda failing with no SSM path configured is a
    // failed source, not a partial one.
    let parts = enabled.iter().filter(|e| **e).count();
    for (result, _) in [ecs, lambda, ssm]
        .into_iter()
        .zip(enabled)
        .filter(|(_, e)| *e)
    {
        match result {
            Ok(w) => workloads.extend(w),
            Err(e) => problems.push(e),
        }
    }
    workloads.sort_by(|a, b| a.reference.cmp(&b.reference));
    let source = if problems.is_empty() {
        entry(SourceStatus::Ok, None)
    } else {
        let mut reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
        reasons.sort();
        let more = reasons.len().saturating_sub(MAX_REASONS);
        reasons.truncate(MAX_REASONS);
        let mut reason = reasons.join("; ");
        if more > 0 {
            reason.push_str(&format!("; and {more} more"));
        }
        let status = if problems.len() >= parts {
            SourceStatus::Failed
        } else {
            SourceStatus::Partial
        };
        entry(status, Some(reason))
    };
    Collected {
        source,
        workloads,
        calls: calls.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

fn allow_list(globs: &[String]) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        // The CLI checks the globs when it reads the config; a bad one here matches nothing.
        if let Ok(glob) = Glob::new(g) {
            set.add(glob);
        }
    }
    set.build().unwrap_or_else(|_| GlobSet::empty())
}

/// The SDK calls of one region, bounded by `permits`.
struct Reader<'a> {
    config: &'a SdkConfig,
    permits: Semaphore,
    limit: usize,
    calls: &'a AtomicU64,
}

impl Reader<'_> {
    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// How many reads to run at once (each waits for a permit per call).
    fn concurrency(&self) -> usize {
        self.limit
    }

    async fn ecs(
        &self,
        source: &str,
        account: &AccountConfig,
        options: &CollectOptions,
    ) -> Result<Vec<Workload>, Error> {
        let client = aws_sdk_ecs::Client::new(self.config);
        let clusters = if account.ecs_clusters.is_empty() {
            let _permit = self.permit().await;
            client
                .list_clusters()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| call("ecs: listing clusters", &e))?
        } else {
            account.ecs_clusters.clone()
        };
        let mut out = Vec::new();
        for cluster in clusters {
            let name = cluster.rsplit('/').next().unwrap_or(&cluster).to_owned();
            out.extend(
                self.ecs_cluster(&client, source, &name, account, options)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn ecs_cluster(
        &self,
        client: &aws_sdk_ecs::Client,
        source: &str,
        cluster: &str,
        account: &AccountConfig,
        options: &CollectOptions,
    ) -> Result<Vec<Workload>, Error> {
        let arns: Vec<String> = {
            let _permit = self.permit().await;
            client
                .list_services()
                .cluster(cluster)
                .max_results(100)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| call(format!("ecs: listing services of cluster {cluster}"), &e))?
        };
        let batches: Vec<Vec<EcsService>> = futures::stream::iter(arns.chunks(10))
            .map(|chunk| async move {
                let _permit = self.permit().await;
                let out = client
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .include(ServiceField::Tags)
                    .send()
                    .await
                    .map_err(|e| {
                        call(format!("ecs: describing services of cluster {cluster}"), &e)
                    })?;
                Ok::<_, Error>(out.services().iter().map(service_record).collect())
            })
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;
        let services: Vec<EcsService> = batches.into_iter().flatten().collect();

        let tasks: Vec<(EcsService, Vec<EcsTask>)> = futures::stream::iter(services)
            .map(|service| async move {
                let tasks = self
                    .ecs_tasks(client, cluster, &service.service_name)
                    .await?;
                Ok::<_, Error>((service, tasks))
            })
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;

        let wanted: std::collections::BTreeSet<String> = tasks
            .iter()
            .flat_map(|(s, t)| task_definitions_of(s, t))
            .collect();
        let definitions: BTreeMap<String, EcsTaskDefinition> = futures::stream::iter(wanted)
            .map(|arn| async move {
                let _permit = self.permit().await;
                let out = client
                    .describe_task_definition()
                    .task_definition(&arn)
                    .send()
                    .await
                    .map_err(|e| call(format!("ecs: describing task definition {arn}"), &e))?;
                let record = out
                    .task_definition()
                    .map(definition_record)
                    .unwrap_or_default();
                Ok::<_, Error>((arn, record))
            })
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;

        Ok(tasks
            .iter()
            .filter_map(|(service, tasks)| {
                ecs_workload(
                    source,
                    cluster,
                    service,
                    &definitions,
                    tasks,
                    &account.naming,
                    options,
                )
            })
            .collect())
    }

    async fn ecs_tasks(
        &self,
        client: &aws_sdk_ecs::Client,
        cluster: &str,
        service: &str,
    ) -> Result<Vec<EcsTask>, Error> {
        let arns: Vec<String> = {
            let _permit = self.permit().await;
            client
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| {
                    call(
                        format!("ecs: listing tasks of service {cluster}/{service}"),
                        &e,
                    )
                })?
        };
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let _permit = self.permit().await;
            let out = client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    call(
                        format!("ecs: describing tasks of service {cluster}/{service}"),
                        &e,
                    )
                })?;
            tasks.extend(out.tasks().iter().map(task_record));
        }
        Ok(tasks)
    }

    async fn lambda(
        &self,
        source: &str,
        account: &AccountConfig,
        allow: &GlobSet,
        options: &CollectOptions,
    ) -> Result<Vec<Workload>, Error> {
        let client = aws_sdk_lambda::Client::new(self.config);
        let names: Vec<String> = {
            let _permit = self.permit().await;
            let functions: Vec<_> = client
                .list_functions()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| call("lambda: listing functions", &e))?;
            functions
                .iter()
                .filter_map(|f| f.function_name().map(str::to_owned))
                .collect()
        };
        let client = &client;
        let workloads: Vec<Option<Workload>> = futures::stream::iter(names)
            .map(|name| async move {
                let function = self.lambda_function(client, &name, None).await?;
                let aliases: Vec<(String, String)> = {
                    let _permit = self.permit().await;
                    let listed: Vec<_> = client
                        .list_aliases()
                        .function_name(&name)
                        .into_paginator()
                        .items()
                        .send()
                        .try_collect()
                        .await
                        .map_err(|e| call(format!("lambda: listing aliases of {name}"), &e))?;
                    listed
                        .iter()
                        .filter_map(|a| {
                            Some((a.name()?.to_owned(), a.function_version()?.to_owned()))
                        })
                        .collect()
                };
                let mut versions: BTreeMap<String, LambdaFunction> = BTreeMap::new();
                let mut resolved = Vec::new();
                for (alias, version) in aliases {
                    let f = match versions.get(&version) {
                        Some(f) => f.clone(),
                        None if version == function.version => function.clone(),
                        None => {
                            let f = self.lambda_function(client, &name, Some(&version)).await?;
                            versions.insert(version.clone(), f.clone());
                            f
                        }
                    };
                    resolved.push(LambdaAlias {
                        name: alias,
                        function: f,
                    });
                }
                Ok::<_, Error>(lambda_workload(
                    source,
                    &function,
                    &resolved,
                    allow,
                    &account.naming,
                    options,
                ))
            })
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;
        Ok(workloads.into_iter().flatten().collect())
    }

    async fn lambda_function(
        &self,
        client: &aws_sdk_lambda::Client,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<LambdaFunction, Error> {
        let _permit = self.permit().await;
        let out = client
            .get_function()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .map_err(|e| call(format!("lambda: reading function {name}"), &e))?;
        let c = out.configuration();
        let code = out.code();
        Ok(LambdaFunction {
            name: name.to_owned(),
            version: c.and_then(|c| c.version()).unwrap_or("$LATEST").to_owned(),
            package_type: c
                .and_then(|c| c.package_type())
                .map(|p| p.as_str().to_owned()),
            runtime: c.and_then(|c| c.runtime()).map(|r| r.as_str().to_owned()),
            code_sha256: c.and_then(|c| c.code_sha256()).map(str::to_owned),
            image_uri: code.and_then(|c| c.image_uri()).map(str::to_owned),
            resolved_image_uri: code.and_then(|c| c.resolved_image_uri()).map(str::to_owned),
            environment: c
                .and_then(|c| c.environment())
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            tags: out
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    async fn ssm(
        &self,
        source: &str,
        account: &AccountConfig,
        options: &CollectOptions,
    ) -> Result<Vec<Workload>, Error> {
        if account.ssm_paths.is_empty() {
            return Ok(Vec::new());
        }
        let client = aws_sdk_ssm::Client::new(self.config);
        let mut out = Vec::new();
        for path in &account.ssm_paths {
            let params: Vec<_> = {
                let _permit = self.permit().await;
                client
                    .get_parameters_by_path()
                    .path(&path.path)
                    .recursive(true)
                    .with_decryption(account.ssm_decrypt)
                    .max_results(10)
                    .into_paginator()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| call(format!("ssm: reading parameters under {}", path.path), &e))?
                    .into_iter()
                    .flat_map(|page| page.parameters.unwrap_or_default())
                    .collect()
            };
            let records: Vec<Parameter> = params
                .iter()
                .map(|p| {
                    let kind = match p.r#type() {
                        Some(aws_sdk_ssm::types::ParameterType::SecureString) => {
                            ParameterKind::SecureString
                        }
                        Some(aws_sdk_ssm::types::ParameterType::StringList) => {
                            ParameterKind::StringList
                        }
                        _ => ParameterKind::String,
                    };
                    // Undecrypted SecureString values are ciphertext (moto: the value itself):
                    // never kept.
                    let value = match kind {
                        ParameterKind::SecureString if !account.ssm_decrypt => None,
                        _ => p.value().map(str::to_owned),
                    };
                    Parameter {
                        name: p.name().unwrap_or_default().to_owned(),
                        kind,
                        value,
                        version: p.version(),
                        last_modified: p.last_modified_date().and_then(|d| {
                            d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()
                        }),
                    }
                })
                .collect();
            out.extend(ssm_workload(
                source,
                &path.path,
                path.component.as_deref(),
                &records,
                account.ssm_decrypt,
                &account.naming,
                options,
            ));
        }
        Ok(out)
    }
}

fn service_record(s: &aws_sdk_ecs::types::Service) -> EcsService {
    EcsService {
        service_name: s.service_name().unwrap_or_default().to_owned(),
        task_definition: s.task_definition().unwrap_or_default().to_owned(),
        tags: s
            .tags()
            .iter()
            .map(|t| EcsTag {
                key: t.key().map(str::to_owned),
                value: t.value().map(str::to_owned),
            })
            .collect(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| EcsDeployment {
                status: d.status().map(str::to_owned),
                task_definition: d.task_definition().map(str::to_owned),
                running_count: d.running_count(),
            })
            .collect(),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
    }
}

fn definition_record(d: &aws_sdk_ecs::types::TaskDefinition) -> EcsTaskDefinition {
    EcsTaskDefinition {
        task_definition_arn: d.task_definition_arn().unwrap_or_default().to_owned(),
        container_definitions: d
            .container_definitions()
            .iter()
            .map(|c| EcsContainerDefinition {
                name: c.name().unwrap_or_default().to_owned(),
                image: c.image().unwrap_or_default().to_owned(),
                environment: c
                    .environment()
                    .iter()
                    .map(|kv| EcsKeyValue {
                        name: kv.name().map(str::to_owned),
                        value: kv.value().map(str::to_owned),
                    })
                    .collect(),
                secrets: c
                    .secrets()
                    .iter()
                    .map(|s| EcsSecret {
                        name: s.name().to_owned(),
                        value_from: s.value_from().to_owned(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn task_record(t: &aws_sdk_ecs::types::Task) -> EcsTask {
    EcsTask {
        task_definition_arn: t.task_definition_arn().unwrap_or_default().to_owned(),
        last_status: t.last_status().map(str::to_owned),
        containers: t
            .containers()
            .iter()
            .map(|c| EcsTaskContainer {
                name: c.name().unwrap_or_default().to_owned(),
                image: c.image().map(str::to_owned),
                image_digest: c.image_digest().map(str::to_owned),
            })
            .collect(),
    }
}
