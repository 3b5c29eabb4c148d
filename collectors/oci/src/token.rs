//! Docker `identitytoken` exchange: an identity token is an OAuth2 refresh token (what
//! `docker login` stores for a registry whose token server issues refresh tokens), so a mature
//! client does not send it to the registry. It asks the registry's token realm for an access
//! token instead, per the Docker token spec's OAuth2 flow:
//!
//! 1. `GET /v2/` answers 401 with `WWW-Authenticate: Bearer realm="…",service="…"`;
//! 2. `POST <realm>` with the form `grant_type=refresh_token`, `service`, `scope`
//!    (`repository:<path>:pull`), `client_id=envtrail` and `refresh_token`;
//! 3. the JSON answer's `access_token` (or `token`) is the bearer for that repository, for
//!    `expires_in` seconds (60 when not said).
//!
//! oci-client has no refresh-token grant, so this module does it and hands oci-client the access
//! token of each repository (see [`crate::registry`]). The refresh token only ever travels in the
//! POST body to the realm; errors name the registry and the realm, never a token.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::registry::RegistryError;

/// Who envtrail says it is to token servers (`client_id`).
const CLIENT_ID: &str = "envtrail";

/// An access token is renewed this long before it expires.
const MARGIN: Duration = Duration::from_secs(10);

/// A `WWW-Authenticate: Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The token server's URL.
    pub realm: String,
    /// The service the registry names itself as.
    pub service: Option<String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"`; `None` for other schemes.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim();
    let (scheme, params) = rest.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut chars = params.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => v.extend(chars.next()),
                    '"' => break,
                    c => v.push(c),
                }
            }
            v
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm?,
        service,
    })
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// What the registry's `/v2/` said about auth, once asked.
#[derive(Debug, Clone)]
enum Probe {
    /// No challenge: the registry needs no token.
    Open,
    /// A bearer challenge.
    Token(Challenge),
}

/// Exchanges one registry's identity token for access tokens, one per repository, and keeps
/// them until shortly before they expire.
pub(crate) struct Exchanger {
    host: String,
    base: String,
    http: Result<reqwest::Client, String>,
    refresh: String,
    probe: tokio::sync::OnceCell<Result<Probe, RegistryError>>,
    tokens: tokio::sync::Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for Exchanger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Exchanger({})", self.host)
    }
}

/// An access token and whether it was just obtained (and so must be handed to oci-client).
pub(crate) struct Access {
    /// The bearer token; empty when the registry asks for none.
    pub token: String,
    /// Obtained by this call.
    pub fresh: bool,
}

impl Exchanger {
    /// An exchanger for `host` (TLS with the extra `ca_pem` roots unless `plain_http`).
    pub(crate) fn new(
        host: &str,
        plain_http: bool,
        ca_pem: &[Vec<u8>],
        timeout: Duration,
        refresh: String,
    ) -> Self {
        let http = (|| {
            let mut b = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .user_agent(concat!("envtrail/", env!("CARGO_PKG_VERSION")));
            for pem in ca_pem {
                let cert = reqwest::Certificate::from_pem(pem)
                    .map_err(|e| format!("the registry's CA is not PEM: {e}"))?;
                b = b.add_root_certificate(cert);
            }
            b.build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        })();
        Self {
            host: host.to_owned(),
            base: format!("{}://{host}", if plain_http { "http" } else { "https" }),
            http,
            refresh,
            probe: tokio::sync::OnceCell::new(),
            tokens: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    fn unreachable(&self, what: &str, why: String) -> RegistryError {
        RegistryError::Unreachable {
            host: self.host.clone(),
            what: what.to_owned(),
            why,
        }
    }

    fn client(&self, what: &str) -> Result<&reqwest::Client, RegistryError> {
        self.http
            .as_ref()
            .map_err(|why| self.unreachable(what, why.clone()))
    }

    async fn probe(&self) -> Result<Probe, RegistryError> {
        let what = "the auth challenge (/v2/)";
        self.probe
            .get_or_init(|| async {
                let answer = self
                    .client(what)?
                    .get(format!("{}/v2/", self.base))
                    .send()
                    .await
                    .map_err(|e| self.unreachable(what, crate::registry::flatten(&e)))?;
                if answer.status().is_success() {
                    return Ok(Probe::Open);
                }
                let header = answer
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default();
                match parse_challenge(header) {
                    Some(c) => Ok(Probe::Token(c)),
                    None => Err(RegistryError::Denied {
                        host: self.host.clone(),
                        what: what.to_owned(),
                        why: format!(
                            "HTTP {} without a bearer challenge: an identity token needs a token realm",
                            answer.status().as_u16()
                        ),
                    }),
                }
            })
            .await
            .clone()
    }

    /// The access token for pulling from `repository`.
    pub(crate) async fn access(&self, repository: &str) -> Result<Access, RegistryError> {
        let challenge = match self.probe().await? {
            Probe::Open => {
                return Ok(Access {
                    token: String::new(),
                    fresh: false,
                });
            }
            Probe::Token(c) => c,
        };
        let mut tokens = self.tokens.lock().await;
        if let Some((token, until)) = tokens.get(repository)
            && Instant::now() < *until
        {
            return Ok(Access {
                token: token.clone(),
                fresh: false,
            });
        }
        let what = format!("a token for {repository} from {}", challenge.realm);
        let mut body = format!(
            "grant_type=refresh_token&client_id={CLIENT_ID}&scope={}&refresh_token={}",
            form_encode(&format!("repository:{repository}:pull")),
            form_encode(&self.refresh),
        );
        if let Some(service) = &challenge.service {
            body.push_str(&format!("&service={}", form_encode(service)));
        }
        let answer = self
            .client(&what)?
            .post(&challenge.realm)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(&what, crate::registry::flatten(&e)))?;
        let status = answer.status();
        if matches!(status.as_u16(), 400 | 401 | 403) {
            return Err(RegistryError::Denied {
                host: self.host.clone(),
                what,
                why: format!("the token server refused the identity token (HTTP {status})"),
            });
        }
        if !status.is_success() {
            return Err(self.unreachable(&what, format!("the token server answered HTTP {status}")));
        }
        let parsed: TokenAnswer = answer.json().await.map_err(|_| {
            self.unreachable(&what, "the token server's answer is not token JSON".into())
        })?;
        let token = parsed
            .access_token
            .or(parsed.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                self.unreachable(&what, "the token server's answer has no token".into())
            })?;
        let life = Duration::from_secs(parsed.expires_in.unwrap_or(60));
        let until = Instant::now() + life.saturating_sub(MARGIN);
        tokens.insert(repository.to_owned(), (token.clone(), until));
        Ok(Access { token, fresh: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quotes_commas_and_other_schemes() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer service=reg, realm="http://127.0.0.1:1/t""#),
            Some(Challenge {
                realm: "http://127.0.0.1:1/t".into(),
                service: Some("reg".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="r""#), None);
        assert_eq!(parse_challenge(r#"Bearer service="s""#), None);
    }

    #[test]
    fn form_values_are_escaped() {
        assert_eq!(
            form_encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(form_encode("a+b=c&d e"), "a%2Bb%3Dc%26d%20e");
    }
}
