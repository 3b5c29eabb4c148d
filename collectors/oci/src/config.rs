//! What the enrichment needs to know: how to reach each registry, which public keys may sign
//! which repositories, where the cache lives and how many registry calls may run at once. The CLI
//! fills an [`OciConfig`] from `envtrail.toml`; this crate never reads that file.

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use sha2::{Digest as _, Sha256};
use sigstore::crypto::CosignVerificationKey;

use crate::cosign::NamedKey;
use crate::keyless::{IdentityRule, TrustedRoot};
use crate::registry::RegistryConfig;

/// Default bound on concurrent registry calls.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default connect and read timeout of one registry call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the enrichment is configured with.
#[derive(Debug, Clone)]
pub struct OciConfig {
    /// Registries with settings other than the defaults (HTTPS, Docker config credentials).
    pub registries: Vec<RegistryConfig>,
    /// The Docker `config.json` to read credentials from (`None`: the default location).
    pub docker_config: Option<PathBuf>,
    /// Public keys, each trusted for the repositories its globs match.
    pub keys: Vec<KeyRule>,
    /// The Sigstore trust root keyless signatures are verified against (`None`: keyless
    /// signatures stay `unchecked`).
    pub trusted_root: Option<TrustedRoot>,
    /// Who may sign keylessly, per repository glob.
    pub identities: Vec<IdentityRule>,
    /// The cache file (`None`: no cache; every collection fetches everything).
    pub cache: Option<PathBuf>,
    /// Registry calls in flight at most.
    pub concurrency: usize,
    /// Connect and read timeout of one call.
    pub timeout: Duration,
}

impl Default for OciConfig {
    fn default() -> Self {
        Self {
            registries: Vec::new(),
            docker_config: None,
            keys: Vec::new(),
            trusted_root: None,
            identities: Vec::new(),
            cache: None,
            concurrency: DEFAULT_CONCURRENCY,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a key rule could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM is not a public key sigstore can verify with.
    #[error("key {name:?}: not a PEM public key (ECDSA P-256/P-384, Ed25519 or RSA)")]
    Pem {
        /// The key's name.
        name: String,
    },
    /// A repository glob does not compile.
    #[error("key {name:?}: invalid repository glob {glob:?}")]
    Glob {
        /// The key's name.
        name: String,
        /// The glob.
        glob: String,
        /// The parser's complaint.
        #[source]
        source: globset::Error,
    },
}

/// A public key and the repositories it may sign (globs over `host/repository`).
#[derive(Debug, Clone)]
pub struct KeyRule {
    /// The key, with its name.
    pub key: NamedKey,
    repositories: Vec<GlobMatcher>,
    globs: Vec<String>,
    fingerprint: String,
}

impl KeyRule {
    /// A rule from a PEM public key (as `cosign generate-key-pair` writes `cosign.pub`).
    pub fn from_pem(name: &str, pem: &[u8], repositories: &[String]) -> Result<Self, KeyError> {
        let key = CosignVerificationKey::try_from_pem(pem).map_err(|_| KeyError::Pem {
            name: name.to_owned(),
        })?;
        let repositories_compiled = repositories
            .iter()
            .map(|g| {
                Glob::new(g)
                    .map(|g| g.compile_matcher())
                    .map_err(|source| KeyError::Glob {
                        name: name.to_owned(),
                        glob: g.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut hash = Sha256::new();
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(pem);
        Ok(Self {
            key: NamedKey {
                name: name.to_owned(),
                key,
            },
            repositories: repositories_compiled,
            globs: repositories.to_vec(),
            fingerprint: hex::encode(hash.finalize()),
        })
    }

    /// Whether the key may sign `repository` (`host/path`). No globs: every repository.
    pub fn applies_to(&self, repository: &str) -> bool {
        self.repositories.is_empty() || self.repositories.iter().any(|g| g.is_match(repository))
    }

    /// The globs as written.
    pub fn globs(&self) -> &[String] {
        &self.globs
    }
}

impl OciConfig {
    /// The keys for `repository`, and a fingerprint of them (for the cache).
    pub fn keys_for(&self, repository: &str) -> (Vec<NamedKey>, String) {
        let rules: Vec<&KeyRule> = self
            .keys
            .iter()
            .filter(|k| k.applies_to(repository))
            .collect();
        let mut hash = Sha256::new();
        for r in &rules {
            hash.update(r.fingerprint.as_bytes());
        }
        (
            rules.iter().map(|r| r.key.clone()).collect(),
            hex::encode(&hash.finalize()[..12]),
        )
    }

    /// The keyless trust for `repository`: `Ok` with the rules that apply (to be wrapped in a
    /// [`Keyless`]), or `Err` saying why keyless signatures cannot be checked there.
    pub fn identities_for(
        &self,
        repository: &str,
    ) -> Result<(&TrustedRoot, Vec<&IdentityRule>), String> {
        let Some(root) = &self.trusted_root else {
            return Err("no trusted root is configured (oci.trusted_root)".into());
        };
        let rules: Vec<&IdentityRule> = self
            .identities
            .iter()
            .filter(|r| r.applies_to(repository))
            .collect();
        if rules.is_empty() {
            return Err(format!(
                "no certificate identity is configured for {repository} (oci.certificate_identities)"
            ));
        }
        Ok((root, rules))
    }

    /// The cache fingerprint of everything that decides `repository`'s checks: the keys'
    /// fingerprint, extended by the trusted root and identity rules when keyless trust applies
    /// (unchanged otherwise, so caches written before keyless support stay valid).
    pub fn fingerprint_for(&self, repository: &str, keys_fingerprint: &str) -> String {
        match self.identities_for(repository) {
            Err(_) => keys_fingerprint.to_owned(),
            Ok((root, rules)) => {
                let mut hash = Sha256::new();
                hash.update(keys_fingerprint.as_bytes());
                hash.update(root.fingerprint().as_bytes());
                for r in rules {
                    hash.update(r.fingerprint().as_bytes());
                }
                hex::encode(&hash.finalize()[..12])
            }
        }
    }

    /// The settings of `host`, or the defaults.
    pub fn registry(&self, host: &str) -> RegistryConfig {
        self.registries
            .iter()
            .find(|r| r.host == host)
            .cloned()
            .unwrap_or_else(|| RegistryConfig {
                host: host.to_owned(),
                ..RegistryConfig::default()
            })
    }
}

#[cfg(test)]
mod tests {
    use sigstore::crypto::SigningScheme;

    use super::*;

    fn pem() -> Vec<u8> {
        SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .unwrap()
            .to_sigstore_keypair()
            .unwrap()
            .public_key_to_pem()
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn keys_apply_by_repository_glob() {
        let a = KeyRule::from_pem("release", &pem(), &["reg.example/payments/*".into()]).unwrap();
        let b = KeyRule::from_pem("any", &pem(), &[]).unwrap();
        let config = OciConfig {
            keys: vec![a, b],
            ..OciConfig::default()
        };
        let (keys, fp1) = config.keys_for("reg.example/payments/api");
        assert_eq!(
            keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
            ["release", "any"]
        );
        let (keys, fp2) = config.keys_for("reg.example/other");
        assert_eq!(keys.len(), 1);
        assert_ne!(fp1, fp2, "different keys, different cache fingerprints");
    }

    #[test]
    fn bad_pem_and_glob_are_named() {
        let err = KeyRule::from_pem("k", b"-----BEGIN NOTHING-----", &[]).unwrap_err();
        assert!(err.to_string().contains("key \"k\""), "{err}");
        let err = KeyRule::from_pem("k", &pem(), &["a{b".into()]).unwrap_err();
        assert!(err.to_string().contains("a{b"), "{err}");
    }
}
