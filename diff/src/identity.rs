//! Artifact identity: a platform manifest and the image index that contains it are the same
//! artifact, never drift. [`ArtifactIdentity`] groups digests linked by (platform, index) pairs
//! with a union-find and names each group by one canonical digest, so that every comparison in the
//! diff can compare canonical digests and stay a plain set comparison.

use std::collections::{BTreeSet, HashMap};

use envtrail_model::view::EnvironmentState;
use envtrail_model::{ComponentState, Digest};

/// Which digests name the same artifact.
///
/// The canonical digest of a class is its smallest digest (by text), so the choice does not
/// depend on the order the links were given in. A digest in no link is its own canonical digest.
#[derive(Debug, Clone, Default)]
pub struct ArtifactIdentity {
    /// Every linked digest → the canonical digest of its class (itself included).
    canonical: HashMap<Digest, Digest>,
    /// Canonical digest of a class of several → every digest of the class, sorted.
    members: HashMap<Digest, Vec<Digest>>,
}

impl ArtifactIdentity {
    /// Builds the classes from (platform manifest, image index) pairs.
    pub fn new(links: &[(Digest, Digest)]) -> Self {
        Self::from_pairs(links.iter().map(|(a, b)| (a, b)))
    }

    /// Builds the classes from pairs of digests that are the same artifact.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a Digest, &'a Digest)>) -> Self {
        let mut index: HashMap<&Digest, usize> = HashMap::new();
        let mut digests: Vec<&Digest> = Vec::new();
        let mut parent: Vec<usize> = Vec::new();
        let mut id = |d: &'a Digest, digests: &mut Vec<&'a Digest>, parent: &mut Vec<usize>| {
            *index.entry(d).or_insert_with(|| {
                digests.push(d);
                parent.push(parent.len());
                parent.len() - 1
            })
        };
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for (a, b) in pairs {
            if a == b {
                continue;
            }
            let a = id(a, &mut digests, &mut parent);
            let b = id(b, &mut digests, &mut parent);
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra != rb {
                // Keep the root at the smaller digest so the root is the canonical one.
                if digests[ra] <= digests[rb] {
                    parent[rb] = ra;
                } else {
                    parent[ra] = rb;
                }
            }
        }
        let mut canonical = HashMap::with_capacity(digests.len());
        let mut members: HashMap<Digest, Vec<Digest>> = HashMap::new();
        for i in 0..digests.len() {
            let root = find(&mut parent, i);
            canonical.insert(digests[i].clone(), digests[root].clone());
            members
                .entry(digests[root].clone())
                .or_default()
                .push(digests[i].clone());
        }
        for list in members.values_mut() {
            list.sort_unstable();
        }
        Self { canonical, members }
    }

    /// The links given plus those recorded in the environments' artifact facts (an artifact's
    /// `index_digest`).
    pub fn for_environments<'a>(
        links: &'a [(Digest, Digest)],
        environments: impl IntoIterator<Item = &'a EnvironmentState>,
    ) -> Self {
        let facts = environments.into_iter().flat_map(|env| {
            env.artifacts
                .values()
                .filter_map(|a| a.index_digest.as_ref().map(|i| (&a.digest, i)))
        });
        Self::from_pairs(links.iter().map(|(a, b)| (a, b)).chain(facts))
    }

    /// The canonical digest of `digest`'s class.
    pub fn canonical(&self, digest: &Digest) -> Digest {
        self.canonical_ref(digest).clone()
    }

    /// The canonical digest of `digest`'s class, borrowed.
    pub fn canonical_ref<'a>(&'a self, digest: &'a Digest) -> &'a Digest {
        if self.canonical.is_empty() {
            return digest;
        }
        self.canonical.get(digest).unwrap_or(digest)
    }

    /// Every digest of the class whose canonical digest is `canonical` (just itself when it is in
    /// no link).
    pub fn members<'a>(&'a self, canonical: &'a Digest) -> &'a [Digest] {
        match self.members.get(canonical) {
            Some(list) => list,
            None => std::slice::from_ref(canonical),
        }
    }

    /// Whether two digests name the same artifact.
    pub fn same(&self, a: &Digest, b: &Digest) -> bool {
        self.canonical_ref(a) == self.canonical_ref(b)
    }

    /// The canonical digests of the artifacts a component runs (see
    /// [`ComponentState::artifact_digests`]).
    pub fn artifacts<'a>(&'a self, state: &'a ComponentState) -> BTreeSet<&'a Digest> {
        state
            .workloads
            .iter()
            .flat_map(|w| &w.containers)
            .flat_map(|c| c.artifact_digests())
            .map(|d| self.canonical_ref(d))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::digest;

    #[test]
    fn linked_digests_share_the_smallest_as_canonical() {
        let (a, b, c, d) = (digest(1), digest(2), digest(3), digest(4));
        let mut sorted = [&a, &b, &c];
        sorted.sort();
        // b–c then a–b: one class of three, whatever the order.
        let one = ArtifactIdentity::new(&[(b.clone(), c.clone()), (a.clone(), b.clone())]);
        let two = ArtifactIdentity::new(&[(a.clone(), b.clone()), (c.clone(), b.clone())]);
        for id in [&one, &two] {
            assert_eq!(id.canonical(&a), *sorted[0]);
            assert_eq!(id.canonical(&b), *sorted[0]);
            assert_eq!(id.canonical(&c), *sorted[0]);
            assert!(id.same(&a, &c));
            assert!(!id.same(&a, &d));
            assert_eq!(id.canonical(&d), d);
            let mut all = vec![a.clone(), b.clone(), c.clone()];
            all.sort();
            assert_eq!(id.members(&id.canonical(&b)), all.as_slice());
            assert_eq!(id.members(&d), std::slice::from_ref(&d));
        }
    }

    #[test]
    fn unlinked_digest_is_its_own_class() {
        let id = ArtifactIdentity::default();
        assert_eq!(id.canonical(&digest(9)), digest(9));
        assert!(!id.same(&digest(1), &digest(2)));
    }
}
