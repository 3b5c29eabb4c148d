//! One source, end to end: connect with the configured credentials, find the namespaces to read,
//! read them concurrently (bounded), and assemble the workloads. The result always carries a
//! [`Source`] entry: `ok`, `partial` (some namespace or list could not be read, e.g. a 403) or
//! `failed` (nothing could be read, e.g. an unreachable cluster), with the reason.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use envtrail_model::{Source, SourceStatus, Workload};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::api::{ApiClient, CallError};
use crate::assemble::{Skipped, assemble};
use crate::config::{CollectOptions, Credentials, SourceConfig};
use crate::error::Error;
use crate::inventory::{self, Inventory, ListedPod, WorkloadObject};

/// The kind recorded in a Kubernetes source's entry.
pub const SOURCE_KIND: &str = "kubernetes";

/// Secrets of this type are Helm's release records: large, never consumed by a workload, and not
/// worth reading.
const SKIPPED_SECRET_TYPES: &str = "type!=helm.sh/release.v1";

/// What one source gave.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The source entry, with its status and reason.
    pub source: Source,
    /// Its workloads, sorted by reference.
    pub workloads: Vec<Workload>,
    /// Workloads left out, and why.
    pub skipped: Vec<Skipped>,
    /// How many namespaces were read (fully or in part).
    pub namespaces: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// At most this many problems are spelled out in a source's reason.
const MAX_REASONS: usize = 3;

/// Reads one source. Never fails: a source that cannot be read is reported as `failed`.
/// `objects_read` counts the objects listed, for progress reports.
pub async fn collect(
    config: &SourceConfig,
    options: &CollectOptions,
    objects_read: &AtomicU64,
) -> Collected {
    let started = Instant::now();
    let entry = |status, error: Option<String>| Source {
        id: config.id.clone(),
        kind: SOURCE_KIND.to_owned(),
        status,
        error,
    };
    let failed = |error: Error| Collected {
        source: entry(SourceStatus::Failed, Some(error.to_string())),
        workloads: Vec::new(),
        skipped: Vec::new(),
        namespaces: 0,
        elapsed: started.elapsed(),
    };

    let client = match connect(config, options).await {
        Ok(client) => client,
        Err(err) => return failed(err),
    };
    let api = ApiClient::new(client, options, objects_read);

    let namespaces = match config.namespaces.literal() {
        Some(names) => names,
        None => {
            let listed = api
                .list(
                    "/api/v1/namespaces".to_owned(),
                    &ListParams::default(),
                    |n: Namespace| n.metadata.name,
                )
                .await;
            match listed {
                Ok(all) => all
                    .into_iter()
                    .filter(|n| config.namespaces.matches(n))
                    .collect(),
                Err(source) => {
                    return failed(Error::Call {
                        what: "listing namespaces".into(),
                        source,
                    });
                }
            }
        }
    };

    let reads: Vec<NamespaceRead> = futures::stream::iter(namespaces)
        .map(|ns| read_namespace(&api, config, options, ns))
        .buffer_unordered(options.namespace_concurrency.max(1))
        .collect()
        .await;

    let mut workloads = Vec::new();
    let mut skipped = Vec::new();
    let mut problems: Vec<Error> = Vec::new();
    let mut read_any = reads.is_empty();
    let mut namespaces = 0;
    for read in reads {
        problems.extend(read.problems);
        if read.lists_read > 0 {
            read_any = true;
            namespaces += 1;
            let (w, s) = assemble(
                &config.id,
                &read.inventory,
                &config.naming,
                config.label_selector.as_ref(),
                options.max_config_value_bytes,
            );
            workloads.extend(w);
            skipped.extend(s);
        }
    }
    workloads.sort_by(|a, b| a.reference.cmp(&b.reference));
    skipped.sort_by(|a, b| a.reference.cmp(&b.reference));

    let source = if problems.is_empty() {
        entry(SourceStatus::Ok, None)
    } else {
        // Stable order, so the same failure gives the same reason (and the same snapshot hash).
        let mut reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
        reasons.sort();
        let more = reasons.len().saturating_sub(MAX_REASONS);
        reasons.truncate(MAX_REASONS);
        let mut reason = reasons.join("; ");
        if more > 0 {
            reason.push_str(&format!("; and {more} more"));
        }
        let status = if read_any {
            SourceStatus::Partial
        } else {
            SourceStatus::Failed
        };
        entry(status, Some(reason))
    };
    Collected {
        source,
        workloads,
        skipped,
        namespaces,
        elapsed: started.elapsed(),
    }
}

/// A kube client for the source's credentials, with envtrail's own retries (kube's are off) and
/// timeouts.
async fn connect(config: &SourceConfig, options: &CollectOptions) -> Result<kube::Client, Error> {
    let mut kube_config = match &config.credentials {
        Credentials::InCluster {
            service_account_dir,
        } => in_cluster_config(service_account_dir).await?,
        Credentials::Kubeconfig { path, context } => {
            let kubeconfig_error = |e: kube::config::KubeconfigError| Error::Kubeconfig {
                path: path.clone(),
                context: context.clone(),
                message: e.to_string(),
            };
            let file = match path {
                Some(p) => Kubeconfig::read_from(p),
                None => Kubeconfig::read(),
            }
            .map_err(kubeconfig_error)?;
            let opts = KubeConfigOptions {
                context: context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(file, &opts)
                .await
                .map_err(kubeconfig_error)?
        }
    };
    kube_config.default_retry = false;
    // envtrail's own timeout wraps every call; kube's fire a little later, as a backstop.
    let backstop = options.request_timeout + Duration::from_secs(1);
    kube_config.connect_timeout = Some(backstop);
    kube_config.read_timeout = Some(backstop);
    kube_config.reset_reader_on_write = true;
    kube::Client::try_from(kube_config).map_err(|e| Error::Client(e.to_string()))
}

/// The in-cluster config client-go builds, from a service account folder that may be elsewhere
/// than kube's fixed path (projected volumes): `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
/// the folder's `ca.crt` as the only trusted root and its `token` file as the bearer token (kube
/// re-reads a token file as it is rotated).
async fn in_cluster_config(dir: &std::path::Path) -> Result<kube::Config, Error> {
    use kube::config::{AuthInfo, Cluster, Context, NamedAuthInfo, NamedCluster, NamedContext};
    let var = |name: &str| {
        std::env::var(name)
            .map_err(|_| Error::InCluster(format!("{name} is not set (not running in a Pod?)")))
    };
    let host = var("KUBERNETES_SERVICE_HOST")?;
    let port = var("KUBERNETES_SERVICE_PORT")?;
    let server = if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    };
    let file = |name: &str| {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path.display().to_string())
        } else {
            Err(Error::InCluster(format!(
                "{} not found (is a service account mounted?)",
                path.display()
            )))
        }
    };
    let (ca, token) = (file("ca.crt")?, file("token")?);
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let name = "in-cluster".to_owned();
    let kubeconfig = Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(Cluster {
                server: Some(server),
                certificate_authority: Some(ca),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(AuthInfo {
                token_file: Some(token),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: name.clone(),
                user: Some(name.clone()),
                namespace,
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(name),
        ..Kubeconfig::default()
    };
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::InCluster(e.to_string()))
}

struct NamespaceRead {
    inventory: Inventory,
    lists_read: usize,
    problems: Vec<Error>,
}

async fn read_namespace(
    api: &ApiClient<'_>,
    config: &SourceConfig,
    options: &CollectOptions,
    namespace: String,
) -> NamespaceRead {
    let apps = format!("/apis/apps/v1/namespaces/{namespace}");
    let batch = format!("/apis/batch/v1/namespaces/{namespace}");
    let core = format!("/api/v1/namespaces/{namespace}");
    let all = ListParams::default();
    let selected = match &config.label_selector {
        Some(s) => ListParams::default().labels(&s.to_string()),
        None => ListParams::default(),
    };

    let (deployments, stateful_sets, daemon_sets, cron_jobs, replica_sets, jobs, pods) = tokio::join!(
        api.list(format!("{apps}/deployments"), &selected, |d: Deployment| {
            inventory::deployment(d)
        }),
        api.list(
            format!("{apps}/statefulsets"),
            &selected,
            |s: StatefulSet| inventory::stateful_set(s)
        ),
        api.list(format!("{apps}/daemonsets"), &selected, |d: DaemonSet| {
            inventory::daemon_set(d)
        }),
        api.list(format!("{batch}/cronjobs"), &selected, |c: CronJob| {
            inventory::cron_job(c)
        }),
        api.list(format!("{apps}/replicasets"), &all, |r: ReplicaSet| {
            inventory::replica_set(r)
        }),
        api.list(format!("{batch}/jobs"), &all, |j: Job| inventory::job(j)),
        api.list(format!("{core}/pods"), &all, |p: Pod| inventory::pod(p)),
    );

    let mut read = NamespaceRead {
        inventory: Inventory {
            namespace: namespace.clone(),
            ..Inventory::default()
        },
        lists_read: 0,
        problems: Vec::new(),
    };
    let take =
        |what: &str, result: Result<Vec<WorkloadObject>, CallError>, read: &mut NamespaceRead| {
            match result {
                Ok(items) => {
                    read.lists_read += 1;
                    read.inventory.workloads.extend(items);
                }
                Err(source) => read.problems.push(problem(&namespace, what, source)),
            }
        };
    take("deployments", deployments, &mut read);
    take("statefulsets", stateful_sets, &mut read);
    take("daemonsets", daemon_sets, &mut read);
    take("cronjobs", cron_jobs, &mut read);
    for (what, result, table) in [
        (
            "replicasets",
            replica_sets,
            &mut read.inventory.replica_sets,
        ),
        ("jobs", jobs, &mut read.inventory.jobs),
    ] {
        match result {
            Ok(links) => {
                read.lists_read += 1;
                table.extend(links);
            }
            Err(source) => read.problems.push(problem(&namespace, what, source)),
        }
    }
    match pods {
        Ok(pods) => {
            read.lists_read += 1;
            for pod in pods {
                match pod {
                    ListedPod::Bare(object, running) => {
                        read.inventory.bare_pods.push((*object, running))
                    }
                    ListedPod::Owned(pod) => read.inventory.pods.push(pod),
                }
            }
        }
        Err(source) => read.problems.push(problem(&namespace, "pods", source)),
    }

    // Only now are the referenced ConfigMaps and Secrets known.
    let (mut map_names, mut secret_names) = (BTreeSet::new(), BTreeSet::new());
    let specs = read
        .inventory
        .workloads
        .iter()
        .chain(read.inventory.bare_pods.iter().map(|(w, _)| w));
    for object in specs {
        let (m, s) = inventory::references(&object.spec);
        map_names.extend(m);
        secret_names.extend(s);
    }
    let cap = options.max_config_value_bytes;
    let key = &options.hmac_key;
    let secret_params = ListParams::default().fields(SKIPPED_SECRET_TYPES);
    let (maps, secrets) = tokio::join!(
        async {
            if map_names.is_empty() {
                return Ok(Vec::new());
            }
            api.list(format!("{core}/configmaps"), &all, |c: ConfigMap| {
                let name = c.metadata.name.as_deref()?;
                if !map_names.contains(name) {
                    return None;
                }
                inventory::config_map(c, cap)
            })
            .await
        },
        async {
            if secret_names.is_empty() {
                return Ok(Vec::new());
            }
            api.list(format!("{core}/secrets"), &secret_params, |s: Secret| {
                let name = s.metadata.name.as_deref()?;
                if !secret_names.contains(name) {
                    return None;
                }
                inventory::secret(s, key)
            })
            .await
        },
    );
    match maps {
        Ok(maps) => read.inventory.config_maps.extend(maps),
        Err(source) => read
            .problems
            .push(problem(&namespace, "configmaps", source)),
    }
    match secrets {
        Ok(secrets) => read.inventory.secrets.extend(secrets),
        Err(source) => read.problems.push(problem(&namespace, "secrets", source)),
    }
    read
}

fn problem(namespace: &str, what: &str, source: CallError) -> Error {
    Error::Call {
        what: format!("namespace {namespace}: listing {what}"),
        source,
    }
}
