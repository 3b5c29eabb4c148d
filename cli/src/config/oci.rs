//! The `[oci]` table (registries, credentials, public keys, cache, limits of the OCI enrichment)
//! and each environment's artifact policy (`[environments.<env>.artifacts]`). Values are checked
//! when the file is read; files and environment variables they point to (keys, CA certificates,
//! passwords) are read only when a collection needs them, so `report` never fails for a key file
//! it does not use. Errors name the key and its line; secrets are never echoed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use envtrail_collect_oci::{Credentials, KeyRule, OciConfig, RegistryConfig};
use envtrail_diff::ArtifactPolicy;
use envtrail_model::Severity;
use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::sources::Spans;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOci {
    concurrency: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
    docker_config: Option<Spanned<String>>,
    cache: Option<bool>,
    #[serde(default)]
    registries: Vec<RawRegistry>,
    #[serde(default)]
    keys: Vec<RawKey>,
    trusted_root: Option<Spanned<String>>,
    #[serde(default)]
    certificate_identities: Vec<RawIdentity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    identity: Option<Spanned<String>>,
    identity_regexp: Option<Spanned<String>>,
    issuer: Option<Spanned<String>>,
    issuer_regexp: Option<Spanned<String>>,
    #[serde(default)]
    repositories: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    host: Spanned<String>,
    #[serde(default)]
    plain_http: bool,
    ca_file: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Spanned<String>,
    public_key: Spanned<String>,
    #[serde(default)]
    repositories: Vec<Spanned<String>>,
}

/// `[environments.<env>.artifacts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawArtifactPolicy {
    #[serde(default)]
    require_signature: bool,
    #[serde(default)]
    require_provenance: bool,
    #[serde(default)]
    identities: Vec<Spanned<String>>,
    #[serde(default)]
    builders: Vec<Spanned<String>>,
    severity: Option<Severity>,
}

/// How to authenticate to a registry, as configured (secrets stay in the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// The Docker config (and its credential helpers), else anonymous.
    DockerConfig,
    /// Basic: the user, and the variable holding the password.
    Basic {
        /// User name.
        username: String,
        /// The environment variable holding the password.
        password_env: String,
    },
    /// A bearer token from this environment variable.
    Bearer {
        /// The environment variable.
        token_env: String,
    },
}

/// One `[[oci.registries]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// `host[:port]`.
    pub host: String,
    /// http:// instead of https://.
    pub plain_http: bool,
    /// Extra CA certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// Credentials.
    pub auth: RegistryAuth,
}

/// One `[[oci.keys]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// Its name (identity `key:<name>`).
    pub name: String,
    /// The PEM public key file.
    pub public_key: PathBuf,
    /// Globs over `host/path`.
    pub repositories: Vec<String>,
}

/// One `[[oci.certificate_identities]]` entry: who may sign keylessly (cosign's
/// `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    /// The exact certificate identity (SAN URI or e-mail).
    pub identity: Option<String>,
    /// Or a regular expression over it.
    pub identity_regexp: Option<String>,
    /// The exact OIDC issuer.
    pub issuer: Option<String>,
    /// Or a regular expression over it.
    pub issuer_regexp: Option<String>,
    /// Globs over `host/path`.
    pub repositories: Vec<String>,
}

impl IdentitySettings {
    fn rule(
        &self,
        index: usize,
    ) -> Result<
        envtrail_collect_oci::keyless::IdentityRule,
        envtrail_collect_oci::keyless::KeylessError,
    > {
        envtrail_collect_oci::keyless::IdentityRule::new(
            index,
            (self.identity.as_deref(), self.identity_regexp.as_deref()),
            (self.issuer.as_deref(), self.issuer_regexp.as_deref()),
            &self.repositories,
        )
    }
}

/// The `[oci]` table, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciSettings {
    /// Whether the table is present: `envtrail collect` enriches only then.
    pub enabled: bool,
    /// Registry calls in flight at most.
    pub concurrency: usize,
    /// Timeout of one call.
    pub timeout: Duration,
    /// The Docker config file (`None`: the default location).
    pub docker_config: Option<PathBuf>,
    /// Whether to keep the facts cache next to the store.
    pub cache: bool,
    /// Registries with settings.
    pub registries: Vec<RegistrySettings>,
    /// Public keys.
    pub keys: Vec<KeySettings>,
    /// The Sigstore `trusted_root.json` for keyless signatures.
    pub trusted_root: Option<PathBuf>,
    /// Who may sign keylessly.
    pub certificate_identities: Vec<IdentitySettings>,
}

impl Default for OciSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            concurrency: envtrail_collect_oci::config::DEFAULT_CONCURRENCY,
            timeout: envtrail_collect_oci::config::DEFAULT_TIMEOUT,
            docker_config: None,
            cache: true,
            registries: Vec::new(),
            keys: Vec::new(),
            trusted_root: None,
            certificate_identities: Vec::new(),
        }
    }
}

/// Why the OCI settings could not be turned into a working config (a file or variable they name).
#[derive(Debug, thiserror::Error)]
pub enum OciSetupError {
    /// A file named by the config cannot be read.
    #[error("key `{key}`: cannot read {path}")]
    File {
        /// The config key.
        key: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An environment variable named by the config is not set.
    #[error("key `{key}`: environment variable {var} is not set")]
    Env {
        /// The config key.
        key: String,
        /// The variable.
        var: String,
    },
    /// The trusted root file is not a Sigstore `trusted_root.json`.
    #[error("key `oci.trusted_root`: {path}: {source}")]
    TrustedRoot {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: envtrail_collect_oci::keyless::KeylessError,
    },
    /// A certificate identity rule that cannot be used.
    #[error("key `oci.certificate_identities[{index}]`: {source}")]
    Identity {
        /// Its position.
        index: usize,
        /// The cause.
        #[source]
        source: envtrail_collect_oci::keyless::KeylessError,
    },
    /// A public key that does not parse.
    #[error("key `oci.keys[{index}]`: {source}")]
    Key {
        /// Its position.
        index: usize,
        /// The cause.
        #[source]
        source: envtrail_collect_oci::KeyError,
    },
}

impl OciSettings {
    /// The enrichment config for a store at `db`: reads the key and CA files and the secret
    /// variables now.
    pub fn to_config(&self, db: &Path) -> Result<OciConfig, OciSetupError> {
        let mut registries = Vec::new();
        for (i, r) in self.registries.iter().enumerate() {
            let mut ca_pem = Vec::new();
            if let Some(path) = &r.ca_file {
                ca_pem.push(std::fs::read(path).map_err(|source| OciSetupError::File {
                    key: format!("oci.registries[{i}].ca_file"),
                    path: path.clone(),
                    source,
                })?);
            }
            let env = |key: &str, var: &str| {
                std::env::var(var).map_err(|_| OciSetupError::Env {
                    key: format!("oci.registries[{i}].{key}"),
                    var: var.to_owned(),
                })
            };
            let credentials = match &r.auth {
                RegistryAuth::DockerConfig => Credentials::DockerConfig,
                RegistryAuth::Basic {
                    username,
                    password_env,
                } => Credentials::Basic {
                    username: username.clone(),
                    password: env("password_env", password_env)?,
                },
                RegistryAuth::Bearer { token_env } => Credentials::Bearer {
                    token: env("token_env", token_env)?,
                },
            };
            registries.push(RegistryConfig {
                host: r.host.clone(),
                plain_http: r.plain_http,
                ca_pem,
                credentials,
            });
        }
        let mut keys = Vec::new();
        for (index, k) in self.keys.iter().enumerate() {
            let pem = std::fs::read(&k.public_key).map_err(|source| OciSetupError::File {
                key: format!("oci.keys[{index}].public_key"),
                path: k.public_key.clone(),
                source,
            })?;
            keys.push(
                KeyRule::from_pem(&k.name, &pem, &k.repositories)
                    .map_err(|source| OciSetupError::Key { index, source })?,
            );
        }
        let trusted_root = match &self.trusted_root {
            None => None,
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|source| OciSetupError::File {
                    key: "oci.trusted_root".into(),
                    path: path.clone(),
                    source,
                })?;
                Some(
                    envtrail_collect_oci::keyless::TrustedRoot::from_json(&bytes).map_err(
                        |source| OciSetupError::TrustedRoot {
                            path: path.clone(),
                            source,
                        },
                    )?,
                )
            }
        };
        let identities = self
            .certificate_identities
            .iter()
            .enumerate()
            .map(|(index, i)| {
                i.rule(index)
                    .map_err(|source| OciSetupError::Identity { index, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(OciConfig {
            registries,
            docker_config: self.docker_config.clone(),
            keys,
            trusted_root,
            identities,
            cache: self
                .cache
                .then(|| envtrail_collect_oci::cache::cache_path_for(db)),
            concurrency: self.concurrency,
            timeout: self.timeout,
        })
    }
}

/// Checks the `[oci]` table (`present`: whether the file has one).
pub(super) fn oci(
    file: &Path,
    text: &str,
    raw: &RawOci,
    present: bool,
) -> Result<OciSettings, ConfigError> {
    let spans = Spans { file, text };
    let mut out = OciSettings {
        enabled: present,
        ..OciSettings::default()
    };
    if let Some(c) = &raw.concurrency {
        out.concurrency = match usize::try_from(*c.get_ref()) {
            Ok(n) if (1..=1024).contains(&n) => n,
            _ => return Err(spans.error(c.span(), "oci.concurrency", "expected 1 to 1024")),
        };
    }
    if let Some(t) = &raw.timeout {
        out.timeout = humantime::parse_duration(t.get_ref())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                spans.error(t.span(), "oci.timeout", "expected a duration like \"10s\"")
            })?;
    }
    out.docker_config = raw.docker_config.as_ref().map(|p| spans.path(p.get_ref()));
    out.cache = raw.cache.unwrap_or(true);
    for (i, r) in raw.registries.iter().enumerate() {
        let key = |k: &str| format!("oci.registries[{i}].{k}");
        let host = r.host.get_ref();
        if host.is_empty() || host.contains('/') || host.contains("://") {
            return Err(spans.error(
                r.host.span(),
                &key("host"),
                "expected host[:port], without scheme or path",
            ));
        }
        let auth = match (&r.username, &r.password_env, &r.token_env) {
            (None, None, None) => RegistryAuth::DockerConfig,
            (Some(u), Some(p), None) => RegistryAuth::Basic {
                username: u.get_ref().clone(),
                password_env: p.get_ref().clone(),
            },
            (None, None, Some(t)) => RegistryAuth::Bearer {
                token_env: t.get_ref().clone(),
            },
            (Some(u), None, _) => {
                return Err(spans.error(
                    u.span(),
                    &key("username"),
                    "needs password_env (the password is read from that variable)",
                ));
            }
            (None, Some(p), _) => {
                return Err(spans.error(p.span(), &key("password_env"), "needs username"));
            }
            (_, _, Some(t)) => {
                return Err(spans.error(
                    t.span(),
                    &key("token_env"),
                    "use either token_env or username and password_env",
                ));
            }
        };
        out.registries.push(RegistrySettings {
            host: host.clone(),
            plain_http: r.plain_http,
            ca_file: r.ca_file.as_ref().map(|p| spans.path(p.get_ref())),
            auth,
        });
    }
    for (i, k) in raw.keys.iter().enumerate() {
        let name = k.name.get_ref();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(spans.error(
                k.name.span(),
                &format!("oci.keys[{i}].name"),
                "expected a name without spaces",
            ));
        }
        if out.keys.iter().any(|other| other.name == *name) {
            return Err(spans.error(
                k.name.span(),
                &format!("oci.keys[{i}].name"),
                format!("key {name:?} is defined twice"),
            ));
        }
        let repositories = k
            .repositories
            .iter()
            .enumerate()
            .map(|(j, g)| spans.glob(g, format!("oci.keys[{i}].repositories[{j}]")))
            .collect::<Result<_, _>>()?;
        out.keys.push(KeySettings {
            name: name.clone(),
            public_key: spans.path(k.public_key.get_ref()),
            repositories,
        });
    }
    out.trusted_root = raw.trusted_root.as_ref().map(|p| spans.path(p.get_ref()));
    for (i, r) in raw.certificate_identities.iter().enumerate() {
        let key = |k: &str| format!("oci.certificate_identities[{i}].{k}");
        let text = |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.get_ref().clone());
        // The span of the first field given, for errors about the entry as a whole.
        let span = [&r.identity, &r.identity_regexp, &r.issuer, &r.issuer_regexp]
            .into_iter()
            .flatten()
            .map(|s| s.span())
            .next()
            .unwrap_or(0..0);
        for (exact, regexp, name) in [
            (&r.identity, &r.identity_regexp, "identity"),
            (&r.issuer, &r.issuer_regexp, "issuer"),
        ] {
            match (exact, regexp) {
                (Some(_), None) => {}
                (None, Some(re)) => {
                    if let Err(e) = envtrail_collect_oci::keyless::check_regexp(re.get_ref()) {
                        return Err(spans.error(
                            re.span(),
                            &key(&format!("{name}_regexp")),
                            format!("invalid regular expression: {e}"),
                        ));
                    }
                }
                (Some(s), Some(_)) => {
                    return Err(spans.error(
                        s.span(),
                        &key(name),
                        format!("use either {name} or {name}_regexp"),
                    ));
                }
                (None, None) => {
                    return Err(spans.error(
                        span.clone(),
                        &key(name),
                        format!("needs {name} or {name}_regexp"),
                    ));
                }
            }
        }
        let repositories = r
            .repositories
            .iter()
            .enumerate()
            .map(|(j, g)| spans.glob(g, key(&format!("repositories[{j}]"))))
            .collect::<Result<_, _>>()?;
        out.certificate_identities.push(IdentitySettings {
            identity: text(&r.identity),
            identity_regexp: text(&r.identity_regexp),
            issuer: text(&r.issuer),
            issuer_regexp: text(&r.issuer_regexp),
            repositories,
        });
    }
    Ok(out)
}

/// Checks `[environments.<env>.artifacts]`.
pub(crate) fn artifact_policy(
    file: &Path,
    text: &str,
    env: &str,
    raw: &RawArtifactPolicy,
) -> Result<ArtifactPolicy, ConfigError> {
    let spans = Spans { file, text };
    let globs = |field: &str, list: &[Spanned<String>]| {
        list.iter()
            .enumerate()
            .map(|(i, g)| spans.glob(g, format!("environments.{env}.artifacts.{field}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(ArtifactPolicy {
        require_signature: raw.require_signature,
        require_provenance: raw.require_provenance,
        identities: globs("identities", &raw.identities)?,
        builders: globs("builders", &raw.builders)?,
        severity: raw.severity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OciSettings, ConfigError> {
        #[derive(Deserialize)]
        struct Doc {
            #[serde(default)]
            oci: Option<RawOci>,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: "envtrail.toml".into(),
            message: e.to_string(),
        })?;
        let present = doc.oci.is_some();
        oci(
            Path::new("/etc/envtrail/envtrail.toml"),
            text,
            &doc.oci.unwrap_or_default(),
            present,
        )
    }

    #[test]
    fn full_table_parses_with_paths_relative_to_the_file() {
        let s = parse(
            r#"
[oci]
concurrency = 8
timeout = "5s"
cache = false
[[oci.registries]]
host = "registry.example.com:5000"
plain_http = true
ca_file = "certs/ca.pem"
username = "ci"
password_env = "REGISTRY_PASSWORD"
[[oci.registries]]
host = "ghcr.io"
token_env = "GHCR_TOKEN"
[[oci.keys]]
name = "release"
public_key = "keys/cosign.pub"
repositories = ["registry.example.com:5000/payments/*"]
"#,
        )
        .unwrap();
        assert!(s.enabled && !s.cache);
        assert_eq!((s.concurrency, s.timeout), (8, Duration::from_secs(5)));
        assert_eq!(
            s.registries[0].ca_file.as_deref(),
            Some(Path::new("/etc/envtrail/certs/ca.pem"))
        );
        assert_eq!(
            s.registries[0].auth,
            RegistryAuth::Basic {
                username: "ci".into(),
                password_env: "REGISTRY_PASSWORD".into()
            }
        );
        assert_eq!(
            s.registries[1].auth,
            RegistryAuth::Bearer {
                token_env: "GHCR_TOKEN".into()
            }
        );
        assert_eq!(
            s.keys[0].public_key,
            Path::new("/etc/envtrail/keys/cosign.pub")
        );
        assert!(!parse("").unwrap().enabled);
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = parse("[oci]\n\n[[oci.registries]]\nhost = \"https://r.example\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":4: key `oci.registries[0].host`"), "{err}");
        let err = parse("[[oci.registries]]\nhost = \"r\"\nusername = \"u\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":3: key `oci.registries[0].username`") && err.contains("password_env"),
            "{err}"
        );
        let err = parse("[oci]\nconcurrency = 0\n").unwrap_err().to_string();
        assert!(err.contains(":2: key `oci.concurrency`"), "{err}");
        let err =
            parse("[[oci.keys]]\nname = \"k\"\npublic_key = \"k.pub\"\nrepositories = [\"a{b\"]\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains(":4: key `oci.keys[0].repositories[0]`"),
            "{err}"
        );
        let err = crate::config::Config::parse(
            Path::new("envtrail.toml"),
            "[oci]\npassword = \"hunter2\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown field") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn keyless_keys_parse_and_errors_name_the_key() {
        let s = parse(
            r#"
[oci]
trusted_root = "sigstore/trusted_root.json"
[[oci.certificate_identities]]
identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
issuer = "https://token.actions.githubusercontent.com"
repositories = ["ghcr.io/acme/*"]
[[oci.certificate_identities]]
identity_regexp = "^https://github.com/acme/"
issuer_regexp = "^https://token\\.actions\\.githubusercontent\\.com$"
"#,
        )
        .unwrap();
        assert_eq!(
            s.trusted_root.as_deref(),
            Some(Path::new("/etc/envtrail/sigstore/trusted_root.json"))
        );
        assert_eq!(s.certificate_identities.len(), 2);
        assert_eq!(s.certificate_identities[0].repositories, ["ghcr.io/acme/*"]);
        assert_eq!(
            s.certificate_identities[1].identity_regexp.as_deref(),
            Some("^https://github.com/acme/")
        );

        let err = parse("[[oci.certificate_identities]]\nidentity = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key `oci.certificate_identities[0].issuer`")
                && err.contains("needs issuer or issuer_regexp"),
            "{err}"
        );
        let err =
            parse("[[oci.certificate_identities]]\nidentity = \"a\"\nissuer_regexp = \"(\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains(":3: key `oci.certificate_identities[0].issuer_regexp`"),
            "{err}"
        );
        let err = parse(
            "[[oci.certificate_identities]]\nidentity = \"a\"\nidentity_regexp = \"b\"\nissuer = \"i\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("use either identity or identity_regexp"),
            "{err}"
        );

        // The trusted root file is read when a collection needs it, and must be one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted_root.json");
        std::fs::write(&path, b"{\"tlogs\": []}").unwrap();
        let settings = OciSettings {
            trusted_root: Some(path),
            ..OciSettings::default()
        };
        let err = settings
            .to_config(&dir.path().join("e.db"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `oci.trusted_root`"), "{err}");
    }

    #[test]
    fn artifact_policy_per_environment() {
        let config = crate::config::Config::parse(
            Path::new("envtrail.toml"),
            r#"
[environments.prod.artifacts]
require_signature = true
require_provenance = true
identities = ["key:release"]
builders = ["https://ci.example.com/*"]
severity = "critical"
"#,
        )
        .unwrap();
        let prod = &config.policy.artifacts[&"prod".parse().unwrap()];
        assert!(prod.require_signature && prod.require_provenance);
        assert_eq!(prod.identities, ["key:release"]);
        assert_eq!(prod.builders, ["https://ci.example.com/*"]);
        assert_eq!(prod.severity, Some(Severity::Critical));
        assert!(!config.oci.enabled, "no [oci] table: no enrichment");

        let err = crate::config::Config::parse(
            Path::new("envtrail.toml"),
            "[environments.prod.artifacts]\nrequire_signature = true\nidentities = [\"a{b\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(":3: key `environments.prod.artifacts.identities[0]`"),
            "{err}"
        );
    }

    #[test]
    fn setup_reads_files_and_variables_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let settings = OciSettings {
            enabled: true,
            registries: vec![RegistrySettings {
                host: "r".into(),
                plain_http: false,
                ca_file: None,
                auth: RegistryAuth::Basic {
                    username: "u".into(),
                    password_env: "ENVTRAIL_TEST_SURELY_UNSET_PW".into(),
                },
            }],
            ..OciSettings::default()
        };
        let err = settings
            .to_config(&dir.path().join("e.db"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("oci.registries[0].password_env")
                && err.contains("ENVTRAIL_TEST_SURELY_UNSET_PW"),
            "{err}"
        );

        let settings = OciSettings {
            keys: vec![KeySettings {
                name: "k".into(),
                public_key: dir.path().join("none.pub"),
                repositories: vec![],
            }],
            ..OciSettings::default()
        };
        let err = settings
            .to_config(&dir.path().join("e.db"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("oci.keys[0].public_key"), "{err}");

        let config = OciSettings::default()
            .to_config(&dir.path().join("e.db"))
            .unwrap();
        assert!(config.cache.unwrap().ends_with("e.db.oci-cache.json"));
    }
}
