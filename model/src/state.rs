//! A component's state in one environment at one instant: its workloads and infrastructure items.
//! This is the unit the store content-addresses (one row per distinct state, shared across time and
//! environments) and the unit the diff compares.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::{Digest, Fingerprint};
use crate::snapshot::{InfraItem, Workload};

/// Everything one environment reported about one component.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentState {
    /// Its workloads, sorted by (source, ref).
    #[serde(default)]
    pub workloads: Vec<Workload>,
    /// Its infrastructure items, sorted by (source, address).
    #[serde(default)]
    pub infrastructure: Vec<InfraItem>,
}

impl ComponentState {
    /// Sorts everything into canonical order.
    pub fn normalize(&mut self) {
        for w in &mut self.workloads {
            w.containers.sort();
            for c in &mut w.containers {
                c.running_digests.sort();
                c.running_digests.dedup();
            }
        }
        self.workloads
            .sort_by(|a, b| (&a.source, &a.reference).cmp(&(&b.source, &b.reference)));
        self.infrastructure
            .sort_by(|a, b| (&a.source, &a.address).cmp(&(&b.source, &b.address)));
    }

    /// The artifacts it runs: for each container, its running digests where known, else its
    /// declared digest.
    pub fn artifact_digests(&self) -> BTreeSet<Digest> {
        self.workloads
            .iter()
            .flat_map(|w| w.containers.iter())
            .flat_map(|c| c.artifact_digests().cloned())
            .collect()
    }

    /// Config key → the fingerprints it has across the component's workloads (normally one).
    pub fn config_fingerprints(&self) -> BTreeMap<&str, BTreeSet<&Fingerprint>> {
        let mut map: BTreeMap<&str, BTreeSet<&Fingerprint>> = BTreeMap::new();
        for w in &self.workloads {
            for (key, value) in &w.config {
                map.entry(key.as_str())
                    .or_default()
                    .insert(&value.fingerprint);
            }
        }
        map
    }

    /// The source ids that reported this component.
    pub fn sources(&self) -> BTreeSet<&str> {
        self.workloads
            .iter()
            .map(|w| w.source.as_str())
            .chain(self.infrastructure.iter().map(|i| i.source.as_str()))
            .collect()
    }

    /// The canonical hash of this state (see [`crate::canonical`]).
    pub fn state_hash(&self) -> String {
        crate::canonical::hash_canonical(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_change_the_hash() {
        let w = |r: &str| -> Workload {
            serde_json::from_value(serde_json::json!({
                "component": "c", "source": "s", "ref": r, "containers": []
            }))
            .unwrap()
        };
        let mut a = ComponentState {
            workloads: vec![w("a"), w("b")],
            infrastructure: vec![],
        };
        let mut b = ComponentState {
            workloads: vec![w("b"), w("a")],
            infrastructure: vec![],
        };
        a.normalize();
        b.normalize();
        assert_eq!(a.state_hash(), b.state_hash());
        let c = ComponentState {
            workloads: vec![w("a")],
            infrastructure: vec![],
        };
        assert_ne!(a.state_hash(), c.state_hash());
    }
}
