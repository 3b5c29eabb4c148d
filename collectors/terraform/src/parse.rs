//! State format version 4 (Terraform 0.12 and later, OpenTofu) → infrastructure items.
//!
//! One item per resource instance (`count` and `for_each` instances each get their index in the
//! address), managed resources only unless data sources are asked for. The address keeps its
//! module path; naming rules strip environment prefixes and suffixes from module and resource
//! names so that `module.payments_staging.aws_db_instance.main` and
//! `module.payments_prod.aws_db_instance.main` meet as `module.payments.aws_db_instance.main`.
//! Only allow-listed attributes are kept; sensitive ones (listed in `sensitive_attributes`, or
//! named like a password) become keyed fingerprints.

use std::collections::{BTreeMap, HashSet};

use envtrail_model::{ComponentName, InfraItem};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::options::{Options, always_sensitive};

/// What one state file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The state's lineage (a UUID shared by every serial of one state).
    pub lineage: Option<String>,
    /// Its serial (incremented on every write).
    pub serial: Option<u64>,
    /// The Terraform (or OpenTofu) version that wrote it.
    pub terraform_version: Option<String>,
    /// Its resources as items, sorted by address.
    pub items: Vec<InfraItem>,
    /// Resource instances left out (data sources when not asked for).
    pub skipped: usize,
}

#[derive(Deserialize)]
struct RawState {
    version: Value,
    terraform_version: Option<String>,
    serial: Option<u64>,
    lineage: Option<String>,
    #[serde(default)]
    resources: Vec<RawResource>,
}

#[derive(Deserialize)]
struct RawResource {
    module: Option<String>,
    #[serde(default = "managed")]
    mode: String,
    #[serde(rename = "type")]
    resource_type: String,
    name: String,
    #[serde(default)]
    instances: Vec<RawInstance>,
}

fn managed() -> String {
    "managed".to_owned()
}

#[derive(Deserialize)]
struct RawInstance {
    index_key: Option<Value>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
    #[serde(default)]
    sensitive_attributes: Vec<Value>,
}

/// Parses the bytes of one state file; `origin` (its path or URL) names it in errors.
pub fn parse(bytes: &[u8], origin: &str, options: &Options) -> Result<State, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let raw: RawState = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        syntax(origin, &inner, Some(path))
    })?;
    de.end().map_err(|err| syntax(origin, &err, None))?;
    if raw.version != 4 {
        return Err(Error::Version {
            origin: origin.to_owned(),
            found: raw.version.to_string(),
        });
    }

    let mut items = Vec::new();
    let mut used = HashSet::new();
    let mut skipped = 0;
    for (r, resource) in raw.resources.iter().enumerate() {
        for (field, value) in [("type", &resource.resource_type), ("name", &resource.name)] {
            if value.is_empty() {
                return Err(Error::Field {
                    origin: origin.to_owned(),
                    path: format!("resources[{r}].{field}"),
                    why: "must not be empty".into(),
                });
            }
        }
        let data = match resource.mode.as_str() {
            "managed" => false,
            "data" => true,
            other => {
                return Err(Error::Field {
                    origin: origin.to_owned(),
                    path: format!("resources[{r}].mode"),
                    why: format!("unknown mode {other:?}: expected \"managed\" or \"data\""),
                });
            }
        };
        if data && !options.include_data_sources {
            skipped += resource.instances.len();
            continue;
        }
        for instance in &resource.instances {
            let item = item(resource, data, instance, options, &mut used);
            items.push(item);
        }
    }
    items.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(State {
        lineage: raw.lineage,
        serial: raw.serial,
        terraform_version: raw.terraform_version,
        items,
        skipped,
    })
}

fn syntax(origin: &str, err: &serde_json::Error, path: Option<String>) -> Error {
    // serde_json's Display appends " at line L column C"; the position is reported separately.
    let message = err.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    Error::Syntax {
        origin: origin.to_owned(),
        line: err.line(),
        column: err.column(),
        path,
        message,
    }
}

fn item(
    resource: &RawResource,
    data: bool,
    instance: &RawInstance,
    options: &Options,
    used: &mut HashSet<String>,
) -> InfraItem {
    let naming = &options.naming;
    let strip = |s: &str| strip(s, &naming.strip_prefixes, &naming.strip_suffixes).to_owned();
    let index = instance
        .index_key
        .as_ref()
        .map(index_text)
        .unwrap_or_default();
    let kind = if data {
        format!("data.{}", resource.resource_type)
    } else {
        resource.resource_type.clone()
    };
    let modules = resource.module.as_deref().map(parse_module);
    let raw_address = match &resource.module {
        Some(m) => format!("{m}.{kind}.{}{index}", resource.name),
        None => format!("{kind}.{}{index}", resource.name),
    };
    let module_text = match &modules {
        Some(Some(segments)) => Some(
            segments
                .iter()
                .map(|(name, idx)| format!("module.{}{idx}", strip(name)))
                .collect::<Vec<_>>()
                .join("."),
        ),
        // A module path this parser does not understand is kept as written.
        Some(None) => resource.module.clone(),
        None => None,
    };
    let mut address = match &module_text {
        Some(m) => format!("{m}.{kind}.{}{index}", strip(&resource.name)),
        None => format!("{kind}.{}{index}", strip(&resource.name)),
    };
    if !used.insert(address.clone()) {
        // Two resources that only differ by a stripped affix: keep them apart as written.
        address = raw_address.clone();
        used.insert(address.clone());
    }

    let empty = Map::new();
    let attributes = instance.attributes.as_ref().unwrap_or(&empty);
    let sensitive = sensitive_names(&instance.sensitive_attributes);
    let mut kept = BTreeMap::new();
    for name in options.allowed(&resource.resource_type) {
        let Some(value) = attributes.get(name) else {
            continue;
        };
        let value =
            if !value.is_null() && (sensitive.contains(name.as_str()) || always_sensitive(name)) {
                let bytes = serde_json::to_vec(value).expect("a JSON value serialises");
                Value::String((options.fingerprint)(&bytes).to_string())
            } else {
                value.clone()
            };
        kept.insert(name.clone(), value);
    }

    let component = component(resource, attributes, modules.as_ref(), options);
    let mut metadata = BTreeMap::new();
    if address != raw_address {
        metadata.insert("address".to_owned(), raw_address);
    }
    InfraItem {
        component,
        source: options.source_id.clone(),
        address,
        resource_type: resource.resource_type.clone(),
        attributes: kept,
        metadata,
    }
}

/// The component: the configured one, else a name tag, else the outermost module's name, else the
/// resource's name (stripped), else the resource type.
fn component(
    resource: &RawResource,
    attributes: &Map<String, Value>,
    modules: Option<&Option<Vec<(String, String)>>>,
    options: &Options,
) -> ComponentName {
    let naming = &options.naming;
    let tag = |tags: &str| {
        let map = attributes.get(tags)?.as_object()?;
        naming
            .tags
            .iter()
            .find_map(|key| map.get(key)?.as_str().filter(|v| !v.is_empty()))
            .map(str::to_owned)
    };
    let outer_module = modules
        .and_then(|m| m.as_ref())
        .and_then(|segments| segments.first())
        .map(|(name, _)| strip(name, &naming.strip_prefixes, &naming.strip_suffixes).to_owned());
    let candidates = [
        naming.component.clone(),
        tag("tags"),
        tag("tags_all"),
        outer_module,
        Some(
            strip(
                &resource.name,
                &naming.strip_prefixes,
                &naming.strip_suffixes,
            )
            .to_owned(),
        ),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|c| c.parse().ok())
        .unwrap_or_else(|| {
            resource
                .resource_type
                .parse()
                .expect("a non-empty resource type without white space is a component name")
        })
}

/// `[0]` or `["key"]`.
fn index_text(key: &Value) -> String {
    match key {
        Value::String(s) => format!("[{}]", Value::String(s.clone())),
        other => format!("[{other}]"),
    }
}

/// `module.a["k"].module.b[0]` → `[("a", "[\"k\"]"), ("b", "[0]")]`; `None` when not of that shape.
fn parse_module(text: &str) -> Option<Vec<(String, String)>> {
    let mut segments = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.strip_prefix("module.")?;
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return None;
        }
        rest = &rest[end..];
        let mut index = String::new();
        if rest.starts_with('[') {
            let close = closing_bracket(rest)?;
            index = rest[..=close].to_owned();
            rest = &rest[close + 1..];
        }
        segments.push((name.to_owned(), index));
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(segments)
}

/// The position of the `]` closing the `[` at 0, skipping quoted strings.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The top-level attribute names of the state's sensitive paths (`[[{"type": "get_attr",
/// "value": "password"}]]`; a path given as a single step is accepted too).
fn sensitive_names(paths: &[Value]) -> HashSet<&str> {
    paths
        .iter()
        .filter_map(|path| match path {
            Value::Array(steps) => steps.first(),
            step @ Value::Object(_) => Some(step),
            _ => None,
        })
        .filter(|step| step.get("type").and_then(Value::as_str) == Some("get_attr"))
        .filter_map(|step| step.get("value").and_then(Value::as_str))
        .collect()
}

fn strip<'a>(text: &'a str, prefixes: &[String], suffixes: &[String]) -> &'a str {
    let mut out = text;
    if let Some(rest) = prefixes.iter().find_map(|p| out.strip_prefix(p.as_str()))
        && !rest.is_empty()
    {
        out = rest;
    }
    if let Some(rest) = suffixes.iter().find_map(|s| out.strip_suffix(s.as_str()))
        && !rest.is_empty()
    {
        out = rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_split_into_names_and_indexes() {
        assert_eq!(
            parse_module("module.a[\"k.x]\"].module.b[0]"),
            Some(vec![
                ("a".into(), "[\"k.x]\"]".into()),
                ("b".into(), "[0]".into())
            ])
        );
        assert_eq!(
            parse_module("module.webapp"),
            Some(vec![("webapp".into(), String::new())])
        );
        assert_eq!(parse_module("webapp"), None);
        assert_eq!(parse_module("module.a."), None);
    }

    #[test]
    fn strip_keeps_a_name_it_would_empty() {
        let p = vec!["prod_".to_owned()];
        let s = vec!["_prod".to_owned(), "-staging".to_owned()];
        assert_eq!(strip("payments_prod", &p, &s), "payments");
        assert_eq!(strip("prod_db-staging", &p, &s), "db");
        assert_eq!(strip("_prod", &p, &s), "_prod");
    }
}
