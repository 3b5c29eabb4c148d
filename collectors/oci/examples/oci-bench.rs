//! The OCI enrichment benchmark (issue figure: 1,000 distinct digests with signatures resolved and
//! verified against a local registry in at most 20 s; the same collection again, cache warm, in
//! at most 2 s).
//!
//! Starts Debian's `docker-registry` on loopback, pushes N signed images (each tagged, each with a
//! cosign `.sig` signed by a key made here), builds a snapshot whose containers run them, then
//! times a cold enrichment (empty cache) and a warm one (same cache file).
//!
//! ```text
//! cargo run --release -p envtrail-collect-oci --example oci-bench -- [--digests 1000] [--concurrency 16] [--check]
//! ```
//! `--check` exits 1 when a figure is over its target.

use std::time::{Duration, Instant};

use envtrail_collect_oci::testing::{Server, ServerOptions, push_image, sign};
use envtrail_collect_oci::{
    Credentials, KeyRule, OciConfig, Registry, RegistryConfig, enrich_with_stats,
};
use envtrail_model::{Snapshot, VerificationStatus};
use futures::StreamExt as _;
use sigstore::crypto::SigningScheme;

const REPOSITORIES: usize = 10;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = arg("--digests", 1000);
    let concurrency = arg("--concurrency", 16);
    let check = std::env::args().any(|a| a == "--check");

    let server = Server::start(&ServerOptions::default())?;
    let registry_config = RegistryConfig {
        host: server.addr.clone(),
        plain_http: true,
        ..RegistryConfig::default()
    };
    let registry = Registry::new(
        &registry_config,
        &Credentials::Anonymous,
        Duration::from_secs(30),
    );
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer()?;
    let pem = signer.to_sigstore_keypair()?.public_key_to_pem()?;

    let setup = Instant::now();
    let pushed: Vec<(String, String, envtrail_model::Digest)> = futures::stream::iter(0..n)
        .map(|i| {
            let (registry, signer) = (&registry, &signer);
            async move {
                let repo = format!("bench/app{}", i % REPOSITORIES);
                let tag = format!("v{i}");
                let image = push_image(
                    registry,
                    &repo,
                    Some(&tag),
                    "linux/amd64",
                    &[("org.opencontainers.image.revision", "0123456789abcdef")],
                    &i.to_string(),
                )
                .await
                .expect("push");
                sign(registry, &repo, &image.digest, signer)
                    .await
                    .expect("sign");
                (repo, tag, image.digest)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    eprintln!(
        "setup: {n} signed images pushed in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let containers: Vec<serde_json::Value> = pushed
        .iter()
        .enumerate()
        .map(|(i, (repo, tag, digest))| {
            serde_json::json!({"name": format!("c{i}"), "image": format!("{}/{repo}:{tag}", server.addr),
                               "running_digests": [digest.to_string()]})
        })
        .collect();
    let snapshot: Snapshot = serde_json::from_value(serde_json::json!({
        "schema": "envtrail.snapshot.v1", "environment": "bench", "taken_at": "2026-03-10T10:00:00Z",
        "sources": [{"id": "k8s", "kind": "kubernetes", "status": "ok"}],
        "workloads": [{"component": "fleet", "source": "k8s", "ref": "Deployment/bench/fleet",
                       "containers": containers}]
    }))?;

    let dir = tempfile::tempdir()?;
    let config = OciConfig {
        registries: vec![registry_config],
        docker_config: Some(dir.path().join("no-docker-config.json")),
        keys: vec![KeyRule::from_pem("bench", pem.as_bytes(), &[])?],
        cache: Some(dir.path().join("envtrail.db.oci-cache.json")),
        concurrency,
        ..OciConfig::default()
    };

    let mut over = false;
    for (run, target) in [("cold", 20.0), ("warm", 2.0)] {
        let start = Instant::now();
        let (out, stats) = enrich_with_stats(snapshot.clone(), &config).await;
        let secs = start.elapsed().as_secs_f64();
        let verified = out
            .artifacts
            .iter()
            .filter(|a| {
                a.signature
                    .as_ref()
                    .is_some_and(|s| s.status == VerificationStatus::Verified)
            })
            .count();
        assert_eq!(verified, n, "every digest verifies");
        println!(
            "{run}: {n} digests resolved and verified in {secs:.2} s (target {target} s): \
             {} registry calls, {} tag resolutions, {} cache hits, concurrency {concurrency}",
            stats.registry_calls, stats.tag_resolutions, stats.cache_hits
        );
        over |= secs > target;
    }
    if check && over {
        std::process::exit(1);
    }
    Ok(())
}
