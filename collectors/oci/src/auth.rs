//! Registry credentials: explicit ones from envtrail's config (basic or bearer), else the Docker
//! `config.json` (`credHelpers`, then `credsStore`, by running `docker-credential-<helper> get`,
//! then `auths`), else anonymous. Registry token (bearer challenge) auth is then done by the
//! client with whatever was found; a Docker `identitytoken` (a refresh token) is exchanged for
//! access tokens at the registry's token realm (the `token` module).
//!
//! Secrets never leave this module in text: [`Credentials`]' `Debug` redacts them and every error
//! names the registry and the file or helper, never a username, password or token.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

/// How to authenticate to one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// Look in the Docker config (the default); anonymous when nothing is there.
    #[default]
    DockerConfig,
    /// No credentials.
    Anonymous,
    /// HTTP basic (also used to ask a token server for a bearer token).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A ready bearer token.
    Bearer {
        /// The token.
        token: String,
    },
    /// A Docker `identitytoken` (an OAuth2 refresh token, from `docker login` against a
    /// registry with token auth, or a credential helper answering `<token>` as user): exchanged
    /// at the registry's token realm for an access token per repository (see
    /// [`crate::registry`]), never sent to the registry itself.
    IdentityToken {
        /// The refresh token.
        token: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DockerConfig => "DockerConfig",
            Self::Anonymous => "Anonymous",
            Self::Basic { .. } => "Basic(<redacted>)",
            Self::Bearer { .. } => "Bearer(<redacted>)",
            Self::IdentityToken { .. } => "IdentityToken(<redacted>)",
        })
    }
}

/// Why credentials could not be read. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The Docker config exists but is unreadable or not JSON.
    #[error("docker config {path}: {why}")]
    DockerConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong (no content).
        why: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {why}")]
    Helper {
        /// The helper's name.
        helper: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong (its exit status, not its output).
        why: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registrytoken: Option<String>,
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The Docker config file in force: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Resolves [`Credentials::DockerConfig`] for `registry` from the file at `path` (a missing file
/// means anonymous); other variants are returned as they are.
pub fn resolve(
    credentials: &Credentials,
    registry: &str,
    path: Option<&Path>,
) -> Result<Credentials, AuthError> {
    resolve_with(credentials, registry, path, None)
}

/// [`resolve`], looking for credential helpers in `search_path` instead of `$PATH` when given.
fn resolve_with(
    credentials: &Credentials,
    registry: &str,
    path: Option<&Path>,
    search_path: Option<&OsStr>,
) -> Result<Credentials, AuthError> {
    if *credentials != Credentials::DockerConfig {
        return Ok(credentials.clone());
    }
    let Some(path) = path else {
        return Ok(Credentials::Anonymous);
    };
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
        Err(e) => {
            return Err(AuthError::DockerConfig {
                path: path.to_owned(),
                why: e.to_string(),
            });
        }
    };
    let config: DockerConfig =
        serde_json::from_slice(&text).map_err(|e| AuthError::DockerConfig {
            path: path.to_owned(),
            why: format!("not a docker config: line {}", e.line()),
        })?;
    let keys = registry_keys(registry);
    if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return run_helper(helper, registry, search_path);
    }
    if let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) {
        return entry_credentials(entry, registry, path);
    }
    if let Some(store) = &config.creds_store {
        return run_helper(store, registry, search_path);
    }
    Ok(Credentials::Anonymous)
}

/// The spellings a registry may be keyed by in a Docker config.
fn registry_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    if matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        keys.push("https://index.docker.io/v1/".to_owned());
    }
    keys
}

fn entry_credentials(
    entry: &AuthEntry,
    registry: &str,
    path: &Path,
) -> Result<Credentials, AuthError> {
    if let Some(token) = &entry.registrytoken {
        return Ok(Credentials::Bearer {
            token: token.clone(),
        });
    }
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Credentials::IdentityToken {
            token: token.clone(),
        });
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        });
    }
    let Some(auth) = &entry.auth else {
        return Ok(Credentials::Anonymous);
    };
    let bad = || AuthError::DockerConfig {
        path: path.to_owned(),
        why: format!("auths.{registry}.auth is not base64 of user:password"),
    };
    let decoded = BASE64.decode(auth.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Credentials::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// Runs `docker-credential-<helper> get` with the registry on stdin.
fn run_helper(
    helper: &str,
    registry: &str,
    search_path: Option<&OsStr>,
) -> Result<Credentials, AuthError> {
    let fail = |why: String| AuthError::Helper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        why,
    };
    let mut command = Command::new(format!("docker-credential-{helper}"));
    if let Some(search) = search_path {
        // On Unix a PATH set on the command is the one the program is looked up in.
        command.env("PATH", search);
    }
    let mut child = command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(registry.as_bytes())
        .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot read its answer: {e}")))?;
    if !out.status.success() {
        // "credentials not found" is how helpers say "anonymous"; its stdout is not echoed.
        let text = String::from_utf8_lossy(&out.stdout);
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        return Err(fail(format!("it exited with {}", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| fail("its answer is not the helper protocol's JSON".into()))?;
    Ok(if answer.username == "<token>" {
        // An identity token is an OAuth refresh token: exchanged at the token realm.
        Credentials::IdentityToken {
            token: answer.secret,
        }
    } else {
        Credentials::Basic {
            username: answer.username,
            password: answer.secret,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn auths_entry_decodes_basic_and_debug_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let auth = BASE64.encode("alice:s3cret");
        let path = write(
            dir.path(),
            "config.json",
            &format!(r#"{{"auths": {{"https://reg.example:5000": {{"auth": "{auth}"}}}}}}"#),
        );
        let got = resolve(&Credentials::DockerConfig, "reg.example:5000", Some(&path)).unwrap();
        assert_eq!(
            got,
            Credentials::Basic {
                username: "alice".into(),
                password: "s3cret".into()
            }
        );
        let shown = format!("{got:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        // Another registry: anonymous.
        let other = resolve(&Credentials::DockerConfig, "elsewhere", Some(&path)).unwrap();
        assert_eq!(other, Credentials::Anonymous);
    }

    #[test]
    fn identitytoken_entry_is_an_identity_token_not_a_bearer() {
        let dir = tempfile::tempdir().unwrap();
        // What `docker login` writes for a registry whose token server issues refresh tokens.
        let path = write(
            dir.path(),
            "config.json",
            r#"{"auths": {"reg.example": {"auth": "PHRva2VuPjo=", "identitytoken": "rt-42"}}}"#,
        );
        let got = resolve(&Credentials::DockerConfig, "reg.example", Some(&path)).unwrap();
        assert_eq!(
            got,
            Credentials::IdentityToken {
                token: "rt-42".into()
            }
        );
        assert_eq!(format!("{got:?}"), "IdentityToken(<redacted>)");
    }

    #[test]
    fn missing_file_is_anonymous_and_explicit_wins() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        assert_eq!(
            resolve(&Credentials::DockerConfig, "r", Some(&missing)).unwrap(),
            Credentials::Anonymous
        );
        let bearer = Credentials::Bearer { token: "t".into() };
        assert_eq!(resolve(&bearer, "r", Some(&missing)).unwrap(), bearer);
    }

    #[test]
    fn bad_auth_field_names_key_not_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "config.json",
            r#"{"auths": {"r": {"auth": "not-base64-s3cret!"}}}"#,
        );
        let err = resolve(&Credentials::DockerConfig, "r", Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("auths.r.auth"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn credential_helper_is_run_with_the_registry_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        // A helper that answers only for reg.example and says "not found" otherwise.
        let helper = write(
            dir.path(),
            "docker-credential-envtrailtest",
            "#!/bin/sh\nread host\nif [ \"$host\" = reg.example ]; then\n  echo '{\"ServerURL\":\"reg.example\",\"Username\":\"bob\",\"Secret\":\"hunter2\"}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
        );
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = write(
            dir.path(),
            "config.json",
            r#"{"credHelpers": {"reg.example": "envtrailtest"}, "credsStore": "envtrailtest"}"#,
        );
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.path().to_owned()];
        paths.extend(std::env::split_paths(&old));
        let search = std::env::join_paths(&paths).unwrap();
        let run = |registry: &str| {
            resolve_with(
                &Credentials::DockerConfig,
                registry,
                Some(&path),
                Some(&search),
            )
        };
        assert_eq!(
            run("reg.example").unwrap(),
            Credentials::Basic {
                username: "bob".into(),
                password: "hunter2".into()
            }
        );
        assert_eq!(run("other.example").unwrap(), Credentials::Anonymous);
    }
}
