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
