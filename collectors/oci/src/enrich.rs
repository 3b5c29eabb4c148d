//! The enrichment: given a snapshot the workload collectors wrote, resolve every image tag to its
//! digest now, read the facts of every digest run (from the cache, else the registry), relate
//! image indexes and their platform manifests both ways, check cosign signatures and SLSA
//! attestations, and write it all into the snapshot's `artifacts`, with one `oci/<host>` source
//! per registry saying whether it answered.
//!
//! Calls run concurrently, at most [`OciConfig::concurrency`] at once. A registry that cannot be
//! reached leaves the facts it would have given `unchecked` (with the reason), never `missing`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use envtrail_model::{
    Artifact, Digest, Snapshot, Source, SourceStatus, Verification, VerificationStatus,
};
use futures::future::join_all;
use oci_client::Reference;
use sigstore::crypto::Signature;
use tokio::sync::Semaphore;

use crate::auth;
use crate::cache::{Cache, CachedCheck, cacheable};
use crate::config::OciConfig;
use crate::cosign::{
    self, DSSE_ENVELOPE, Envelope, LayerCheck, NamedKey, SIMPLE_SIGNING, check_simple_signing,
};
use crate::keyless::Keyless;
use crate::manifest::{ManifestFacts, ManifestKind, Parsed, parse_config, parse_manifest};
use crate::registry::{Referrers, Registry, RegistryError};

/// The kind of every source this crate adds.
pub const SOURCE_KIND: &str = "oci";

/// What one enrichment did, for logs and the benchmark.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Repositories looked at.
    pub repositories: usize,
    /// Artifacts written.
    pub artifacts: usize,
    /// Registry calls made (tag resolutions included).
    pub registry_calls: usize,
    /// Lookups whose answer can change: tag resolutions (image tags and cosign `.sig`/`.att`
    /// tags), tag listings and OCI 1.1 referrers listings.
    pub tag_resolutions: usize,
    /// Facts and checks answered from the cache.
    pub cache_hits: usize,
}

/// Enriches `snapshot` (see the module docs). Never fails for a registry's sake: failures are
/// recorded in the snapshot.
pub async fn enrich(snapshot: Snapshot, config: &OciConfig) -> Snapshot {
    enrich_with_stats(snapshot, config).await.0
}

/// [`enrich`], also saying what it did.
pub async fn enrich_with_stats(mut snapshot: Snapshot, config: &OciConfig) -> (Snapshot, Stats) {
    let targets = targets(&snapshot);
    let cache = config.cache.as_deref().map(Cache::load).unwrap_or_default();
    let run = Run {
        config,
        cache: Mutex::new(cache),
        permits: Semaphore::new(config.concurrency.max(1)),
        calls: AtomicUsize::new(0),
        tags: AtomicUsize::new(0),
        hits: AtomicUsize::new(0),
    };

    // One client per registry host, credentials resolved once.
    let mut hosts: BTreeMap<String, Result<Registry, String>> = BTreeMap::new();
    for t in targets.values() {
        hosts.entry(t.host.clone()).or_insert_with(|| {
            let registry = config.registry(&t.host);
            let docker = config
                .docker_config
                .clone()
                .or_else(auth::default_docker_config);
            auth::resolve(&registry.credentials, &t.host, docker.as_deref())
                .map(|creds| Registry::new(&registry, &creds, config.timeout))
                .map_err(|e| e.to_string())
        });
    }

    let results = join_all(targets.values().map(|t| {
        let registry = &hosts[&t.host];
        run.repository(t, registry)
    }))
    .await;

    let mut per_host: BTreeMap<String, HostOutcome> = BTreeMap::new();
    let mut artifacts: BTreeMap<Digest, Artifact> = snapshot
        .artifacts
        .drain(..)
        .map(|a| (a.digest.clone(), a))
        .collect();
    for (target, (found, outcome)) in targets.values().zip(results) {
        per_host
            .entry(target.host.clone())
            .or_default()
            .merge(outcome);
        for a in found {
            // Another repository may hold the same digest: the first one (by name) wins.
            artifacts.entry(a.digest.clone()).or_insert(a);
        }
    }
    let stats = Stats {
        repositories: targets.len(),
        artifacts: artifacts.len(),
        registry_calls: run.calls.load(Ordering::Relaxed),
        tag_resolutions: run.tags.load(Ordering::Relaxed),
        cache_hits: run.hits.load(Ordering::Relaxed),
    };
    snapshot.artifacts = artifacts.into_values().collect();
    for (host, outcome) in per_host {
        let id = format!("{SOURCE_KIND}/{host}");
        snapshot.sources.retain(|s| s.id != id);
        snapshot.sources.push(outcome.source(id));
    }
    snapshot.normalize();
    if let Some(path) = &config.cache {
        let cache = run.cache.into_inner().unwrap_or_else(|p| p.into_inner());
        // A cache that cannot be written only costs time next run.
        let _ = cache.save(path);
    }
    (snapshot, stats)
}

/// One repository's work: the tags and digests the snapshot names in it.
#[derive(Debug, Default)]
struct Target {
    host: String,
    /// The path inside the registry (`payments/api`).
    path: String,
    /// `host/path`, as recorded in artifacts.
    repository: String,
    tags: BTreeSet<String>,
    digests: BTreeSet<Digest>,
}

/// The repositories, tags and running digests of a snapshot's containers.
fn targets(snapshot: &Snapshot) -> BTreeMap<String, Target> {
    let mut out: BTreeMap<String, Target> = BTreeMap::new();
    for c in snapshot.workloads.iter().flat_map(|w| &w.containers) {
        let Ok(reference) = c.image.parse::<Reference>() else {
            continue;
        };
        let repository = format!("{}/{}", reference.registry(), reference.repository());
        let t = out.entry(repository.clone()).or_insert_with(|| Target {
            host: reference.registry().to_owned(),
            path: reference.repository().to_owned(),
            repository,
            ..Target::default()
        });
        if let Some(tag) = reference.tag() {
            t.tags.insert(tag.to_owned());
        }
        if let Some(d) = reference.digest().and_then(|d| d.parse().ok()) {
            t.digests.insert(d);
        }
        t.digests.extend(c.artifact_digests().cloned());
    }
    out
}

/// How one registry answered, summed over its repositories.
#[derive(Debug, Default)]
struct HostOutcome {
    answered: usize,
    failed: usize,
    first_error: Option<String>,
}

impl HostOutcome {
    fn merge(&mut self, other: HostOutcome) {
        self.answered += other.answered;
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn note<T>(&mut self, result: &Result<T, RegistryError>) {
        match result {
            Ok(_) => self.answered += 1,
            Err(e) if e.is_not_found() => self.answered += 1,
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    fn source(self, id: String) -> Source {
        let status = match (self.answered, self.failed) {
            (_, 0) => SourceStatus::Ok,
            (0, _) => SourceStatus::Failed,
            _ => SourceStatus::Partial,
        };
        let error = self.first_error.map(|e| {
            if self.failed > 1 {
                format!("{e} (and {} more failed calls)", self.failed - 1)
            } else {
                e
            }
        });
        Source {
            id,
            kind: SOURCE_KIND.to_owned(),
            status,
            error,
        }
    }
}

/// A check of one subject's signatures or attestations.
#[derive(Debug, Clone)]
struct Check {
    verification: Verification,
    commit: Option<String>,
    subjects: Vec<String>,
}

impl Check {
    fn status(status: VerificationStatus, reason: Option<String>) -> Self {
        Self {
            verification: verification(status, reason),
            commit: None,
            subjects: Vec::new(),
        }
    }
}

fn verification(status: VerificationStatus, reason: Option<String>) -> Verification {
    Verification {
        status,
        identity: None,
        builder: None,
        source: None,
        reason,
    }
}

/// What a repository's checks share: the keys that apply, their fingerprint (for the cache) and
/// the repository's tags when it could be listed.
struct Trust<'a> {
    keys: &'a [NamedKey],
    fingerprint: &'a str,
    listed: Option<&'a BTreeSet<String>>,
    /// Keyless trust for the repository, or why there is none.
    keyless: Result<Keyless<'a>, String>,
}

/// Shared state of one enrichment.
struct Run<'a> {
    config: &'a OciConfig,
    cache: Mutex<Cache>,
    permits: Semaphore,
    calls: AtomicUsize,
    tags: AtomicUsize,
    hits: AtomicUsize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Attached {
    Signature,
    Attestation,
}

impl Attached {
    fn suffix(self) -> &'static str {
        match self {
            Self::Signature => "sig",
            Self::Attestation => "att",
        }
    }
}

impl Run<'_> {
    /// Runs `call` under a permit, counting it.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let _permit = self.permits.acquire().await.expect("never closed");
        self.calls.fetch_add(1, Ordering::Relaxed);
        call.await
    }

    async fn repository(
        &self,
        t: &Target,
        registry: &Result<Registry, String>,
    ) -> (Vec<Artifact>, HostOutcome) {
        let mut outcome = HostOutcome::default();
        let registry = match registry {
            Ok(r) => r,
            Err(why) => {
                outcome.failed += 1;
                outcome.first_error = Some(why.clone());
                let reason = format!("credentials for {} could not be read: {why}", t.host);
                return (unchecked_all(t, &reason), outcome);
            }
        };

        // 1. Tags → digests, now.
        let resolved = join_all(t.tags.iter().map(|tag| async move {
            self.tags.fetch_add(1, Ordering::Relaxed);
            (tag, self.call(registry.resolve_tag(&t.path, tag)).await)
        }))
        .await;
        let mut tags_of: BTreeMap<Digest, BTreeSet<String>> = BTreeMap::new();
        let mut tag_errors = Vec::new();
        for (tag, result) in &resolved {
            outcome.note(result);
            match result {
                Ok(Some(d)) => {
                    tags_of.entry(d.clone()).or_default().insert((*tag).clone());
                }
                Ok(None) => {}
                Err(e) => tag_errors.push(e.to_string()),
            }
        }

        // 2. Facts of every digest run or tagged.
        let subjects: BTreeSet<Digest> = t.digests.iter().chain(tags_of.keys()).cloned().collect();
        let facts = join_all(
            subjects
                .iter()
                .map(|d| async move { (d, self.facts(registry, &t.path, d).await) }),
        )
        .await;
        let mut known: BTreeMap<Digest, ManifestFacts> = BTreeMap::new();
        let mut unreachable: BTreeMap<Digest, String> = BTreeMap::new();
        for (d, result) in facts {
            outcome.note(&result);
            match result {
                Ok(f) => {
                    known.insert(d.clone(), f);
                }
                Err(e) => {
                    unreachable.insert(d.clone(), e.to_string());
                }
            }
        }

        // 3. Index ↔ platform manifest, both ways.
        let mut parent: BTreeMap<Digest, (Digest, Option<String>)> = BTreeMap::new();
        for (d, f) in &known {
            if f.kind == ManifestKind::Index {
                for c in &f.children {
                    parent
                        .entry(c.digest.clone())
                        .or_insert((d.clone(), c.platform.clone()));
                }
            }
        }
        // Artifacts: what runs, what is tagged, and every platform manifest of those indexes.
        let mut digests: BTreeSet<Digest> = subjects.clone();
        for d in &subjects {
            if let Some(f) = known.get(d) {
                digests.extend(f.children.iter().map(|c| c.digest.clone()));
            }
        }

        // 4. Signatures and attestations of every artifact (a platform manifest also inherits
        // its index's; an index's own status says whether its platform manifests are signed).
        let (keys, keys_fingerprint) = self.config.keys_for(&t.repository);
        let fingerprint = self
            .config
            .fingerprint_for(&t.repository, &keys_fingerprint);
        let identities = self.config.identities_for(&t.repository);
        // One tag listing says which digests have `.sig`/`.att` tags at all, so absent ones cost
        // no request; without it (a registry refusing to list), each tag is asked for.
        self.tags.fetch_add(1, Ordering::Relaxed);
        let listed = self.call(registry.list_tags(&t.path)).await;
        outcome.note(&listed);
        let listed = listed.ok();
        let trust = Trust {
            keys: &keys,
            fingerprint: &fingerprint,
            listed: listed.as_ref(),
            keyless: match &identities {
                Ok((root, rules)) => Ok(Keyless { root, rules }),
                Err(why) => Err(why.clone()),
            },
        };
        let trust = &trust;
        let checks = join_all(digests.iter().filter(|d| !unreachable.contains_key(d)).map(
            |d| async move {
                // The referrers listing, once per subject (a registry known to have no
                // referrers API is not asked again).
                let gate = registry.referrers_gate().await;
                let referrers = if registry.referrers_unsupported() {
                    Ok(Referrers::Unsupported)
                } else {
                    self.tags.fetch_add(1, Ordering::Relaxed);
                    self.call(registry.referrers(&t.path, d)).await
                };
                drop(gate);
                let sig = self
                    .check(registry, t, d, Attached::Signature, trust, &referrers)
                    .await;
                let att = self
                    .check(registry, t, d, Attached::Attestation, trust, &referrers)
                    .await;
                let listing = referrers.map(|_| ());
                (d.clone(), (sig, att), listing)
            },
        ))
        .await;
        let mut sigs: BTreeMap<Digest, Check> = BTreeMap::new();
        let mut atts: BTreeMap<Digest, Check> = BTreeMap::new();
        for (d, ((sig, sig_calls), (att, att_calls)), listing) in checks {
            outcome.note(&listing);
            for r in sig_calls.iter().chain(&att_calls) {
                outcome.note(r);
            }
            sigs.insert(d.clone(), sig);
            atts.insert(d, att);
        }

        // 5. Assemble.
        let mut out = Vec::new();
        for d in &digests {
            let own = known.get(d);
            let up = parent.get(d);
            let index = up.map(|(i, _)| i);
            let mut a = Artifact {
                digest: d.clone(),
                repository: t.repository.clone(),
                tags: tags_of
                    .get(d)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
                index_digest: index.cloned(),
                platform: own
                    .and_then(|f| f.platform.clone())
                    .or_else(|| up.and_then(|(_, p)| p.clone())),
                revision: own.and_then(|f| f.revision.clone()),
                source_url: own.and_then(|f| f.source.clone()),
                created: own
                    .and_then(|f| f.created.as_deref())
                    .and_then(|c| envtrail_model::parse_time(c).ok()),
                version: own.and_then(|f| f.version.clone()),
                size: own.map(|f| f.size),
                signature: None,
                provenance: None,
            };
            if let Some(why) = unreachable.get(d) {
                let reason = Some(format!("registry unreachable: {why}"));
                a.signature = Some(verification(VerificationStatus::Unchecked, reason.clone()));
                a.provenance = Some(verification(VerificationStatus::Unchecked, reason));
                out.push(a);
                continue;
            }
            let children: Vec<&Digest> = own
                .map(|f| f.children.iter().map(|c| &c.digest).collect())
                .unwrap_or_default();
            a.signature = Some(combine(d, index, &sigs, &children, "signed"));
            let mut provenance = combine(d, index, &atts, &children, "attested");
            let attested = sigs_commit(d, index, &atts);
            if provenance.status == VerificationStatus::Verified
                && let (Some(commit), Some(revision)) = (attested, a.revision.as_deref())
                && !commit.eq_ignore_ascii_case(revision)
            {
                provenance.status = VerificationStatus::Invalid;
                provenance.reason = Some(format!(
                    "attested commit {commit} differs from the image's revision label {revision}"
                ));
            }
            a.provenance = Some(provenance);
            out.push(a);
        }
        if !tag_errors.is_empty() && out.is_empty() {
            // Nothing known at all: say so on the digests the snapshot named.
            return (unchecked_all(t, &tag_errors[0]), outcome);
        }
        (out, outcome)
    }

    /// The facts of `digest`, from the cache or the registry.
    async fn facts(
        &self,
        registry: &Registry,
        path: &str,
        digest: &Digest,
    ) -> Result<ManifestFacts, RegistryError> {
        if let Some(f) = self
            .cache
            .lock()
            .expect("cache lock")
            .manifests
            .get(digest.as_str())
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(f.clone());
        }
        let bytes = self.call(registry.manifest(path, digest)).await?;
        let unreadable = |e: crate::manifest::ParseError| RegistryError::Unreachable {
            host: registry.host().to_owned(),
            what: format!("{path}@{}", digest.short()),
            why: e.to_string(),
        };
        let facts = match parse_manifest(&bytes, None).map_err(unreadable)? {
            Parsed::Index {
                children,
                annotations,
            } => ManifestFacts::index(children, &annotations, bytes.len() as u64),
            Parsed::Image {
                config,
                size,
                annotations,
            } => {
                let blob = self.call(registry.blob(path, &config)).await?;
                let config = parse_config(&blob).map_err(unreadable)?;
                ManifestFacts::image(&annotations, config, size)
            }
        };
        self.cache
            .lock()
            .expect("cache lock")
            .manifests
            .insert(digest.to_string(), facts.clone());
        Ok(facts)
    }

    /// Checks `subject`'s signatures or attestations, found through cosign's tag scheme and the
    /// OCI 1.1 `referrers` answer (asked once per subject, shared by both kinds). A verified one
    /// anywhere wins; a referrers API that did not answer makes the rest `unchecked` (there may be
    /// a valid signature it would have listed), never `missing`; then invalid, then unchecked,
    /// then missing. Returns the calls' results too, so the registry's health is counted.
    async fn check(
        &self,
        registry: &Registry,
        t: &Target,
        subject: &Digest,
        kind: Attached,
        trust: &Trust<'_>,
        referrers: &Result<Referrers, RegistryError>,
    ) -> (Check, Vec<Result<(), RegistryError>>) {
        let (by_tag, mut calls) = self.check_tag(registry, t, subject, kind, trust).await;
        if by_tag.verification.status == VerificationStatus::Verified {
            return (by_tag, calls);
        }
        let mut found = vec![by_tag];
        match referrers {
            Ok(Referrers::Unsupported) => {}
            Err(e) => {
                let reason = format!("registry unreachable: {e}");
                return (
                    Check::status(VerificationStatus::Unchecked, Some(reason)),
                    calls,
                );
            }
            Ok(Referrers::Index(entries)) => {
                for r in entries {
                    let (c, more) = self
                        .check_manifest(registry, t, subject, kind, trust, &r.digest)
                        .await;
                    calls.extend(more);
                    if c.verification.status == VerificationStatus::Verified {
                        return (c, calls);
                    }
                    found.push(c);
                }
            }
        }
        let pick = |status| {
            found
                .iter()
                .find(|c| c.verification.status == status)
                .cloned()
        };
        let check = pick(VerificationStatus::Invalid)
            .or_else(|| pick(VerificationStatus::Unchecked))
            .unwrap_or_else(|| found.swap_remove(0));
        (check, calls)
    }

    /// Checks the signatures or attestations under `subject`'s cosign tag (`sha256-<hex>.sig`,
    /// `.att`).
    async fn check_tag(
        &self,
        registry: &Registry,
        t: &Target,
        subject: &Digest,
        kind: Attached,
        trust: &Trust<'_>,
    ) -> (Check, Vec<Result<(), RegistryError>>) {
        let tag = cosign::cosign_tag(subject, kind.suffix());
        if trust.listed.is_some_and(|tags| !tags.contains(&tag)) {
            return (Check::status(VerificationStatus::Missing, None), Vec::new());
        }
        let verified_key = Cache::verified_key(subject.as_str(), kind.suffix(), trust.fingerprint);
        if trust.listed.is_some()
            && let Some(c) = self
                .cache
                .lock()
                .expect("cache lock")
                .verified
                .get(&verified_key)
        {
            // The tag is still there and a configured key signed this digest before.
            self.hits.fetch_add(1, Ordering::Relaxed);
            return (
                Check {
                    verification: c.verification.clone(),
                    commit: c.commit.clone(),
                    subjects: c.subjects.clone(),
                },
                Vec::new(),
            );
        }
        self.tags.fetch_add(1, Ordering::Relaxed);
        let resolved = self.call(registry.resolve_tag(&t.path, &tag)).await;
        let mut calls = vec![resolved.as_ref().map(|_| ()).map_err(Clone::clone)];
        let manifest_digest = match resolved {
            Err(e) => {
                let reason = format!("registry unreachable: {e}");
                return (
                    Check::status(VerificationStatus::Unchecked, Some(reason)),
                    calls,
                );
            }
            Ok(None) => return (Check::status(VerificationStatus::Missing, None), calls),
            Ok(Some(m)) => m,
        };
        let (check, more) = self
            .check_manifest(registry, t, subject, kind, trust, &manifest_digest)
            .await;
        calls.extend(more);
        if check.verification.status == VerificationStatus::Verified {
            let cached = CachedCheck {
                verification: check.verification.clone(),
                commit: check.commit.clone(),
                subjects: check.subjects.clone(),
            };
            self.cache
                .lock()
                .expect("cache lock")
                .verified
                .insert(verified_key, cached);
        }
        (check, calls)
    }

    /// Checks one signature or attestation manifest (a cosign tag's or a referrer), from the
    /// cache (by subject, kind, manifest digest and key fingerprint) or the registry.
    async fn check_manifest(
        &self,
        registry: &Registry,
        t: &Target,
        subject: &Digest,
        kind: Attached,
        trust: &Trust<'_>,
        manifest_digest: &Digest,
    ) -> (Check, Vec<Result<(), RegistryError>>) {
        let key = Cache::check_key(
            subject.as_str(),
            kind.suffix(),
            manifest_digest.as_str(),
            trust.fingerprint,
        );
        if let Some(c) = self.cache.lock().expect("cache lock").checks.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return (
                Check {
                    verification: c.verification.clone(),
                    commit: c.commit.clone(),
                    subjects: c.subjects.clone(),
                },
                Vec::new(),
            );
        }
        let result = self
            .verify_attached(registry, t, subject, kind, trust, manifest_digest)
            .await;
        let check = match result {
            Ok(check) => check,
            Err(e) => {
                let reason = format!("registry unreachable: {e}");
                return (
                    Check::status(VerificationStatus::Unchecked, Some(reason)),
                    vec![Err(e)],
                );
            }
        };
        if cacheable(&check.verification) {
            let cached = CachedCheck {
                verification: check.verification.clone(),
                commit: check.commit.clone(),
                subjects: check.subjects.clone(),
            };
            self.cache
                .lock()
                .expect("cache lock")
                .checks
                .insert(key, cached);
        }
        (check, Vec::new())
    }

    async fn verify_attached(
        &self,
        registry: &Registry,
        t: &Target,
        subject: &Digest,
        kind: Attached,
        trust: &Trust<'_>,
        manifest_digest: &Digest,
    ) -> Result<Check, RegistryError> {
        let keys = trust.keys;
        let manifest = self
            .call(registry.manifest(&t.path, manifest_digest))
            .await?;
        let layers = match cosign::signed_layers(&manifest) {
            Ok(l) => l,
            Err(why) => return Ok(Check::status(VerificationStatus::Invalid, Some(why))),
        };
        let wanted = match kind {
            Attached::Signature => SIMPLE_SIGNING,
            Attached::Attestation => DSSE_ENVELOPE,
        };
        let bundles = layers
            .iter()
            .filter(|l| l.media_type == cosign::SIGSTORE_BUNDLE)
            .count();
        let layers: Vec<_> = layers
            .into_iter()
            .filter(|l| l.media_type == wanted)
            .collect();
        if layers.is_empty() {
            if bundles > 0 {
                return Ok(Check::status(
                    VerificationStatus::Unchecked,
                    Some(format!(
                        "{bundles} Sigstore bundle (v0.3) layer(s) found: envtrail does not read \
                         that format yet, see docs/oci.md"
                    )),
                ));
            }
            return Ok(Check::status(VerificationStatus::Missing, None));
        }
        let noun = if kind == Attached::Signature {
            "signature(s)"
        } else {
            "attestation(s)"
        };
        let keyless_layers = layers.iter().filter(|l| l.material.is_some()).count();
        if keys.is_empty() && (keyless_layers == 0 || trust.keyless.is_err()) {
            // Nothing configured could verify any layer: say so without fetching them.
            let why = match (&trust.keyless, keyless_layers) {
                (Err(why), n) if n > 0 => {
                    format!("{n} keyless (Fulcio certificate) {noun} found, but {why}")
                }
                _ => format!(
                    "{} {noun} found, but no key is configured for {}",
                    layers.len(),
                    t.repository
                ),
            };
            return Ok(Check::status(VerificationStatus::Unchecked, Some(why)));
        }
        let mut invalid: Option<String> = None;
        let mut unchecked: Option<String> = None;
        for layer in &layers {
            let keyless = match (&layer.material, &trust.keyless) {
                (Some(m), Ok(k)) => Some((m, k)),
                (Some(_), Err(why)) => {
                    unchecked.get_or_insert_with(|| {
                        format!("keyless (Fulcio certificate) {noun} found, but {why}")
                    });
                    None
                }
                (None, _) => None,
            };
            if keyless.is_none() && keys.is_empty() {
                unchecked.get_or_insert_with(|| {
                    format!(
                        "{noun} found, but no key is configured for {}",
                        t.repository
                    )
                });
                continue;
            }
            let blob = self.call(registry.blob(&t.path, &layer.digest)).await?;
            let outcome = match kind {
                Attached::Signature => {
                    let by_key = if keys.is_empty() {
                        LayerCheck::Invalid(String::new())
                    } else {
                        check_simple_signing(&blob, layer.signature.as_deref(), keys, subject)
                    };
                    match (by_key, keyless) {
                        (LayerCheck::Verified(name), _) => {
                            let mut v = verification(VerificationStatus::Verified, None);
                            v.identity = Some(format!("key:{name}"));
                            return Ok(Check {
                                verification: v,
                                commit: None,
                                subjects: vec![subject.hex().to_owned()],
                            });
                        }
                        (_, Some((material, k))) => {
                            match keyless_signature(k, material, &blob, layer, subject) {
                                Ok(check) => return Ok(check),
                                Err(why) => why,
                            }
                        }
                        (LayerCheck::Invalid(why), None) => why,
                    }
                }
                Attached::Attestation => {
                    match attestation(&blob, keys, keyless.map(|(m, k)| (k, m)), subject) {
                        Ok(check) => return Ok(check),
                        Err(why) => why,
                    }
                }
            };
            if layer.material.is_some() && keyless.is_none() {
                // A keyless layer no configured key verified, without keyless trust to judge
                // it by: unchecked (noted above), not invalid.
                continue;
            }
            invalid.get_or_insert(outcome);
        }
        Ok(match (invalid, unchecked) {
            (Some(why), _) => Check::status(VerificationStatus::Invalid, Some(why)),
            (None, Some(why)) => Check::status(VerificationStatus::Unchecked, Some(why)),
            (None, None) => Check::status(VerificationStatus::Missing, None),
        })
    }
}

/// Verifies a keyless simple-signing layer: certificate, chain and Rekor bundle (see
/// [`crate::keyless`]), then the signature with the certificate's key, then the signed digest.
fn keyless_signature(
    k: &Keyless<'_>,
    material: &crate::keyless::Material,
    blob: &[u8],
    layer: &cosign::SignedLayer,
    subject: &Digest,
) -> Result<Check, String> {
    let signer = k.signer(material, blob, blob)?;
    let signature = layer
        .signature
        .as_deref()
        .ok_or("signature layer carries no signature")?;
    signer
        .key
        .verify_signature(Signature::Base64Encoded(signature.as_bytes()), blob)
        .map_err(|_| {
            format!(
                "signature does not verify with the key of {}'s certificate",
                signer.identity
            )
        })?;
    let payload: cosign::SimpleSigning = serde_json::from_slice(blob)
        .map_err(|e| format!("signed payload is not simple signing: {e}"))?;
    if payload.critical.image.docker_manifest_digest != subject.as_str() {
        return Err(format!(
            "signed by {} but for another digest, not {}",
            signer.identity,
            subject.short()
        ));
    }
    let mut v = verification(VerificationStatus::Verified, Some(signer.detail()));
    v.identity = Some(signer.identity);
    Ok(Check {
        verification: v,
        commit: None,
        subjects: vec![subject.hex().to_owned()],
    })
}

/// Verifies one DSSE envelope blob (with a configured key, else keylessly when the layer
/// carries a certificate and keyless trust applies) and reads its SLSA provenance.
fn attestation(
    blob: &[u8],
    keys: &[NamedKey],
    keyless: Option<(&Keyless<'_>, &crate::keyless::Material)>,
    subject: &Digest,
) -> Result<Check, String> {
    let envelope = Envelope::parse(blob)?;
    let (identity, detail) = match envelope.verify(keys) {
        Ok(name) => (format!("key:{name}"), None),
        Err(by_key) => {
            let Some((k, material)) = keyless else {
                return Err(by_key);
            };
            let payload = envelope.payload_bytes()?;
            let signer = k.signer(material, blob, &payload)?;
            envelope.verify_with(&signer.key).map_err(|_| {
                format!(
                    "envelope signature does not verify with the key of {}'s certificate",
                    signer.identity
                )
            })?;
            let detail = signer.detail();
            (signer.identity, Some(detail))
        }
    };
    let statement = envelope.payload_bytes()?;
    let p = cosign::read_provenance(&statement)?;
    if !p.subjects.iter().any(|s| s == subject.hex()) {
        return Err(format!(
            "attestation signed by {identity} names other subjects, not {}",
            subject.short()
        ));
    }
    let mut v = verification(VerificationStatus::Verified, detail);
    v.identity = Some(identity);
    v.builder = p.builder.clone();
    v.source = p.source.as_ref().map(|s| match &p.commit {
        Some(c) => format!("{s}@{c}"),
        None => s.clone(),
    });
    Ok(Check {
        verification: v,
        commit: p.commit,
        subjects: p.subjects,
    })
}

/// The attested commit that counts for `d`: its own attestation's, else its index's.
fn sigs_commit<'a>(
    d: &Digest,
    index: Option<&Digest>,
    atts: &'a BTreeMap<Digest, Check>,
) -> Option<&'a str> {
    let verified = |x: &Digest| {
        atts.get(x)
            .filter(|c| c.verification.status == VerificationStatus::Verified)
            .and_then(|c| c.commit.as_deref())
    };
    verified(d).or_else(|| index.and_then(verified))
}

/// The verification of `d` from its own check and its index's: own verified, else verified via
/// the index, else own invalid, else the index's invalid, else unchecked if either is, else
/// missing. An index whose platform manifests are signed but which is not says so.
fn combine(
    d: &Digest,
    index: Option<&Digest>,
    checks: &BTreeMap<Digest, Check>,
    children: &[&Digest],
    verb: &str,
) -> Verification {
    let own = checks.get(d).map(|c| &c.verification);
    let via = index.and_then(|i| checks.get(i).map(|c| (i, &c.verification)));
    let is = |v: Option<&Verification>, s| v.is_some_and(|v| v.status == s);
    if let Some(v) = own.filter(|v| v.status == VerificationStatus::Verified) {
        return v.clone();
    }
    if let Some((i, v)) = via.filter(|(_, v)| v.status == VerificationStatus::Verified) {
        let mut v = v.clone();
        v.reason = Some(format!("verified via index {i}"));
        return v;
    }
    if let Some(v) = own.filter(|v| v.status == VerificationStatus::Invalid) {
        return v.clone();
    }
    if let Some((i, v)) = via.filter(|(_, v)| v.status == VerificationStatus::Invalid) {
        let mut v = v.clone();
        v.reason = Some(format!(
            "index {}: {}",
            i.short(),
            v.reason.as_deref().unwrap_or("invalid")
        ));
        return v;
    }
    for v in own.into_iter().chain(via.map(|(_, v)| v)) {
        if v.status == VerificationStatus::Unchecked {
            return v.clone();
        }
    }
    let _ = is;
    let mut missing = own
        .cloned()
        .unwrap_or_else(|| verification(VerificationStatus::Missing, None));
    if let Some(child) = children.iter().find(|c| {
        checks
            .get(**c)
            .is_some_and(|c| c.verification.status == VerificationStatus::Verified)
    }) {
        missing.reason = Some(format!(
            "the index is not {verb}; its platform manifest {} is, which does not cover the index",
            child.short()
        ));
    }
    missing
}

/// Every digest the snapshot names in `t`, unchecked for `reason`.
fn unchecked_all(t: &Target, reason: &str) -> Vec<Artifact> {
    t.digests
        .iter()
        .map(|d| Artifact {
            digest: d.clone(),
            repository: t.repository.clone(),
            tags: Vec::new(),
            index_digest: None,
            platform: None,
            revision: None,
            source_url: None,
            created: None,
            version: None,
            size: None,
            signature: Some(verification(
                VerificationStatus::Unchecked,
                Some(reason.to_owned()),
            )),
            provenance: Some(verification(
                VerificationStatus::Unchecked,
                Some(reason.to_owned()),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    fn check(status: VerificationStatus, identity: Option<&str>) -> Check {
        let mut c = Check::status(status, Some(format!("{status:?}")));
        c.verification.identity = identity.map(str::to_owned);
        c
    }

    #[test]
    fn index_signature_counts_for_its_platform_manifests() {
        let (p, i) = (digest('a'), digest('b'));
        let checks = BTreeMap::from([
            (p.clone(), check(VerificationStatus::Missing, None)),
            (
                i.clone(),
                check(VerificationStatus::Verified, Some("key:release")),
            ),
        ]);
        let v = combine(&p, Some(&i), &checks, &[], "signed");
        assert_eq!(v.status, VerificationStatus::Verified);
        assert_eq!(v.identity.as_deref(), Some("key:release"));
        assert_eq!(v.reason, Some(format!("verified via index {i}")));
    }

    #[test]
    fn a_platform_signature_does_not_cover_the_index_and_says_so() {
        let (p, i) = (digest('a'), digest('b'));
        let checks = BTreeMap::from([
            (
                p.clone(),
                check(VerificationStatus::Verified, Some("key:k")),
            ),
            (i.clone(), Check::status(VerificationStatus::Missing, None)),
        ]);
        let v = combine(&i, None, &checks, &[&p], "signed");
        assert_eq!(v.status, VerificationStatus::Missing);
        assert!(v.reason.unwrap().contains("does not cover the index"));
    }

    #[test]
    fn unchecked_wins_over_missing_and_invalid_over_unchecked() {
        let (p, i) = (digest('a'), digest('b'));
        let checks = BTreeMap::from([
            (p.clone(), check(VerificationStatus::Missing, None)),
            (i.clone(), check(VerificationStatus::Unchecked, None)),
        ]);
        assert_eq!(
            combine(&p, Some(&i), &checks, &[], "signed").status,
            VerificationStatus::Unchecked
        );
        let checks = BTreeMap::from([
            (p.clone(), check(VerificationStatus::Invalid, None)),
            (i.clone(), check(VerificationStatus::Unchecked, None)),
        ]);
        assert_eq!(
            combine(&p, Some(&i), &checks, &[], "signed").status,
            VerificationStatus::Invalid
        );
    }

    #[test]
    fn targets_group_tags_and_digests_by_repository() {
        let snapshot: Snapshot = serde_json::from_value(serde_json::json!({
            "schema": "envtrail.snapshot.v1", "environment": "prod",
            "taken_at": "2026-11-20T10:00:00Z",
            "sources": [{"id": "k", "kind": "kubernetes", "status": "ok"}],
            "workloads": [{"component": "api", "source": "k", "ref": "D/a",
                "containers": [
                    {"name": "a", "image": "127.0.0.1:5000/team/api:1.0",
                     "running_digests": [digest('a').to_string()]},
                    {"name": "b", "image": format!("127.0.0.1:5000/team/api@{}", digest('b'))},
                    {"name": "c", "image": "nginx:1.27"}
                ]}]
        }))
        .unwrap();
        let t = targets(&snapshot);
        let api = &t["127.0.0.1:5000/team/api"];
        assert_eq!(api.host, "127.0.0.1:5000");
        assert_eq!(api.path, "team/api");
        assert_eq!(api.tags.iter().collect::<Vec<_>>(), ["1.0"]);
        assert_eq!(api.digests.len(), 2);
        assert!(t.contains_key("docker.io/library/nginx"), "{:?}", t.keys());
    }
}
