//! Ed25519 keys as PKCS#8 / SubjectPublicKeyInfo PEM, the form `openssl genpkey -algorithm
//! ed25519` writes, and their short id. A private key is never printed or written to a bundle:
//! `Debug` shows only the public key's id.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest as _, Sha256};

use crate::error::EvidenceError;

/// A private signing key.
pub struct SigningKey(pub(crate) ed25519_dalek::SigningKey);

/// A public key that verifies bundles.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) ed25519_dalek::VerifyingKey);

impl SigningKey {
    /// A new random key (from the operating system's generator, through `rand`).
    pub fn generate() -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&rand::random()))
    }

    /// Reads a PKCS#8 PEM private key; `path` only names the key in errors.
    pub fn from_pem(pem: &str, path: &Path) -> Result<SigningKey, EvidenceError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey)
            .map_err(|source| EvidenceError::PrivateKey {
                path: path.to_owned(),
                source,
            })
    }

    /// The private key as PKCS#8 PEM, to write to a file only its owner can read.
    pub fn to_pem(&self) -> Result<String, EvidenceError> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(EvidenceError::Encode)
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key().key_id())
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM public key; `path` only names the key in errors.
    pub fn from_pem(pem: &str, path: &Path) -> Result<PublicKey, EvidenceError> {
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey)
            .map_err(|source| EvidenceError::PublicKey {
                path: path.to_owned(),
                source,
            })
    }

    /// The public key as PEM.
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 public key always encodes")
    }

    /// `sha256:` of the DER SubjectPublicKeyInfo: the name to publish and compare.
    pub fn key_id(&self) -> String {
        let der = self
            .0
            .to_public_key_der()
            .expect("an Ed25519 public key always encodes");
        format!("sha256:{}", hex::encode(Sha256::digest(der.as_bytes())))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_and_debug_hides_the_secret() {
        let key = SigningKey::generate();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let back = SigningKey::from_pem(&pem, Path::new("k")).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let public = PublicKey::from_pem(&key.public_key().to_pem(), Path::new("k.pub")).unwrap();
        assert_eq!(public.key_id(), key.public_key().key_id());
        let debug = format!("{key:?}");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!debug.contains(&body), "{debug}");
        assert!(debug.contains("sha256:"), "{debug}");
    }

    #[test]
    fn an_openssl_key_is_read() {
        // Written by `openssl genpkey -algorithm ed25519` (a throwaway test key).
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIF+InkX6npEsjZXwAhg8XfClwujM5ig9cEZ4LCAnaopb\n-----END PRIVATE KEY-----\n";
        let key = SigningKey::from_pem(pem, Path::new("k")).unwrap();
        assert!(key.public_key().to_pem().contains("BEGIN PUBLIC KEY"));
        let err = SigningKey::from_pem("not a key", Path::new("bad.pem")).unwrap_err();
        assert!(err.to_string().contains("bad.pem"), "{err}");
        let err = PublicKey::from_pem(pem, Path::new("priv.pem")).unwrap_err();
        assert!(err.to_string().contains("public key"), "{err}");
    }
}
