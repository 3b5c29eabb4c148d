//! envtrail's evidence bundles: seal an [`EvidenceBundle`] the store exported with a signature,
//! and check a bundle file without any database.
//!
//! - [`seal`] writes the file: `{"schema":"envtrail.evidence.v1","signature":{…},"bundle":…}`
//!   where `bundle` is the RFC 8785 canonical JSON of the bundle and the Ed25519 signature is over
//!   exactly those bytes. The public key and its id are named in the signature.
//! - [`open`] checks a file: the layout, the signature (against the key given, or the one named
//!   in the file), then every state and artifact hash, every items root, content hash and chain
//!   link, and that no snapshot of the environment within the period is missing
//!   ([`check::check_bundle`]). It never fails with an error: the answer lists what broke.
//!
//! The model stays free of IO and crypto; the CLI reads and writes the files.
//!
//! ```
//! use envtrail_evidence::{SigningKey, open, seal};
//! use envtrail_model::evidence::{EVIDENCE_SCHEMA, EvidenceBundle};
//!
//! let bundle = EvidenceBundle {
//!     schema: EVIDENCE_SCHEMA.into(),
//!     environment: "prod".parse()?,
//!     component: None,
//!     from: envtrail_model::parse_time("2026-11-01")?,
//!     to: envtrail_model::parse_time("2026-11-30")?,
//!     exported_at: envtrail_model::parse_time("2026-12-01")?,
//!     generator: "doc".into(),
//!     chain_start: envtrail_model::canonical::GENESIS.into(),
//!     chain_head: envtrail_model::canonical::GENESIS.into(),
//!     chain: vec![],
//!     states: Default::default(),
//!     artifacts: Default::default(),
//! };
//! let key = SigningKey::generate();
//! let file = seal(&bundle, &key);
//! let check = open(&file, Some(&key.public_key()));
//! // The signature holds, but an empty chain proves nothing.
//! assert!(!check.ok);
//! assert!(check.problems[0].contains("no snapshot"), "{:?}", check.problems);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod check;
#[cfg(feature = "cosign")]
mod cosign;
mod error;
mod key;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use envtrail_model::canonical::canonical_json;
use envtrail_model::evidence::{
    EVIDENCE_CHECK_SCHEMA, EVIDENCE_SCHEMA, EvidenceBundle, EvidenceCheck, EvidenceSignature,
};

pub use error::EvidenceError;
pub use key::{PublicKey, SigningKey};

/// The bytes every bundle file starts with.
const PREFIX: &str = "{\"schema\":\"envtrail.evidence.v1\",\"signature\":";
/// What separates the signature from the bundle.
const BUNDLE_KEY: &str = ",\"bundle\":";

/// Signs `bundle` and returns the file's bytes (ending in a newline).
pub fn seal(bundle: &EvidenceBundle, key: &SigningKey) -> Vec<u8> {
    let payload = canonical_json(bundle);
    let public = key.public_key();
    let signature = EvidenceSignature {
        algorithm: key.algorithm(),
        public_key: public.to_pem(),
        key_id: public.key_id(),
        value: STANDARD.encode(key.sign(&payload)),
    };
    let mut out = Vec::with_capacity(payload.len() + 512);
    out.extend_from_slice(PREFIX.as_bytes());
    out.extend_from_slice(&canonical_json(&signature));
    out.extend_from_slice(BUNDLE_KEY.as_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(b"}\n");
    out
}

/// Checks a bundle file's bytes (see the crate docs). With `pinned`, the bundle must be signed by
/// that key; without, the key named in the bundle is used and the answer says it was not pinned.
pub fn open(bytes: &[u8], pinned: Option<&PublicKey>) -> EvidenceCheck {
    let mut check = EvidenceCheck {
        schema: EVIDENCE_CHECK_SCHEMA.to_owned(),
        ok: false,
        environment: None,
        component: None,
        from: None,
        to: None,
        snapshots: 0,
        chain_entries: 0,
        chain_head: None,
        key_id: None,
        key_pinned: pinned.is_some(),
        problems: Vec::new(),
    };
    let (signature, payload) = match split(bytes) {
        Ok(parts) => parts,
        Err(why) => {
            check.problems.push(why);
            return check;
        }
    };
    check.key_id = Some(signature.key_id.clone());
    check
        .problems
        .extend(check_signature(&signature, payload, pinned));

    let bundle: EvidenceBundle = match serde_json::from_slice(payload) {
        Ok(b) => b,
        Err(e) => {
            check.problems.push(format!(
                "the bundle is not an {EVIDENCE_SCHEMA} bundle: {e}"
            ));
            return check;
        }
    };
    check.environment = Some(bundle.environment.clone());
    check.component = bundle.component.clone();
    check.from = Some(bundle.from);
    check.to = Some(bundle.to);
    check.chain_head = Some(bundle.chain_head.clone());
    let outcome = check::check_bundle(&bundle);
    check.snapshots = outcome.snapshots;
    check.chain_entries = outcome.chain_entries;
    check.problems.extend(outcome.problems);
    check.ok = check.problems.is_empty();
    check
}

/// The signature and the exact bundle bytes of a file, or why the file is not a bundle.
fn split(bytes: &[u8]) -> Result<(EvidenceSignature, &[u8]), String> {
    let rest = bytes.strip_prefix(PREFIX.as_bytes()).ok_or_else(|| {
        format!(
            "the file does not start like an {EVIDENCE_SCHEMA} bundle (envtrail writes \
             `{PREFIX}…`; a re-formatted bundle no longer verifies)"
        )
    })?;
    let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<EvidenceSignature>();
    let signature = match stream.next() {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(format!("the signature block is unreadable: {e}")),
        None => return Err("the file ends before its signature".into()),
    };
    let rest = &rest[stream.byte_offset()..];
    let payload = rest
        .strip_prefix(BUNDLE_KEY.as_bytes())
        .ok_or("no `bundle` member after the signature")?;
    let end = payload
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .filter(|&i| payload[i] == b'}')
        .ok_or("the file does not end with the envelope's closing brace")?;
    Ok((signature, &payload[..end]))
}

/// Problems with the signature: wrong key, bad encoding, or a signature that does not verify.
fn check_signature(
    signature: &EvidenceSignature,
    payload: &[u8],
    pinned: Option<&PublicKey>,
) -> Vec<String> {
    let named = match PublicKey::from_pem(&signature.public_key, std::path::Path::new("bundle")) {
        Ok(k) => k,
        Err(_) => {
            return vec!["the public key named in the signature is not an Ed25519 key".into()];
        }
    };
    let mut problems = Vec::new();
    if named.key_id() != signature.key_id {
        problems.push(format!(
            "the signature's key_id {} is not the id of its public key ({})",
            signature.key_id,
            named.key_id()
        ));
    }
    let key = match pinned {
        Some(p) if *p != named => {
            problems.push(format!(
                "signed by key {}, not by the key given ({})",
                named.key_id(),
                p.key_id()
            ));
            p
        }
        Some(p) => p,
        None => &named,
    };
    let value = match STANDARD.decode(&signature.value) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("the signature value is not base64: {e}"));
            return problems;
        }
    };
    if key.algorithm() != signature.algorithm {
        problems.push(format!(
            "the signature says {} but the key is {}",
            signature.algorithm.as_str(),
            key.algorithm().as_str()
        ));
        return problems;
    }
    if !key.verifies(payload, &value) {
        problems.push(
            "the signature does not verify over the bundle's bytes: the bundle was altered \
             after signing, or signed by another key"
                .into(),
        );
    }
    problems
}
