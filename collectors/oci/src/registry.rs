//! One registry, reached through `oci-client`: tag resolution (HEAD), manifests and blobs by
//! digest, with the registry's TLS settings and credentials. Errors are sorted into "not there"
//! (a 404: the answer is *missing*), "refused" (401/403) and "unreachable" (anything else: the
//! answer is *unchecked*), because a registry that is down must never read as a missing signature.
//!
//! OCI 1.1 referrers (`GET /v2/<name>/referrers/<digest>`) are asked for here too, with an own
//! request rather than oci-client's `pull_referrers`: that one turns every failure into an empty
//! index (a registry that is down would read as "no signatures"), while envtrail must tell "this
//! registry has no referrers API" (404: fall back to cosign's tag scheme) from "the registry did
//! not answer" (unchecked). See [`Referrers`].
//!
//! Pushing is here too, for the tests and the benchmark that build their own images.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use envtrail_model::Digest;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::auth::Credentials;
use crate::manifest::{MANIFEST_TYPES, OCI_INDEX};

/// How to reach one registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// `host[:port]`, as in image references.
    pub host: String,
    /// Plain HTTP instead of HTTPS (a local test registry).
    pub plain_http: bool,
    /// Extra CA certificates (PEM) to trust for its TLS certificate.
    pub ca_pem: Vec<Vec<u8>>,
    /// Its credentials.
    pub credentials: Credentials,
}

/// Why a registry call failed, sorted by what it means for the facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// 404: the thing is not in the registry.
    #[error("{what} not found in {host}")]
    NotFound {
        /// Registry host.
        host: String,
        /// What was asked for (`repo:tag`, `repo@digest`).
        what: String,
    },
    /// 401/403: the registry refused the credentials.
    #[error("{host} refused access to {what}: {why}")]
    Denied {
        /// Registry host.
        host: String,
        /// What was asked for.
        what: String,
        /// The registry's reason.
        why: String,
    },
    /// Connection refused, TLS failure, timeout, 5xx: nothing is known.
    #[error("{host} unreachable for {what}: {why}")]
    Unreachable {
        /// Registry host.
        host: String,
        /// What was asked for.
        what: String,
        /// The cause, with its source chain flattened (no credentials: oci-client's errors carry
        /// URLs and registry messages only).
        why: String,
    },
    /// The bytes did not hash to the digest asked for.
    #[error("{host} served {what} with the wrong digest")]
    DigestMismatch {
        /// Registry host.
        host: String,
        /// What was asked for.
        what: String,
    },
}

impl RegistryError {
    /// Whether this is a plain "not there".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// Tags asked for per page when listing a repository's tags.
const TAG_PAGE: usize = 1000;
/// Pages of a referrers listing followed at most (`Link: <…>; rel="next"`).
const REFERRER_PAGES: usize = 100;

/// What the OCI 1.1 referrers API says about a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Referrers {
    /// The registry has no referrers API (it answered 404, which the distribution spec forbids
    /// a registry that has one): signatures are found through cosign's tag scheme only.
    Unsupported,
    /// The manifests whose `subject` is the digest (possibly none).
    Index(Vec<Referrer>),
}

/// One entry of a referrers index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    /// The referring manifest's digest.
    pub digest: Digest,
    /// Its media type.
    #[serde(default)]
    pub media_type: String,
    /// Its artifact type (cosign: `application/vnd.dev.cosign.artifact.sig.v1+json`, a Sigstore
    /// bundle, an SBOM type…). Only a hint: registries fill it differently, so envtrail decides by
    /// the referrer's layers.
    #[serde(default)]
    pub artifact_type: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawReferrersIndex {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

/// A client for one registry.
pub struct Registry {
    host: String,
    client: Client,
    auth: RegistryAuth,
    /// A second client for the one-time auth probe, so the main one never stores anonymous
    /// credentials (see [`Self::credentials`]).
    probe: Client,
    /// Whether anonymous access meets no challenge, once probed.
    open: tokio::sync::OnceCell<bool>,
    /// With a Docker identity token: its exchange for access tokens per repository.
    identity: Option<crate::token::Exchanger>,
    /// The plain HTTP client of the referrers calls (same TLS settings and timeouts).
    http: Result<reqwest::Client, String>,
    /// `http://host` or `https://host`.
    base: String,
    /// Set once the registry answered 404 to a referrers call: it has no referrers API, so the
    /// other digests of this collection are not asked.
    no_referrers: AtomicBool,
    /// Set once a referrers call answered 200 or 404: whether the API exists is known.
    referrers_known: AtomicBool,
    /// Held by the first referrers calls until that is known (see [`Self::referrers_gate`]).
    referrers_probe: tokio::sync::Mutex<()>,
    /// The `Authorization` value that worked for a repository's referrers calls (a bearer token
    /// from the registry's token server), so the token handshake runs once per repository.
    referrer_auth: std::sync::Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({})", self.host)
    }
}

impl Registry {
    /// A client for `config.host` with already resolved `credentials` (see [`crate::auth`]).
    pub fn new(config: &RegistryConfig, credentials: &Credentials, timeout: Duration) -> Self {
        let make = || {
            Client::new(ClientConfig {
                protocol: if config.plain_http {
                    ClientProtocol::Http
                } else {
                    ClientProtocol::Https
                },
                extra_root_certificates: config
                    .ca_pem
                    .iter()
                    .map(|pem| Certificate {
                        encoding: CertificateEncoding::Pem,
                        data: pem.clone(),
                    })
                    .collect(),
                platform_resolver: None,
                read_timeout: Some(timeout),
                connect_timeout: Some(timeout),
                user_agent: concat!("envtrail/", env!("CARGO_PKG_VERSION")),
                ..ClientConfig::default()
            })
        };
        let client = make();
        let auth = match credentials {
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::Bearer { token } => RegistryAuth::Bearer(token.clone()),
            Credentials::Anonymous
            | Credentials::DockerConfig
            | Credentials::IdentityToken { .. } => RegistryAuth::Anonymous,
        };
        let identity = match credentials {
            Credentials::IdentityToken { token } => Some(crate::token::Exchanger::new(
                &config.host,
                config.plain_http,
                &config.ca_pem,
                timeout,
                token.clone(),
            )),
            _ => None,
        };
        let http = (|| {
            let mut b = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .user_agent(concat!("envtrail/", env!("CARGO_PKG_VERSION")));
            for pem in &config.ca_pem {
                let cert = reqwest::Certificate::from_pem(pem)
                    .map_err(|e| format!("the registry's CA is not PEM: {e}"))?;
                b = b.add_root_certificate(cert);
            }
            b.build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        })();
        Self {
            host: config.host.clone(),
            client,
            auth,
            probe: make(),
            open: tokio::sync::OnceCell::new(),
            identity,
            http,
            base: format!(
                "{}://{}",
                if config.plain_http { "http" } else { "https" },
                config.host
            ),
            no_referrers: AtomicBool::new(false),
            referrers_known: AtomicBool::new(false),
            referrers_probe: tokio::sync::Mutex::new(()),
            referrer_auth: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The credentials to hand oci-client for pulls. With anonymous credentials oci-client
    /// repeats its `GET /v2/` auth probe before every request of a registry that issues no
    /// challenge (it caches only the tokens it obtains). Probing once here, with a separate
    /// client, and handing the main client an empty bearer token for such a registry (cached
    /// at once, and ignored by a registry that asks for no auth) halves a collection's requests.
    ///
    /// With an identity token, the access token of `repository` (see [`crate::token`]): a fresh
    /// one is put into oci-client's token cache for that repository, because oci-client keeps
    /// one stored credential per registry and would otherwise send one repository's token to
    /// another.
    async fn credentials(&self, repository: &str) -> Result<RegistryAuth, RegistryError> {
        static OPEN: RegistryAuth = RegistryAuth::Bearer(String::new());
        if let Some(identity) = &self.identity {
            let access = identity.access(repository).await?;
            let auth = RegistryAuth::Bearer(access.token);
            if access.fresh {
                // With a bearer token oci-client makes no request here: it only caches it.
                let _ = self
                    .client
                    .auth(
                        &self.tag_ref(repository, "latest"),
                        &auth,
                        oci_client::RegistryOperation::Pull,
                    )
                    .await;
            }
            return Ok(auth);
        }
        if !matches!(self.auth, RegistryAuth::Anonymous) {
            return Ok(self.auth.clone());
        }
        let open = self
            .open
            .get_or_init(|| async {
                let probe = self.tag_ref(repository, "latest");
                let answer = self
                    .probe
                    .auth(
                        &probe,
                        &RegistryAuth::Anonymous,
                        oci_client::RegistryOperation::Pull,
                    )
                    .await;
                matches!(answer, Ok(None))
            })
            .await;
        Ok(if *open {
            OPEN.clone()
        } else {
            self.auth.clone()
        })
    }

    /// The host it talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn tag_ref(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_owned(), tag.to_owned())
    }

    fn digest_ref(&self, repository: &str, digest: &Digest) -> Reference {
        Reference::with_digest(self.host.clone(), repository.to_owned(), digest.to_string())
    }

    /// The digest `repository:tag` points to now; `None` when the tag does not exist.
    pub async fn resolve_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let what = || format!("{repository}:{tag}");
        let auth = self.credentials(repository).await?;
        match self
            .client
            .fetch_manifest_digest(&self.tag_ref(repository, tag), &auth)
            .await
        {
            Ok(d) => d.parse().map(Some).map_err(|_| RegistryError::Unreachable {
                host: self.host.clone(),
                what: what(),
                why: "the registry answered a digest that is not sha256".into(),
            }),
            Err(e) => match self.classify(e, what()) {
                RegistryError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The manifest bytes of `repository@digest`, checked against the digest.
    pub async fn manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = || format!("{repository}@{}", digest.short());
        let auth = self.credentials(repository).await?;
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&self.digest_ref(repository, digest), &auth, MANIFEST_TYPES)
            .await
            .map_err(|e| self.classify(e, what()))?;
        if Digest::sha256_of(&bytes) != *digest {
            return Err(RegistryError::DigestMismatch {
                host: self.host.clone(),
                what: what(),
            });
        }
        Ok(bytes.to_vec())
    }

    /// The blob `digest` of `repository`, checked against the digest.
    pub async fn blob(&self, repository: &str, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let what = || format!("blob {}@{}", repository, digest.short());
        let reference = self.digest_ref(repository, digest);
        // pull_blob uses stored auth: make sure it is stored for this registry.
        let auth = self.credentials(repository).await?;
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        let mut out: Vec<u8> = Vec::new();
        self.client
            .pull_blob(&reference, digest.as_str(), &mut out)
            .await
            .map_err(|e| self.classify(e, what()))?;
        if Digest::sha256_of(&out) != *digest {
            return Err(RegistryError::DigestMismatch {
                host: self.host.clone(),
                what: what(),
            });
        }
        Ok(out)
    }

    /// Every tag of `repository` (following pagination).
    pub async fn list_tags(
        &self,
        repository: &str,
    ) -> Result<std::collections::BTreeSet<String>, RegistryError> {
        let reference = self.tag_ref(repository, "latest");
        let auth = self.credentials(repository).await?;
        let auth = &auth;
        let mut out = std::collections::BTreeSet::new();
        let mut last: Option<String> = None;
        loop {
            let page = self
                .client
                .list_tags(&reference, auth, Some(TAG_PAGE), last.as_deref())
                .await
                .map_err(|e| self.classify(e, format!("tags of {repository}")))?;
            let full = page.tags.len() >= TAG_PAGE;
            let before = out.len();
            last = page.tags.iter().max().cloned();
            out.extend(page.tags);
            // A registry that ignores `n` returns everything at once; one that ignores `last`
            // would repeat itself: stop when a page adds nothing.
            if !full || out.len() == before {
                break;
            }
        }
        Ok(out)
    }

    /// Whether a referrers call already answered 404: the registry has no referrers API.
    pub fn referrers_unsupported(&self) -> bool {
        self.no_referrers.load(Ordering::Relaxed)
    }

    /// While nobody knows yet whether the registry has a referrers API, a guard that lets one
    /// referrers call through at a time, so a registry without it is asked once per collection,
    /// not once per digest in flight. `None` once it is known. Hold it across the call.
    pub async fn referrers_gate(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.referrers_known.load(Ordering::Relaxed) {
            return None;
        }
        let guard = self.referrers_probe.lock().await;
        (!self.referrers_known.load(Ordering::Relaxed)).then_some(guard)
    }

    /// The OCI 1.1 referrers of `repository@digest` (following `Link` pagination). A 404 means
    /// the registry has no referrers API ([`Referrers::Unsupported`], remembered for the rest of
    /// this client's life); 401/403 is [`RegistryError::Denied`]; anything else that is not a
    /// 200 with an index is [`RegistryError::Unreachable`], never an empty answer.
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Referrers, RegistryError> {
        if self.no_referrers.load(Ordering::Relaxed) {
            return Ok(Referrers::Unsupported);
        }
        let what = || format!("referrers of {repository}@{}", digest.short());
        let unreachable = |why: String| RegistryError::Unreachable {
            host: self.host.clone(),
            what: what(),
            why,
        };
        let web = self.http.as_ref().map_err(|why| unreachable(why.clone()))?;
        let auth = self.credentials(repository).await?;
        let mut header = self
            .referrer_auth
            .lock()
            .expect("referrer auth lock")
            .get(repository)
            .cloned()
            .or_else(|| authorization(&auth));
        let mut url = format!("{}/v2/{repository}/referrers/{digest}", self.base);
        let mut out = Vec::new();
        let mut challenged = false;
        let mut pages = 0;
        loop {
            let mut request = web.get(&url).header(http::header::ACCEPT, OCI_INDEX);
            if let Some(h) = &header {
                request = request.header(http::header::AUTHORIZATION, h);
            }
            // reqwest's errors name the URL only, never a header.
            let response = request.send().await.map_err(|e| unreachable(flatten(&e)))?;
            let status = response.status();
            match status.as_u16() {
                200 => self.referrers_known.store(true, Ordering::Relaxed),
                404 if pages == 0 => {
                    self.no_referrers.store(true, Ordering::Relaxed);
                    self.referrers_known.store(true, Ordering::Relaxed);
                    return Ok(Referrers::Unsupported);
                }
                401 if !challenged => {
                    // The registry wants a token: let oci-client run the handshake (it knows the
                    // challenge formats and the token server), then ask again with the token.
                    challenged = true;
                    let token = self
                        .client
                        .auth(
                            &self.tag_ref(repository, "latest"),
                            &auth,
                            oci_client::RegistryOperation::Pull,
                        )
                        .await
                        .map_err(|e| self.classify(e, what()))?;
                    header = match token {
                        Some(t) if !t.is_empty() => Some(format!("Bearer {t}")),
                        _ => authorization(&auth),
                    };
                    if let Some(h) = &header {
                        self.referrer_auth
                            .lock()
                            .expect("referrer auth lock")
                            .insert(repository.to_owned(), h.clone());
                    }
                    continue;
                }
                401 | 403 => {
                    return Err(RegistryError::Denied {
                        host: self.host.clone(),
                        what: what(),
                        why: format!("HTTP {status}"),
                    });
                }
                _ => return Err(unreachable(format!("HTTP {status}"))),
            }
            let next = response
                .headers()
                .get(http::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = response
                .bytes()
                .await
                .map_err(|e| unreachable(flatten(&e)))?;
            let index: RawReferrersIndex = serde_json::from_slice(&body)
                .map_err(|e| unreachable(format!("the referrers answer is not an index: {e}")))?;
            out.extend(index.manifests);
            pages += 1;
            match next {
                Some(next) if pages < REFERRER_PAGES => {
                    url = if next.starts_with('/') {
                        format!("{}{next}", self.base)
                    } else {
                        next
                    };
                }
                _ => break,
            }
        }
        Ok(Referrers::Index(out))
    }

    /// Uploads a blob; returns its digest.
    pub async fn push_blob(&self, repository: &str, data: &[u8]) -> Result<Digest, RegistryError> {
        let digest = Digest::sha256_of(data);
        let reference = self.digest_ref(repository, &digest);
        self.authorize_push(&reference).await?;
        self.client
            .push_blob(&reference, data.to_vec(), digest.as_str())
            .await
            .map_err(|e| self.classify(e, format!("blob push to {repository}")))?;
        Ok(digest)
    }

    /// Uploads a manifest under `tag` (or by digest when `tag` is `None`); returns its digest.
    pub async fn push_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::sha256_of(bytes);
        let reference = match tag {
            Some(tag) => self.tag_ref(repository, tag),
            None => self.digest_ref(repository, &digest),
        };
        self.authorize_push(&reference).await?;
        let content_type = http_header(media_type);
        self.client
            .push_manifest_raw(&reference, bytes.to_vec(), content_type)
            .await
            .map_err(|e| self.classify(e, format!("manifest push to {repository}")))?;
        Ok(digest)
    }

    async fn authorize_push(&self, reference: &Reference) -> Result<(), RegistryError> {
        self.client
            .auth(reference, &self.auth, oci_client::RegistryOperation::Push)
            .await
            .map(|_| ())
            .map_err(|e| self.classify(e, format!("push to {}", reference.repository())))
    }

    fn classify(&self, err: OciDistributionError, what: String) -> RegistryError {
        let host = self.host.clone();
        let not_found = |envelope: &oci_client::errors::OciEnvelope| {
            envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                )
            })
        };
        match &err {
            OciDistributionError::ImageManifestNotFoundError(_) => {
                RegistryError::NotFound { host, what }
            }
            OciDistributionError::RegistryError { envelope, .. } if not_found(envelope) => {
                RegistryError::NotFound { host, what }
            }
            OciDistributionError::ServerError { code: 404, .. } => {
                RegistryError::NotFound { host, what }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => RegistryError::Denied {
                host,
                what,
                why: flatten(&err),
            },
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
                }) =>
            {
                RegistryError::Denied {
                    host,
                    what,
                    why: flatten(&err),
                }
            }
            _ => RegistryError::Unreachable {
                host,
                what,
                why: flatten(&err),
            },
        }
    }
}

/// The `Authorization` value of credentials that need no handshake.
fn authorization(auth: &RegistryAuth) -> Option<String> {
    match auth {
        RegistryAuth::Basic(user, password) => Some(format!(
            "Basic {}",
            BASE64.encode(format!("{user}:{password}"))
        )),
        RegistryAuth::Bearer(token) if !token.is_empty() => Some(format!("Bearer {token}")),
        _ => None,
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
            .then(|| target.to_owned())
    })
}

fn http_header(media_type: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(media_type)
        .unwrap_or_else(|_| http::HeaderValue::from_static("application/octet-stream"))
}

/// An error and its sources on one line.
pub(crate) fn flatten(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        assert_eq!(
            next_link(r#"</v2/a/referrers/sha256:ab?n=2&last=x>; rel="next""#).as_deref(),
            Some("/v2/a/referrers/sha256:ab?n=2&last=x")
        );
        assert_eq!(
            next_link(r#"<https://r/prev>; rel="prev", <https://r/next>; rel=next"#).as_deref(),
            Some("https://r/next")
        );
        assert_eq!(next_link(r#"<https://r/prev>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn referrers_authorization_needs_no_handshake_only_for_basic_and_bearer() {
        assert_eq!(
            authorization(&RegistryAuth::Basic("u".into(), "p".into())).as_deref(),
            Some("Basic dTpw")
        );
        assert_eq!(
            authorization(&RegistryAuth::Bearer("t".into())).as_deref(),
            Some("Bearer t")
        );
        // The empty bearer of an open registry and anonymous access send nothing.
        assert_eq!(authorization(&RegistryAuth::Bearer(String::new())), None);
        assert_eq!(authorization(&RegistryAuth::Anonymous), None);
    }

    #[test]
    fn a_referrers_index_reads_its_entries() {
        let index: RawReferrersIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{}", "a".repeat(64)), "size": 10,
                "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}]
        }))
        .unwrap();
        assert_eq!(index.manifests.len(), 1);
        assert_eq!(
            index.manifests[0].artifact_type.as_deref(),
            Some(crate::cosign::COSIGN_SIG_ARTIFACT)
        );
        let empty: RawReferrersIndex = serde_json::from_slice(br#"{"schemaVersion": 2}"#).unwrap();
        assert!(empty.manifests.is_empty());
    }
}
