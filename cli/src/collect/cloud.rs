//! The AWS accounts and Terraform states of the chosen environments (docs/aws.md,
//! docs/terraform.md): every account region and every state is read concurrently; each is one
//! source of its environment's snapshot.
//!
//! An account region that cannot be read, or a state file that cannot be fetched (missing file,
//! S3 denied), is a `failed` source, like an unreachable cluster. A state file that was read but
//! is truncated or invalid is an error of the whole run naming the file and the position: nothing
//! is stored, because a half-parsed state would report resources as gone.

use std::sync::Arc;

use anyhow::{Context, Result};
use envtrail_collect_aws::{AccountConfig, CollectOptions, SecretFingerprint};
use envtrail_collect_terraform::Options;
use envtrail_model::{EnvName, InfraItem, Source, SourceStatus, Workload};
use serde_json::{Value, json};

use crate::config::aws::{StateLocation, TerraformSource};
use crate::config::{CollectConfig, EnvironmentConfig};

/// The key under which a snapshot records the Terraform states it read (lineage, serial,
/// Terraform version): an extension field of snapshot v1 (kept and exported as is).
pub const TERRAFORM_STATES_FIELD: &str = "terraform_states";

/// What the AWS and Terraform sources of one environment gave.
#[derive(Debug, Default)]
pub struct CloudPart {
    /// One entry per account region and per state.
    pub sources: Vec<Source>,
    /// ECS services, Lambda functions, Parameter Store paths.
    pub workloads: Vec<Workload>,
    /// Terraform resources.
    pub infrastructure: Vec<InfraItem>,
    /// Per state read: source, lineage, serial, Terraform version.
    pub states: Vec<Value>,
}

/// Reads the AWS and Terraform sources of `chosen`; the result is in `chosen`'s order.
pub async fn collect(
    chosen: &[(EnvName, EnvironmentConfig)],
    limits: &CollectConfig,
    fingerprint: SecretFingerprint,
) -> Result<Vec<(EnvName, CloudPart)>> {
    let mut options = CollectOptions::new(fingerprint.clone());
    options.max_config_value_bytes = limits.max_config_value_bytes;
    options.concurrency = limits.concurrency;
    options.request_timeout = limits.request_timeout;
    options.max_attempts = u32::try_from(limits.retries.saturating_add(1)).unwrap_or(u32::MAX);
    let options = &options;

    let work = chosen.iter().map(|(env, config)| {
        let fingerprint = fingerprint.clone();
        async move {
            let accounts = futures::future::join_all(
                config
                    .aws
                    .iter()
                    .map(|a| envtrail_collect_aws::collect(a, options)),
            );
            let states = futures::future::join_all(
                config
                    .terraform
                    .iter()
                    .map(|t| read_state(t, options, fingerprint.clone())),
            );
            let (accounts, states) = tokio::join!(accounts, states);
            let mut part = CloudPart::default();
            for collected in accounts.into_iter().flatten() {
                eprintln!(
                    "collect env={env} source={} status={} workloads={} calls={} elapsed_ms={}",
                    collected.source.id,
                    collected.source.status.as_str(),
                    collected.workloads.len(),
                    collected.calls,
                    collected.elapsed.as_millis()
                );
                part.sources.push(collected.source);
                part.workloads.extend(collected.workloads);
            }
            for state in states {
                let (source, parsed) =
                    state.with_context(|| format!("environment {env}: nothing stored"))?;
                eprintln!(
                    "collect env={env} source={} status={} resources={}",
                    source.id,
                    source.status.as_str(),
                    parsed.as_ref().map_or(0, |p| p.items.len())
                );
                if let Some(parsed) = parsed {
                    part.states.push(json!({
                        "source": source.id,
                        "lineage": parsed.lineage,
                        "serial": parsed.serial,
                        "terraform_version": parsed.terraform_version,
                    }));
                    part.infrastructure.extend(parsed.items);
                }
                part.sources.push(source);
            }
            Ok::<_, anyhow::Error>((env.clone(), part))
        }
    });
    futures::future::join_all(work).await.into_iter().collect()
}

/// One state: a failed source when it cannot be fetched, an error when it is not a valid state.
async fn read_state(
    t: &TerraformSource,
    options: &CollectOptions,
    fingerprint: SecretFingerprint,
) -> Result<(Source, Option<envtrail_collect_terraform::State>)> {
    let entry = |status, error: Option<String>| Source {
        id: t.id.clone(),
        kind: envtrail_collect_terraform::SOURCE_KIND.to_owned(),
        status,
        error,
    };
    let bytes = match &t.location {
        StateLocation::File(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        StateLocation::S3 {
            url,
            account,
            region,
        } => {
            let account = AccountConfig {
                ecs: false,
                lambda: false,
                ..(**account).clone()
            };
            envtrail_collect_aws::fetch_object(&account, region, url, options)
                .await
                .map_err(|e| e.to_string())
        }
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(reason) => return Ok((entry(SourceStatus::Failed, Some(reason)), None)),
    };
    let mut opts = Options::new(t.id.clone(), fingerprint);
    opts.attributes = t.attributes.clone();
    opts.include_data_sources = t.include_data_sources;
    opts.naming = t.naming.clone();
    // Parsing a large state is CPU work: off the async threads.
    let origin = t.state.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        envtrail_collect_terraform::parse(&bytes, &origin, &opts)
    })
    .await
    .context("the state parser panicked")?
    .with_context(|| format!("terraform state of source {}", t.id))?;
    Ok((entry(SourceStatus::Ok, None), Some(parsed)))
}

/// The fingerprint function the collectors get: the HMAC under the operator's key.
pub fn fingerprint_of(key: &envtrail_collect_k8s::HmacKey) -> SecretFingerprint {
    let key = key.clone();
    Arc::new(move |value: &[u8]| key.fingerprint(value))
}
