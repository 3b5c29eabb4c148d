//! The fast parse of a snapshot document: the top level is split into its fields without
//! building them, then the `workloads` and `artifacts` arrays, which are nearly all of a large
//! snapshot, are parsed element by element on the rayon pool.
//!
//! It is only a faster route to the same [`Snapshot`] that `serde_json::from_slice` builds: it
//! gives up (`None`) on anything it does not handle exactly like the derived `Deserialize` (a
//! duplicate or missing field, any element that fails), and the caller then parses the document
//! the slow way, which names the field at fault. A test holds both routes to the same answer.
//!
//! Why it pays: the derived impl has to buffer the whole document in serde's generic `Content`
//! tree before it can fill the struct (the `#[serde(flatten)]` map that keeps unknown top-level
//! fields needs that), so every workload was built twice, on one thread. Here the top-level scan
//! only checks syntax and notes where each field's value lies.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use envtrail_model::snapshot::{InfraItem, Source};
use envtrail_model::{
    ComponentState, EnvName, QuickHash, Snapshot, Timestamp, UnparsedComponent, UnparsedWorkload,
    Workload,
};
use rayon::prelude::*;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A top-level field's value, not yet parsed: the large arrays come split into their elements
/// by the same scan that splits the document, so no byte is scanned twice before its parse.
enum Raw<'a> {
    /// `workloads` or `artifacts`.
    Elements(Vec<&'a RawValue>),
    /// Any other field.
    Whole(&'a RawValue),
}

/// The fields whose elements are parsed in parallel.
const SPLIT: [&str; 2] = ["workloads", "artifacts"];

/// The top-level fields of a document, in order.
struct Fields<'a>(Vec<(String, Raw<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FieldsVisitor<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a snapshot object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let raw = if SPLIT.contains(&name.as_str()) {
                        Raw::Elements(map.next_value()?)
                    } else {
                        Raw::Whole(map.next_value()?)
                    };
                    fields.push((name, raw));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}

/// Parses `bytes` as the derived `Deserialize` of [`Snapshot`] would, with the large arrays in
/// parallel; `None` when the document needs the slow parse (see the module docs).
#[cfg(test)]
pub(crate) fn parse(bytes: &[u8]) -> Option<Snapshot> {
    parse_leaving(bytes, |_| HashMap::new()).map(|(snapshot, _)| snapshot)
}

/// [`parse`], leaving out the components whose workload texts have the quick hash that
/// `known(environment)` gives for them (see [`leave_unchanged`]).
pub(crate) fn parse_leaving(
    bytes: &[u8],
    known: impl FnOnce(&EnvName) -> HashMap<String, QuickHash>,
) -> Option<(Snapshot, Vec<UnparsedComponent>)> {
    let Fields(fields) = serde_json::from_slice(bytes).ok()?;
    let mut schema = None;
    let mut environment = None;
    let mut taken_at = None;
    let mut sources = None;
    let mut workloads = None;
    let mut artifacts = None;
    let mut infrastructure = None;
    let mut extra = BTreeMap::new();
    for (name, raw) in fields {
        let fresh = match (name.as_str(), raw) {
            // Parsed last, once the environment and the infrastructure are known.
            ("workloads", Raw::Elements(elements)) => set(&mut workloads, elements),
            ("artifacts", Raw::Elements(elements)) => set(&mut artifacts, each(elements)?),
            (_, Raw::Elements(_)) => unreachable!("only the SPLIT fields are split"),
            ("schema", Raw::Whole(raw)) => set(&mut schema, one::<String>(raw)?),
            ("environment", Raw::Whole(raw)) => set(&mut environment, one::<EnvName>(raw)?),
            ("taken_at", Raw::Whole(raw)) => set(&mut taken_at, one::<Timestamp>(raw)?),
            ("sources", Raw::Whole(raw)) => set(&mut sources, one::<Vec<Source>>(raw)?),
            ("infrastructure", Raw::Whole(raw)) => {
                set(&mut infrastructure, one::<Vec<InfraItem>>(raw)?)
            }
            (_, Raw::Whole(raw)) => extra.insert(name, one(raw)?).is_none(),
        };
        if !fresh {
            return None;
        }
    }
    let environment = environment?;
    let infrastructure = infrastructure.unwrap_or_default();
    let (workloads, unparsed) = match workloads {
        Some(elements) if !elements.is_empty() => {
            leave_unchanged(elements, &known(&environment), &infrastructure)?
        }
        _ => (Vec::new(), Vec::new()),
    };
    let snapshot = Snapshot {
        schema: schema?,
        environment,
        taken_at: taken_at?,
        sources: sources.unwrap_or_default(),
        workloads,
        artifacts: artifacts.unwrap_or_default(),
        infrastructure,
        extra,
    };
    Some((snapshot, unparsed))
}

/// What the checks between fields need of a workload that may be left unparsed.
#[derive(Deserialize)]
struct WorkloadHead<'a> {
    #[serde(borrow)]
    component: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(rename = "ref", borrow)]
    reference: Cow<'a, str>,
}

impl<'a> WorkloadHead<'a> {
    /// The head of a workload element. A compact serialisation (every text a store's quick hash
    /// can match) starts with these three fields in this order, so they are read off the first
    /// bytes; any other element is parsed for them, which also checks its syntax. Heads read off
    /// an element that is not a stored state's text only group it: it is parsed anyway.
    fn of(text: &'a str) -> Option<Self> {
        Self::compact(text).or_else(|| serde_json::from_str(text).ok())
    }

    fn compact(text: &'a str) -> Option<Self> {
        let rest = text.strip_prefix(r#"{"component":""#)?;
        let (component, rest) = rest.split_once('"')?;
        let rest = rest.strip_prefix(r#","source":""#)?;
        let (source, rest) = rest.split_once('"')?;
        let rest = rest.strip_prefix(r#","ref":""#)?;
        let (reference, _) = rest.split_once('"')?;
        // An escape (`\"` ends no string) is serde's to read.
        if [component, source, reference]
            .iter()
            .any(|s| s.contains('\\'))
        {
            return None;
        }
        Some(Self {
            component: Cow::Borrowed(component),
            source: Cow::Borrowed(source),
            reference: Cow::Borrowed(reference),
        })
    }
}

/// Parses the workload elements, except those of components whose element texts, in document
/// order, have the quick hash `known` holds for the component: those bytes are exactly the
/// compact serialisation of the state the store holds, so parsing them would give that state
/// again ([`ComponentState::quick_hash_of_workload_texts`]). A component that also has
/// infrastructure items in the document is always parsed.
fn leave_unchanged(
    elements: Vec<&RawValue>,
    known: &HashMap<String, QuickHash>,
    infrastructure: &[InfraItem],
) -> Option<(Vec<Workload>, Vec<UnparsedComponent>)> {
    if known.is_empty() {
        return Some((each(elements)?, Vec::new()));
    }
    let heads: Vec<WorkloadHead> = elements
        .par_iter()
        .with_min_len(256)
        .map(|element| WorkloadHead::of(element.get()))
        .collect::<Option<_>>()?;
    let mut by_component: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, head) in heads.iter().enumerate() {
        by_component.entry(&head.component).or_default().push(i);
    }
    for item in infrastructure {
        by_component.remove(item.component.as_str());
    }
    let mut unchanged: Vec<(&str, QuickHash, Vec<usize>)> = by_component
        .into_par_iter()
        .filter_map(|(name, indexes)| {
            let held = known.get(name)?;
            let quick = ComponentState::quick_hash_of_workload_texts(
                indexes.iter().map(|&i| elements[i].get()),
            );
            (quick == *held).then_some((name, quick, indexes))
        })
        .collect();
    unchanged.sort_unstable_by_key(|(name, _, _)| *name);
    let mut skip = vec![false; elements.len()];
    let mut unparsed = Vec::with_capacity(unchanged.len());
    for (name, quick, indexes) in unchanged {
        let workloads = indexes
            .into_iter()
            .map(|index| {
                skip[index] = true;
                UnparsedWorkload {
                    index,
                    source: heads[index].source.to_string(),
                    reference: heads[index].reference.to_string(),
                }
            })
            .collect();
        unparsed.push(UnparsedComponent {
            component: name.parse().ok()?,
            quick,
            workloads,
        });
    }
    let parsed = each(
        elements
            .into_iter()
            .zip(skip)
            .filter_map(|(element, skip)| (!skip).then_some(element))
            .collect(),
    )?;
    Some((parsed, unparsed))
}

/// Fills `slot`; false if it was already filled (a duplicate field).
fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    slot.replace(value).is_none()
}

fn one<T: DeserializeOwned>(raw: &RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// Array elements parsed on the rayon pool, in order.
fn each<T: DeserializeOwned + Send>(elements: Vec<&RawValue>) -> Option<Vec<T>> {
    elements
        .into_par_iter()
        .with_min_len(256)
        .map(|element| serde_json::from_str(element.get()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way a document can be written that the fast route must answer exactly as serde does,
    /// or hand over to it.
    fn same_as_serde(doc: &str) {
        let slow = serde_json::from_str::<Snapshot>(doc);
        match (parse(doc.as_bytes()), slow) {
            (Some(fast), Ok(slow)) => assert_eq!(fast, slow, "{doc}"),
            (Some(fast), Err(err)) => {
                panic!("serde refuses ({err}) but the fast route gave {fast:?}")
            }
            // Handed over: the slow parse decides.
            (None, _) => {}
        }
    }

    const HEAD: &str = r#""schema": "envtrail.snapshot.v1", "environment": "prod", "taken_at": "2026-11-20T10:00:00Z""#;
    const WORKLOAD: &str = r#"{"component": "api", "source": "k8s", "ref": "Deployment/p/api",
        "containers": [{"name": "api", "image": "r/api:1",
          "running_digests": ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}],
        "config": {"LOG": {"fingerprint": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "value": "info"}},
        "unknown_inside": [1, 2]}"#;

    #[test]
    fn a_full_document_parses_to_what_serde_builds() {
        let doc = format!(
            r#"{{{HEAD}, "sources": [{{"id": "k8s", "kind": "kubernetes", "status": "ok"}}],
            "workloads": [{WORKLOAD}, {WORKLOAD}],
            "artifacts": [{{"digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
               "repository": "r/api", "tags": ["1"], "size": 12, "created": "2026-11-18T09:00:00Z"}}],
            "infrastructure": [{{"component": "db", "source": "tf", "address": "a.b", "type": "a",
               "attributes": {{"v": 1.0, "n": [1, "x", null]}}}}],
            "future": {{"x": 1.5, "y": [true]}}, "later": "kept"}}"#
        );
        let fast = parse(doc.as_bytes()).expect("a plain document takes the fast route");
        assert_eq!(fast.workloads.len(), 2);
        assert_eq!(fast.extra.len(), 2, "unknown top-level fields are kept");
        same_as_serde(&doc);
    }

    #[test]
    fn the_example_snapshots_take_the_fast_route_to_the_same_snapshot() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../snapshots");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let doc = std::fs::read_to_string(&path).unwrap();
                let fast = parse(doc.as_bytes()).unwrap_or_else(|| panic!("{}", path.display()));
                assert_eq!(fast, serde_json::from_str::<Snapshot>(&doc).unwrap());
                seen += 1;
            }
        }
        assert!(seen >= 3, "the dev, staging and prod examples");
    }

    #[test]
    fn many_workloads_keep_their_order() {
        let workloads: Vec<String> = (0..1000)
            .map(|i| WORKLOAD.replace(r#""api", "source""#, &format!(r#""c{i:04}", "source""#)))
            .collect();
        let doc = format!(r#"{{{HEAD}, "workloads": [{}]}}"#, workloads.join(","));
        let fast = parse(doc.as_bytes()).unwrap();
        let names: Vec<String> = fast
            .workloads
            .iter()
            .map(|w| w.component.to_string())
            .collect();
        let expected: Vec<String> = (0..1000).map(|i| format!("c{i:04}")).collect();
        assert_eq!(names, expected);
        same_as_serde(&doc);
    }

    #[test]
    fn a_workload_head_is_read_off_compact_text_and_parsed_from_any_other() {
        let compact =
            r#"{"component":"api","source":"k8s/prod","ref":"Deployment/p/api","containers":[]}"#;
        let head = WorkloadHead::compact(compact).expect("the compact layout");
        assert!(matches!(head.component, Cow::Borrowed("api")));
        assert_eq!(
            (&*head.source, &*head.reference),
            ("k8s/prod", "Deployment/p/api")
        );
        for other in [
            r#"{"component":"api","source":"k8s/prod","ref":"Deployment/p/a\"pi"}"#,
            r#"{"source":"k8s/prod","component":"api","ref":"Deployment/p/a\"pi"}"#,
            r#"{ "component": "api", "source": "k8s/prod", "ref": "Deployment/p/a\"pi" }"#,
        ] {
            assert!(WorkloadHead::compact(other).is_none(), "{other}");
            let head = WorkloadHead::of(other).expect("serde reads it");
            assert_eq!(
                (&*head.component, &*head.source, &*head.reference),
                ("api", "k8s/prod", "Deployment/p/a\"pi")
            );
        }
        assert!(WorkloadHead::of(r#"{"component":"api"}"#).is_none());
    }

    #[test]
    fn what_the_fast_route_does_not_take_goes_to_serde() {
        let cases = [
            // Missing optional arrays, null arrays, a duplicate field, a missing required field.
            format!("{{{HEAD}}}"),
            format!(r#"{{{HEAD}, "workloads": null}}"#),
            format!(r#"{{{HEAD}, "workloads": [], "workloads": []}}"#),
            format!(r#"{{{HEAD}, "future": 1, "future": 2}}"#),
            r#"{"schema": "envtrail.snapshot.v1", "environment": "prod"}"#.to_owned(),
            // A bad element, a bad name, a non-object, trailing data, escapes in keys.
            format!(r#"{{{HEAD}, "workloads": [{{"component": "api"}}]}}"#),
            r#"{"schema": "envtrail.snapshot.v1", "environment": "Prod!", "taken_at": "2026-11-20"}"#
                .to_owned(),
            "[1, 2]".to_owned(),
            format!(r#"{{{HEAD}}} {{}}"#),
            format!(r#"{{{HEAD}, "work\u006coads": [{WORKLOAD}]}}"#),
        ];
        for doc in &cases {
            same_as_serde(doc);
        }
        assert!(parse(format!("{{{HEAD}}}").as_bytes()).is_some());
        assert!(
            parse(cases[2].as_bytes()).is_none(),
            "a duplicate is serde's to judge"
        );
        assert!(parse(cases[5].as_bytes()).is_none());
        let escaped = parse(cases[9].as_bytes()).expect("an escaped key is still the field");
        assert_eq!(escaped.workloads.len(), 1);
    }
}
