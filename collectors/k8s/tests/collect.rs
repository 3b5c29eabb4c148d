//! The collector against the stand-in API server over real HTTP: owners, digests, config and
//! secrets, pagination, retries, 403s, unreachable and slow clusters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use envtrail_collect_k8s::{
    CollectOptions, Collected, Credentials, HmacKey, Namespaces, Naming, SourceConfig, collect,
};
use envtrail_k8s_standin::scenario::{digest, kind_fixtures, payments};
use envtrail_k8s_standin::{
    Cluster, StandIn, closed_port_url, kubeconfig_for, kubeconfig_with_ca, loopback_pki,
};
use envtrail_model::{SourceStatus, Workload};

const CANARY: &str = "canary-7f3a9e-do-not-leak";

struct Env {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn kubeconfig(contexts: &[(&str, String)]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_for(contexts)).unwrap();
    Env {
        _dir: dir,
        kubeconfig,
    }
}

fn source(env: &Env, context: &str, namespaces: Namespaces) -> SourceConfig {
    SourceConfig {
        id: format!("k8s/{context}"),
        credentials: Credentials::Kubeconfig {
            path: Some(env.kubeconfig.clone()),
            context: Some(context.into()),
        },
        namespaces,
        label_selector: None,
        naming: Naming::default(),
    }
}

fn options() -> CollectOptions {
    let mut o = CollectOptions::new(HmacKey::new(*b"test-key-0123456789", "test").unwrap());
    o.min_retry_delay = Duration::from_millis(10);
    o.max_retry_delay = Duration::from_millis(1500);
    o.request_timeout = Duration::from_secs(5);
    o
}

fn run(config: &SourceConfig, options: &CollectOptions) -> Collected {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counter = AtomicU64::new(0);
    rt.block_on(collect(config, options, &counter))
}

fn by_ref(c: &Collected) -> BTreeMap<&str, &Workload> {
    c.workloads
        .iter()
        .map(|w| (w.reference.as_str(), w))
        .collect()
}

fn full_cluster() -> Cluster {
    let mut c = kind_fixtures();
    for o in payments("prod", ['a', 'b'], CANARY) {
        c.add(o);
    }
    c
}

#[test]
fn fixtures_become_workloads_with_running_digests() {
    let server = StandIn::start(full_cluster());
    let env = kubeconfig(&[("kind", server.url())]);
    let got = run(&source(&env, "kind", Namespaces::all()), &options());
    assert_eq!(
        got.source.status,
        SourceStatus::Ok,
        "{:?}",
        got.source.error
    );
    let w = by_ref(&got);

    // Pod → ReplicaSet → Deployment, the bare sha256 imageID of a kind node.
    let coredns = w["Deployment/kube-system/coredns"];
    assert_eq!(coredns.component.as_str(), "coredns");
    assert_eq!(
        coredns.containers[0].running_digests[0].as_str(),
        "sha256:38667dd9be96c17227adde456e33ad701bdbdc5c6db0272a1d33a929bd8e62d6"
    );

    // Static pods (owned by a Node) and pods of DaemonSets not served are not workloads.
    assert!(
        !w.keys()
            .any(|r| r.contains("etcd") || r.contains("kindnet")),
        "{:?}",
        w.keys()
    );

    // Bare pods with init containers (dockershim form) and native sidecars (containerd form).
    let hurry = w["Pod/default/hurry-up-and-wait"];
    let init = hurry.containers.iter().find(|c| c.init).unwrap();
    assert_eq!(init.name, "init-sleep");
    assert_eq!(init.running_digests.len(), 1);
    let sleep = w["Pod/default/sleep"];
    assert_eq!(sleep.containers.iter().filter(|c| c.init).count(), 2);
    assert!(
        sleep
            .containers
            .iter()
            .all(|c| c.running_digests.len() == 1),
        "{:?}",
        sleep.containers
    );

    // CronJob ← Job ← Pod.
    let hello = w["CronJob/default/hello"];
    assert_eq!(
        hello.containers[0].running_digests[0].as_str(),
        "sha256:a2d49ea686c2adfe3c992e47dc3b5e7fa6e6b5055609400dc2acaeb241c829f4"
    );

    // cri-o: the spec pins the index digest, the Pod runs the platform manifest's.
    let capi = &w["Deployment/clusters-dev05/capi-provider"].containers[0];
    assert_eq!(
        capi.digest.as_ref().unwrap().as_str(),
        "sha256:a802c6fa5fbf184e98ab190811ea162f1cbb5d8955b72b598397023ac40f776a"
    );
    assert_eq!(
        capi.running_digests[0].as_str(),
        "sha256:866a59dcd6cd7f380420e3a2c190c212b14f4fbe46820a02fc193ca7925063aa"
    );

    // Mid-rollout, waiting containers: empty imageID gives no running digest.
    let rollout = w["Deployment/default/k8s-openapi-tests-patch-deployment"];
    assert!(rollout.containers[0].running_digests.is_empty());

    // StatefulSet and DaemonSet (two containers) are there, without pods.
    assert!(w.contains_key("StatefulSet/default/nginx-sts"));
    assert_eq!(
        w["DaemonSet/kube-system/fluentd-gcp-v3.2.0"]
            .containers
            .len(),
        2
    );
}

#[test]
fn config_and_secrets_key_by_key_with_no_secret_byte() {
    let server = StandIn::start(full_cluster());
    let env = kubeconfig(&[("kind", server.url())]);
    let opts = options();
    let got = run(
        &source(
            &env,
            "kind",
            Namespaces::new(vec!["payments-*".into()], vec![]).unwrap(),
        ),
        &opts,
    );
    assert_eq!(
        got.source.status,
        SourceStatus::Ok,
        "{:?}",
        got.source.error
    );
    let api = by_ref(&got)["Deployment/payments-prod/api"];
    // Two pods run two digests (a rollout): both are reported; the init container's too.
    let main = api.containers.iter().find(|c| c.name == "api").unwrap();
    assert_eq!(
        main.running_digests
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        vec![digest('a'), digest('b')]
    );
    let migrate = api.containers.iter().find(|c| c.name == "migrate").unwrap();
    assert!(migrate.init && migrate.digest.is_some() && migrate.running_digests.len() == 1);

    let c = &api.config;
    assert_eq!(c["api:MODE"].value.as_deref(), Some("live"));
    // env overrides envFrom; envFrom keeps its prefix.
    assert_eq!(c["api:LOG_LEVEL"].value.as_deref(), Some("debug"));
    assert_eq!(c["api:CFG_LOG_LEVEL"].value.as_deref(), Some("info"));
    assert_eq!(
        c["api:DATABASE_HOST"].value.as_deref(),
        Some("db.prod.internal")
    );
    assert_eq!(
        c["api:POD_NS"].value.as_deref(),
        Some("fieldRef:metadata.namespace")
    );
    // Over the size cap: fingerprint only.
    let big = &c["api:/etc/app/app.yaml"];
    assert!(big.value.is_none() && !big.secret);
    // Secrets: keyed fingerprints, never a value.
    let password = &c["api:DB_PASSWORD"];
    assert!(password.secret && password.value.is_none());
    assert_eq!(
        password.fingerprint,
        opts.hmac_key.fingerprint(CANARY.as_bytes())
    );
    assert!(c["api:/etc/tls/tls.key"].secret);
    assert_eq!(c["api:/etc/tls/tls.key"].fingerprint, password.fingerprint);

    // Metadata from Helm and Argo labels.
    assert_eq!(api.metadata["helm.sh/chart"], "payments-1.4.2");
    assert_eq!(api.metadata["argocd.argoproj.io/instance"], "payments-prod");

    let text = format!("{got:?}");
    assert!(
        !text.contains(CANARY),
        "the canary leaked into the collected data"
    );
    // Helm release secrets are not even fetched.
    let secret_lists: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.contains("/secrets"))
        .collect();
    assert!(
        secret_lists
            .iter()
            .all(|r| r.contains("fieldSelector=type%21%3Dhelm.sh")),
        "{secret_lists:?}"
    );
}

#[test]
fn pages_are_followed_and_transient_errors_retried() {
    let mut cluster = full_cluster();
    cluster.faults.max_page = Some(2);
    let server = StandIn::start(cluster);
    let env = kubeconfig(&[("kind", server.url())]);
    let mut opts = options();
    opts.page_size = 2;
    opts.retries = 6;
    // Three 429s with Retry-After: 1, then two 500s.
    server.faults(|f| {
        f.rate_limited = 3;
        f.retry_after_secs = 1;
        f.server_errors = 2;
    });
    let started = std::time::Instant::now();
    let got = run(&source(&env, "kind", Namespaces::all()), &opts);
    assert_eq!(
        got.source.status,
        SourceStatus::Ok,
        "{:?}",
        got.source.error
    );
    // Retry-After was honoured: at least one second went by before the list went through.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let w = by_ref(&got);
    assert!(w.contains_key("Deployment/kube-system/coredns"));
    // kube-system has 8+ pods: with pages of 2 the collector followed continue tokens.
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/namespaces/kube-system/pods?")
                && r.contains("continue=standin-6")),
        "{requests:?}"
    );
    assert_eq!(
        w["Deployment/kube-system/coredns"].containers[0]
            .running_digests
            .len(),
        1
    );
}

#[test]
fn forbidden_namespace_makes_the_source_partial() {
    let mut cluster = full_cluster();
    cluster.faults.forbidden.push(("kube-system".into(), None));
    cluster
        .faults
        .forbidden
        .push(("payments-prod".into(), Some("secrets".into())));
    let server = StandIn::start(cluster);
    let env = kubeconfig(&[("kind", server.url())]);
    let got = run(&source(&env, "kind", Namespaces::all()), &options());
    assert_eq!(got.source.status, SourceStatus::Partial);
    let reason = got.source.error.clone().unwrap();
    assert!(
        reason.contains("namespace kube-system: listing") && reason.contains("forbidden (403)"),
        "{reason}"
    );
    let w = by_ref(&got);
    assert!(!w.contains_key("Deployment/kube-system/coredns"));
    assert!(w.contains_key("Pod/default/sleep"));
    // The workload is still there, without its secret keys.
    assert!(
        !w["Deployment/payments-prod/api"]
            .config
            .contains_key("api:DB_PASSWORD")
    );
}

#[test]
fn unreachable_cluster_fails_the_source() {
    let env = kubeconfig(&[("gone", closed_port_url())]);
    let mut opts = options();
    opts.retries = 1;
    let got = run(&source(&env, "gone", Namespaces::all()), &opts);
    assert_eq!(got.source.status, SourceStatus::Failed);
    let reason = got.source.error.unwrap();
    assert!(
        reason.contains("listing namespaces") && reason.contains("cannot reach"),
        "{reason}"
    );
    assert!(got.workloads.is_empty());

    // Literal namespaces (a namespaced Role): every namespace fails, so the source does.
    let got = run(
        &source(
            &env,
            "gone",
            Namespaces::new(vec!["a".into(), "b".into()], vec![]).unwrap(),
        ),
        &opts,
    );
    assert_eq!(
        got.source.status,
        SourceStatus::Failed,
        "{:?}",
        got.source.error
    );

    // An unknown context is a failed source too, naming the context.
    let got = run(&source(&env, "nope", Namespaces::all()), &opts);
    assert_eq!(got.source.status, SourceStatus::Failed);
    assert!(got.source.error.unwrap().contains("nope"));
}

#[test]
fn slow_answers_time_out() {
    let mut cluster = full_cluster();
    cluster.faults.delay = Duration::from_millis(800);
    let server = StandIn::start(cluster);
    let env = kubeconfig(&[("slow", server.url())]);
    let mut opts = options();
    opts.request_timeout = Duration::from_millis(300);
    opts.retries = 1;
    let got = run(&source(&env, "slow", Namespaces::all()), &opts);
    assert_eq!(got.source.status, SourceStatus::Failed);
    assert!(got.source.error.unwrap().contains("no answer within"));
    // Patient enough, the same server answers.
    opts.request_timeout = Duration::from_secs(3);
    let got = run(
        &source(
            &env,
            "slow",
            Namespaces::new(vec!["payments-prod".into()], vec![]).unwrap(),
        ),
        &opts,
    );
    assert_eq!(
        got.source.status,
        SourceStatus::Ok,
        "{:?}",
        got.source.error
    );
    assert_eq!(got.workloads.len(), 1);
}

#[test]
fn label_selector_and_naming_rules() {
    let server = StandIn::start(full_cluster());
    let env = kubeconfig(&[("kind", server.url())]);
    let mut cfg = source(
        &env,
        "kind",
        Namespaces::new(vec!["payments-*".into(), "default".into()], vec![]).unwrap(),
    );
    cfg.label_selector = Some("app.kubernetes.io/managed-by=Helm".parse().unwrap());
    cfg.naming = Naming {
        template: "{namespace}-{name}".into(),
        strip_namespace_suffixes: vec!["-prod".into()],
        ..Naming::default()
    };
    let got = run(&cfg, &options());
    assert_eq!(
        got.source.status,
        SourceStatus::Ok,
        "{:?}",
        got.source.error
    );
    // Only the Helm-managed Deployment passes (bare pods are matched on their own labels).
    let refs: Vec<&str> = got.workloads.iter().map(|w| w.reference.as_str()).collect();
    assert_eq!(refs, vec!["Deployment/payments-prod/api"]);
    assert_eq!(got.workloads[0].component.as_str(), "payments-api");
    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.contains("deployments?")
            && r.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3DHelm")),
        "{requests:?}"
    );
}

#[test]
fn an_expired_continue_token_restarts_the_list_from_the_start() {
    let mut cluster = full_cluster();
    cluster.faults.max_page = Some(2);
    let complete = {
        let server = StandIn::start(cluster.clone());
        let env = kubeconfig(&[("kind", server.url())]);
        let mut opts = options();
        opts.page_size = 2;
        run(&source(&env, "kind", Namespaces::all()), &opts)
    };
    // The first continued page the server sees (the namespace list's second page) expires: 410
    // Gone, reason Expired, as after an etcd compaction.
    cluster.faults.expire_continue = 1;
    let server = StandIn::start(cluster);
    let env = kubeconfig(&[("kind", server.url())]);
    let mut opts = options();
    opts.page_size = 2;
    let got = run(&source(&env, "kind", Namespaces::all()), &opts);
    assert_eq!(
        got.source.status,
        SourceStatus::Ok,
        "{:?}",
        got.source.error
    );
    // Nothing lost and nothing doubled by the restart.
    assert_eq!(by_ref(&got), by_ref(&complete));
    // The expired list was asked for again without a token: its first page twice, and every
    // page after it read once more.
    let requests = server.requests();
    let count = |page: &str| requests.iter().filter(|r| r.as_str() == page).count();
    assert_eq!(count("/api/v1/namespaces?&limit=2"), 2, "{requests:?}");
    assert_eq!(count("/api/v1/namespaces?&limit=2&continue=standin-2"), 2);
    assert_eq!(count("/api/v1/namespaces?&limit=2&continue=standin-4"), 1);
}

#[test]
fn api_calls_in_flight_stay_within_the_bound() {
    let peak = |bound: usize| {
        let mut cluster = full_cluster();
        // Slow answers make concurrent calls overlap on the server.
        cluster.faults.delay = Duration::from_millis(60);
        let server = StandIn::start(cluster);
        let env = kubeconfig(&[("kind", server.url())]);
        let mut opts = options();
        opts.requests = std::sync::Arc::new(tokio::sync::Semaphore::new(bound));
        let got = run(&source(&env, "kind", Namespaces::all()), &opts);
        assert_eq!(
            got.source.status,
            SourceStatus::Ok,
            "{:?}",
            got.source.error
        );
        server.peak_in_flight()
    };
    assert_eq!(peak(1), 1, "one call at a time");
    let wide = peak(3);
    assert!(wide <= 3, "at most 3 in flight, saw {wide}");
    assert!(
        wide >= 2,
        "the collector does run calls concurrently, saw {wide}"
    );
}

#[test]
fn tls_with_the_kubeconfigs_ca_and_bearer_token() {
    let (ca_pem, identity) = loopback_pki();
    let mut cluster = full_cluster();
    // kubeconfig_for's user sends this token; anything else gets 401.
    cluster.required_token = Some("standin-token".into());
    let server = StandIn::start_tls(cluster, &identity);
    assert!(server.url().starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let kubeconfig_path = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig_path,
        kubeconfig_with_ca(&[("tls", server.url())], &ca_file),
    )
    .unwrap();
    let env = Env {
        _dir: dir,
        kubeconfig: kubeconfig_path,
    };
    let got = run(&source(&env, "tls", Namespaces::all()), &options());
    assert_eq!(
        got.source.status,
        SourceStatus::Ok,
        "{:?}",
        got.source.error
    );
    assert!(by_ref(&got).contains_key("Deployment/kube-system/coredns"));

    // A server whose certificate another CA signed is refused, and the source says so.
    let (_, stranger) = loopback_pki();
    let impostor = StandIn::start_tls(full_cluster(), &stranger);
    let env2 = tls_kubeconfig(&impostor.url(), &ca_file);
    let mut opts = options();
    opts.retries = 1;
    let got = run(&source(&env2, "tls", Namespaces::all()), &opts);
    assert_eq!(got.source.status, SourceStatus::Failed);
    assert!(got.workloads.is_empty());
    assert!(
        impostor.requests().is_empty(),
        "no request passed the handshake"
    );

    // The right server with the wrong token: 401, a failed source, no workload invented.
    let mut cluster = full_cluster();
    cluster.required_token = Some("another-token".into());
    let strict = StandIn::start_tls(cluster, &identity);
    let env3 = tls_kubeconfig(&strict.url(), &ca_file);
    let got = run(&source(&env3, "tls", Namespaces::all()), &opts);
    assert_eq!(got.source.status, SourceStatus::Failed);
    let reason = got.source.error.unwrap();
    assert!(
        reason.contains("401") || reason.to_lowercase().contains("unauthorized"),
        "{reason}"
    );
}

/// A kubeconfig whose one context `tls` points at `url` and trusts the CA in `ca_file`.
fn tls_kubeconfig(url: &str, ca_file: &std::path::Path) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kubeconfig_with_ca(&[("tls", url.to_owned())], ca_file),
    )
    .unwrap();
    Env {
        _dir: dir,
        kubeconfig,
    }
}
