//! The AWS collector: turns one AWS account, read in one or more regions, into parts of an
//! environment's snapshot: one [`Source`] per region (`aws/<account>/<region>`, `ok`, `partial`
//! or `failed` with the reason) and the workloads it runs:
//!
//! - ECS services (cluster → service → task definition and running tasks: declared images and the
//!   `imageDigest` each running container reports; environment values as config, `secrets` as
//!   references never resolved; rollouts and stuck tasks visible as several running digests and
//!   in the metadata);
//! - Lambda functions (`$LATEST` and every alias: `ResolvedImageUri` for Image functions,
//!   `CodeSha256` as `sha256:<hex>` for Zip functions; environment values as keyed fingerprints
//!   unless allow-listed);
//! - SSM Parameter Store paths (String/StringList values with fingerprints; SecureString values
//!   never: a keyed fingerprint of the decrypted value when allowed, else of version and date).
//!
//! It also reads Terraform state objects from S3 ([`fetch_object`]) for the CLI to parse with
//! `envtrail-collect-terraform`. Credentials come from the standard chain (environment, profiles,
//! SSO, web identity, ECS/IMDS roles), optionally a role to assume; throttling is handled by the
//! SDK's adaptive retry, and calls in flight are bounded per account and region. See
//! `docs/aws.md` for the config and the IAM permissions it needs.
//!
//! This crate depends on `envtrail-model` only; the CLI assembles the sources of an environment
//! into one snapshot and stores it.
//!
//! ```
//! use std::sync::Arc;
//! use envtrail_collect_aws::{AccountConfig, CollectOptions, SsmPath};
//! use envtrail_model::Fingerprint;
//!
//! let account = AccountConfig {
//!     profile: Some("prod".into()),
//!     regions: vec!["eu-west-1".into(), "us-east-1".into()],
//!     role_arn: Some("arn:aws:iam::123456789012:role/envtrail-read".into()),
//!     ecs: true,
//!     lambda: true,
//!     lambda_env_allow: vec!["LOG_*".into()],
//!     ssm_paths: vec![SsmPath { path: "/prod/payments".into(), component: Some("payments".into()) }],
//!     ..AccountConfig::default()
//! };
//! // The CLI passes an HMAC under the operator's key.
//! let options = CollectOptions::new(Arc::new(|v: &[u8]| {
//!     let plain = Fingerprint::of_plain_value(&String::from_utf8_lossy(v));
//!     format!("hmac-{plain}").parse().unwrap()
//! }));
//! // In an async context: `envtrail_collect_aws::collect(&account, &options).await`.
//! # let _ = (account, options);
//! ```
//!
//! [`Source`]: envtrail_model::Source

mod assemble;
mod collect;
mod config;
mod error;
pub mod records;
mod s3;
pub mod testing;

pub use assemble::{
    SECURE_STRING_BASIS, code_digest, component, ecs_workload, image_digest, lambda_workload,
    ssm_workload,
};
pub use collect::{Collected, SOURCE_KIND, collect, sdk_config};
pub use config::{
    AccountConfig, CollectOptions, Credentials, DEFAULT_NAME_TAGS, Naming, SecretFingerprint,
    SsmPath,
};
pub use error::Error;
pub use s3::{fetch_object, parse_s3_url};
