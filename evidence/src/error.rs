//! The errors of signing and reading keys. Checking a bundle does not fail with an error: it
//! returns an [`envtrail_model::evidence::EvidenceCheck`] listing what broke.

use std::path::PathBuf;

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The key file is not a PKCS#8 PEM Ed25519 private key.
    #[error("key {path}: not an Ed25519 private key in PKCS#8 PEM (BEGIN PRIVATE KEY)")]
    PrivateKey {
        /// The key file.
        path: PathBuf,
        /// What the decoder said (never the key's bytes).
        #[source]
        source: ed25519_dalek::pkcs8::Error,
    },
    /// The key file is not a PEM Ed25519 public key.
    #[error("key {path}: not an Ed25519 public key in PEM (BEGIN PUBLIC KEY)")]
    PublicKey {
        /// The key file.
        path: PathBuf,
        /// What the decoder said.
        #[source]
        source: ed25519_dalek::pkcs8::spki::Error,
    },
    /// A key could not be encoded.
    #[error("encoding the key")]
    Encode(#[source] ed25519_dalek::pkcs8::Error),
    /// A cosign key could not be used.
    #[error("key {path}: {why}")]
    Cosign {
        /// The key file.
        path: PathBuf,
        /// What went wrong (never the key's bytes or the password).
        why: String,
    },
    /// A cosign private key cannot be written out by envtrail.
    #[error("a cosign key is not exported by envtrail")]
    NotExportable,
    /// A public key could not be encoded.
    #[error("encoding the public key")]
    EncodePublic(#[source] ed25519_dalek::pkcs8::spki::Error),
}
