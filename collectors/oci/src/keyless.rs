//! Keyless cosign signatures (a short-lived Fulcio certificate instead of a configured key),
//! verified offline: against a Sigstore trusted root file (`trusted_root.json`: the Fulcio CA
//! chains and the Rekor log keys, each with its validity period) and per repository the
//! certificate identities and OIDC issuers allowed to sign, as cosign's
//! `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]` say them.
//!
//! What is checked, for a layer carrying `dev.sigstore.cosign/certificate` (and `…/chain`,
//! `…/bundle`):
//! 1. the Rekor bundle's SignedEntryTimestamp verifies with a trusted log key (by `logID`) valid
//!    at the entry's `integratedTime`, and the entry names this certificate and this payload;
//! 2. `integratedTime` lies within the leaf certificate's validity (Fulcio certificates live ten
//!    minutes: the signing time comes from the log, never from the clock);
//! 3. the leaf chains, at that time and for code signing, to a CA of the trusted root that was
//!    valid then (rustls-webpki, the verifier rustls uses, as sigstore itself does);
//! 4. its identity (SAN URI or e-mail) and issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, else
//!    the older 1.3.6.1.4.1.57264.1.1) match a rule configured for the repository;
//! 5. the caller then verifies the payload's signature with the leaf's public key.
//!
//! Not checked offline: the Rekor Merkle inclusion proof (the SET is the log's signed promise of
//! inclusion, as cosign's offline mode accepts), RFC 3161 timestamps, and the certificate
//! transparency SCT embedded in the certificate.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use globset::{Glob, GlobMatcher};
use regex::Regex;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sigstore::cosign::signature_layers::CertificateSubject;
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;

/// The Fulcio extension holding the OIDC issuer as raw UTF-8 (deprecated, still written).
pub const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// The Fulcio extension holding the OIDC issuer as a DER UTF8String.
pub const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), DER content bytes, as webpki wants it.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Why a trusted root file or an identity rule cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    /// The trusted root is not Sigstore `trusted_root.json`.
    #[error("trusted root: not a Sigstore trusted_root.json")]
    Json(#[source] serde_json::Error),
    /// A certificate or key of the trusted root does not parse.
    #[error("trusted root: {what} is unreadable: {why}")]
    Material {
        /// Which entry.
        what: String,
        /// The parser's complaint.
        why: String,
    },
    /// The trusted root has no CA or no transparency log.
    #[error("trusted root: it names no {0}")]
    Empty(&'static str),
    /// An identity rule names neither or both of the exact and the regexp form.
    #[error("certificate identity {index}: {why}")]
    Rule {
        /// Its position.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// A regular expression does not compile.
    #[error("certificate identity {index}: invalid regexp {pattern:?}")]
    Regexp {
        /// Its position.
        index: usize,
        /// The expression.
        pattern: String,
        /// The parser's complaint.
        #[source]
        source: regex::Error,
    },
    /// A repository glob does not compile.
    #[error("certificate identity {index}: invalid repository glob {glob:?}")]
    Glob {
        /// Its position.
        index: usize,
        /// The glob.
        glob: String,
        /// The parser's complaint.
        #[source]
        source: globset::Error,
    },
}

/// A validity period (`validFor`): an absent end is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Validity {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl Validity {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

/// One certificate authority: its chain (issuing CA first, root last).
#[derive(Debug, Clone)]
struct Authority {
    uri: String,
    chain: Vec<CertificateDer<'static>>,
    valid: Validity,
}

/// One transparency log key.
#[derive(Clone)]
struct LogKey {
    key: CosignVerificationKey,
    valid: Validity,
}

/// The trust material of a Sigstore deployment, from its `trusted_root.json`.
#[derive(Clone)]
pub struct TrustedRoot {
    authorities: Vec<Authority>,
    /// Log id (hex sha256 of the key's DER, as Rekor bundles name it) → key.
    logs: BTreeMap<String, LogKey>,
    fingerprint: String,
}

impl std::fmt::Debug for TrustedRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedRoot")
            .field("authorities", &self.authorities.len())
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    tlogs: Vec<RawLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    #[serde(default)]
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    #[serde(default)]
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawValidity {
    #[serde(default)]
    start: Option<DateTime<Utc>>,
    #[serde(default)]
    end: Option<DateTime<Utc>>,
}

fn validity(raw: Option<RawValidity>) -> Validity {
    raw.map(|v| Validity {
        start: v.start,
        end: v.end,
    })
    .unwrap_or_default()
}

impl TrustedRoot {
    /// Reads a Sigstore `trusted_root.json` (protobuf-specs `TrustedRoot` in JSON).
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeylessError> {
        let raw: RawRoot = serde_json::from_slice(bytes).map_err(KeylessError::Json)?;
        let decode = |what: String, b64: &str| {
            BASE64
                .decode(b64.as_bytes())
                .map_err(|e| KeylessError::Material {
                    what,
                    why: e.to_string(),
                })
        };
        let mut authorities = Vec::new();
        for (i, ca) in raw.certificate_authorities.into_iter().enumerate() {
            let mut chain = Vec::new();
            for (j, c) in ca.cert_chain.certificates.iter().enumerate() {
                let what = format!("certificateAuthorities[{i}].certChain.certificates[{j}]");
                let der = decode(what.clone(), &c.raw_bytes)?;
                Certificate::from_der(&der).map_err(|e| KeylessError::Material {
                    what,
                    why: e.to_string(),
                })?;
                chain.push(CertificateDer::from(der));
            }
            if chain.is_empty() {
                continue;
            }
            authorities.push(Authority {
                uri: ca.uri,
                chain,
                valid: validity(ca.valid_for),
            });
        }
        let mut logs = BTreeMap::new();
        for (i, log) in raw.tlogs.into_iter().enumerate() {
            let what = format!("tlogs[{i}].publicKey");
            let der = decode(what.clone(), &log.public_key.raw_bytes)?;
            let key =
                CosignVerificationKey::try_from_der(&der).map_err(|e| KeylessError::Material {
                    what,
                    why: e.to_string(),
                })?;
            let id = decode(format!("tlogs[{i}].logId"), &log.log_id.key_id)?;
            logs.insert(
                hex::encode(id),
                LogKey {
                    key,
                    valid: validity(log.public_key.valid_for),
                },
            );
        }
        if authorities.is_empty() {
            return Err(KeylessError::Empty("certificate authority"));
        }
        if logs.is_empty() {
            return Err(KeylessError::Empty("transparency log"));
        }
        Ok(Self {
            authorities,
            logs,
            fingerprint: hex::encode(Sha256::digest(bytes)),
        })
    }

    /// A fingerprint of the file (for the cache: a new root makes old answers unused).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// A string matched exactly or by a regular expression (as cosign's `--certificate-identity`
/// and `--certificate-identity-regexp`: the expression matches anywhere unless anchored).
#[derive(Debug, Clone)]
pub enum Match {
    /// Equal to this.
    Exact(String),
    /// Matched by this.
    Regexp(Regex),
}

impl Match {
    fn is_match(&self, s: &str) -> bool {
        match self {
            Self::Exact(e) => e == s,
            Self::Regexp(r) => r.is_match(s),
        }
    }
}

impl std::fmt::Display for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(e) => write!(f, "{e:?}"),
            Self::Regexp(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// Whether `pattern` is a regular expression [`IdentityRule`] accepts (for config checks).
pub fn check_regexp(pattern: &str) -> Result<(), regex::Error> {
    Regex::new(pattern).map(|_| ())
}

/// Who may sign keylessly, and for which repositories (globs over `host/path`).
#[derive(Debug, Clone)]
pub struct IdentityRule {
    identity: Match,
    issuer: Match,
    repositories: Vec<GlobMatcher>,
    fingerprint: String,
}

impl IdentityRule {
    /// A rule from the config's strings: exactly one of `identity`/`identity_regexp` and one of
    /// `issuer`/`issuer_regexp`. `index` names the rule in errors.
    pub fn new(
        index: usize,
        identity: (Option<&str>, Option<&str>),
        issuer: (Option<&str>, Option<&str>),
        repositories: &[String],
    ) -> Result<Self, KeylessError> {
        let one = |field: &str, pair: (Option<&str>, Option<&str>)| match pair {
            (Some(exact), None) => Ok(Match::Exact(exact.to_owned())),
            (None, Some(pattern)) => {
                Regex::new(pattern)
                    .map(Match::Regexp)
                    .map_err(|source| KeylessError::Regexp {
                        index,
                        pattern: pattern.to_owned(),
                        source,
                    })
            }
            _ => Err(KeylessError::Rule {
                index,
                why: format!("needs exactly one of {field} and {field}_regexp"),
            }),
        };
        let identity_match = one("identity", identity)?;
        let issuer_match = one("issuer", issuer)?;
        let compiled = repositories
            .iter()
            .map(|g| {
                Glob::new(g)
                    .map(|g| g.compile_matcher())
                    .map_err(|source| KeylessError::Glob {
                        index,
                        glob: g.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut hash = Sha256::new();
        for part in [identity.0, identity.1, issuer.0, issuer.1] {
            hash.update(part.unwrap_or("\u{0}").as_bytes());
            hash.update([0]);
        }
        Ok(Self {
            identity: identity_match,
            issuer: issuer_match,
            repositories: compiled,
            fingerprint: hex::encode(hash.finalize()),
        })
    }

    /// Whether the rule covers `repository` (`host/path`). No globs: every repository.
    pub fn applies_to(&self, repository: &str) -> bool {
        self.repositories.is_empty() || self.repositories.iter().any(|g| g.is_match(repository))
    }

    /// A fingerprint of the rule (for the cache).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl std::fmt::Display for IdentityRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "identity {} from issuer {}", self.identity, self.issuer)
    }
}

/// What a keyless layer carries, from its annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Material {
    /// `dev.sigstore.cosign/certificate`: the leaf (PEM).
    pub certificate: String,
    /// `dev.sigstore.cosign/chain`: intermediates and root (PEM), if given.
    pub chain: Option<String>,
    /// `dev.sigstore.cosign/bundle`: the Rekor bundle (SET and entry), if given.
    pub bundle: Option<String>,
}

/// A signer whose certificate passed every check but the payload signature.
pub struct Signer {
    /// The certificate's identity (SAN URI or e-mail).
    pub identity: String,
    /// Its OIDC issuer.
    pub issuer: String,
    /// When the log integrated the entry (the signing time).
    pub integrated_time: DateTime<Utc>,
    /// The entry's index in the log.
    pub log_index: i64,
    /// The leaf's public key, to verify the payload's signature with.
    pub key: CosignVerificationKey,
}

impl Signer {
    /// What a verified result says beside the identity.
    pub fn detail(&self) -> String {
        format!(
            "keyless: issuer {}, Rekor entry {} integrated at {} (SET checked offline; inclusion \
             proof and RFC 3161 timestamps not checked)",
            self.issuer,
            self.log_index,
            self.integrated_time
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

/// Rekor's bundle as cosign stores it in `dev.sigstore.cosign/bundle`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundle {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// The trusted root and the rules that apply to one repository.
#[derive(Debug, Clone, Copy)]
pub struct Keyless<'a> {
    /// The trust material.
    pub root: &'a TrustedRoot,
    /// The identity rules for the repository (at least one).
    pub rules: &'a [&'a IdentityRule],
}

impl Keyless<'_> {
    /// Checks a keyless layer's certificate, chain and Rekor bundle (steps 1 to 4 of the module
    /// docs) for the signed `payload`, which is the layer's `blob` itself for simple signing and
    /// the envelope's payload for DSSE. `Err` says why it is invalid.
    pub fn signer(
        &self,
        material: &Material,
        blob: &[u8],
        payload: &[u8],
    ) -> Result<Signer, String> {
        let leaf_der = pem_certificates(&material.certificate)
            .map_err(|e| format!("the signing certificate is unreadable: {e}"))?
            .into_iter()
            .next()
            .ok_or("the certificate annotation holds no certificate")?;
        let leaf = Certificate::from_der(&leaf_der)
            .map_err(|e| format!("the signing certificate is unreadable: {e}"))?;
        let chain = match &material.chain {
            Some(pem) => pem_certificates(pem)
                .map_err(|e| format!("the certificate chain is unreadable: {e}"))?,
            None => Vec::new(),
        };

        // 1. The Rekor entry: its SET, by a trusted log, for this certificate and payload.
        let bundle = material
            .bundle
            .as_deref()
            .ok_or("no Rekor bundle: the signing time cannot be established offline")?;
        let bundle: RekorBundle = serde_json::from_str(bundle)
            .map_err(|e| format!("the Rekor bundle is unreadable: {e}"))?;
        let p = &bundle.payload;
        let integrated = DateTime::from_timestamp(p.integrated_time, 0)
            .ok_or("the Rekor bundle's integratedTime is out of range")?;
        let log = self
            .root
            .logs
            .get(&p.log_id.to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "Rekor entry from log {} that the trusted root does not name",
                    p.log_id
                )
            })?;
        let canonical = serde_json_canonicalizer::to_vec(&serde_json::json!({
            "body": p.body, "integratedTime": p.integrated_time,
            "logIndex": p.log_index, "logID": p.log_id,
        }))
        .map_err(|e| format!("the Rekor bundle cannot be canonicalized: {e}"))?;
        log.key
            .verify_signature(
                Signature::Base64Encoded(bundle.signed_entry_timestamp.as_bytes()),
                &canonical,
            )
            .map_err(|_| {
                "the Rekor SignedEntryTimestamp does not verify with the trusted log key".to_owned()
            })?;
        if !log.valid.contains(integrated) {
            return Err(format!(
                "the Rekor log key was not valid at the entry's time {integrated}"
            ));
        }
        entry_binds(&p.body, &leaf_der, blob, payload)?;

        // 2. Signed while the certificate was valid.
        let validity = leaf.tbs_certificate().validity();
        let not_before: DateTime<Utc> = validity.not_before.to_system_time().into();
        let not_after: DateTime<Utc> = validity.not_after.to_system_time().into();
        if integrated < not_before || integrated > not_after {
            return Err(format!(
                "signed at {} (Rekor integrated time), outside the certificate's validity {} to {}",
                rfc3339(integrated),
                rfc3339(not_before),
                rfc3339(not_after)
            ));
        }

        // 3. Issued by a trusted CA valid then.
        let ca = self.chain_to_root(&leaf_der, &chain, integrated)?;

        // 4. Identity and issuer.
        let identity = match CertificateSubject::from_certificate(&leaf) {
            Ok(CertificateSubject::Email(e)) => e,
            Ok(CertificateSubject::Uri(u)) => u,
            Err(_) => return Err("the certificate names no identity (SAN URI or e-mail)".into()),
        };
        let issuer = issuer(&leaf).ok_or("the certificate names no OIDC issuer")?;
        if !self
            .rules
            .iter()
            .any(|r| r.identity.is_match(&identity) && r.issuer.is_match(&issuer))
        {
            let allowed = self
                .rules
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(format!(
                "certificate identity {identity} from issuer {issuer} (CA {ca}) is not allowed: \
                 expected {allowed}"
            ));
        }
        let key = CosignVerificationKey::try_from(leaf.tbs_certificate().subject_public_key_info())
            .map_err(|e| format!("the certificate's key is not usable: {e}"))?;
        Ok(Signer {
            identity,
            issuer,
            integrated_time: integrated,
            log_index: p.log_index,
            key,
        })
    }

    /// The URI of the trusted CA `leaf` chains to at `at`, through `chain` and the CA's own
    /// intermediates.
    fn chain_to_root(
        &self,
        leaf: &[u8],
        chain: &[Vec<u8>],
        at: DateTime<Utc>,
    ) -> Result<String, String> {
        let leaf_der = CertificateDer::from(leaf);
        let end = webpki::EndEntityCert::try_from(&leaf_der)
            .map_err(|e| format!("the signing certificate is not usable: {e}"))?;
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(at.timestamp()).unwrap_or(0),
        ));
        let mut last = None;
        for ca in &self.root.authorities {
            if !ca.valid.contains(at) {
                continue;
            }
            let Some(root) = ca.chain.last() else {
                continue;
            };
            let Ok(anchor) = webpki::anchor_from_trusted_cert(root) else {
                continue;
            };
            let anchors: [TrustAnchor<'_>; 1] = [anchor];
            let intermediates: Vec<CertificateDer<'_>> = ca.chain[..ca.chain.len() - 1]
                .iter()
                .cloned()
                .chain(chain.iter().map(|c| CertificateDer::from(c.as_slice())))
                .collect();
            match end.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                time,
                webpki::KeyUsage::required(CODE_SIGNING),
                None,
                None,
            ) {
                Ok(_) => {
                    return Ok(if ca.uri.is_empty() {
                        "of the trusted root".into()
                    } else {
                        ca.uri.clone()
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => format!(
                "the certificate does not chain to a CA of the trusted root valid at {}: {e:?}",
                rfc3339(at)
            ),
            None => format!("no CA of the trusted root was valid at {}", rfc3339(at)),
        })
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The DER of every certificate in a PEM text, byte for byte (never re-encoded: a decoded and
/// re-encoded certificate need not match its issuer's signature).
fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let end = rest[body_start..]
            .find(END)
            .ok_or("a certificate without END line")?
            + body_start;
        let b64: String = rest[body_start..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = BASE64
            .decode(b64.as_bytes())
            .map_err(|e| format!("not base64: {e}"))?;
        Certificate::from_der(&der).map_err(|e| e.to_string())?;
        out.push(der);
        rest = &rest[end + END.len()..];
    }
    Ok(out)
}

/// The certificate's OIDC issuer: the v2 extension (a DER UTF8String), else the v1 one (raw).
pub fn issuer(cert: &Certificate) -> Option<String> {
    let extensions = cert.tbs_certificate().extensions()?;
    let find = |oid: &str| {
        extensions
            .iter()
            .find(|e| e.extn_id.to_string() == oid)
            .map(|e| e.extn_value.as_bytes())
    };
    if let Some(v2) = find(OID_ISSUER_V2)
        && let Ok(s) = x509_cert::der::asn1::Utf8StringRef::from_der(v2)
    {
        return Some(s.as_str().to_owned());
    }
    find(OID_ISSUER_V1).and_then(|v1| String::from_utf8(v1.to_vec()).ok())
}

/// The certificate's identity: its first SAN e-mail or URI.
pub fn identity(cert: &Certificate) -> Option<String> {
    match CertificateSubject::from_certificate(cert).ok()? {
        CertificateSubject::Email(e) => Some(e),
        CertificateSubject::Uri(u) => Some(u),
    }
}

/// Whether a Rekor entry body (base64 JSON of a `hashedrekord`, `rekord`, `intoto` or `dsse`
/// entry) is about this certificate and this signed content: it must name the certificate (as
/// base64 PEM, like every entry kind stores it) and the sha256 of the blob or of the payload.
fn entry_binds(body: &str, leaf_der: &[u8], blob: &[u8], payload: &[u8]) -> Result<(), String> {
    let body = BASE64
        .decode(body.as_bytes())
        .map_err(|_| "the Rekor entry body is not base64".to_owned())?;
    let body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| "the Rekor entry body is not JSON".to_owned())?;
    let mut strings = Vec::new();
    collect_strings(&body, &mut strings);
    let names_cert = strings.iter().any(|s| {
        BASE64
            .decode(s.as_bytes())
            .ok()
            .and_then(|pem| String::from_utf8(pem).ok())
            .and_then(|pem| pem_certificates(&pem).ok())
            .is_some_and(|certs| certs.iter().any(|c| c == leaf_der))
    });
    if !names_cert {
        return Err("the Rekor entry is for another certificate".into());
    }
    let hashes = [
        hex::encode(Sha256::digest(blob)),
        hex::encode(Sha256::digest(payload)),
    ];
    if !strings
        .iter()
        .any(|s| hashes.iter().any(|h| h.eq_ignore_ascii_case(s)))
    {
        return Err("the Rekor entry is for other content".into());
    }
    Ok(())
}

fn collect_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosign::{Envelope, signed_layers};

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    const SLSA_IDENTITY: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.4.0";
    const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

    /// The real keyless attestation of slsa-framework/example-package: its layer's
    /// certificate, chain and Rekor bundle, and the DSSE envelope blob.
    fn real_layer() -> (Material, Vec<u8>) {
        let layers = signed_layers(&data("v2-att-manifest.json")).unwrap();
        (
            layers[0].material.clone().expect("keyless material"),
            data("v2-att-dsse-envelope.json"),
        )
    }

    fn rule(identity: &str, issuer: &str) -> IdentityRule {
        IdentityRule::new(0, (Some(identity), None), (Some(issuer), None), &[]).unwrap()
    }

    #[test]
    fn real_fulcio_certificate_names_its_identity_and_issuer() {
        let (material, _) = real_layer();
        let der = pem_certificates(&material.certificate).unwrap();
        let cert = Certificate::from_der(&der[0]).unwrap();
        assert_eq!(identity(&cert).as_deref(), Some(SLSA_IDENTITY));
        // This 2023 certificate carries only the v1 issuer extension (raw UTF-8).
        assert_eq!(issuer(&cert).as_deref(), Some(GITHUB_ISSUER));
        // The chain annotation holds the intermediate and the root, byte for byte.
        let chain = pem_certificates(material.chain.as_deref().unwrap()).unwrap();
        assert_eq!(chain.len(), 2);
    }

    #[test]
    fn real_sigstore_bundle_v03_certificate_has_the_v2_issuer_extension() {
        let bundle: serde_json::Value =
            serde_json::from_slice(&data("sigstore-bundle-v0.3-dsse.json")).unwrap();
        let raw = bundle["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap();
        let cert = Certificate::from_der(&BASE64.decode(raw).unwrap()).unwrap();
        let v2 = cert
            .tbs_certificate()
            .extensions()
            .unwrap()
            .iter()
            .any(|e| e.extn_id.to_string() == OID_ISSUER_V2);
        assert!(v2, "a 2026 Fulcio certificate has the DER issuer extension");
        assert_eq!(issuer(&cert).as_deref(), Some(GITHUB_ISSUER));
        assert!(
            identity(&cert)
                .unwrap()
                .starts_with("https://github.com/kubewarden/kubewarden-controller/")
        );
    }

    #[test]
    fn real_keyless_attestation_verifies_offline_against_the_public_trust_root() {
        let root = TrustedRoot::from_json(&data("sigstore-public-trusted-root.json")).unwrap();
        let (material, blob) = real_layer();
        let envelope = Envelope::parse(&blob).unwrap();
        let payload = envelope.payload_bytes().unwrap();
        let good = rule(SLSA_IDENTITY, GITHUB_ISSUER);
        let k = Keyless {
            root: &root,
            rules: &[&good],
        };
        let signer = k.signer(&material, &blob, &payload).unwrap();
        assert_eq!(signer.identity, SLSA_IDENTITY);
        assert_eq!(signer.issuer, GITHUB_ISSUER);
        // The signing time is the log's, in January 2023, inside the 10-minute certificate.
        assert_eq!(
            signer.integrated_time.format("%Y-%m-%d").to_string(),
            "2023-01-11"
        );
        envelope.verify_with(&signer.key).unwrap();
        assert!(signer.detail().contains("inclusion proof"));

        // The same signature, expected from another identity or issuer: invalid, naming both.
        let other = rule(
            "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
            GITHUB_ISSUER,
        );
        let err = Keyless {
            root: &root,
            rules: &[&other],
        }
        .signer(&material, &blob, &payload)
        .err()
        .unwrap();
        assert!(
            err.contains(SLSA_IDENTITY) && err.contains("acme/app") && err.contains("not allowed"),
            "{err}"
        );
        let regexp = IdentityRule::new(
            0,
            (None, Some("^https://github.com/slsa-framework/")),
            (
                None,
                Some("^https://token\\.actions\\.githubusercontent\\.com$"),
            ),
            &[],
        )
        .unwrap();
        assert!(
            Keyless {
                root: &root,
                rules: &[&regexp],
            }
            .signer(&material, &blob, &payload)
            .is_ok()
        );

        // A Rekor bundle whose SET was tampered with does not verify.
        let mut tampered = material.clone();
        tampered.bundle = Some(
            material
                .bundle
                .clone()
                .unwrap()
                .replace("\"logIndex\":", "\"logIndex\":1"),
        );
        let err = k.signer(&tampered, &blob, &payload).err().unwrap();
        assert!(err.contains("SignedEntryTimestamp"), "{err}");
        // The entry is about this envelope: another blob is refused.
        let err = k.signer(&material, b"{}", b"{}").err().unwrap();
        assert!(err.contains("other content"), "{err}");
    }

    #[test]
    fn trusted_root_and_rule_errors_are_named() {
        assert!(matches!(
            TrustedRoot::from_json(b"not json"),
            Err(KeylessError::Json(_))
        ));
        assert!(matches!(
            TrustedRoot::from_json(br#"{"tlogs": [], "certificateAuthorities": []}"#),
            Err(KeylessError::Empty(_))
        ));
        let err = IdentityRule::new(3, (Some("a"), Some("b")), (Some("i"), None), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("certificate identity 3") && err.contains("identity_regexp"),
            "{err}"
        );
        let err = IdentityRule::new(1, (None, Some("(")), (Some("i"), None), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid regexp"), "{err}");
        let r = IdentityRule::new(0, (Some("a"), None), (Some("i"), None), &["reg/x/*".into()])
            .unwrap();
        assert!(r.applies_to("reg/x/app") && !r.applies_to("reg/y/app"));
    }
}
