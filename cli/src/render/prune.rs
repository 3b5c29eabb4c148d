//! The answer of `envtrail prune`, and what `verify` says about the checkpoint it left.

use anyhow::Result;
use envtrail_model::checkpoint::{Checkpoint, CheckpointCheck, PruneResult, SignatureStatus};

use super::tables::Doc;
use super::{json, time};
use crate::args::Format;

/// `envtrail prune`.
pub fn prune(result: &PruneResult, format: Format) -> Result<String> {
    if format == Format::Json {
        return json(result);
    }
    let mut doc = Doc::new(format);
    let Some(checkpoint) = &result.checkpoint else {
        doc.line(&format!(
            "nothing to prune before {}: {}",
            time(&result.before),
            result
                .nothing_to_prune
                .as_deref()
                .unwrap_or("nothing is older")
        ));
        return Ok(doc.finish());
    };
    if result.dry_run {
        doc.line(&format!(
            "dry run: would prune history before {} as checkpoint #{} (nothing was changed)",
            time(&checkpoint.before),
            checkpoint.number
        ));
    } else {
        doc.line(&format!(
            "pruned history before {}: checkpoint #{} signed by {}",
            time(&checkpoint.before),
            checkpoint.number,
            checkpoint.key_id.as_deref().unwrap_or("-")
        ));
    }
    doc.blank();
    environments(&mut doc, checkpoint);
    doc.blank();
    let r = &checkpoint.removed;
    doc.line(&format!(
        "{}: {} snapshots, {} intervals, {} component states, {} artifact facts; {} snapshots \
         kept as header and hashes only",
        if result.dry_run {
            "would remove"
        } else {
            "removed"
        },
        r.snapshots,
        r.intervals,
        r.states,
        r.artifacts,
        r.header_only_snapshots
    ));
    doc.line(&format!(
        "chain: {} at snapshot #{}, after the link at the cut {}; head {}",
        if result.dry_run {
            "would start"
        } else {
            "starts"
        },
        checkpoint.cut.snapshot_id,
        checkpoint.cut.link,
        checkpoint.chain_head
    ));
    if result.vacuumed {
        doc.line("the file was compacted (VACUUM)");
    }
    Ok(doc.finish())
}

fn environments(doc: &mut Doc, checkpoint: &Checkpoint) {
    doc.table(
        &[
            "environment",
            "kept from (in force at --before)",
            "removed",
            "header only",
        ],
        checkpoint.environments.iter().map(|e| {
            vec![
                e.environment.to_string(),
                format!(
                    "#{} seq {} {}",
                    e.in_force.id,
                    e.in_force.seq,
                    time(&e.in_force.taken_at)
                ),
                e.removed_snapshots.to_string(),
                e.header_only_snapshots.to_string(),
            ]
        }),
    );
}

/// The lines `verify` adds after a prune: the pruned range and the checkpoint's signature.
pub(crate) fn checkpoint_lines(doc: &mut Doc, check: &CheckpointCheck) {
    let c = &check.checkpoint;
    doc.line(&format!(
        "pruned: history before {} was removed by checkpoint #{} (made {}, {} prune{} in all); \
         the chain is verified from snapshot #{}, after the link at the cut {}",
        time(&c.before),
        c.number,
        time(&c.created_at),
        check.checkpoints,
        if check.checkpoints == 1 { "" } else { "s" },
        c.cut.snapshot_id,
        c.cut.link
    ));
    let kept: Vec<String> = c
        .environments
        .iter()
        .map(|e| {
            format!(
                "{} #{} {}",
                e.environment,
                e.in_force.id,
                time(&e.in_force.taken_at)
            )
        })
        .collect();
    doc.line(&format!("kept from: {}", kept.join(", ")));
    let key = c.key_id.as_deref().unwrap_or("-");
    let line = match (check.signature, check.key_pinned) {
        (SignatureStatus::Verified, true) => {
            format!("checkpoint signature: verified, key {key} (checked against --key)")
        }
        (SignatureStatus::Verified, false) => format!(
            "checkpoint signature: verified, key {key} (named by the checkpoint itself: pass \
             --key PUB to pin it)"
        ),
        (SignatureStatus::NotChecked, _) => {
            format!("checkpoint signature: not checked, key {key}")
        }
        (SignatureStatus::Failed, _) => {
            format!("checkpoint signature: FAILED, key {key} (see the problems)")
        }
    };
    doc.line(&line);
}
