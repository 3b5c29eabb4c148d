//! `[merge_back]`: which git repository (and mainline) each artifact's revision belongs to, and
//! where remote repositories are cached. Read by `report`, which turns the running revisions into
//! merge-back facts (`unmerged_hotfix`).
//!
//! ```toml
//! [merge_back]
//! cache_dir = "git-cache"            # remote repositories, one bare clone per URL
//!
//! [[merge_back.repositories]]
//! url = "https://git.acme.example/payments/api.git"   # or a local path, or file:///...
//! mainline = "main"                                    # default "main"
//! artifacts = ["registry.acme.example/payments/*"]     # artifact repositories (globs)
//! components = ["payments-api"]                        # and/or components (globs)
//! ```

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::sources::Spans;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMergeBack {
    cache_dir: Option<Spanned<String>>,
    #[serde(default)]
    repositories: Vec<RawRepository>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepository {
    url: Spanned<String>,
    mainline: Option<Spanned<String>>,
    #[serde(default)]
    artifacts: Vec<Spanned<String>>,
    #[serde(default)]
    components: Vec<Spanned<String>>,
}

/// The merge-back settings; empty `repositories` turns the check off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeBackConfig {
    /// Where remote repositories are cached (default `git-cache` beside the config file).
    pub cache_dir: PathBuf,
    /// The mapping, first match wins.
    pub repositories: Vec<RepositoryMapping>,
}

/// One repository and what maps to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryMapping {
    /// A remote URL, a `file://` URL or a local path (relative to the config file).
    pub url: String,
    /// The mainline branch.
    pub mainline: String,
    /// Artifact repository globs (`registry/path`).
    pub artifacts: Vec<String>,
    /// Component globs.
    pub components: Vec<String>,
}

pub(super) fn merge_back(
    spans: &Spans<'_>,
    raw: &RawMergeBack,
) -> Result<MergeBackConfig, ConfigError> {
    let cache_dir = spans.path(raw.cache_dir.as_ref().map_or("git-cache", |c| c.get_ref()));
    let mut repositories = Vec::new();
    for (i, r) in raw.repositories.iter().enumerate() {
        let key = |field: &str| format!("merge_back.repositories[{i}].{field}");
        let raw_url = r.url.get_ref();
        if raw_url.trim().is_empty() {
            return Err(spans.error(r.url.span(), &key("url"), "must not be empty"));
        }
        let url = if envtrail_collect_git::is_remote(raw_url) || raw_url.starts_with("file://") {
            raw_url.clone()
        } else {
            spans.path(raw_url).display().to_string()
        };
        let mainline = match &r.mainline {
            None => "main".to_owned(),
            Some(m)
                if m.get_ref().trim().is_empty() || m.get_ref().contains(char::is_whitespace) =>
            {
                return Err(spans.error(
                    m.span(),
                    &key("mainline"),
                    "expected a branch name like \"main\"",
                ));
            }
            Some(m) => m.get_ref().clone(),
        };
        if r.artifacts.is_empty() && r.components.is_empty() {
            return Err(spans.error(
                r.url.span(),
                &key("url"),
                "maps nothing: give `artifacts` (artifact repository globs) or `components`",
            ));
        }
        let artifacts = r
            .artifacts
            .iter()
            .enumerate()
            .map(|(j, g)| spans.glob(g, format!("{}[{j}]", key("artifacts"))))
            .collect::<Result<_, _>>()?;
        let components = r
            .components
            .iter()
            .enumerate()
            .map(|(j, g)| spans.glob(g, format!("{}[{j}]", key("components"))))
            .collect::<Result<_, _>>()?;
        repositories.push(RepositoryMapping {
            url,
            mainline,
            artifacts,
            components,
        });
    }
    Ok(MergeBackConfig {
        cache_dir,
        repositories,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    #[test]
    fn repositories_parse_with_defaults_and_relative_paths() {
        let config = Config::parse(
            Path::new("/etc/envtrail/envtrail.toml"),
            r#"
[[merge_back.repositories]]
url = "repos/payments"
artifacts = ["registry.acme.example/payments/*"]

[[merge_back.repositories]]
url = "https://git.acme.example/web.git"
mainline = "trunk"
components = ["checkout-*"]
"#,
        )
        .unwrap();
        let m = &config.merge_back;
        assert_eq!(m.cache_dir, Path::new("/etc/envtrail/git-cache"));
        assert_eq!(m.repositories[0].url, "/etc/envtrail/repos/payments");
        assert_eq!(m.repositories[0].mainline, "main");
        assert_eq!(m.repositories[1].url, "https://git.acme.example/web.git");
        assert_eq!(m.repositories[1].mainline, "trunk");
        assert_eq!(m.repositories[1].components, ["checkout-*"]);
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = Config::parse(
            Path::new("e.toml"),
            "[merge_back]\n\n[[merge_back.repositories]]\nurl = \"/srv/git/x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("e.toml:4"), "{err}");
        assert!(err.contains("merge_back.repositories[0].url"), "{err}");
        let err = Config::parse(
            Path::new("e.toml"),
            "[[merge_back.repositories]]\nurl = \"/x\"\nartifacts = [\"a/[\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("merge_back.repositories[0].artifacts[0]"),
            "{err}"
        );
        let err = Config::parse(Path::new("e.toml"), "[merge_back]\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}
