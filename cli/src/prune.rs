//! `envtrail prune` and the checkpoint check of `envtrail verify`: the store prunes and verifies,
//! `envtrail-evidence` signs and checks the checkpoint; this module reads the key and glues the
//! two. The private key is read, used and dropped.

use std::path::Path;

use anyhow::{Context, Result};
use envtrail_evidence::{PublicKey, check_detached, sign_detached};
use envtrail_model::checkpoint::{PRUNE_SCHEMA, PruneResult};
use envtrail_model::evidence::EvidenceSignature;
use envtrail_model::output::VerifyResult;
use envtrail_model::parse_time;
use envtrail_store::{Signer, Store};

use crate::Outcome;
use crate::args::Cli;
use crate::commands::{open_existing, print};
use crate::render;

/// Checks a checkpoint's signature: against `pinned` when given, else against the key it names.
fn checker(pinned: Option<&PublicKey>) -> impl Fn(&[u8], &EvidenceSignature) -> Vec<String> {
    move |bytes, signature| check_detached(bytes, signature, pinned, "the checkpoint")
}

/// `Store::verify` with the latest checkpoint's signature checked.
pub fn verify(store: &Store, pinned: Option<&PublicKey>) -> Result<VerifyResult> {
    let check = checker(pinned);
    let mut result = store.verify_with(Some(&check))?;
    if let Some(c) = &mut result.checkpoint {
        c.key_pinned = pinned.is_some();
    }
    Ok(result)
}

/// Runs `envtrail prune`.
pub fn run(
    cli: &Cli,
    before: &str,
    key: Option<&Path>,
    dry_run: bool,
    vacuum: bool,
) -> Result<Outcome> {
    let before = parse_time(before).context("argument --before")?;
    // The key first: a bad key should not cost a verification of the whole store.
    let key = match (dry_run, key) {
        (false, Some(path)) => Some(crate::evidence::read_signing_key(path)?),
        _ => None,
    };
    let mut store = open_existing(&cli.db)?;
    // Existing checkpoints are checked against the key each names: keys may have been rotated.
    // `verify --key` pins the latest one.
    let check = checker(None);
    let outcome = match &key {
        Some(key) => {
            let sign = |bytes: &[u8]| sign_detached(bytes, key);
            let signer = Signer {
                key_id: key.public_key().key_id(),
                sign: &sign,
            };
            store.prune(before, &signer, Some(&check))?
        }
        None => store.prune_dry_run(before, Some(&check))?,
    };
    let vacuumed = vacuum && outcome.checkpoint.is_some();
    if vacuumed {
        store.vacuum()?;
    }
    let result = PruneResult {
        schema: PRUNE_SCHEMA.to_owned(),
        before,
        dry_run,
        checkpoint: outcome.checkpoint,
        signature: outcome.signature,
        nothing_to_prune: outcome.nothing_to_prune,
        vacuumed,
    };
    print(&render::prune(&result, cli.format)?)?;
    Ok(Outcome::Success)
}
