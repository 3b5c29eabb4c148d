//! Signing keys and public keys, and their short id (`sha256:` of the DER public key).
//!
//! - Ed25519 as PKCS#8 / SubjectPublicKeyInfo PEM, the form `openssl genpkey -algorithm ed25519`
//!   and `envtrail evidence keygen` write.
//! - With the `cosign` feature: cosign key pairs (`cosign generate-key-pair`: an encrypted
//!   `ENCRYPTED SIGSTORE PRIVATE KEY` or `ENCRYPTED COSIGN PRIVATE KEY` with its password, and
//!   the ECDSA P-256 `cosign.pub`), through the sigstore crate; signatures are ECDSA P-256 SHA-256
//!   in ASN.1 DER, as cosign makes them.
//!
//! A private key is never printed or written to a bundle: `Debug` shows only the public key's id.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, Verifier as _};
use envtrail_model::evidence::SignatureAlgorithm;
use sha2::{Digest as _, Sha256};

use crate::error::EvidenceError;

/// A private signing key.
pub struct SigningKey(Signing);

enum Signing {
    Ed25519(ed25519_dalek::SigningKey),
    #[cfg(feature = "cosign")]
    Cosign(crate::cosign::CosignSigner),
}

/// A public key that verifies bundles.
#[derive(Clone)]
pub struct PublicKey(Public);

#[derive(Clone)]
enum Public {
    Ed25519(ed25519_dalek::VerifyingKey),
    #[cfg(feature = "cosign")]
    Cosign(crate::cosign::CosignPublic),
}

impl SigningKey {
    /// A new random Ed25519 key (from the operating system's generator, through `rand`).
    pub fn generate() -> SigningKey {
        SigningKey(Signing::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            &rand::random(),
        )))
    }

    /// Reads a PKCS#8 PEM Ed25519 private key; `path` only names the key in errors.
    pub fn from_pem(pem: &str, path: &Path) -> Result<SigningKey, EvidenceError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(|k| SigningKey(Signing::Ed25519(k)))
            .map_err(|source| EvidenceError::PrivateKey {
                path: path.to_owned(),
                source,
            })
    }

    /// Reads a key file: an encrypted cosign key (with `password`) when the feature is on and
    /// the PEM says so, else an Ed25519 PKCS#8 key.
    pub fn from_file_text(
        pem: &str,
        path: &Path,
        password: Option<&[u8]>,
    ) -> Result<SigningKey, EvidenceError> {
        #[cfg(feature = "cosign")]
        if crate::cosign::is_cosign_private_key(pem) {
            let signer = crate::cosign::CosignSigner::from_encrypted_pem(pem, path, password)?;
            return Ok(SigningKey(Signing::Cosign(signer)));
        }
        let _ = password;
        Self::from_pem(pem, path)
    }

    /// The private key as PKCS#8 PEM, to write to a file only its owner can read (Ed25519 only:
    /// cosign keys are made by cosign).
    pub fn to_pem(&self) -> Result<String, EvidenceError> {
        match &self.0 {
            Signing::Ed25519(k) => k
                .to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(EvidenceError::Encode),
            #[cfg(feature = "cosign")]
            Signing::Cosign(_) => Err(EvidenceError::NotExportable),
        }
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.0 {
            Signing::Ed25519(k) => PublicKey(Public::Ed25519(k.verifying_key())),
            #[cfg(feature = "cosign")]
            Signing::Cosign(s) => PublicKey(Public::Cosign(s.public.clone())),
        }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.public_key().algorithm()
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.0 {
            Signing::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            #[cfg(feature = "cosign")]
            Signing::Cosign(s) => s.sign(message),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key().key_id())
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM public key (Ed25519; ECDSA P-256 with the `cosign`
    /// feature); `path` only names the key in errors.
    pub fn from_pem(pem: &str, path: &Path) -> Result<PublicKey, EvidenceError> {
        match ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            Ok(k) => Ok(PublicKey(Public::Ed25519(k))),
            Err(source) => {
                #[cfg(feature = "cosign")]
                if let Some(k) = crate::cosign::CosignPublic::from_pem(pem) {
                    return Ok(PublicKey(Public::Cosign(k)));
                }
                Err(EvidenceError::PublicKey {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }

    /// The public key as PEM.
    pub fn to_pem(&self) -> String {
        match &self.0 {
            Public::Ed25519(k) => k
                .to_public_key_pem(LineEnding::LF)
                .expect("an Ed25519 public key always encodes"),
            #[cfg(feature = "cosign")]
            Public::Cosign(k) => k.pem.clone(),
        }
    }

    fn der(&self) -> Vec<u8> {
        match &self.0 {
            Public::Ed25519(k) => k
                .to_public_key_der()
                .expect("an Ed25519 public key always encodes")
                .into_vec(),
            #[cfg(feature = "cosign")]
            Public::Cosign(k) => k.der.clone(),
        }
    }

    /// `sha256:` of the DER SubjectPublicKeyInfo: the name to publish and compare.
    pub fn key_id(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(self.der())))
    }

    /// The algorithm its signatures use.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match &self.0 {
            Public::Ed25519(_) => SignatureAlgorithm::Ed25519,
            #[cfg(feature = "cosign")]
            Public::Cosign(_) => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    /// Whether `signature` is this key's signature over `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.0 {
            Public::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| k.verify(message, &sig).is_ok()),
            #[cfg(feature = "cosign")]
            Public::Cosign(k) => k.verifies(message, signature),
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.der() == other.der()
    }
}

impl Eq for PublicKey {}

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
        let sig = key.sign(b"m");
        assert!(public.verifies(b"m", &sig));
        assert!(!public.verifies(b"n", &sig));
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
