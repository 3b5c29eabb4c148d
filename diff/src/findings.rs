//! Small helpers every rule uses to build a [`Finding`] and its one-line message. Messages name
//! components, environments, short digests and config keys, never config values.

use std::fmt::Write as _;

use envtrail_model::{ComponentName, Digest, EnvName, Finding, FindingKind};

/// A finding of `kind` about `environment` (and `component`), with the default severity (the
/// report applies the policy's) and nothing else filled in.
pub(crate) fn finding(
    kind: FindingKind,
    environment: &EnvName,
    component: Option<&ComponentName>,
) -> Finding {
    Finding {
        kind,
        severity: kind.default_severity(),
        component: component.cloned(),
        environment: environment.clone(),
        related_environment: None,
        digests: Vec::new(),
        keys: Vec::new(),
        message: String::new(),
        evidence: Vec::new(),
    }
}

/// Up to this many items are named in a message; the rest are counted.
const NAMED: usize = 5;

/// `a, b, c and 2 more`.
pub(crate) fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut out = String::new();
    let mut count = 0;
    for item in items {
        if count < NAMED {
            if count > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{item}");
        }
        count += 1;
    }
    if count > NAMED {
        let _ = write!(out, " and {} more", count - NAMED);
    }
    out
}

/// Short forms of digests, listed.
pub(crate) fn shorts<'a>(digests: impl IntoIterator<Item = &'a Digest>) -> String {
    list(digests.into_iter().map(Digest::short))
}

/// `key` or `keys`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Sorts and deduplicates what a finding lists, so output does not depend on discovery order.
pub(crate) fn normalize(finding: &mut Finding) {
    finding.digests.sort_unstable();
    finding.digests.dedup();
    finding.keys.sort_unstable();
    finding.keys.dedup();
    let mut evidence = Vec::with_capacity(finding.evidence.len());
    for e in finding.evidence.drain(..) {
        if !evidence.contains(&e) {
            evidence.push(e);
        }
    }
    finding.evidence = evidence;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped() {
        assert_eq!(list(["a", "b"]), "a, b");
        assert_eq!(list(1..=7), "1, 2, 3, 4, 5 and 2 more");
        assert_eq!(plural(1, "key"), "1 key");
        assert_eq!(plural(3, "key"), "3 keys");
    }
}
