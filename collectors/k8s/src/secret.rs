//! Keyed fingerprints of Secret values: `hmac-sha256:<hex>` with the operator's key.
//!
//! A plain sha256 of a short secret (a 6-digit PIN, a dictionary password) can be reversed by
//! guessing; an HMAC under a key that never enters the store cannot, yet the same key gives the same
//! fingerprint in every environment, so "is prod's DB password the one staging uses?" is still
//! answerable. The key comes from a file or an environment variable named in the config.

use std::fmt;
use std::path::{Path, PathBuf};

use envtrail_model::Fingerprint;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shortest key accepted: 16 bytes (128 bits).
pub const MIN_KEY_BYTES: usize = 16;

/// The HMAC key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct HmacKey(Vec<u8>);

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HmacKey({} bytes)", self.0.len())
    }
}

/// Why the HMAC key could not be had. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read the HMAC key file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The environment variable is not set (or not UTF-8).
    #[error("environment variable {0} (the HMAC key) is not set")]
    MissingEnv(String),
    /// The key is shorter than [`MIN_KEY_BYTES`].
    #[error("the HMAC key from {origin} is {len} bytes long; at least {MIN_KEY_BYTES} are needed")]
    TooShort {
        /// Where it came from (the file or the variable, never the key).
        origin: String,
        /// Its length.
        len: usize,
    },
}

impl HmacKey {
    /// A key from raw bytes.
    pub fn new(bytes: impl Into<Vec<u8>>, origin: &str) -> Result<Self, KeyError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                origin: origin.to_owned(),
                len: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    /// The key in a file; one trailing newline (as editors and `echo` leave) is not part of it.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let mut bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        strip_newline(&mut bytes);
        Self::new(bytes, &path.display().to_string())
    }

    /// The key in an environment variable.
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        let value = std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?;
        let mut bytes = value.into_bytes();
        strip_newline(&mut bytes);
        Self::new(bytes, &format!("${var}"))
    }

    /// The keyed fingerprint of a secret value.
    pub fn fingerprint(&self, value: &[u8]) -> Fingerprint {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("hmac accepts any key length");
        mac.update(value);
        let hex = hex::encode(mac.finalize().into_bytes());
        format!("hmac-sha256:{hex}")
            .parse()
            .expect("64 lowercase hex digits form a valid fingerprint")
    }
}

fn strip_newline(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        // RFC 4231 case 2 uses a 4-byte key; check the algorithm with it, bypassing the length rule.
        let key = HmacKey(b"Jefe".to_vec());
        assert_eq!(
            key.fingerprint(b"what do ya want for nothing?").as_str(),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn same_key_same_fingerprint_other_key_differs() {
        let a = HmacKey::new(*b"0123456789abcdef", "test").unwrap();
        let b = HmacKey::new(*b"0123456789abcdeF", "test").unwrap();
        assert_eq!(a.fingerprint(b"hunter2"), a.fingerprint(b"hunter2"));
        assert_ne!(a.fingerprint(b"hunter2"), b.fingerprint(b"hunter2"));
        assert!(a.fingerprint(b"hunter2").is_keyed());
        assert_ne!(
            a.fingerprint(b"hunter2").as_str(),
            Fingerprint::of_plain_value("hunter2").as_str()
        );
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        let err = HmacKey::new(*b"short", "$K").unwrap_err().to_string();
        assert!(
            err.contains("$K") && err.contains("5 bytes") && !err.contains("short"),
            "{err}"
        );
        let key = HmacKey::new(*b"super-secret-key-material", "test").unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains("super-secret"), "{debug}");
    }

    #[test]
    fn key_file_loses_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef\n").unwrap();
        let from_file = HmacKey::from_file(&path).unwrap();
        let direct = HmacKey::new(*b"0123456789abcdef", "test").unwrap();
        assert_eq!(from_file.fingerprint(b"x"), direct.fingerprint(b"x"));
        let missing = HmacKey::from_file(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope"), "{missing}");
    }
}
