//! Test and benchmark support: a real registry (Debian's `docker-registry`, the CNCF
//! distribution registry) started on a free loopback port and stopped by PID on drop, and helpers
//! that push images, indexes, cosign signatures and attestations the way cosign lays them out.
//! Used by this crate's integration tests and its benchmark; not by envtrail itself.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use envtrail_model::Digest;
use serde_json::json;
use sigstore::crypto::SigStoreSigner;

use crate::cosign::{self, DSSE_ENVELOPE, Envelope, EnvelopeSignature, IN_TOTO, SIMPLE_SIGNING};
use crate::manifest::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::registry::{Registry, RegistryError};

/// The registry binary.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How the test registry is secured.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `htpasswd` file (bcrypt) for basic auth.
    pub htpasswd: Option<PathBuf>,
    /// TLS certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Registry token auth (`auth: token:`): the registry sends clients to `realm` and accepts
    /// the JWTs it issues when they verify against `rootcertbundle`.
    pub token: Option<TokenAuth>,
}

/// The distribution registry's `auth: token:` settings.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// The token server's URL, named in the registry's `WWW-Authenticate` challenge.
    pub realm: String,
    /// The `service` the registry names itself as (the tokens' audience).
    pub service: String,
    /// The tokens' expected issuer.
    pub issuer: String,
    /// PEM certificates whose keys may sign tokens.
    pub rootcertbundle: PathBuf,
}

/// A running `docker-registry`, killed on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a registry storing into a fresh temporary folder; waits for its `listening on` line.
    pub fn start(options: &ServerOptions) -> Result<Server, String> {
        if !Path::new(REGISTRY_BIN).exists() {
            return Err(format!(
                "{REGISTRY_BIN} is missing: install Debian's docker-registry (scripts/test does)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut config = format!(
            "version: 0.1\nlog: {{level: info, accesslog: {{disabled: true}}}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n",
            dir.path().join("data").display()
        );
        config.push_str("http:\n  addr: 127.0.0.1:0\n  secret: envtrail-test\n");
        if let Some((cert, key)) = &options.tls {
            config.push_str(&format!(
                "  tls: {{certificate: {}, key: {}}}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(htpasswd) = &options.htpasswd {
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: envtrail, path: {}}}}}\n",
                htpasswd.display()
            ));
        }
        if let Some(token) = &options.token {
            config.push_str(&format!(
                "auth: {{token: {{realm: \"{}\", service: \"{}\", issuer: \"{}\", rootcertbundle: {}}}}}\n",
                token.realm,
                token.service,
                token.issuer,
                token.rootcertbundle.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let mut child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {REGISTRY_BIN}: {e}"))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(at) = line.find("listening on ") {
                    let rest = &line[at + "listening on ".len()..];
                    let addr: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    let _ = tx.send(addr);
                    sent = true;
                }
                // Keep draining so the registry never blocks on a full pipe.
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                break addr;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("docker-registry did not say where it listens within 20 s".into());
            }
        };
        Ok(Server {
            child,
            addr,
            _dir: dir,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An image pushed by [`push_image`].
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The manifest digest.
    pub digest: Digest,
    /// `os/arch`.
    pub platform: String,
}

/// Pushes a small single-layer image for `os/arch` with OCI `labels`, tagged `tag` if given.
pub async fn push_image(
    registry: &Registry,
    repository: &str,
    tag: Option<&str>,
    platform: &str,
    labels: &[(&str, &str)],
    seed: &str,
) -> Result<Pushed, RegistryError> {
    let (os, arch) = platform.split_once('/').unwrap_or(("linux", platform));
    let layer = format!("layer of {repository} {platform} {seed}").into_bytes();
    let layer_digest = registry.push_blob(repository, &layer).await?;
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": os,
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]}
    }))
    .expect("json");
    let config_digest = registry.push_blob(repository, &config).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.to_string(), "size": layer.len()}]
    }))
    .expect("json");
    let digest = registry
        .push_manifest(repository, tag, &manifest, OCI_MANIFEST)
        .await?;
    Ok(Pushed {
        digest,
        platform: platform.to_owned(),
    })
}

/// Pushes an image index over `images`, tagged `tag`.
pub async fn push_index(
    registry: &Registry,
    repository: &str,
    tag: Option<&str>,
    images: &[Pushed],
) -> Result<Digest, RegistryError> {
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|p| {
            let (os, arch) = p.platform.split_once('/').unwrap_or(("linux", &p.platform));
            json!({"mediaType": OCI_MANIFEST, "digest": p.digest.to_string(), "size": 1,
                   "platform": {"os": os, "architecture": arch}})
        })
        .collect();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests
    }))
    .expect("json");
    registry
        .push_manifest(repository, tag, &index, OCI_INDEX)
        .await
}

async fn push_attached(
    registry: &Registry,
    repository: &str,
    tag: &str,
    layers: Vec<serde_json::Value>,
) -> Result<Digest, RegistryError> {
    let config = b"{}";
    let config_digest = registry.push_blob(repository, config).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers
    }))
    .expect("json");
    registry
        .push_manifest(repository, Some(tag), &manifest, OCI_MANIFEST)
        .await
}

/// Signs `subject` with `signer` the way `cosign sign --key` does: a simple-signing payload
/// blob and a `sha256-<hex>.sig` manifest whose layer carries the base64 signature.
pub async fn sign(
    registry: &Registry,
    repository: &str,
    subject: &Digest,
    signer: &SigStoreSigner,
) -> Result<Digest, RegistryError> {
    let payload = serde_json::to_vec(&cosign::SimpleSigning::new(
        &format!("{}/{repository}", registry.host()),
        subject,
    ))
    .expect("json");
    let signature = BASE64.encode(signer.sign(&payload).expect("sign"));
    let payload_digest = registry.push_blob(repository, &payload).await?;
    push_attached(
        registry,
        repository,
        &cosign::cosign_tag(subject, "sig"),
        vec![json!({
            "mediaType": SIMPLE_SIGNING, "digest": payload_digest.to_string(), "size": payload.len(),
            "annotations": {cosign::SIGNATURE_ANNOTATION: signature}
        })],
    )
    .await
}

/// Attaches a SLSA v0.2 provenance attestation for `subject` (builder, source, commit) in a DSSE
/// envelope signed by `signer`, the way `cosign attest --key` does (`.att` tag).
pub async fn attest(
    registry: &Registry,
    repository: &str,
    subject: &Digest,
    signer: &SigStoreSigner,
    builder: &str,
    source: &str,
    commit: &str,
) -> Result<Digest, RegistryError> {
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": repository, "digest": {"sha256": subject.hex()}}],
        "predicate": {
            "builder": {"id": builder},
            "buildType": "https://example.com/build@v1",
            "invocation": {"configSource": {"uri": format!("git+{source}@refs/heads/main"),
                                            "digest": {"sha1": commit}}},
            "materials": [{"uri": format!("git+{source}@refs/heads/main"), "digest": {"sha1": commit}}]
        }
    }))
    .expect("json");
    let signature = signer
        .sign(&cosign::pae(IN_TOTO, &statement))
        .expect("sign");
    let envelope = serde_json::to_vec(&Envelope {
        payload_type: IN_TOTO.into(),
        payload: BASE64.encode(&statement),
        signatures: vec![EnvelopeSignature {
            keyid: String::new(),
            sig: BASE64.encode(signature),
        }],
    })
    .expect("json");
    let envelope_digest = registry.push_blob(repository, &envelope).await?;
    push_attached(
        registry,
        repository,
        &cosign::cosign_tag(subject, "att"),
        vec![json!({
            "mediaType": DSSE_ENVELOPE, "digest": envelope_digest.to_string(), "size": envelope.len(),
            "annotations": {cosign::SIGNATURE_ANNOTATION: ""}
        })],
    )
    .await
}

/// What a [`Front`] answers to `GET /v2/<name>/referrers/<digest>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersMode {
    /// An OCI image index of the manifests pushed through the front with that `subject`, as a
    /// registry with the referrers API does (filtered by `?artifactType=` when given).
    Serve,
    /// 404, as a registry without the referrers API (Debian's 2.8 itself).
    NotFound,
    /// This status (e.g. 500) with an error body: a referrers API that fails.
    Status(u16),
}

#[derive(Default)]
struct FrontState {
    mode: Option<ReferrersMode>,
    /// `(repository, subject digest)` → index entries.
    referrers: std::collections::BTreeMap<(String, String), Vec<serde_json::Value>>,
    /// Every request: `METHOD path?query`.
    requests: Vec<String>,
}

/// A loopback server in front of a real registry [`Server`] that adds the OCI 1.1 referrers API
/// the Debian registry lacks: it answers `GET /v2/<name>/referrers/<digest>` itself (see
/// [`ReferrersMode`]) and passes every other request on to the registry unchanged. A manifest
/// pushed through it whose body names a `subject` is recorded as a referrer of that subject, so
/// the referrers a test sees are exactly the manifests it pushed, stored in the real registry.
/// Runs on its own thread and runtime; stops on drop.
pub struct Front {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    state: std::sync::Arc<std::sync::Mutex<FrontState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Front {
    /// Starts a front for the plain-HTTP registry at `upstream` (`127.0.0.1:PORT`), serving
    /// referrers ([`ReferrersMode::Serve`]).
    pub fn start(upstream: &str) -> Front {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("bound address").to_string();
        let state = std::sync::Arc::new(std::sync::Mutex::new(FrontState {
            mode: Some(ReferrersMode::Serve),
            ..FrontState::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = std::sync::Arc::clone(&state);
        let upstream = format!("http://{upstream}");
        let thread = std::thread::Builder::new()
            .name("referrers-front".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(front_serve(listener, shared, upstream, stopped));
            })
            .expect("front thread");
        Front {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Changes what the referrers API answers.
    pub fn set_mode(&self, mode: ReferrersMode) {
        self.state.lock().expect("front state").mode = Some(mode);
    }

    /// The requests seen so far (`METHOD path?query`).
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("front state").requests.clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type FrontBody = http_body_util::Full<hyper::body::Bytes>;

async fn front_serve(
    listener: std::net::TcpListener,
    state: std::sync::Arc<std::sync::Mutex<FrontState>>,
    upstream: String,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("proxy client");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (state, upstream, client) =
                    (std::sync::Arc::clone(&state), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (state, upstream, client) =
                            (std::sync::Arc::clone(&state), upstream.clone(), client.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                front_handle(req, &state, &upstream, &client).await,
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

fn front_respond(status: u16, content_type: &str, body: Vec<u8>) -> hyper::Response<FrontBody> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .expect("response")
}

async fn front_handle(
    req: hyper::Request<hyper::body::Incoming>,
    state: &std::sync::Mutex<FrontState>,
    upstream: &str,
    client: &reqwest::Client,
) -> hyper::Response<FrontBody> {
    use http_body_util::BodyExt as _;
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    state
        .lock()
        .expect("front state")
        .requests
        .push(format!("{method} {path_and_query}"));

    // GET /v2/<name>/referrers/<digest>
    if method == hyper::Method::GET
        && let Some(rest) = path.strip_prefix("/v2/")
        && let Some((name, digest)) = rest.rsplit_once("/referrers/")
    {
        let (mode, entries) = {
            let s = state.lock().expect("front state");
            (
                s.mode.unwrap_or(ReferrersMode::Serve),
                s.referrers
                    .get(&(name.to_owned(), digest.to_owned()))
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        return match mode {
            ReferrersMode::Serve => {
                let wanted = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("artifactType="))
                    .map(|v| v.replace("%2F", "/").replace("%2B", "+"));
                let manifests: Vec<_> = entries
                    .into_iter()
                    .filter(|e| wanted.as_deref().is_none_or(|w| e["artifactType"] == w))
                    .collect();
                let body = serde_json::to_vec(&json!({
                    "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests
                }))
                .expect("json");
                front_respond(200, OCI_INDEX, body)
            }
            ReferrersMode::NotFound => front_respond(
                404,
                "application/json",
                br#"{"errors":[{"code":"NOT_FOUND","message":"404 page not found"}]}"#.to_vec(),
            ),
            ReferrersMode::Status(code) => front_respond(
                code,
                "application/json",
                br#"{"errors":[{"code":"UNKNOWN","message":"referrers backend failed"}]}"#.to_vec(),
            ),
        };
    }

    // Everything else: to the registry.
    let headers = req.headers().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return front_respond(400, "text/plain", b"unreadable body".to_vec()),
    };
    let mut forward = client.request(method.clone(), format!("{upstream}{path_and_query}"));
    for (name, value) in &headers {
        if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    let answer = match forward.body(body.clone()).send().await {
        Ok(a) => a,
        Err(e) => return front_respond(502, "text/plain", e.to_string().into_bytes()),
    };
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let answer_body = answer.bytes().await.unwrap_or_default();

    // A manifest with a `subject` pushed through the front becomes a referrer of it.
    if method == hyper::Method::PUT
        && status.is_success()
        && path.contains("/manifests/")
        && let Some(rest) = path.strip_prefix("/v2/")
        && let Some((name, _)) = rest.rsplit_once("/manifests/")
        && let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(subject) = manifest["subject"]["digest"].as_str()
    {
        let media_type = manifest["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
        let artifact_type = manifest["artifactType"]
            .as_str()
            .or_else(|| manifest["config"]["mediaType"].as_str())
            .unwrap_or_default();
        let mut entry = json!({
            "mediaType": media_type,
            "digest": Digest::sha256_of(&body).to_string(),
            "size": body.len(),
            "artifactType": artifact_type,
        });
        if let Some(a) = manifest.get("annotations") {
            entry["annotations"] = a.clone();
        }
        state
            .lock()
            .expect("front state")
            .referrers
            .entry((name.to_owned(), subject.to_owned()))
            .or_default()
            .push(entry);
    }

    let mut response = hyper::Response::builder().status(status.as_u16());
    for (name, value) in &answer_headers {
        if name != hyper::header::TRANSFER_ENCODING && name != hyper::header::CONNECTION {
            response = response.header(name, value);
        }
    }
    response
        .body(http_body_util::Full::new(answer_body))
        .expect("response")
}

/// Signs `subject` the way `cosign sign --key --registry-referrers-mode=oci-1-1` stores it: a
/// manifest with `artifactType` [`cosign::COSIGN_SIG_ARTIFACT`], the empty config, one
/// simple-signing layer with the base64 signature, and `subject` naming the signed manifest,
/// pushed by digest (no tag). Push it through a [`Front`] so it is listed as a referrer.
pub async fn sign_referrer(
    registry: &Registry,
    repository: &str,
    subject: &Digest,
    subject_media_type: &str,
    signer: &SigStoreSigner,
) -> Result<Digest, RegistryError> {
    let payload = serde_json::to_vec(&cosign::SimpleSigning::new(
        &format!("{}/{repository}", registry.host()),
        subject,
    ))
    .expect("json");
    let signature = BASE64.encode(signer.sign(&payload).expect("sign"));
    let payload_digest = registry.push_blob(repository, &payload).await?;
    let empty = b"{}";
    let empty_digest = registry.push_blob(repository, empty).await?;
    let subject_size = registry.manifest(repository, subject).await?.len();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": cosign::COSIGN_SIG_ARTIFACT,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest.to_string(), "size": empty.len()},
        "layers": [{
            "mediaType": SIMPLE_SIGNING, "digest": payload_digest.to_string(), "size": payload.len(),
            "annotations": {cosign::SIGNATURE_ANNOTATION: signature}
        }],
        "subject": {"mediaType": subject_media_type, "digest": subject.to_string(), "size": subject_size}
    }))
    .expect("json");
    registry
        .push_manifest(repository, None, &manifest, OCI_MANIFEST)
        .await
}

/// Pushes `payload` as the simple-signing layer of `subject`'s `sha256-<hex>.sig` manifest with
/// these layer `annotations`, the way cosign lays it out: a keyless signature carries
/// `dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`, `…/chain` and
/// `…/bundle`.
pub async fn push_signature(
    registry: &Registry,
    repository: &str,
    subject: &Digest,
    payload: &[u8],
    annotations: serde_json::Value,
) -> Result<Digest, RegistryError> {
    let payload_digest = registry.push_blob(repository, payload).await?;
    push_attached(
        registry,
        repository,
        &cosign::cosign_tag(subject, "sig"),
        vec![json!({
            "mediaType": SIMPLE_SIGNING, "digest": payload_digest.to_string(), "size": payload.len(),
            "annotations": annotations
        })],
    )
    .await
}
