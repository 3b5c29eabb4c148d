//! Component names: how a workload in one cluster is matched with the same service in another
//! environment's cluster.
//!
//! The name is the workload's `app.kubernetes.io/name` label (on the workload, else on its pod
//! template), else the workload's name. Rules strip environment prefixes and suffixes from names and
//! namespaces, so that `payments-staging` and `payments-prod` both become `payments`, and a template
//! (`{name}`, `{namespace}`) can fold the namespace into the name.

use std::collections::BTreeMap;

use envtrail_model::ComponentName;

/// The default label that names a component.
pub const DEFAULT_NAME_LABEL: &str = "app.kubernetes.io/name";

/// How one source names its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// The label whose value names the component (`None`: always the workload's name).
    pub label: Option<String>,
    /// The component name built from `{name}` (label value or workload name) and `{namespace}`.
    pub template: String,
    /// Prefixes removed from the name (the first that matches).
    pub strip_name_prefixes: Vec<String>,
    /// Suffixes removed from the name (the first that matches).
    pub strip_name_suffixes: Vec<String>,
    /// Prefixes removed from the namespace (the first that matches).
    pub strip_namespace_prefixes: Vec<String>,
    /// Suffixes removed from the namespace (the first that matches).
    pub strip_namespace_suffixes: Vec<String>,
}

impl Default for Naming {
    fn default() -> Self {
        Self {
            label: Some(DEFAULT_NAME_LABEL.to_owned()),
            template: "{name}".to_owned(),
            strip_name_prefixes: Vec::new(),
            strip_name_suffixes: Vec::new(),
            strip_namespace_prefixes: Vec::new(),
            strip_namespace_suffixes: Vec::new(),
        }
    }
}

/// Why a naming template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?}: {why}")]
pub struct TemplateError {
    template: String,
    why: &'static str,
}

impl Naming {
    /// Checks the template: it must use `{name}` or `{namespace}` and no other placeholder.
    pub fn check(&self) -> Result<(), TemplateError> {
        let err = |why| TemplateError {
            template: self.template.clone(),
            why,
        };
        let rest = self
            .template
            .replace("{name}", "")
            .replace("{namespace}", "");
        if rest.contains('{') || rest.contains('}') {
            return Err(err("the only placeholders are {name} and {namespace}"));
        }
        if !self.template.contains("{name}") && !self.template.contains("{namespace}") {
            return Err(err("must contain {name} or {namespace}"));
        }
        Ok(())
    }

    /// The component name of a workload, or `None` when the rules leave nothing usable (an empty
    /// name after stripping).
    pub fn component(
        &self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        template_labels: &BTreeMap<String, String>,
    ) -> Option<ComponentName> {
        let base = self
            .label
            .as_ref()
            .and_then(|label| labels.get(label).or_else(|| template_labels.get(label)))
            .filter(|value| !value.is_empty())
            .map_or(name, String::as_str);
        let base = strip(base, &self.strip_name_prefixes, &self.strip_name_suffixes);
        let namespace = strip(
            namespace,
            &self.strip_namespace_prefixes,
            &self.strip_namespace_suffixes,
        );
        let out = self
            .template
            .replace("{name}", base)
            .replace("{namespace}", namespace);
        out.parse().ok()
    }
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

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_then_template_label_then_name() {
        let n = Naming::default();
        let none = BTreeMap::new();
        let label = labels(&[(DEFAULT_NAME_LABEL, "payments-api")]);
        assert_eq!(
            n.component("p", "api-v2", &label, &none).unwrap().as_str(),
            "payments-api"
        );
        assert_eq!(
            n.component("p", "api-v2", &none, &label).unwrap().as_str(),
            "payments-api"
        );
        assert_eq!(
            n.component("p", "api-v2", &none, &none).unwrap().as_str(),
            "api-v2"
        );
        let empty = labels(&[(DEFAULT_NAME_LABEL, "")]);
        assert_eq!(
            n.component("p", "api-v2", &empty, &none).unwrap().as_str(),
            "api-v2"
        );
    }

    #[test]
    fn namespace_suffixes_fold_environments_together() {
        let n = Naming {
            label: None,
            template: "{namespace}".into(),
            strip_namespace_suffixes: vec!["-staging".into(), "-prod".into()],
            ..Naming::default()
        };
        n.check().unwrap();
        let none = BTreeMap::new();
        let staging = n
            .component("payments-staging", "web", &none, &none)
            .unwrap();
        let prod = n.component("payments-prod", "web", &none, &none).unwrap();
        assert_eq!(staging, prod);
        assert_eq!(prod.as_str(), "payments");
    }

    #[test]
    fn name_prefixes_and_templates() {
        let n = Naming {
            template: "{namespace}/{name}".into(),
            strip_name_prefixes: vec!["prod-".into(), "stg-".into()],
            strip_namespace_prefixes: vec!["team-".into()],
            ..Naming::default()
        };
        let none = BTreeMap::new();
        assert_eq!(
            n.component("team-shop", "prod-cart", &none, &none)
                .unwrap()
                .as_str(),
            "shop/cart"
        );
        assert_eq!(
            n.component("shop", "stg-cart", &none, &none)
                .unwrap()
                .as_str(),
            "shop/cart"
        );
        // Stripping never leaves an empty name.
        assert_eq!(
            n.component("team-", "prod-", &none, &none)
                .unwrap()
                .as_str(),
            "team-/prod-"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        for t in ["{app}", "fixed", "{name"] {
            let n = Naming {
                template: t.into(),
                ..Naming::default()
            };
            assert!(n.check().is_err(), "{t}");
        }
    }
}
