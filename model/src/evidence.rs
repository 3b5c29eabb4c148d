//! The evidence bundle format (`envtrail.evidence.v1`): what ran in one environment over a period,
//! with everything needed to check it without envtrail's database.
//!
//! A bundle file is an envelope: `{"schema", "signature", "bundle"}`. The `bundle` member is the
//! RFC 8785 canonical JSON of an [`EvidenceBundle`]; the signature is over exactly those bytes, so
//! any changed byte inside it fails verification. `schemas/evidence.v1.schema.json` is generated
//! from [`EvidenceFile`].
//!
//! What the bundle carries (see docs/compliance.md):
//! - [`EvidenceBundle::chain`]: every snapshot of the store's global hash chain from the first
//!   snapshot of the bundle to the chain head at export, in chain order. Each entry has its header,
//!   items root, content hash and link; the entries of the bundled environment within the period
//!   also carry their membership ([`MembershipDelta`]: which state each component had and which
//!   facts each artifact had, as a change against the previous bundled snapshot). A verifier
//!   recomputes every items root, content hash and link from these.
//! - [`EvidenceBundle::states`] and [`EvidenceBundle::artifacts`]: each distinct component state
//!   and artifact facts, keyed by their canonical hash. With a component filter, only the bodies of
//!   that component (and of the artifacts it runs) are included; the other members keep their
//!   hashes, so roots still recompute but their content is not disclosed.
//!
//! Compatibility rule: v1 only grows, with optional fields; a v1 verifier checks the signature
//! over the bytes it received, so fields it does not know are still covered by it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::{ComponentName, EnvName};
use crate::snapshot::{Artifact, SnapshotHeader};
use crate::state::ComponentState;
use crate::time::Timestamp;

/// The value of the `schema` field of a bundle file and of the bundle inside it.
pub const EVIDENCE_SCHEMA: &str = "envtrail.evidence.v1";

/// Schema id of [`EvidenceCheck`], the output of `envtrail evidence verify`.
pub const EVIDENCE_CHECK_SCHEMA: &str = "envtrail.evidence-check.v1";

/// A bundle file as written: the signature and the signed bundle. (Readers keep the bundle's
/// bytes as they are to check the signature; this type describes the shape.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceFile {
    /// Always `envtrail.evidence.v1`.
    pub schema: String,
    /// The signature over the canonical JSON bytes of `bundle`.
    pub signature: EvidenceSignature,
    /// The signed content.
    pub bundle: EvidenceBundle,
}

/// A signature and the public key that verifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceSignature {
    /// The signing algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The public key, PEM (SubjectPublicKeyInfo).
    pub public_key: String,
    /// `sha256:` of the public key's DER bytes: a short name to compare with the one published.
    pub key_id: String,
    /// The signature, standard base64.
    pub value: String,
}

/// The signature algorithms a bundle may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    /// Ed25519 (RFC 8032) over the bundle bytes.
    Ed25519,
    /// ECDSA P-256 with SHA-256, ASN.1 DER signature: cosign's key-pair signatures.
    #[serde(rename = "ecdsa-p256-sha256")]
    EcdsaP256Sha256,
}

impl SignatureAlgorithm {
    /// The name as written in bundles.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }
}

/// What a bundle proves: one environment (optionally one component) over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceBundle {
    /// Always `envtrail.evidence.v1`.
    pub schema: String,
    /// The environment.
    pub environment: EnvName,
    /// The component filter, if any: only its states (and its artifacts' facts) are disclosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentName>,
    /// Start of the period: the first bundled snapshot is the one in force then (or the first
    /// after it when none was).
    pub from: Timestamp,
    /// End of the period (inclusive).
    pub to: Timestamp,
    /// When the bundle was exported.
    pub exported_at: Timestamp,
    /// The program that exported it, e.g. `envtrail 0.1.0`.
    pub generator: String,
    /// The link before the first chain entry (the all-zero genesis when it is the store's first).
    pub chain_start: String,
    /// The store's chain head at export: the link of the last chain entry.
    pub chain_head: String,
    /// Every snapshot of the store's chain from the first bundled one to the head, in chain order.
    pub chain: Vec<ChainEntry>,
    /// Component states by state hash.
    pub states: BTreeMap<String, ComponentState>,
    /// Artifact facts by their hash.
    pub artifacts: BTreeMap<String, Artifact>,
}

/// A bundle's states and artifact facts as their canonical JSON bytes, by hash: what
/// `Store::evidence_parts` gives and `envtrail_evidence::seal_parts` writes into the bundle,
/// byte for byte what serialising the decoded bodies would write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleBodies {
    /// Component states by state hash.
    pub states: BTreeMap<String, Vec<u8>>,
    /// Artifact facts by their hash.
    pub artifacts: BTreeMap<String, Vec<u8>>,
}

/// One snapshot of the store's hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChainEntry {
    /// The store's id (global import order).
    pub id: i64,
    /// The snapshot's header: environment, time, sources.
    pub header: SnapshotHeader,
    /// The root over its items (recomputed from `members` when present).
    pub items_root: String,
    /// sha256 of the canonical header and the items root.
    pub content_hash: String,
    /// sha256 of the previous link and the content hash.
    pub link: String,
    /// Present for the bundled environment's snapshots within the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<MembershipDelta>,
}

/// A bundled snapshot's items, as a change against the previous bundled snapshot (the first one:
/// against nothing, so it lists every item).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MembershipDelta {
    /// The environment's snapshot number (consecutive within a bundle).
    pub seq: i64,
    /// Component → its state hash from this snapshot on (`null`: removed).
    #[serde(default)]
    pub components: BTreeMap<String, Option<String>>,
    /// Artifact digest → the hash of its facts from this snapshot on (`null`: removed).
    #[serde(default)]
    pub artifacts: BTreeMap<String, Option<String>>,
}

/// `envtrail evidence verify`: what a bundle proved, or what broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceCheck {
    /// `envtrail.evidence-check.v1`.
    pub schema: String,
    /// Whether every hash, link and the signature checked (and the key matched, if one was given).
    pub ok: bool,
    /// The environment (when the bundle could be read).
    pub environment: Option<EnvName>,
    /// The component filter, if any.
    pub component: Option<ComponentName>,
    /// Start of the period.
    pub from: Option<Timestamp>,
    /// End of the period.
    pub to: Option<Timestamp>,
    /// Snapshots of the environment whose content was recomputed.
    pub snapshots: usize,
    /// Chain entries whose link was recomputed.
    pub chain_entries: usize,
    /// The chain head the bundle ties to.
    pub chain_head: Option<String>,
    /// The signing key's id.
    pub key_id: Option<String>,
    /// Whether the key was checked against one given by the verifier (`--key`), rather than only
    /// the key named in the bundle.
    pub key_pinned: bool,
    /// Everything that did not check, first the first broken thing.
    pub problems: Vec<String>,
}
