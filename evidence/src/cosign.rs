//! cosign-compatible keys through the sigstore crate: an encrypted cosign private key (as
//! `cosign generate-key-pair` writes it, with its password) signs with ECDSA P-256 SHA-256
//! (ASN.1 DER signatures); a `cosign.pub` verifies.

use std::path::Path;

use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};

use crate::error::EvidenceError;

const SCHEME: SigningScheme = SigningScheme::ECDSA_P256_SHA256_ASN1;

/// Whether a private key PEM is an encrypted cosign/sigstore key.
pub(crate) fn is_cosign_private_key(pem: &str) -> bool {
    pem.contains("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
        || pem.contains("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
}

pub(crate) struct CosignSigner {
    signer: sigstore::crypto::SigStoreSigner,
    pub(crate) public: CosignPublic,
}

#[derive(Clone)]
pub(crate) struct CosignPublic {
    key: std::sync::Arc<CosignVerificationKey>,
    pub(crate) pem: String,
    pub(crate) der: Vec<u8>,
}

impl CosignSigner {
    pub(crate) fn from_encrypted_pem(
        pem: &str,
        path: &Path,
        password: Option<&[u8]>,
    ) -> Result<CosignSigner, EvidenceError> {
        let fail = |why: String| EvidenceError::Cosign {
            path: path.to_owned(),
            why,
        };
        // cosign's own files say COSIGN; the sigstore crate reads the SIGSTORE label.
        let pem = pem.replace(
            "ENCRYPTED COSIGN PRIVATE KEY",
            "ENCRYPTED SIGSTORE PRIVATE KEY",
        );
        let pair =
            SigStoreKeyPair::from_encrypted_pem(pem.as_bytes(), password.unwrap_or_default())
                .map_err(|_| {
                    fail("cannot decrypt it (wrong or missing password: COSIGN_PASSWORD)".into())
                })?;
        let signer = pair
            .to_sigstore_signer(&SCHEME)
            .map_err(|_| fail("not an ECDSA P-256 key".into()))?;
        let public_pem = pair.public_key_to_pem().map_err(|e| fail(e.to_string()))?;
        let public =
            CosignPublic::from_pem(&public_pem).ok_or_else(|| fail("no public key".into()))?;
        Ok(CosignSigner { signer, public })
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signer
            .sign(message)
            .expect("ECDSA P-256 signing does not fail")
    }
}

impl CosignPublic {
    pub(crate) fn from_pem(pem: &str) -> Option<CosignPublic> {
        if !pem.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") {
            return None;
        }
        let key = CosignVerificationKey::from_pem(pem.as_bytes(), &SCHEME).ok()?;
        let block = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(block)
            .ok()?;
        Some(CosignPublic {
            key: std::sync::Arc::new(key),
            pem: pem.trim_end().to_owned() + "\n",
            der,
        })
    }

    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key
            .verify_signature(Signature::Raw(signature), message)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PublicKey, SigningKey};

    #[test]
    fn a_cosign_key_pair_signs_and_verifies() {
        let pair = SCHEME
            .create_signer()
            .unwrap()
            .to_sigstore_keypair()
            .unwrap();
        let private = pair.private_key_to_encrypted_pem(b"pw").unwrap();
        let public = pair.public_key_to_pem().unwrap();
        let key =
            SigningKey::from_file_text(&private, Path::new("cosign.key"), Some(b"pw")).unwrap();
        assert_eq!(key.algorithm().as_str(), "ecdsa-p256-sha256");
        let pinned = PublicKey::from_pem(&public, Path::new("cosign.pub")).unwrap();
        assert_eq!(pinned, key.public_key());
        let sig = key.sign(b"bundle");
        assert!(pinned.verifies(b"bundle", &sig));
        assert!(!pinned.verifies(b"bundle!", &sig));
        // A sealed bundle names the algorithm and verifies against the pinned cosign.pub.
        let bundle: envtrail_model::evidence::EvidenceBundle =
            serde_json::from_value(serde_json::json!({
                "schema": "envtrail.evidence.v1", "environment": "prod",
                "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
                "exported_at": "2026-11-03T00:00:00Z", "generator": "test",
                "chain_start": "0", "chain_head": "0", "chain": [], "states": {}, "artifacts": {}
            }))
            .unwrap();
        let file = crate::seal(&bundle, &key);
        assert!(String::from_utf8_lossy(&file).contains("\"algorithm\":\"ecdsa-p256-sha256\""));
        let check = crate::open(&file, Some(&pinned));
        assert_eq!(
            check.problems,
            ["the bundle holds no snapshot"],
            "the signature holds"
        );
        let mut tampered = file.clone();
        let at = tampered.len() - 10;
        tampered[at] ^= 1;
        let check = crate::open(&tampered, Some(&pinned));
        assert!(
            check
                .problems
                .iter()
                .any(|p| p.contains("signature does not verify")),
            "{:?}",
            check.problems
        );

        let err = SigningKey::from_file_text(&private, Path::new("cosign.key"), Some(b"no"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cosign.key") && err.contains("password"),
            "{err}"
        );
    }
}
