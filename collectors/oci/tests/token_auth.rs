//! Docker `identitytoken` against a real registry with token auth: Debian's docker-registry
//! (`auth: token:`) trusts a certificate made here; a small token server on loopback signs JWTs
//! with its key (ES256, `x5c` header) and answers the OAuth2 refresh-token grant only for the
//! refresh token written into the test's Docker `config.json`. The registry itself never
//! accepts the refresh token: only what the realm exchanged it for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use envtrail_collect_oci::testing::{Server, ServerOptions, TokenAuth, push_image};
use envtrail_collect_oci::{Credentials, OciConfig, Registry, RegistryConfig, enrich};
use envtrail_model::{Snapshot, SourceStatus, VerificationStatus};
use rcgen::SigningKey as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SERVICE: &str = "envtrail-test-registry";
const ISSUER: &str = "envtrail-test-token-issuer";
const REFRESH: &str = "rt-7f3c9a-refresh-token-from-docker-login";

/// The token server's signing key and certificate.
struct Signer {
    key: rcgen::KeyPair,
    cert_der: Vec<u8>,
}

impl Signer {
    fn new() -> (Signer, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["envtrail-token-signer".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem = cert.pem();
        (
            Signer {
                key,
                cert_der: cert.der().to_vec(),
            },
            pem,
        )
    }

    /// A registry token for `repository` with `actions`.
    fn mint(&self, repository: &str, actions: &[&str]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({
            "typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert_der)]
        });
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "ci", "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{repository}"),
            "access": [{"type": "repository", "name": repository, "actions": actions}],
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let der = self.key.sign(signing_input.as_bytes()).unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(raw_signature(&der))
        )
    }
}

/// ECDSA's ASN.1 `SEQUENCE { r, s }` as JOSE's 64 bytes `r || s`.
fn raw_signature(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "an ASN.1 ECDSA signature");
    let mut at = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[at], 0x02);
        let len = der[at + 1] as usize;
        let int = &der[at + 2..at + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        at += 2 + len;
    }
    out
}

/// What the token server saw: each POST's form fields.
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

fn form(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Starts the token server; returns its realm URL and what it saw.
async fn token_server(signer: Arc<Signer>) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let realm = format!("http://{}/token", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let signer = signer.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body_start) = loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (String::from_utf8_lossy(&buf[..end]).to_string(), end + 4);
                    }
                };
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < body_start + length {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let fields = form(&String::from_utf8_lossy(&buf[body_start..]));
                let get = |k: &str| {
                    fields
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let ok = head.starts_with("POST /token ")
                    && get("grant_type") == "refresh_token"
                    && get("refresh_token") == REFRESH
                    && get("service") == SERVICE;
                let (status, body) = if ok {
                    let scope = get("scope");
                    let repository = scope
                        .strip_prefix("repository:")
                        .and_then(|s| s.strip_suffix(":pull"))
                        .unwrap_or_default()
                        .to_owned();
                    let token = signer.mint(&repository, &["pull"]);
                    (
                        "200 OK",
                        serde_json::json!({"access_token": token, "expires_in": 300}).to_string(),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        r#"{"error":"invalid_grant"}"#.to_owned(),
                    )
                };
                log.lock().unwrap().push(fields);
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (realm, seen)
}

fn plain(addr: &str, credentials: Credentials) -> RegistryConfig {
    RegistryConfig {
        host: addr.to_owned(),
        plain_http: true,
        credentials,
        ..RegistryConfig::default()
    }
}

/// A snapshot whose pods run `images` (reference, digest).
fn snapshot(images: &[(String, String)]) -> Snapshot {
    let workloads: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, (image, digest))| {
            serde_json::json!({"component": format!("c{i}"), "source": "k8s", "ref": format!("Deployment/ns/c{i}"),
                "containers": [{"name": "main", "image": image, "running_digests": [digest]}]})
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "schema": "envtrail.snapshot.v1", "environment": "prod", "taken_at": "2026-03-10T10:00:00Z",
        "sources": [{"id": "k8s", "kind": "kubernetes", "status": "ok"}],
        "workloads": workloads,
    }))
    .unwrap()
}

fn docker_config(dir: &std::path::Path, addr: &str, identitytoken: &str) -> std::path::PathBuf {
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        serde_json::json!({"auths": {addr: {"identitytoken": identitytoken}}}).to_string(),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn identity_token_is_exchanged_at_the_token_realm_per_repository() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, cert_pem) = Signer::new();
    let bundle = dir.path().join("token-ca.pem");
    std::fs::write(&bundle, cert_pem).unwrap();
    let signer = Arc::new(signer);
    let (realm, seen) = token_server(signer.clone()).await;
    let server = Server::start(&ServerOptions {
        token: Some(TokenAuth {
            realm: realm.clone(),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            rootcertbundle: bundle,
        }),
        ..ServerOptions::default()
    })
    .expect("the test registry starts");
    let addr = server.addr.clone();

    // Two repositories, pushed with tokens minted here (push scope for each).
    let mut images = Vec::new();
    for (repo, tag) in [("pay/api", "1.0"), ("web/app", "2.0")] {
        let creds = Credentials::Bearer {
            token: signer.mint(repo, &["pull", "push"]),
        };
        let c = Registry::new(
            &plain(&addr, creds.clone()),
            &creds,
            Duration::from_secs(10),
        );
        let labels = [("org.opencontainers.image.revision", "abc123")];
        let img = push_image(&c, repo, Some(tag), "linux/amd64", &labels, repo)
            .await
            .unwrap();
        images.push((format!("{addr}/{repo}:{tag}"), img.digest.to_string()));
    }

    // The refresh token itself is no registry credential: sent as a bearer, it is refused.
    let raw = Credentials::Bearer {
        token: REFRESH.into(),
    };
    let c = Registry::new(&plain(&addr, raw.clone()), &raw, Duration::from_secs(10));
    let refused = c.resolve_tag("pay/api", "1.0").await.unwrap_err();
    assert!(
        matches!(
            refused,
            envtrail_collect_oci::RegistryError::Denied { .. }
                | envtrail_collect_oci::RegistryError::Unreachable { .. }
        ),
        "{refused:?}"
    );
    assert!(!refused.to_string().contains(REFRESH), "{refused}");
    assert!(seen.lock().unwrap().is_empty(), "no exchange was asked yet");

    // From the Docker config: exchanged once per repository, then every fact is read.
    let config = OciConfig {
        registries: vec![plain(&addr, Credentials::DockerConfig)],
        docker_config: Some(docker_config(dir.path(), &addr, REFRESH)),
        ..OciConfig::default()
    };
    let out = enrich(snapshot(&images), &config).await;
    let source = out.sources.iter().find(|s| s.kind == "oci").unwrap();
    assert_eq!(source.status, SourceStatus::Ok, "{source:?}");
    for (image, digest) in &images {
        let a = out
            .artifacts
            .iter()
            .find(|a| a.digest.to_string() == *digest)
            .unwrap_or_else(|| panic!("no facts for {image}: {:#?}", out.artifacts));
        assert_eq!(a.revision.as_deref(), Some("abc123"), "{image}");
        assert_eq!(a.tags.len(), 1, "{image}: the tag was resolved");
        assert_eq!(
            a.signature.as_ref().unwrap().status,
            VerificationStatus::Missing,
            "{image}: the tag listing answered, so an absent .sig is missing"
        );
    }
    let posts = seen.lock().unwrap().clone();
    let mut scopes: Vec<String> = posts
        .iter()
        .map(|fields| {
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("grant_type"), Some("refresh_token"));
            assert_eq!(get("client_id"), Some("envtrail"));
            assert_eq!(get("service"), Some(SERVICE));
            get("scope").unwrap().to_owned()
        })
        .collect();
    scopes.sort();
    assert_eq!(
        scopes,
        ["repository:pay/api:pull", "repository:web/app:pull"],
        "one exchange per repository, reused for every call"
    );

    // A refresh token the realm does not accept: refused, unchecked (never missing), and the
    // token appears nowhere in the snapshot.
    let wrong = "rt-revoked-0000-not-valid";
    let config = OciConfig {
        registries: vec![plain(&addr, Credentials::DockerConfig)],
        docker_config: Some(docker_config(dir.path(), &addr, wrong)),
        ..OciConfig::default()
    };
    let out = enrich(snapshot(&images), &config).await;
    let source = out.sources.iter().find(|s| s.kind == "oci").unwrap();
    assert_eq!(source.status, SourceStatus::Failed, "{source:?}");
    for a in &out.artifacts {
        assert_eq!(
            a.signature.as_ref().unwrap().status,
            VerificationStatus::Unchecked
        );
    }
    let json = serde_json::to_string(&out).unwrap();
    assert!(
        json.contains("refused the identity token"),
        "the reason is named: {json}"
    );
    assert!(
        !json.contains(wrong) && !json.contains(REFRESH),
        "no token in {json}"
    );
}
