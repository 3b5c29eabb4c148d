//! Test support only (never a dependency of a release build): a stand-in Kubernetes API server.
//!
//! No real API server installs on these machines, so the collector's tests run against this one. It
//! serves the real REST paths and JSON shapes from fixture objects: discovery (`/api`, `/api/v1`,
//! `/apis`, `/apis/<group>/<version>`, `/version`), cluster-wide and namespaced lists with
//! `limit`/`continue` pagination, `labelSelector` and simple `fieldSelector`s, single objects, and
//! `Status` errors. Faults are switched on per test: 403 on a namespace, 429 with `Retry-After`,
//! 500, slow answers, a smaller page size than asked. The real `kubectl` accepts it (a test proves
//! it). It listens on a free loopback port and stops when dropped.
//!
//! ```no_run
//! use envtrail_k8s_standin::{Cluster, StandIn};
//! let mut cluster = Cluster::new();
//! cluster.add_fixture("podlist-kind-v1.36-kube-system.json");
//! let server = StandIn::start(cluster);
//! let kubeconfig = StandIn::kubeconfig(&[("kind", &server)]);
//! # let _ = kubeconfig;
//! ```

pub mod scenario;
pub mod synthetic;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// One served resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    /// `""` for the core group.
    pub group: &'static str,
    /// `v1`.
    pub version: &'static str,
    /// The plural in URLs, e.g. `deployments`.
    pub plural: &'static str,
    /// The kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Whether it lives in namespaces.
    pub namespaced: bool,
    /// kubectl's short name, if any.
    pub short: Option<&'static str>,
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn singular(&self) -> String {
        self.kind.to_lowercase()
    }
}

macro_rules! resource {
    ($group:literal, $plural:literal, $kind:literal, $ns:literal, $short:expr) => {
        Resource {
            group: $group,
            version: "v1",
            plural: $plural,
            kind: $kind,
            namespaced: $ns,
            short: $short,
        }
    };
}

/// Every resource type the stand-in serves.
pub const RESOURCES: &[Resource] = &[
    resource!("", "namespaces", "Namespace", false, Some("ns")),
    resource!("", "pods", "Pod", true, Some("po")),
    resource!("", "configmaps", "ConfigMap", true, Some("cm")),
    resource!("", "secrets", "Secret", true, None),
    resource!("", "serviceaccounts", "ServiceAccount", true, Some("sa")),
    resource!(
        "",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        Some("pvc")
    ),
    resource!("apps", "deployments", "Deployment", true, Some("deploy")),
    resource!("apps", "replicasets", "ReplicaSet", true, Some("rs")),
    resource!("apps", "statefulsets", "StatefulSet", true, Some("sts")),
    resource!("apps", "daemonsets", "DaemonSet", true, Some("ds")),
    resource!("batch", "cronjobs", "CronJob", true, Some("cj")),
    resource!("batch", "jobs", "Job", true, None),
    resource!(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "ClusterRole",
        false,
        None
    ),
    resource!("rbac.authorization.k8s.io", "roles", "Role", true, None),
    resource!(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        None
    ),
    resource!(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
        true,
        None
    ),
];

fn resource_of_kind(kind: &str) -> Option<Resource> {
    RESOURCES.iter().copied().find(|r| r.kind == kind)
}

/// The fixture folder of this crate (real objects; origins in its README.md).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Reads a fixture by file name.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Faults to inject, shared with the running server (tests may change them while it runs).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Namespaces whose lists answer 403 (`None`: every resource; `Some(plural)`: only that one).
    pub forbidden: Vec<(String, Option<String>)>,
    /// The next this many requests answer 429 with `Retry-After: retry_after_secs`.
    pub rate_limited: usize,
    /// `Retry-After` seconds sent with a 429.
    pub retry_after_secs: u64,
    /// The next this many requests answer 500.
    pub server_errors: usize,
    /// Every answer waits this long first.
    pub delay: Duration,
    /// Pages hold at most this many items, whatever `limit` asks (`None`: as asked).
    pub max_page: Option<usize>,
    /// The next this many requests that carry a `continue` token answer 410 Gone with reason
    /// `Expired`, as an API server does once etcd compacted the list's resource version.
    pub expire_continue: usize,
}

/// The objects of one stand-in cluster.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    objects: BTreeMap<Resource, Vec<Value>>,
    /// Faults, changeable before start (after start use [`StandIn::faults`]).
    pub faults: Faults,
    /// When set, every request must carry `Authorization: Bearer <token>`, else 401.
    pub required_token: Option<String>,
}

impl Cluster {
    /// An empty cluster.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one object, or every item of a list (`PodList`, `List`...). The resource comes from
    /// `kind`; a `batch/v1beta1` CronJob is served as `batch/v1` (same shape for what is read).
    /// Every namespace seen gets a Namespace object.
    pub fn add(&mut self, object: Value) -> &mut Self {
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        if let Some(item_kind) = kind.strip_suffix("List") {
            let items = object["items"].as_array().cloned().unwrap_or_default();
            for mut item in items {
                if item.get("kind").is_none() && !item_kind.is_empty() {
                    item["kind"] = json!(item_kind);
                }
                self.add(item);
            }
            return self;
        }
        let resource =
            resource_of_kind(&kind).unwrap_or_else(|| panic!("the stand-in serves no {kind:?}"));
        let mut object = object;
        object["apiVersion"] = json!(resource.api_version());
        if resource.namespaced {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned();
            object["metadata"]["namespace"] = json!(ns);
            self.ensure_namespace(&ns);
        }
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let ns = object["metadata"]["namespace"].as_str().map(str::to_owned);
        let list = self.objects.entry(resource).or_default();
        list.retain(|o| {
            !(o["metadata"]["name"].as_str() == Some(&name)
                && o["metadata"]["namespace"].as_str().map(str::to_owned) == ns)
        });
        list.push(object);
        self
    }

    /// Adds a fixture file (one object or a list) from [`fixtures_dir`].
    pub fn add_fixture(&mut self, name: &str) -> &mut Self {
        self.add(fixture(name))
    }

    fn ensure_namespace(&mut self, ns: &str) {
        let list = self
            .objects
            .entry(resource_of_kind("Namespace").expect("served"))
            .or_default();
        if !list.iter().any(|o| o["metadata"]["name"] == ns) {
            list.push(json!({
                "kind": "Namespace", "apiVersion": "v1",
                "metadata": {"name": ns, "uid": format!("ns-{ns}")},
                "status": {"phase": "Active"}
            }));
        }
    }

    /// How many objects of this kind are served.
    pub fn count(&self, kind: &str) -> usize {
        resource_of_kind(kind)
            .and_then(|r| self.objects.get(&r))
            .map_or(0, Vec::len)
    }
}

struct State {
    cluster: Cluster,
    requests: Vec<String>,
    in_flight: usize,
    peak_in_flight: usize,
}

/// The server's certificate chain and key (PEM) for [`StandIn::start_tls`].
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// The certificate chain, leaf first.
    pub cert_pem: String,
    /// The leaf's private key.
    pub key_pem: String,
}

/// A running stand-in server on a loopback port. Stops when dropped.
pub struct StandIn {
    addr: SocketAddr,
    tls: bool,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StandIn {
    /// Starts serving `cluster` on a free port of 127.0.0.1.
    pub fn start(cluster: Cluster) -> Self {
        Self::start_with(cluster, None)
    }

    /// Starts serving `cluster` over HTTPS (TLS 1.2/1.3 by rustls) with `identity`.
    pub fn start_tls(cluster: Cluster, identity: &TlsIdentity) -> Self {
        Self::start_with(cluster, Some(tls_acceptor(identity)))
    }

    fn start_with(cluster: Cluster, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("bound address");
        let state = Arc::new(Mutex::new(State {
            cluster,
            requests: Vec::new(),
            in_flight: 0,
            peak_in_flight: 0,
        }));
        let is_tls = tls.is_some();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("k8s-standin-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(serve(listener, shared, stopped, tls));
            })
            .expect("spawn the stand-in thread");
        Self {
            addr,
            tls: is_tls,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The most requests that were being answered at the same moment.
    pub fn peak_in_flight(&self) -> usize {
        self.state.lock().expect("state lock").peak_in_flight
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, as `path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state lock").requests.clone()
    }

    /// Changes the faults of the running server.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.state.lock().expect("state lock").cluster.faults);
    }

    /// A kubeconfig (YAML) with one context per `(name, server)`; the first is current.
    pub fn kubeconfig(contexts: &[(&str, &StandIn)]) -> String {
        let urls: Vec<(&str, String)> = contexts.iter().map(|(n, s)| (*n, s.url())).collect();
        kubeconfig_for(&urls)
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A fresh CA (its certificate as PEM) and a server identity for `127.0.0.1` and `localhost`
/// signed by it, for [`StandIn::start_tls`].
pub fn loopback_pki() -> (String, TlsIdentity) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("server key");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("server params")
        .signed_by(&leaf_key, &issuer)
        .expect("server certificate");
    (
        ca.pem(),
        TlsIdentity {
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        },
    )
}

/// Like [`kubeconfig_for`], with every cluster trusting the CA in `ca_file`.
pub fn kubeconfig_with_ca(contexts: &[(&str, String)], ca_file: &std::path::Path) -> String {
    kubeconfig_for(contexts).replace(
        "  cluster:\n    server:",
        &format!(
            "  cluster:\n    certificate-authority: {}\n    server:",
            ca_file.display()
        ),
    )
}

/// A kubeconfig (YAML) with one context per `(name, server URL)`; the first is current.
pub fn kubeconfig_for(contexts: &[(&str, String)]) -> String {
    let mut clusters = String::new();
    let mut ctxs = String::new();
    for (name, url) in contexts {
        clusters.push_str(&format!("- name: {name}\n  cluster:\n    server: {url}\n"));
        ctxs.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: standin\n    namespace: default\n"
        ));
    }
    let current = contexts.first().map_or("", |(n, _)| n);
    format!(
        "apiVersion: v1\nkind: Config\npreferences: {{}}\ncurrent-context: {current}\nclusters:\n{clusters}contexts:\n{ctxs}users:\n- name: standin\n  user:\n    token: standin-token\n"
    )
}

/// A loopback URL where nothing listens (bound, then released): an unreachable cluster.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

fn tls_acceptor(identity: &TlsIdentity) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("key PEM");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate and key");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = Arc::clone(&state);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(req, &state).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        // A client that refuses the certificate ends the handshake: nothing to serve.
                        Some(tls) => if let Ok(stream) = tls.accept(stream).await {
                            let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                        },
                        None => {
                            let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        }
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(body).expect("json"),
        )))
        .expect("response")
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Equality-based selectors (`k=v`, `k==v`, `k!=v`, `k`, `!k`), comma-joined, over a string map.
fn selector_matches(selector: &str, fields: &dyn Fn(&str) -> Option<String>) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some(k) = term.strip_prefix('!') {
                fields(k).is_none()
            } else if let Some((k, v)) = term.split_once("!=") {
                fields(k.trim()).as_deref() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                fields(k.trim()).as_deref() == Some(v.trim())
            } else {
                fields(term).is_some()
            }
        })
}

fn discovery(path: &str, addr: &str) -> Option<Value> {
    let resources = |group: &str| -> Value {
        RESOURCES
            .iter()
            .filter(|r| r.group == group)
            .map(|r| {
                let mut v = json!({
                    "name": r.plural, "singularName": r.singular(), "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": ["get", "list", "watch"],
                });
                if let Some(short) = r.short {
                    v["shortNames"] = json!([short]);
                }
                v
            })
            .collect()
    };
    let groups: BTreeSet<&str> = RESOURCES
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    Some(match path {
        "/version" | "/version/" => json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-envtrail-standin",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
            "platform": "linux/amd64"
        }),
        "/api" | "/api/" => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]
        }),
        "/api/v1" | "/api/v1/" => json!({
            "kind": "APIResourceList", "groupVersion": "v1", "resources": resources("")
        }),
        "/apis" | "/apis/" => json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": groups.iter().map(|g| json!({
                "name": g,
                "versions": [{"groupVersion": format!("{g}/v1"), "version": "v1"}],
                "preferredVersion": {"groupVersion": format!("{g}/v1"), "version": "v1"}
            })).collect::<Vec<_>>()
        }),
        _ => {
            let rest = path.strip_prefix("/apis/")?.trim_end_matches('/');
            let (group, version) = rest.split_once('/')?;
            if version != "v1" || !groups.contains(group) {
                return None;
            }
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/v1"),
                   "resources": resources(group)})
        }
    })
}

/// `(resource, namespace, name)` of a resource path.
fn parse_resource_path(path: &str) -> Option<(Resource, Option<String>, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, "v1", rest @ ..] => (*group, rest),
        _ => return None,
    };
    let find = |plural: &str| {
        RESOURCES
            .iter()
            .copied()
            .find(|r| r.group == group && r.plural == plural)
    };
    match rest {
        ["namespaces", ns, plural] => Some((find(plural)?, Some((*ns).to_owned()), None)),
        ["namespaces", ns, plural, name] => Some((
            find(plural)?,
            Some((*ns).to_owned()),
            Some((*name).to_owned()),
        )),
        [plural] => Some((find(plural)?, None, None)),
        [plural, name] => Some((find(plural)?, None, Some((*name).to_owned()))),
        _ => None,
    }
}

fn field_of(object: &Value, field: &str) -> Option<String> {
    let pointer = format!("/{}", field.replace('.', "/"));
    object
        .pointer(&pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

async fn handle(req: Request<Incoming>, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned);
    // Decide under the lock, answer (and sleep) outside it.
    let (delay, answer) = {
        let mut state = state.lock().expect("state lock");
        state.requests.push(match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        });
        state.in_flight += 1;
        state.peak_in_flight = state.peak_in_flight.max(state.in_flight);
        let delay = state.cluster.faults.delay;
        let answer = match &state.cluster.required_token {
            Some(token) if bearer.as_ref() != Some(token) => respond(
                StatusCode::UNAUTHORIZED,
                &status_body(401, "Unauthorized", "Unauthorized"),
            ),
            _ => decide(&mut state.cluster, &path, query.as_deref(), &host),
        };
        (delay, answer)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    state.lock().expect("state lock").in_flight -= 1;
    answer
}

fn decide(
    cluster: &mut Cluster,
    path: &str,
    query: Option<&str>,
    host: &str,
) -> Response<Full<Bytes>> {
    let faults = &mut cluster.faults;
    if faults.rate_limited > 0 {
        faults.rate_limited -= 1;
        let mut response = respond(
            StatusCode::TOO_MANY_REQUESTS,
            &status_body(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            ),
        );
        response.headers_mut().insert(
            "retry-after",
            faults
                .retry_after_secs
                .to_string()
                .parse()
                .expect("header value"),
        );
        return response;
    }
    if faults.server_errors > 0 {
        faults.server_errors -= 1;
        return respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            &status_body(
                500,
                "InternalError",
                "an error on the server (\"etcdserver: request timed out\") has prevented the request from succeeding",
            ),
        );
    }
    if let Some(doc) = discovery(path, host) {
        return respond(StatusCode::OK, &doc);
    }
    let Some((resource, namespace, name)) = parse_resource_path(path) else {
        return respond(
            StatusCode::NOT_FOUND,
            &status_body(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    };
    if let Some(ns) = &namespace {
        let forbidden = faults.forbidden.iter().any(|(fns, plural)| {
            fns == ns && plural.as_deref().is_none_or(|p| p == resource.plural)
        });
        if forbidden {
            let message = format!(
                "{plural} is forbidden: User \"system:serviceaccount:envtrail:collector\" cannot list resource \"{plural}\" in API group \"{group}\" in the namespace \"{ns}\"",
                plural = resource.plural,
                group = resource.group,
            );
            return respond(
                StatusCode::FORBIDDEN,
                &status_body(403, "Forbidden", &message),
            );
        }
    }
    let max_page = faults.max_page;
    let objects = cluster
        .objects
        .get(&resource)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let in_scope = |o: &&Value| match &namespace {
        Some(ns) => o["metadata"]["namespace"].as_str() == Some(ns.as_str()),
        None => true,
    };
    if let Some(name) = name {
        return match objects
            .iter()
            .filter(in_scope)
            .find(|o| o["metadata"]["name"] == name.as_str())
        {
            Some(o) => respond(StatusCode::OK, o),
            None => respond(
                StatusCode::NOT_FOUND,
                &status_body(
                    404,
                    "NotFound",
                    &format!(
                        "{}.{} \"{name}\" not found",
                        resource.plural, resource.group
                    ),
                ),
            ),
        };
    }
    let params = query_map(query);
    let labels = params.get("labelSelector").cloned().unwrap_or_default();
    let fields = params.get("fieldSelector").cloned().unwrap_or_default();
    let matching: Vec<&Value> = objects
        .iter()
        .filter(in_scope)
        .filter(|o| {
            selector_matches(&labels, &|k| {
                o["metadata"]["labels"]
                    .get(k)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        })
        .filter(|o| selector_matches(&fields, &|k| field_of(o, k)))
        .collect();
    let token = params.get("continue").filter(|t| !t.is_empty());
    if token.is_some() && cluster.faults.expire_continue > 0 {
        cluster.faults.expire_continue -= 1;
        return respond(
            StatusCode::GONE,
            &status_body(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ),
        );
    }
    let offset = match token {
        None => 0,
        Some(token) => match token
            .strip_prefix("standin-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => {
                return respond(
                    StatusCode::BAD_REQUEST,
                    &status_body(400, "BadRequest", "invalid continue token"),
                );
            }
        },
    };
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0);
    let page = match (limit, max_page) {
        (Some(l), Some(m)) => l.min(m),
        (Some(l), None) => l,
        (None, Some(m)) => m,
        (None, None) => usize::MAX,
    };
    let end = offset.saturating_add(page).min(matching.len());
    let items: Vec<&Value> = matching.get(offset.min(end)..end).unwrap_or(&[]).to_vec();
    let mut metadata = json!({"resourceVersion": "1000"});
    if end < matching.len() {
        metadata["continue"] = json!(format!("standin-{end}"));
        metadata["remainingItemCount"] = json!(matching.len() - end);
    }
    // Written piecewise: building one Value of the page would deep-copy every item.
    let mut body = Vec::with_capacity(64 * 1024);
    let head = json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.api_version(),
                      "metadata": metadata});
    let head = serde_json::to_vec(&head).expect("json");
    body.extend_from_slice(&head[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, item).expect("json");
    }
    body.extend_from_slice(b"]}");
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_selectors() {
        let (r, ns, name) =
            parse_resource_path("/apis/apps/v1/namespaces/kube-system/deployments").unwrap();
        assert_eq!(
            (r.kind, ns.as_deref(), name),
            ("Deployment", Some("kube-system"), None)
        );
        let (r, ns, _) = parse_resource_path("/api/v1/pods").unwrap();
        assert_eq!((r.kind, ns), ("Pod", None));
        assert!(parse_resource_path("/apis/apps/v1/widgets").is_none());
        let labels = |k: &str| (k == "app").then(|| "web".to_owned());
        assert!(selector_matches("app=web", &labels));
        assert!(!selector_matches("app!=web", &labels));
        assert!(selector_matches("!tier,app", &labels));
        assert_eq!(percent_decode("app%3Dweb%2Ctier%21%3Dx"), "app=web,tier!=x");
    }

    #[test]
    fn lists_become_objects_and_namespaces() {
        let mut c = Cluster::new();
        c.add_fixture("podlist-kind-v1.36-kube-system.json")
            .add_fixture("cronjob-batch-v1beta1.json");
        assert_eq!(c.count("Pod"), 8);
        assert_eq!(c.count("CronJob"), 1);
        assert_eq!(c.count("Namespace"), 2);
    }
}
