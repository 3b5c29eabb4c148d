//! Helpers shared by the registry tests: clients and configs for a loopback registry, keys made
//! in the test, snapshots whose one pod runs a digest, and lookups in the enriched result.

#![allow(dead_code)]

use std::time::Duration;

use envtrail_collect_oci::testing::{Server, ServerOptions};
use envtrail_collect_oci::{Credentials, KeyRule, OciConfig, Registry, RegistryConfig};
use envtrail_model::{Artifact, Digest, Snapshot};
use sigstore::crypto::{SigStoreSigner, SigningScheme};

pub const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";
pub const SOURCE: &str = "https://git.example.com/payments/api";
pub const BUILDER: &str = "https://ci.example.com/builders/release@v1";

pub fn signer() -> SigStoreSigner {
    SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap()
}

pub fn public_pem(s: &SigStoreSigner) -> Vec<u8> {
    s.to_sigstore_keypair()
        .unwrap()
        .public_key_to_pem()
        .unwrap()
        .into_bytes()
}

pub fn plain(addr: &str) -> RegistryConfig {
    RegistryConfig {
        host: addr.to_owned(),
        plain_http: true,
        ..RegistryConfig::default()
    }
}

pub fn client(config: &RegistryConfig, creds: &Credentials) -> Registry {
    Registry::new(config, creds, Duration::from_secs(10))
}

pub fn config(registry: RegistryConfig, keys: &[(&str, &SigStoreSigner)]) -> OciConfig {
    OciConfig {
        registries: vec![registry],
        docker_config: Some("/nonexistent/envtrail/config.json".into()),
        keys: keys
            .iter()
            .map(|(name, s)| KeyRule::from_pem(name, &public_pem(s), &[]).unwrap())
            .collect(),
        ..OciConfig::default()
    }
}

/// A snapshot of `env` at `time` whose one pod runs `image` as `digest`.
pub fn snapshot(env: &str, time: &str, image: &str, digest: &Digest) -> Snapshot {
    serde_json::from_value(serde_json::json!({
        "schema": "envtrail.snapshot.v1", "environment": env, "taken_at": time,
        "sources": [{"id": "k8s", "kind": "kubernetes", "status": "ok"}],
        "workloads": [{"component": "api", "source": "k8s", "ref": "Deployment/pay/api",
            "containers": [{"name": "api", "image": image, "running_digests": [digest.to_string()]}]}]
    }))
    .unwrap()
}

/// [`snapshot`] of prod at 2026-03-10T10:00:00Z running `image` as `digest`, enriched with
/// `config`: what most registry tests check one artifact of.
pub async fn enrich_prod(image: &str, digest: &Digest, config: &OciConfig) -> Snapshot {
    envtrail_collect_oci::enrich(
        snapshot("prod", "2026-03-10T10:00:00Z", image, digest),
        config,
    )
    .await
}

pub fn artifact<'a>(s: &'a Snapshot, d: &Digest) -> &'a Artifact {
    s.artifacts
        .iter()
        .find(|a| a.digest == *d)
        .unwrap_or_else(|| panic!("no artifact {d} in {:#?}", s.artifacts))
}

pub fn labels() -> Vec<(&'static str, &'static str)> {
    vec![
        ("org.opencontainers.image.revision", REVISION),
        ("org.opencontainers.image.source", SOURCE),
        ("org.opencontainers.image.version", "1.4.2"),
        ("org.opencontainers.image.created", "2026-03-01T10:00:00Z"),
    ]
}

pub fn start(options: &ServerOptions) -> Server {
    Server::start(options).expect("the test registry starts")
}
