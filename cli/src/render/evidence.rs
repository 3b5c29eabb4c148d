//! The answer of `evidence verify`, and the chain links `--evidence` adds to `asof` and `history`.

use anyhow::Result;
use envtrail_model::evidence::EvidenceCheck;
use envtrail_model::output::ChainEvidence;

use super::tables::Doc;
use super::{json, time};
use crate::args::Format;

/// `envtrail evidence verify`.
pub fn evidence_check(check: &EvidenceCheck, format: Format) -> Result<String> {
    if format == Format::Json {
        return json(check);
    }
    let mut doc = Doc::new(format);
    let what = match (&check.environment, &check.component) {
        (Some(env), Some(c)) => format!("{env} (component {c})"),
        (Some(env), None) => env.to_string(),
        _ => "unreadable bundle".into(),
    };
    let period = match (&check.from, &check.to) {
        (Some(from), Some(to)) => format!(" from {} to {}", time(from), time(to)),
        _ => String::new(),
    };
    if check.ok {
        doc.line(&format!(
            "ok: {what}{period}: {} snapshots recomputed, {} chain links to head {}",
            check.snapshots,
            check.chain_entries,
            check.chain_head.as_deref().unwrap_or("-")
        ));
    } else {
        doc.line(&format!("FAILED: {what}{period}"));
        for p in &check.problems {
            doc.line(&format!("- {p}"));
        }
    }
    let key = check.key_id.as_deref().unwrap_or("-");
    if check.key_pinned {
        doc.line(&format!("signing key: {key} (checked against --key)"));
    } else {
        doc.line(&format!(
            "signing key: {key} (named by the bundle itself: pass --key PUB to pin it)"
        ));
    }
    Ok(doc.finish())
}

/// The chain links section of `asof --evidence` and `history --evidence`.
pub(crate) fn chain(doc: &mut Doc, chain: &ChainEvidence) {
    doc.blank();
    doc.line(&format!(
        "chain head: {}",
        chain.chain_head.as_deref().unwrap_or("(empty store)")
    ));
    doc.table(
        &[
            "snapshot",
            "environment",
            "taken at",
            "items root",
            "content hash",
            "previous link",
            "link",
        ],
        chain.links.iter().map(|l| {
            vec![
                format!("#{} (seq {})", l.id, l.seq),
                l.environment.to_string(),
                time(&l.taken_at),
                l.items_root.clone(),
                l.content_hash.clone(),
                l.previous_link.clone(),
                l.link.clone(),
            ]
        }),
    );
}
