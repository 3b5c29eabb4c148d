//! The OCI registry enrichment: after the workload collectors have said what runs (images by tag
//! and the digests actually running), this crate asks the registries what each digest is and where
//! it came from, and writes the answers into the snapshot's `artifacts`:
//!
//! - tags resolved to digests at collection time (so a tag that later moves is on record);
//! - per digest: platform, the image index ↔ platform manifest relation (both ways), the
//!   `org.opencontainers.image.{revision,source,version,created}` labels or annotations, and size;
//! - cosign signatures (`sha256-<hex>.sig`, and OCI 1.1 referrers where the registry lists
//!   them) verified with configured public keys, or keylessly against a Sigstore trusted root
//!   and the allowed certificate identities ([`keyless`], offline), and SLSA provenance
//!   attestations (`.att`, DSSE envelopes) verified the same way and read (builder, source
//!   repository, commit; a commit that differs from the revision label is invalid).
//!
//! Facts of a digest never change, so they are cached ([`cache`]); a repeated collection only
//! resolves tags. A registry that cannot be reached makes its facts `unchecked`, never `missing`.
//! Credentials come from the config, the Docker `config.json` or its credential helpers
//! ([`auth`]) and never appear in errors or logs. See `docs/oci.md`.
//!
//! This crate depends on `envtrail-model` only (plus oci-client and sigstore).
//!
//! ```no_run
//! use envtrail_collect_oci::{OciConfig, enrich};
//! # async fn run(snapshot: envtrail_model::Snapshot) {
//! let config = OciConfig { concurrency: 8, ..OciConfig::default() };
//! let enriched = enrich(snapshot, &config).await;
//! for a in &enriched.artifacts {
//!     println!("{} {:?} {:?}", a.digest, a.tags, a.signature.as_ref().map(|s| s.status));
//! }
//! # }
//! ```

pub mod auth;
pub mod cache;
pub mod config;
pub mod cosign;
pub mod enrich;
pub mod keyless;
pub mod manifest;
pub mod registry;
pub mod testing;
mod token;

pub use auth::Credentials;
pub use config::{KeyError, KeyRule, OciConfig};
pub use enrich::{SOURCE_KIND, Stats, enrich, enrich_with_stats};
pub use registry::{Registry, RegistryConfig, RegistryError};
