//! A synthetic fleet: snapshots of N components in several environments and over time, generated
//! deterministically from a seed so that benchmark figures can be reproduced and compared.
//!
//! The shape follows what the real collectors report:
//! - each component is one workload `Deployment/<namespace>/<component>` with an application
//!   container and, for about 40% of components, a `proxy` sidecar whose image comes from a small
//!   shared pool (so artifacts are shared between components, as sidecars are in real fleets);
//! - running digests are real `sha256:` digests (of a label derived from the seed);
//! - K config keys per workload: `DB_HOST` (plain, different in every environment),
//!   `DB_PASSWORD` (a secret, different in every environment), `LOG_LEVEL`, `APP_VERSION` (follows
//!   the release), then `SETTING_NN`, of which about `secret_fraction` are secrets. Plain values
//!   carry [`Fingerprint::of_plain_value`]; secrets carry only an `hmac-sha256:` fingerprint;
//! - one artifact fact per distinct digest;
//! - the environments of a path share most releases: each environment after the first lags the
//!   one before it by one release for `lag_fraction` of the components;
//! - [`Fleet::next`] makes the next snapshot of an environment, one `interval` later, with a given
//!   fraction of components changed (half get a new image digest, half a new config value).
//!
//! Per-component choices come from a hash of (seed, labels), not from a sequential random
//! generator, so generation can run in parallel and stays identical whatever the thread count.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use envtrail_model::canonical::sha256_hex;
use envtrail_model::{
    Artifact, ComponentName, ConfigValue, Container, Digest, EnvName, Fingerprint, SNAPSHOT_SCHEMA,
    Snapshot, Source, SourceStatus, Timestamp, Workload,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rayon::prelude::*;

/// The registry every synthetic image lives in.
pub const REGISTRY: &str = "registry.example.com";

/// How many distinct sidecar releases the fleet's sidecars are drawn from.
const SIDECAR_RELEASES: u64 = 3;

/// The named config keys, in the order they are handed out; further keys are `SETTING_NN`.
const NAMED_KEYS: [&str; 4] = ["DB_HOST", "DB_PASSWORD", "LOG_LEVEL", "APP_VERSION"];

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Everything derives from this.
    pub seed: u64,
    /// Number of components (one workload each).
    pub components: usize,
    /// Config keys per workload.
    pub config_keys: usize,
    /// Fraction of the generic `SETTING_NN` keys that are secrets (`DB_PASSWORD` always is).
    pub secret_fraction: f64,
    /// Fraction of components for which each environment lags the one upstream by one release.
    pub lag_fraction: f64,
    /// Fraction of components that have a `proxy` sidecar.
    pub sidecar_fraction: f64,
    /// `taken_at` of the first snapshot of every environment.
    pub start: Timestamp,
    /// Time between two snapshots of a series.
    pub interval: TimeDelta,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            components: 1_000,
            config_keys: 20,
            secret_fraction: 0.1,
            lag_fraction: 0.05,
            sidecar_fraction: 0.4,
            start: DateTime::<Utc>::from_timestamp(1_767_225_600, 0)
                .expect("2026-01-01T00:00:00Z is a valid instant"),
            interval: TimeDelta::hours(1),
        }
    }
}

/// A deterministic generator of snapshots for one synthetic fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    config: FleetConfig,
}

impl Fleet {
    /// A fleet with this configuration.
    pub fn new(config: FleetConfig) -> Self {
        Self { config }
    }

    /// Its configuration.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// The first snapshot of each environment of `path` (upstream first), taken at `start`.
    pub fn environments(&self, path: &[EnvName]) -> Vec<Snapshot> {
        path.iter()
            .enumerate()
            .map(|(stage, env)| self.initial(env, stage))
            .collect()
    }

    /// The first snapshot of `env`, the `stage`-th environment of the promotion path (0 is the
    /// most upstream, e.g. dev).
    pub fn initial(&self, env: &EnvName, stage: usize) -> Snapshot {
        let parts: Vec<(Workload, Vec<Artifact>)> = (0..self.config.components)
            .into_par_iter()
            .map(|i| self.component(i, env, stage))
            .collect();
        let mut workloads = Vec::with_capacity(parts.len());
        let mut artifacts = BTreeMap::new();
        for (workload, arts) in parts {
            workloads.push(workload);
            for a in arts {
                artifacts.entry(a.digest.clone()).or_insert(a);
            }
        }
        let mut snapshot = Snapshot {
            schema: SNAPSHOT_SCHEMA.to_owned(),
            environment: env.clone(),
            taken_at: self.config.start,
            sources: vec![source(env)],
            workloads,
            artifacts: artifacts.into_values().collect(),
            infrastructure: Vec::new(),
            extra: BTreeMap::new(),
        };
        snapshot.normalize();
        snapshot
    }

    /// The next snapshot of the same environment, one `interval` after `previous`, with
    /// `round(change_fraction × workloads)` components changed: each either runs a new image
    /// digest (with its artifact fact) or has one config value changed. Which ones, and how, is
    /// decided by the seed, the environment and the instant, so a series is reproducible.
    pub fn next(&self, previous: &Snapshot, change_fraction: f64) -> Snapshot {
        let mut snapshot = previous.clone();
        snapshot.taken_at = previous.taken_at + self.config.interval;
        let n = snapshot.workloads.len();
        let count = ((change_fraction.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
        let mut rng = StdRng::seed_from_u64(mix(
            self.config.seed,
            &[
                "next",
                snapshot.environment.as_str(),
                &snapshot.taken_at.timestamp().to_string(),
            ],
        ));
        let mut new_artifacts = Vec::new();
        for index in sample(&mut rng, n, count) {
            let workload = &mut snapshot.workloads[index];
            let coin = rand::Rng::random_bool(&mut rng, 0.5);
            if coin || workload.config.is_empty() {
                new_artifacts.push(self.new_release(workload, snapshot.taken_at));
            } else {
                let k = rand::Rng::random_range(&mut rng, 0..workload.config.len());
                let value = workload
                    .config
                    .values_mut()
                    .nth(k)
                    .expect("k is below the number of keys");
                change_value(value);
            }
        }
        if !new_artifacts.is_empty() {
            let running: BTreeSet<&Digest> = snapshot
                .workloads
                .iter()
                .flat_map(|w| &w.containers)
                .flat_map(|c| c.artifact_digests())
                .collect();
            let mut kept: Vec<Artifact> = snapshot
                .artifacts
                .iter()
                .filter(|a| running.contains(&a.digest))
                .cloned()
                .collect();
            kept.extend(new_artifacts);
            snapshot.artifacts = kept;
        }
        snapshot.normalize();
        snapshot
    }

    /// `count` snapshots following `first` (excluded), each made by [`Fleet::next`] from the one
    /// before.
    pub fn series<'a>(
        &'a self,
        first: Snapshot,
        count: usize,
        change_fraction: f64,
    ) -> impl Iterator<Item = Snapshot> + 'a {
        let mut previous = first;
        (0..count).map(move |_| {
            previous = self.next(&previous, change_fraction);
            previous.clone()
        })
    }

    /// Component `i` as environment `env` (at `stage` of the path) runs it initially.
    fn component(&self, i: usize, env: &EnvName, stage: usize) -> (Workload, Vec<Artifact>) {
        let seed = self.config.seed;
        let name = component_name(i);
        let namespace = format!("team-{:02}", i % 100);
        let id = i.to_string();
        let dev_release = 3 + mix(seed, &["release", &id]) % 40;
        let lag = (1..=stage)
            .filter(|s| unit(seed, &["lag", &id, &s.to_string()]) < self.config.lag_fraction)
            .count() as u64;
        let release = dev_release - lag.min(dev_release - 1);
        let repository = format!("{REGISTRY}/{namespace}/{name}");
        let created = self.config.start - TimeDelta::days((50 - release as i64).max(1));

        let app_digest = Digest::sha256_of(format!("{seed}/{name}/app/{release}").as_bytes());
        let mut containers = vec![Container {
            name: "app".to_owned(),
            image: format!("{repository}:1.{release}.0"),
            digest: None,
            running_digests: vec![app_digest.clone()],
            init: false,
        }];
        let mut artifacts = vec![artifact(
            &app_digest,
            &repository,
            format!("1.{release}.0"),
            created,
        )];
        if unit(seed, &["sidecar", &id]) < self.config.sidecar_fraction {
            let proxy_release = mix(seed, &["proxy", &id]) % SIDECAR_RELEASES;
            let proxy_repository = format!("{REGISTRY}/platform/proxy");
            let proxy_digest =
                Digest::sha256_of(format!("{seed}/proxy/{proxy_release}").as_bytes());
            containers.push(Container {
                name: "proxy".to_owned(),
                image: format!("{proxy_repository}:2.{proxy_release}"),
                digest: None,
                running_digests: vec![proxy_digest.clone()],
                init: false,
            });
            artifacts.push(artifact(
                &proxy_digest,
                &proxy_repository,
                format!("2.{proxy_release}"),
                self.config.start - TimeDelta::days(90),
            ));
        }

        let config = (0..self.config.config_keys)
            .map(|k| {
                let key = config_key(k);
                let value = match key.as_str() {
                    "DB_HOST" => plain(format!("{name}.db.{env}.internal")),
                    "DB_PASSWORD" => secret(seed, &[name.as_str(), &key, env.as_str()]),
                    "LOG_LEVEL" => plain("info".to_owned()),
                    "APP_VERSION" => plain(format!("1.{release}.0")),
                    _ if unit(seed, &["secret", &id, &key]) < self.config.secret_fraction => {
                        secret(seed, &[name.as_str(), &key])
                    }
                    _ => plain(sha256_hex(format!("{seed}/{name}/{key}").as_bytes())[..16].into()),
                };
                (key, value)
            })
            .collect();

        let workload = Workload {
            component: name,
            source: source_id(env),
            reference: format!("Deployment/{namespace}/{}", component_name(i)),
            containers,
            config,
            metadata: BTreeMap::new(),
        };
        (workload, artifacts)
    }

    /// Gives `workload`'s application container a new digest; returns the new artifact's facts.
    fn new_release(&self, workload: &mut Workload, at: Timestamp) -> Artifact {
        let container = &mut workload.containers[0];
        let old = container
            .running_digests
            .first()
            .map(Digest::as_str)
            .unwrap_or_default();
        let digest = Digest::sha256_of(format!("{}/{old}/next", self.config.seed).as_bytes());
        let repository = container
            .image
            .rsplit_once(':')
            .map(|(r, _)| r)
            .unwrap_or(&container.image)
            .to_owned();
        let tag = format!("build-{}", &digest.hex()[..12]);
        container.image = format!("{repository}:{tag}");
        container.running_digests = vec![digest.clone()];
        artifact(&digest, &repository, tag, at - TimeDelta::minutes(30))
    }
}

/// `svc-000123`: the name of component `i`.
pub fn component_name(i: usize) -> ComponentName {
    format!("svc-{i:06}")
        .parse()
        .expect("svc-NNNNNN is a valid component name")
}

/// The id of the one source of every synthetic snapshot of `env`.
pub fn source_id(env: &EnvName) -> String {
    format!("k8s/{env}")
}

fn source(env: &EnvName) -> Source {
    Source {
        id: source_id(env),
        kind: "kubernetes".to_owned(),
        status: SourceStatus::Ok,
        error: None,
    }
}

/// The name of the `k`-th config key of every workload.
fn config_key(k: usize) -> String {
    NAMED_KEYS
        .get(k)
        .map_or_else(|| format!("SETTING_{k:02}"), |name| (*name).to_owned())
}

fn plain(value: String) -> ConfigValue {
    ConfigValue {
        fingerprint: Fingerprint::of_plain_value(&value),
        value: Some(value),
        secret: false,
    }
}

fn secret(seed: u64, labels: &[&str]) -> ConfigValue {
    let hex = sha256_hex(format!("{seed}/secret/{}", labels.join("/")).as_bytes());
    ConfigValue {
        fingerprint: format!("hmac-sha256:{hex}")
            .parse()
            .expect("64 lowercase hex digits"),
        value: None,
        secret: true,
    }
}

/// A new value of the same kind (plain or secret), different from the old one.
fn change_value(value: &mut ConfigValue) {
    let hex = sha256_hex(value.fingerprint.as_str().as_bytes());
    *value = if value.secret {
        ConfigValue {
            fingerprint: format!("hmac-sha256:{hex}")
                .parse()
                .expect("64 lowercase hex digits"),
            value: None,
            secret: true,
        }
    } else {
        plain(hex[..16].to_owned())
    };
}

fn artifact(digest: &Digest, repository: &str, tag: String, created: Timestamp) -> Artifact {
    Artifact {
        digest: digest.clone(),
        repository: repository.to_owned(),
        tags: vec![tag],
        index_digest: None,
        platform: Some("linux/amd64".to_owned()),
        revision: Some(sha256_hex(digest.as_str().as_bytes())[..40].to_owned()),
        source_url: None,
        created: Some(created),
        version: None,
        size: None,
        signature: None,
        provenance: None,
    }
}

/// A 64-bit hash of (seed, labels): FNV-1a then the SplitMix64 finaliser. Stable across
/// platforms and releases, unlike `std`'s `DefaultHasher`.
fn mix(seed: u64, labels: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for label in labels {
        for b in label.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A number in [0, 1) from (seed, labels).
fn unit(seed: u64, labels: &[&str]) -> f64 {
    (mix(seed, labels) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> EnvName {
        name.parse().unwrap()
    }

    fn path() -> Vec<EnvName> {
        vec![env("dev"), env("staging"), env("prod")]
    }

    fn fleet(components: usize, config_keys: usize) -> Fleet {
        Fleet::new(FleetConfig {
            components,
            config_keys,
            ..FleetConfig::default()
        })
    }

    fn changed(a: &Snapshot, b: &Snapshot) -> usize {
        let (a, b) = (a.component_states(), b.component_states());
        assert_eq!(a.len(), b.len());
        a.iter()
            .filter(|(name, state)| b[*name].state_hash() != state.state_hash())
            .count()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = fleet(300, 8).environments(&path());
        let b = fleet(300, 8).environments(&path());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let next_a = fleet(300, 8).next(&a[2], 0.1);
        let next_b = fleet(300, 8).next(&b[2], 0.1);
        assert_eq!(next_a, next_b);

        let other = Fleet::new(FleetConfig {
            seed: 7,
            components: 300,
            config_keys: 8,
            ..FleetConfig::default()
        });
        assert_ne!(other.environments(&path()), a);
    }

    #[test]
    fn every_snapshot_validates_and_round_trips() {
        let fleet = fleet(200, 10);
        for first in fleet.environments(&path()) {
            first.validate().unwrap();
            for s in fleet.series(first, 5, 0.2) {
                s.validate().unwrap();
                let json = serde_json::to_string(&s).unwrap();
                let back: Snapshot = serde_json::from_str(&json).unwrap();
                assert_eq!(back, s);
            }
        }
    }

    #[test]
    fn change_fraction_is_honoured() {
        let fleet = fleet(1_000, 5);
        let first = fleet.initial(&env("prod"), 2);
        let mut previous = first.clone();
        for fraction in [0.01, 0.1, 0.5, 0.0, 1.0] {
            let next = fleet.next(&previous, fraction);
            assert_eq!(
                changed(&previous, &next),
                (fraction * 1_000.0).round() as usize
            );
            assert_eq!(next.taken_at - previous.taken_at, TimeDelta::hours(1));
            previous = next;
        }
    }

    #[test]
    fn shape_components_containers_keys_secrets() {
        let s = fleet(2_000, 20).initial(&env("dev"), 0);
        assert_eq!(s.workloads.len(), 2_000);
        let mut secrets = 0;
        let mut keys = 0;
        for w in &s.workloads {
            assert!(w.reference.starts_with("Deployment/team-"));
            assert!(w.reference.ends_with(w.component.as_str()));
            assert!((1..=2).contains(&w.containers.len()));
            assert_eq!(w.config.len(), 20);
            for (key, v) in &w.config {
                keys += 1;
                if v.secret {
                    secrets += 1;
                    assert!(v.fingerprint.is_keyed() && v.value.is_none(), "{key}");
                } else {
                    let value = v.value.as_deref().unwrap();
                    assert_eq!(v.fingerprint, Fingerprint::of_plain_value(value));
                }
            }
        }
        let share = secrets as f64 / keys as f64;
        assert!((0.08..0.2).contains(&share), "secret share {share}");
        let sidecars = s
            .workloads
            .iter()
            .filter(|w| w.containers.len() == 2)
            .count();
        assert!((600..1_000).contains(&sidecars), "{sidecars} sidecars");
    }

    #[test]
    fn one_artifact_fact_per_running_digest() {
        let fleet = fleet(500, 3);
        let first = fleet.initial(&env("staging"), 1);
        for s in std::iter::once(first.clone()).chain(fleet.series(first, 10, 0.1)) {
            let running: BTreeSet<&Digest> = s
                .workloads
                .iter()
                .flat_map(|w| &w.containers)
                .flat_map(|c| c.artifact_digests())
                .collect();
            let facts: BTreeSet<&Digest> = s.artifacts.iter().map(|a| &a.digest).collect();
            assert_eq!(running, facts);
            assert_eq!(facts.len(), s.artifacts.len());
        }
    }

    #[test]
    fn environments_share_most_releases_and_differ_in_env_keys() {
        let envs = fleet(2_000, 6).environments(&path());
        let app = |s: &Snapshot, i: usize| s.workloads[i].containers[0].running_digests[0].clone();
        let same =
            |a: &Snapshot, b: &Snapshot| (0..2_000).filter(|&i| app(a, i) == app(b, i)).count();
        let dev_staging = same(&envs[0], &envs[1]);
        let staging_prod = same(&envs[1], &envs[2]);
        let dev_prod = same(&envs[0], &envs[2]);
        // About 5% lag at each step.
        assert!((1_850..1_950).contains(&dev_staging), "{dev_staging}");
        assert!((1_850..1_950).contains(&staging_prod), "{staging_prod}");
        assert!(dev_prod < staging_prod && dev_prod > 1_700, "{dev_prod}");
        for i in 0..2_000 {
            let (dev, prod) = (&envs[0].workloads[i].config, &envs[2].workloads[i].config);
            assert_ne!(dev["DB_HOST"], prod["DB_HOST"]);
            assert_ne!(dev["DB_PASSWORD"], prod["DB_PASSWORD"]);
            assert_eq!(dev["LOG_LEVEL"], prod["LOG_LEVEL"]);
            assert_eq!(dev["SETTING_05"], prod["SETTING_05"]);
        }
        // Prod is never ahead of dev.
        let release = |s: &Snapshot, i: usize| s.workloads[i].config["APP_VERSION"].clone();
        let lagging = (0..2_000)
            .filter(|&i| release(&envs[0], i) != release(&envs[2], i))
            .count();
        assert_eq!(lagging, 2_000 - dev_prod);
    }

    #[test]
    fn a_long_series_keeps_values_bounded() {
        let fleet = fleet(50, 4);
        let first = fleet.initial(&env("dev"), 0);
        let last = fleet.series(first, 200, 0.5).last().unwrap();
        last.validate().unwrap();
        for w in &last.workloads {
            assert!(
                w.containers[0].image.len() < 80,
                "{}",
                w.containers[0].image
            );
            for v in w.config.values() {
                assert!(v.value.as_ref().is_none_or(|v| v.len() <= 64));
            }
        }
    }
}
