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

    /// The state's *quick hash*: the sha256 of its compact `serde_json` serialisation. The store
    /// keeps it beside each state to recognise an unchanged component without canonicalising
    /// it, and a snapshot reader compares it to the bytes of a document's workloads to leave
    /// an unchanged component unparsed ([`ComponentState::quick_hash_of_workload_texts`]).
    pub fn quick_hash(&self) -> QuickHash {
        use sha2::{Digest as _, Sha256};
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            serde_json::to_writer(&mut *buffer, self)
                .expect("envtrail's types always serialise to JSON");
            Sha256::digest(buffer.as_slice()).into()
        })
    }

    /// The quick hash of the state made of workloads whose compact `serde_json` texts are
    /// `texts`, in this order, and no infrastructure item, computed from the texts alone.
    ///
    /// Equal to [`ComponentState::quick_hash`] of that state when each text is exactly the
    /// compact serialisation of its workload (a test holds the two together); for any other
    /// text (pretty-printed, fields in another order) it is some other hash, never a wrong match.
    pub fn quick_hash_of_workload_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> QuickHash {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"{\"workloads\":[");
        for (i, text) in texts.into_iter().enumerate() {
            if i > 0 {
                hasher.update(b",");
            }
            hasher.update(text.as_bytes());
        }
        hasher.update(b"],\"infrastructure\":[]}");
        hasher.finalize().into()
    }
}

/// A [`ComponentState::quick_hash`].
pub type QuickHash = [u8; 32];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_hash_of_workload_texts_is_the_states_quick_hash() {
        let workload = |component: &str, reference: &str| -> Workload {
            serde_json::from_value(serde_json::json!({
                "component": component, "source": "k8s", "ref": reference,
                "containers": [{"name": "app", "image": "r/app:1", "running_digests": []}],
                "config": {"A": {"fingerprint": format!("sha256:{}", "a".repeat(64)), "value": "x\"y"}},
                "metadata": {"chart": "c"}
            }))
            .unwrap()
        };
        let state = ComponentState {
            workloads: vec![
                workload("api", "Deployment/a"),
                workload("api", "Deployment/b"),
            ],
            infrastructure: Vec::new(),
        };
        let texts: Vec<String> = state
            .workloads
            .iter()
            .map(|w| serde_json::to_string(w).unwrap())
            .collect();
        assert_eq!(
            ComponentState::quick_hash_of_workload_texts(texts.iter().map(String::as_str)),
            state.quick_hash()
        );
        // Any other text of the same workloads is another hash.
        let pretty: Vec<String> = state
            .workloads
            .iter()
            .map(|w| serde_json::to_string_pretty(w).unwrap())
            .collect();
        assert_ne!(
            ComponentState::quick_hash_of_workload_texts(pretty.iter().map(String::as_str)),
            state.quick_hash()
        );
        assert_ne!(
            ComponentState::quick_hash_of_workload_texts(texts.iter().rev().map(String::as_str)),
            state.quick_hash()
        );
        let empty = ComponentState::default();
        assert_eq!(
            ComponentState::quick_hash_of_workload_texts([]),
            empty.quick_hash()
        );
    }

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
