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
//! - [`sign_detached`] and [`check_detached`] sign and check other records the same way, over
//!   their exact bytes: the checkpoints `envtrail prune` leaves in the store.
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

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use envtrail_model::canonical::canonical_json;
use envtrail_model::evidence::{
    BundleBodies, EVIDENCE_CHECK_SCHEMA, EVIDENCE_SCHEMA, EvidenceBundle, EvidenceCheck,
    EvidenceSignature,
};

pub use error::EvidenceError;
pub use key::{PublicKey, SigningKey};

/// The bytes every bundle file starts with.
const PREFIX: &str = "{\"schema\":\"envtrail.evidence.v1\",\"signature\":";
/// What separates the signature from the bundle.
const BUNDLE_KEY: &str = ",\"bundle\":";

/// Signs `bundle` and returns the file's bytes (ending in a newline).
pub fn seal(bundle: &EvidenceBundle, key: &SigningKey) -> Vec<u8> {
    envelope(canonical_json(bundle), key)
}

/// [`seal`] for a bundle whose states and artifact facts are given apart as their canonical JSON
/// (`Store::evidence_parts`): the same bytes as sealing the bundle with those bodies decoded in
/// it, without decoding or serialising them. `bundle`'s own `states` and `artifacts` must be
/// empty.
pub fn seal_parts(bundle: &EvidenceBundle, bodies: &BundleBodies, key: &SigningKey) -> Vec<u8> {
    assert!(
        bundle.states.is_empty() && bundle.artifacts.is_empty(),
        "the bodies of a bundle sealed in parts come from `bodies`"
    );
    envelope(splice(&canonical_json(bundle), bodies), key)
}

/// The canonical JSON of a bundle with its empty body maps replaced by `bodies`. RFC 8785 orders
/// members by name, so the bundle's members are `artifacts` first and `states` just before `to`,
/// its last member, whose value is a time: the two empty maps are found at fixed places.
fn splice(skeleton: &[u8], bodies: &BundleBodies) -> Vec<u8> {
    const ARTIFACTS: &[u8] = b"{\"artifacts\":{}";
    const STATES: &[u8] = b"\"states\":{}";
    let states_at = skeleton
        .windows(STATES.len())
        .rposition(|w| w == STATES)
        .filter(|&at| {
            skeleton.starts_with(ARTIFACTS) && !skeleton[at + STATES.len()..].contains(&b'{')
        })
        .expect("a bundle's canonical JSON starts with `artifacts` and ends with `states`, `to`");
    let size = |m: &BTreeMap<String, Vec<u8>>| -> usize {
        m.iter().map(|(k, v)| k.len() + v.len() + 4).sum()
    };
    let mut out =
        Vec::with_capacity(skeleton.len() + size(&bodies.states) + size(&bodies.artifacts));
    out.extend_from_slice(b"{\"artifacts\":");
    write_map(&mut out, &bodies.artifacts);
    out.extend_from_slice(&skeleton[ARTIFACTS.len()..states_at]);
    out.extend_from_slice(b"\"states\":");
    write_map(&mut out, &bodies.states);
    out.extend_from_slice(&skeleton[states_at + STATES.len()..]);
    out
}

/// A canonical JSON object of already canonical values: members in the order of their names'
/// UTF-16 code units, as RFC 8785 sorts them.
fn write_map(out: &mut Vec<u8>, map: &BTreeMap<String, Vec<u8>>) {
    let mut members: Vec<(&String, &Vec<u8>)> = map.iter().collect();
    if !members.iter().all(|(k, _)| k.is_ascii()) {
        members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&canonical_json(key));
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
}

/// The file around a bundle's canonical bytes: the signature over them, then them.
fn envelope(payload: Vec<u8>, key: &SigningKey) -> Vec<u8> {
    let signature = sign_detached(&payload, key);
    let mut out = Vec::with_capacity(payload.len() + 512);
    out.extend_from_slice(PREFIX.as_bytes());
    out.extend_from_slice(&canonical_json(&signature));
    out.extend_from_slice(BUNDLE_KEY.as_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(b"}\n");
    out
}

/// Signs `payload` (exactly these bytes) with `key`: the signature block a bundle carries, for
/// a record stored apart from it (a prune's checkpoint).
pub fn sign_detached(payload: &[u8], key: &SigningKey) -> EvidenceSignature {
    let public = key.public_key();
    EvidenceSignature {
        algorithm: key.algorithm(),
        public_key: public.to_pem(),
        key_id: public.key_id(),
        value: STANDARD.encode(key.sign(payload)),
    }
}

/// Checks a detached signature over `payload` (what `what` names in the messages, e.g. "the
/// checkpoint"): the problems, none when it verifies. With `pinned`, it must be that key's.
pub fn check_detached(
    payload: &[u8],
    signature: &EvidenceSignature,
    pinned: Option<&PublicKey>,
    what: &str,
) -> Vec<String> {
    check_signature(signature, payload, pinned, what)
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
    // The signature (one sequential SHA-512 pass over the whole bundle) and the recomputation
    // run side by side.
    let (signature_problems, parsed) = rayon::join(
        || check_signature(&signature, payload, pinned, "the bundle"),
        || {
            check::read_payload(payload).map(|parts| {
                let outcome = check::check_parts(&parts);
                (parts, outcome)
            })
        },
    );
    check.problems.extend(signature_problems);
    let (bundle, outcome) = match parsed {
        Ok(parts) => parts,
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
    what: &str,
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
        problems.push(format!(
            "the signature does not verify over {what}'s bytes: {what} was altered after \
             signing, or signed by another key"
        ));
    }
    problems
}
