//! The Terraform state reader: turns state files (format version 4, written by Terraform 0.12 and
//! later or by OpenTofu) into envtrail [`InfraItem`]s: one per resource instance, with its address
//! (module path included, environment affixes stripped by the naming rules), its type, the
//! allow-listed attributes that matter (engine versions, instance classes, runtimes, sizes...) and
//! sensitive attributes as keyed fingerprints only. The state's lineage, serial and Terraform
//! version are returned beside the items.
//!
//! This crate only parses bytes: it reads no file and knows no AWS. The CLI reads local state
//! files and asks `envtrail-collect-aws` for `s3://` objects, then hands the bytes here. A state
//! that is truncated or invalid is an error naming the state and the position; the caller stores
//! nothing from it.
//!
//! ```
//! use std::sync::Arc;
//! use envtrail_collect_terraform::{Options, parse};
//! use envtrail_model::Fingerprint;
//!
//! let state = br#"{"version": 4, "terraform_version": "1.9.8", "serial": 7, "lineage": "l-1",
//!   "resources": [{"mode": "managed", "type": "aws_db_instance", "name": "payments_prod",
//!     "instances": [{"attributes": {"engine": "postgres", "engine_version": "15.4",
//!       "password": "hunter2", "tags": {"app": "payments"}}}]}]}"#;
//! // The CLI passes an HMAC under the operator's key; any keyed function will do here.
//! let fingerprint = Arc::new(|v: &[u8]| {
//!     let plain = Fingerprint::of_plain_value(std::str::from_utf8(v).unwrap());
//!     format!("hmac-{plain}").parse().unwrap()
//! });
//! let mut options = Options::new("terraform/prod", fingerprint);
//! options.naming.strip_suffixes = vec!["_prod".into()];
//! let parsed = parse(state, "prod.tfstate", &options).unwrap();
//! assert_eq!(parsed.serial, Some(7));
//! let db = &parsed.items[0];
//! assert_eq!(db.address, "aws_db_instance.payments");
//! assert_eq!(db.component.as_str(), "payments");
//! assert_eq!(db.attributes["engine_version"], "15.4");
//! assert!(!db.attributes.contains_key("password"), "not allow-listed");
//! ```
//!
//! [`InfraItem`]: envtrail_model::InfraItem

mod error;
mod options;
mod parse;

pub use error::Error;
pub use options::{
    ALWAYS_SENSITIVE, DEFAULT_ATTRIBUTES, DEFAULT_NAME_TAGS, Naming, Options, SecretFingerprint,
    always_sensitive,
};
pub use parse::{State, parse};

/// The kind recorded in a Terraform source's entry.
pub const SOURCE_KIND: &str = "terraform";
