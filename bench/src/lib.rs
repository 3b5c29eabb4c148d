//! Benchmarks for envtrail: a deterministic synthetic fleet generator ([`fleet`]) that the
//! criterion benches (`benches/`), the `envtrail-fleet` snapshot writer and the `envtrail-perf`
//! target checker share.
//!
//! This crate sits apart from the others so that criterion (a dev-dependency that changes shared
//! features) never forces the product crates to build twice.
//!
//! ```
//! use envtrail_bench::fleet::{Fleet, FleetConfig};
//!
//! let fleet = Fleet::new(FleetConfig { components: 100, config_keys: 5, ..FleetConfig::default() });
//! let path = ["dev".parse().unwrap(), "staging".parse().unwrap(), "prod".parse().unwrap()];
//! let snapshots = fleet.environments(&path);
//! let later = fleet.next(&snapshots[2], 0.01);
//! assert_eq!(later.workloads.len(), 100);
//! later.validate().unwrap();
//! ```

pub mod fleet;
pub mod naive;
pub mod scenario;
