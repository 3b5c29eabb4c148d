//! `envtrail collect` and `envtrail init`: read every source of the chosen environments
//! concurrently (one tokio runtime, one limit on API calls shared by all clusters), assemble one
//! snapshot per environment taken at the collection's start, and store each through
//! `Store::import` (one transaction each). A source that failed or was read only in part is
//! stored as such, and the run ends with [`Outcome::SnapshotIncomplete`] so cron can alert.
//!
//! Progress goes to stderr: a live line on a terminal, one `key=value` line per source otherwise.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use envtrail_collect_k8s::{CollectOptions, Collected, HmacKey, SourceConfig};
use envtrail_model::output::{IMPORT_SCHEMA, ImportResult, ImportedSnapshot};
use envtrail_model::{EnvName, SNAPSHOT_SCHEMA, Snapshot, SourceStatus};
use envtrail_store::Store;

use crate::args::Cli;
use crate::config::{Config, DEFAULT_CONFIG_FILE, EnvironmentConfig};
use crate::{Outcome, render};

mod cloud;

/// The commented starter config `envtrail init` writes.
pub const STARTER_CONFIG: &str = include_str!("starter.toml");

/// `envtrail init [--force]`: writes the starter config to `--config` or `./envtrail.toml`.
pub fn init(cli: &Cli, force: bool) -> Result<Outcome> {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| DEFAULT_CONFIG_FILE.into());
    if path.exists() && !force {
        bail!("{} already exists: not overwritten", path.display());
    }
    std::fs::write(&path, STARTER_CONFIG).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {}: edit the contexts and namespaces, then run `envtrail collect`",
        path.display()
    );
    Ok(Outcome::Success)
}

/// `envtrail collect [--env E ...]`.
pub fn collect(cli: &Cli, envs: &[String]) -> Result<Outcome> {
    let config = Config::load(cli.config.as_deref())?;
    let chosen: Vec<(EnvName, EnvironmentConfig)> = if envs.is_empty() {
        config
            .environments
            .iter()
            .filter(|(_, e)| e.has_sources())
            .map(|(name, e)| (name.clone(), e.clone()))
            .collect()
    } else {
        let mut chosen = Vec::new();
        for name in envs {
            let env: EnvName = crate::timearg::env_name(name)?;
            let Some(e) = config.environments.get(&env) else {
                bail!("environment {env}: no [environments.{env}] in the config");
            };
            if !e.has_sources() {
                bail!("environment {env}: no sources in the config");
            }
            if !chosen.iter().any(|(n, _)| n == &env) {
                chosen.push((env, e.clone()));
            }
        }
        chosen
    };
    if chosen.is_empty() {
        bail!("no environment with sources in the config");
    }
    let key = hmac_key(&config)?;
    let limits = &config.collect;
    let mut options = CollectOptions::new(key);
    options.max_config_value_bytes = limits.max_config_value_bytes;
    options.page_size = limits.page_size;
    options.request_timeout = limits.request_timeout;
    options.retries = limits.retries;
    options.namespace_concurrency = limits.namespace_concurrency;
    options.requests = Arc::new(tokio::sync::Semaphore::new(limits.concurrency));

    let taken_at = chrono::Utc::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let kubernetes: Vec<(EnvName, Vec<SourceConfig>)> = chosen
        .iter()
        .map(|(env, e)| (env.clone(), e.kubernetes.clone()))
        .collect();
    let fingerprint = cloud::fingerprint_of(&options.hmac_key);
    let (results, cloud) = runtime.block_on(async {
        tokio::join!(
            run_all(&kubernetes, &options),
            cloud::collect(&chosen, limits, fingerprint)
        )
    });
    let cloud = cloud?;

    // One snapshot per environment, oldest-first order is moot: they share `taken_at`.
    let mut by_env: BTreeMap<EnvName, Snapshot> = chosen
        .iter()
        .map(|(env, _)| {
            let snapshot = Snapshot {
                schema: SNAPSHOT_SCHEMA.to_owned(),
                environment: env.clone(),
                taken_at,
                sources: Vec::new(),
                workloads: Vec::new(),
                artifacts: Vec::new(),
                infrastructure: Vec::new(),
                extra: BTreeMap::new(),
            };
            (env.clone(), snapshot)
        })
        .collect();
    for (env, part) in cloud {
        let snapshot = by_env.get_mut(&env).expect("every chosen environment");
        for source in part.sources.iter().filter(|s| s.status != SourceStatus::Ok) {
            eprintln!(
                "warning: environment {env}: source {} {}: {}",
                source.id,
                source.status.as_str(),
                source.error.as_deref().unwrap_or("no reason given")
            );
        }
        snapshot.sources.extend(part.sources);
        snapshot.workloads.extend(part.workloads);
        snapshot.infrastructure.extend(part.infrastructure);
        if !part.states.is_empty() {
            snapshot.extra.insert(
                cloud::TERRAFORM_STATES_FIELD.to_owned(),
                serde_json::Value::Array(part.states),
            );
        }
    }
    for (env, collected) in results {
        let snapshot = by_env.get_mut(&env).expect("every chosen environment");
        if collected.source.status != SourceStatus::Ok {
            eprintln!(
                "warning: environment {env}: source {} {}: {}",
                collected.source.id,
                collected.source.status.as_str(),
                collected
                    .source
                    .error
                    .as_deref()
                    .unwrap_or("no reason given")
            );
        }
        snapshot.sources.push(collected.source);
        snapshot.workloads.extend(collected.workloads);
    }
    if config.oci.enabled {
        by_env = enrich_artifacts(&runtime, by_env, &config, &cli.db)?;
    }
    drop(runtime);

    let mut store =
        Store::open(&cli.db).with_context(|| format!("opening store {}", cli.db.display()))?;
    let mut imported = Vec::new();
    let mut incomplete = false;
    for (env, mut snapshot) in by_env {
        snapshot.normalize();
        snapshot
            .validate()
            .with_context(|| format!("environment {env}: collected snapshot"))?;
        incomplete |= snapshot.incomplete_sources().next().is_some();
        let outcome = store
            .import(snapshot)
            .with_context(|| format!("environment {env}: not stored"))?;
        imported.push(ImportedSnapshot {
            file: format!("collect:{env}"),
            snapshot: outcome.snapshot,
            stored: outcome.stored,
            components_changed: outcome.components_changed,
            components: outcome.components,
            components_parsed: None,
        });
    }
    let result = ImportResult {
        schema: IMPORT_SCHEMA.into(),
        imported,
    };
    let mut out = std::io::stdout().lock();
    let text = render::import(&result, cli.format)?;
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(if incomplete {
        Outcome::SnapshotIncomplete
    } else {
        Outcome::Success
    })
}

/// Registry facts, signatures and provenance of what each snapshot runs (`[oci]`, after the
/// workload sources; see docs/oci.md). One environment at a time: they share the cache file.
fn enrich_artifacts(
    runtime: &tokio::runtime::Runtime,
    by_env: BTreeMap<EnvName, Snapshot>,
    config: &Config,
    db: &std::path::Path,
) -> Result<BTreeMap<EnvName, Snapshot>> {
    let oci = config.oci.to_config(db).context("the [oci] config")?;
    let mut out = BTreeMap::new();
    for (env, snapshot) in by_env {
        let snapshot = runtime.block_on(envtrail_collect_oci::enrich(snapshot, &oci));
        for s in snapshot
            .sources
            .iter()
            .filter(|s| s.kind == envtrail_collect_oci::SOURCE_KIND && s.status != SourceStatus::Ok)
        {
            eprintln!(
                "warning: environment {env}: registry {} {}: {} (its artifact facts are unchecked)",
                s.id,
                s.status.as_str(),
                s.error.as_deref().unwrap_or("no reason given")
            );
        }
        out.insert(env, snapshot);
    }
    Ok(out)
}

fn hmac_key(config: &Config) -> Result<HmacKey> {
    let secrets = &config.secrets;
    let key = match (&secrets.hmac_key_file, &secrets.hmac_key_env) {
        (Some(file), _) => HmacKey::from_file(file)?,
        (None, Some(var)) => HmacKey::from_env(var)?,
        (None, None) => bail!(
            "no HMAC key for Secret fingerprints: set secrets.hmac_key_file or secrets.hmac_key_env in the config"
        ),
    };
    Ok(key)
}

/// Every source of every chosen environment at once; results in config order.
async fn run_all(
    chosen: &[(EnvName, Vec<SourceConfig>)],
    options: &CollectOptions,
) -> Vec<(EnvName, Collected)> {
    let objects = AtomicU64::new(0);
    let done = AtomicUsize::new(0);
    let total: usize = chosen.iter().map(|(_, s)| s.len()).sum();
    let terminal = std::io::stderr().is_terminal();
    let jobs = chosen
        .iter()
        .flat_map(|(env, sources)| sources.iter().map(move |s| (env, s)));
    let work = futures::future::join_all(jobs.map(|(env, source)| {
        let (objects, done) = (&objects, &done);
        async move {
            let collected = envtrail_collect_k8s::collect(source, options, objects).await;
            done.fetch_add(1, Ordering::Relaxed);
            if !terminal {
                eprintln!(
                    "collect env={env} source={} status={} workloads={} namespaces={} elapsed_ms={}",
                    collected.source.id,
                    collected.source.status.as_str(),
                    collected.workloads.len(),
                    collected.namespaces,
                    collected.elapsed.as_millis()
                );
            }
            (env.clone(), collected)
        }
    }));
    if !terminal {
        return work.await;
    }
    let bar = crate::progress::bar(total as u64, "collecting sources");
    let progress = async {
        loop {
            bar.set_position(done.load(Ordering::Relaxed) as u64);
            bar.set_message(format!("{} objects read", objects.load(Ordering::Relaxed)));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let results = tokio::select! {
        results = work => results,
        () = progress => unreachable!("the progress loop never ends"),
    };
    bar.finish_and_clear();
    eprintln!(
        "collected: {total}/{total} sources, {} objects read",
        objects.load(Ordering::Relaxed)
    );
    results
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn starter_config_parses_with_three_environments() {
        let config = Config::parse(Path::new("envtrail.toml"), STARTER_CONFIG).unwrap();
        assert_eq!(config.path.len(), 3);
        let prod = &config.environments[&"prod".parse().unwrap()];
        let ids: Vec<&str> = prod.kubernetes.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["k8s/prod-eu", "k8s/prod-us"]);
        assert_eq!(
            config.secrets.hmac_key_env.as_deref(),
            Some("ENVTRAIL_HMAC_KEY")
        );
        assert_eq!(config.collect.page_size, 500);
    }
}
