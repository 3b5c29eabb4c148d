//! Small helpers every rule uses to build a [`Finding`] and its one-line message. Messages name
//! components, environments, short digests and config keys, never config values.

use std::fmt;

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

/// Items listed for a message: `a, b, c and 2 more`. Written straight into the message.
pub(crate) struct List<I>(I);

/// Lists `items` (see [`List`]).
pub(crate) fn list<I>(items: I) -> List<I::IntoIter>
where
    I: IntoIterator,
    I::IntoIter: Clone,
    I::Item: fmt::Display,
{
    List(items.into_iter())
}

impl<I> fmt::Display for List<I>
where
    I: Iterator + Clone,
    I::Item: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut count = 0;
        for item in self.0.clone() {
            if count < NAMED {
                if count > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            count += 1;
        }
        if count > NAMED {
            write!(f, " and {} more", count - NAMED)?;
        }
        Ok(())
    }
}

/// Short forms of digests, listed.
pub(crate) fn shorts<'a, I>(digests: I) -> List<impl Iterator<Item = String> + Clone>
where
    I: IntoIterator<Item = &'a Digest>,
    I::IntoIter: Clone,
{
    list(digests.into_iter().map(Digest::short))
}

/// `1 key`, `3 keys`.
pub(crate) struct Plural(pub usize, pub &'static str);

impl fmt::Display for Plural {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{s}", self.0, self.1)
    }
}

/// `1 key`, `3 keys`.
pub(crate) fn plural(n: usize, word: &'static str) -> Plural {
    Plural(n, word)
}

/// Sorts and deduplicates what a finding lists, so output does not depend on discovery order.
pub(crate) fn normalize(finding: &mut Finding) {
    finding.digests.sort_unstable();
    finding.digests.dedup();
    finding.keys.sort_unstable();
    finding.keys.dedup();
    // Keep the first of equal pieces of evidence, in order; lists are a few items long.
    let mut i = 1;
    while i < finding.evidence.len() {
        if finding.evidence[..i].contains(&finding.evidence[i]) {
            finding.evidence.remove(i);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped() {
        assert_eq!(list(["a", "b"]).to_string(), "a, b");
        assert_eq!(list(1..=7).to_string(), "1, 2, 3, 4, 5 and 2 more");
        assert_eq!(plural(1, "key").to_string(), "1 key");
        assert_eq!(plural(3, "key").to_string(), "3 keys");
    }
}
