//! The typed `[[environments.<env>.aws]]` entries (an AWS account read in one or more regions:
//! ECS, Lambda, Parameter Store) and `[[environments.<env>.terraform]]` entries (one Terraform
//! state file each, local or `s3://`). Values that parse but mean nothing are refused with the
//! key and its line, like the rest of the config file. See docs/aws.md and docs/terraform.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use envtrail_collect_aws::{AccountConfig, Credentials, Naming, SsmPath};
use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::sources::Spans;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAws {
    account: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    #[serde(default)]
    regions: Vec<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
    external_id: Option<String>,
    endpoint_url: Option<Spanned<String>>,
    ecs: Option<bool>,
    #[serde(default)]
    ecs_clusters: Vec<String>,
    lambda: Option<bool>,
    #[serde(default)]
    lambda_env_allow: Vec<Spanned<String>>,
    #[serde(default)]
    ssm: Vec<RawSsm>,
    #[serde(default)]
    ssm_decrypt: bool,
    #[serde(default)]
    naming: RawAwsNaming,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSsm {
    path: Spanned<String>,
    component: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAwsNaming {
    tags: Option<Vec<String>>,
    #[serde(default)]
    strip_prefixes: Vec<String>,
    #[serde(default)]
    strip_suffixes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerraform {
    id: Option<Spanned<String>>,
    state: Spanned<String>,
    profile: Option<String>,
    region: Option<String>,
    role_arn: Option<String>,
    endpoint_url: Option<Spanned<String>>,
    #[serde(default)]
    include_data_sources: bool,
    #[serde(default)]
    attributes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    naming: RawTerraformNaming,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerraformNaming {
    component: Option<Spanned<String>>,
    tags: Option<Vec<String>>,
    #[serde(default)]
    strip_prefixes: Vec<String>,
    #[serde(default)]
    strip_suffixes: Vec<String>,
}

/// Where a state file is.
#[derive(Debug, Clone)]
pub enum StateLocation {
    /// A local file (relative paths are relative to the config file).
    File(PathBuf),
    /// An S3 object, `s3://bucket/key`, read with `account` in `region`.
    S3 {
        /// The URL.
        url: String,
        /// Credentials, profile, role and endpoint.
        account: Box<AccountConfig>,
        /// The region of the S3 client.
        region: String,
    },
}

/// One Terraform state source.
#[derive(Debug, Clone)]
pub struct TerraformSource {
    /// The source id, `terraform/<id>`.
    pub id: String,
    /// The state as written in the config (names it in errors).
    pub state: String,
    /// Where to read it.
    pub location: StateLocation,
    /// Attribute allow-lists per resource type (replacing the defaults of those types).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Whether data sources are kept.
    pub include_data_sources: bool,
    /// Component naming.
    pub naming: envtrail_collect_terraform::Naming,
}

fn check_url(spans: &Spans<'_>, url: &Spanned<String>, key: &str) -> Result<(), ConfigError> {
    let u = url.get_ref();
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() <= "https://".len() {
        return Err(spans.error(
            url.span(),
            key,
            "expected an http:// or https:// URL, e.g. \"http://localhost:5000\"",
        ));
    }
    Ok(())
}

fn name_like(spans: &Spans<'_>, v: &Spanned<String>, key: &str) -> Result<(), ConfigError> {
    if v.get_ref().is_empty()
        || v.get_ref()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(spans.error(
            v.span(),
            key,
            "must be a non-empty name without white space or '/'",
        ));
    }
    Ok(())
}

pub(super) fn aws(
    spans: &Spans<'_>,
    env: &str,
    raw: Vec<RawAws>,
) -> Result<Vec<AccountConfig>, ConfigError> {
    let mut out = Vec::new();
    for (i, a) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("environments.{env}.aws[{i}].{field}");
        if a.regions.is_empty() {
            let span = a
                .profile
                .as_ref()
                .or(a.account.as_ref())
                .map_or(0..0, Spanned::span);
            return Err(spans.error(
                span,
                &key("regions"),
                "list at least one region, e.g. [\"eu-west-1\"]",
            ));
        }
        let mut regions = Vec::new();
        for (j, r) in a.regions.iter().enumerate() {
            let ok = !r.get_ref().is_empty()
                && r.get_ref()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(spans.error(
                    r.span(),
                    &key(&format!("regions[{j}]")),
                    "expected a region name like \"eu-west-1\"",
                ));
            }
            if regions.contains(r.get_ref()) {
                return Err(spans.error(
                    r.span(),
                    &key(&format!("regions[{j}]")),
                    "region listed twice",
                ));
            }
            regions.push(r.get_ref().clone());
        }
        if let Some(account) = &a.account {
            name_like(spans, account, &key("account"))?;
        }
        if let Some(role) = &a.role_arn
            && !role.get_ref().starts_with("arn:")
        {
            return Err(spans.error(
                role.span(),
                &key("role_arn"),
                "expected a role ARN, e.g. \"arn:aws:iam::123456789012:role/envtrail-read\"",
            ));
        }
        if let Some(url) = &a.endpoint_url {
            check_url(spans, url, &key("endpoint_url"))?;
        }
        let mut allow = Vec::new();
        for (j, g) in a.lambda_env_allow.iter().enumerate() {
            allow.push(spans.glob(g, key(&format!("lambda_env_allow[{j}]")))?);
        }
        let mut ssm_paths = Vec::new();
        for (j, p) in a.ssm.iter().enumerate() {
            if !p.path.get_ref().starts_with('/') {
                return Err(spans.error(
                    p.path.span(),
                    &key(&format!("ssm[{j}].path")),
                    "a Parameter Store path starts with '/', e.g. \"/prod/payments\"",
                ));
            }
            if let Some(c) = &p.component {
                c.get_ref()
                    .parse::<envtrail_model::ComponentName>()
                    .map_err(|e| {
                        spans.error(
                            c.span(),
                            &key(&format!("ssm[{j}].component")),
                            e.to_string(),
                        )
                    })?;
            }
            ssm_paths.push(SsmPath {
                path: p.path.get_ref().clone(),
                component: p.component.as_ref().map(|c| c.get_ref().clone()),
            });
        }
        let mut naming = Naming {
            strip_prefixes: a.naming.strip_prefixes,
            strip_suffixes: a.naming.strip_suffixes,
            ..Naming::default()
        };
        if let Some(tags) = a.naming.tags {
            naming.tags = tags;
        }
        out.push(AccountConfig {
            account: a.account.map(|a| a.into_inner()),
            credentials: Credentials::Chain,
            profile: a.profile.map(|p| p.into_inner()),
            regions,
            role_arn: a.role_arn.map(|r| r.into_inner()),
            external_id: a.external_id,
            endpoint_url: a.endpoint_url.map(|u| u.into_inner()),
            ecs: a.ecs.unwrap_or(true),
            ecs_clusters: a.ecs_clusters,
            lambda: a.lambda.unwrap_or(true),
            lambda_env_allow: allow,
            ssm_paths,
            ssm_decrypt: a.ssm_decrypt,
            naming,
        });
    }
    Ok(out)
}

pub(super) fn terraform(
    spans: &Spans<'_>,
    env: &str,
    raw: Vec<RawTerraform>,
    accounts: &[AccountConfig],
) -> Result<Vec<TerraformSource>, ConfigError> {
    let mut out: Vec<TerraformSource> = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("environments.{env}.terraform[{i}].{field}");
        let state = t.state.get_ref().clone();
        if state.is_empty() {
            return Err(spans.error(
                t.state.span(),
                &key("state"),
                "must name a state file or an s3://bucket/key URL",
            ));
        }
        let location = if state.starts_with("s3://") {
            envtrail_collect_aws::parse_s3_url(&state)
                .map_err(|e| spans.error(t.state.span(), &key("state"), e.to_string()))?;
            if let Some(url) = &t.endpoint_url {
                check_url(spans, url, &key("endpoint_url"))?;
            }
            // S3 access: this entry's keys, else the environment's first AWS account.
            let base = accounts.first().cloned().unwrap_or_default();
            let region = t
                .region
                .clone()
                .or_else(|| base.regions.first().cloned())
                .unwrap_or_else(|| "us-east-1".to_owned());
            let account = AccountConfig {
                profile: t.profile.clone().or(base.profile),
                role_arn: t.role_arn.clone().or(base.role_arn),
                external_id: base.external_id,
                endpoint_url: t
                    .endpoint_url
                    .as_ref()
                    .map(|u| u.get_ref().clone())
                    .or(base.endpoint_url),
                regions: vec![region.clone()],
                ..AccountConfig::default()
            };
            StateLocation::S3 {
                url: state.clone(),
                account: Box::new(account),
                region,
            }
        } else {
            StateLocation::File(spans.path(&state))
        };
        let (id, span) = match &t.id {
            Some(id) => {
                name_like(spans, id, &key("id"))?;
                (id.get_ref().clone(), id.span())
            }
            None => (state.clone(), t.state.span()),
        };
        let id = format!("terraform/{id}");
        if out.iter().any(|s| s.id == id) {
            return Err(spans.error(
                span,
                &key("id"),
                format!(
                    "source {id:?} appears twice in environment {env:?}: give each state its own id"
                ),
            ));
        }
        let mut naming = envtrail_collect_terraform::Naming {
            strip_prefixes: t.naming.strip_prefixes,
            strip_suffixes: t.naming.strip_suffixes,
            ..Default::default()
        };
        if let Some(tags) = t.naming.tags {
            naming.tags = tags;
        }
        if let Some(c) = &t.naming.component {
            c.get_ref()
                .parse::<envtrail_model::ComponentName>()
                .map_err(|e| spans.error(c.span(), &key("naming.component"), e.to_string()))?;
            naming.component = Some(c.get_ref().clone());
        }
        out.push(TerraformSource {
            id,
            state,
            location,
            attributes: t.attributes,
            include_data_sources: t.include_data_sources,
            naming,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/envtrail/envtrail.toml"), text)
    }

    #[test]
    fn aws_and_terraform_sources_are_typed() {
        let config = parse(
            r#"
[config]
environment_specific_attributes = ["identifier", "aws_sqs_queue.*"]
[[environments.prod.aws]]
account = "prod-main"
profile = "prod"
regions = ["eu-west-1", "us-east-1"]
role_arn = "arn:aws:iam::123456789012:role/envtrail-read"
endpoint_url = "http://127.0.0.1:5000"
ecs_clusters = ["shop"]
lambda_env_allow = ["LOG_*"]
ssm_decrypt = true
[[environments.prod.aws.ssm]]
path = "/prod/payments"
component = "payments"
[environments.prod.aws.naming]
tags = ["team-app"]
strip_suffixes = ["-prod"]
[[environments.prod.terraform]]
id = "network"
state = "s3://states/prod/network.tfstate"
[environments.prod.terraform.attributes]
aws_db_instance = ["engine_version"]
[environments.prod.terraform.naming]
strip_suffixes = ["_prod"]
[[environments.prod.terraform]]
state = "states/app.tfstate"
include_data_sources = true
"#,
        )
        .unwrap();
        assert_eq!(
            config.policy.environment_specific_attributes,
            ["identifier", "aws_sqs_queue.*"]
        );
        let prod = &config.environments[&"prod".parse().unwrap()];
        let a = &prod.aws[0];
        assert_eq!(a.account.as_deref(), Some("prod-main"));
        assert_eq!(a.regions, ["eu-west-1", "us-east-1"]);
        assert!(a.ecs && a.lambda && a.ssm_decrypt);
        assert_eq!(a.ssm_paths[0].component.as_deref(), Some("payments"));
        assert_eq!(a.naming.tags, ["team-app"]);
        let network = &prod.terraform[0];
        assert_eq!(network.id, "terraform/network");
        match &network.location {
            StateLocation::S3 {
                url,
                account,
                region,
            } => {
                assert_eq!(url, "s3://states/prod/network.tfstate");
                assert_eq!(region, "eu-west-1", "the account's first region");
                assert_eq!(account.profile.as_deref(), Some("prod"));
                assert_eq!(
                    account.endpoint_url.as_deref(),
                    Some("http://127.0.0.1:5000")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(network.attributes["aws_db_instance"], ["engine_version"]);
        let app = &prod.terraform[1];
        assert_eq!(app.id, "terraform/states/app.tfstate");
        assert!(
            matches!(&app.location, StateLocation::File(p) if p == Path::new("/etc/envtrail/states/app.tfstate")),
            "{:?}",
            app.location
        );
        assert!(app.include_data_sources);
    }

    #[test]
    fn bad_aws_and_terraform_values_name_key_and_line() {
        let cases = [
            (
                "[[environments.prod.aws]]\nprofile = \"p\"\n",
                ":2: key `environments.prod.aws[0].regions`",
            ),
            (
                "[[environments.prod.aws]]\nregions = [\"EU West\"]\n",
                ":2: key `environments.prod.aws[0].regions[0]`",
            ),
            (
                "[[environments.prod.aws]]\nregions = [\"eu-west-1\"]\nrole_arn = \"envtrail\"\n",
                ":3: key `environments.prod.aws[0].role_arn`",
            ),
            (
                "[[environments.prod.aws]]\nregions = [\"eu-west-1\"]\nendpoint_url = \"localhost:5000\"\n",
                ":3: key `environments.prod.aws[0].endpoint_url`",
            ),
            (
                "[[environments.prod.aws]]\nregions = [\"eu-west-1\"]\nlambda_env_allow = [\"[x\"]\n",
                ":3: key `environments.prod.aws[0].lambda_env_allow[0]`",
            ),
            (
                "[[environments.prod.aws]]\nregions = [\"eu-west-1\"]\n[[environments.prod.aws.ssm]]\npath = \"prod/x\"\n",
                ":4: key `environments.prod.aws[0].ssm[0].path`",
            ),
            (
                "[[environments.prod.terraform]]\nstate = \"s3://bucket-only\"\n",
                ":2: key `environments.prod.terraform[0].state`",
            ),
            (
                "[[environments.prod.terraform]]\nstate = \"a.tfstate\"\n[[environments.prod.terraform]]\nstate = \"a.tfstate\"\n",
                ":4: key `environments.prod.terraform[1].id`",
            ),
            (
                "[config]\nenvironment_specific_attributes = [\"[x\"]\n",
                ":2: key `config.environment_specific_attributes[0]`",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}\n=> {err}");
        }
        let err = parse("[[environments.prod.aws]]\nregions = [\"eu-west-1\"]\nregion = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("region"), "{err}");
    }
}
