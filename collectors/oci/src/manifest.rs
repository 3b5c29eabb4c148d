//! Reading OCI and Docker manifests, image indexes (manifest lists) and image configs into the
//! facts envtrail records: platform, the index → platform-manifest relation, the
//! `org.opencontainers.image.*` labels and annotations (revision, source, version, created) and
//! size. Pure functions over bytes: the registry client fetches, this module reads, so the parsers
//! are tested on real manifests without a registry.

use std::collections::BTreeMap;

use envtrail_model::Digest;
use serde::{Deserialize, Serialize};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Every manifest media type envtrail asks for (a registry answers 404 to a GET without them).
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// The label or annotation holding the source revision.
pub const LABEL_REVISION: &str = "org.opencontainers.image.revision";
/// The label or annotation holding the source repository URL.
pub const LABEL_SOURCE: &str = "org.opencontainers.image.source";
/// The label or annotation holding the version.
pub const LABEL_VERSION: &str = "org.opencontainers.image.version";
/// The label or annotation holding the build time.
pub const LABEL_CREATED: &str = "org.opencontainers.image.created";

/// What a manifest's bytes say, before its config is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A single-platform image manifest.
    Image {
        /// The config blob to read next.
        config: Digest,
        /// Manifest + config + layers, in bytes.
        size: u64,
        /// Manifest-level annotations.
        annotations: BTreeMap<String, String>,
    },
    /// An image index (or Docker manifest list).
    Index {
        /// Its entries: platform manifests and attached artifacts.
        children: Vec<Child>,
        /// Index-level annotations.
        annotations: BTreeMap<String, String>,
    },
}

/// One entry of an image index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Child {
    /// The platform manifest's digest.
    pub digest: Digest,
    /// `os/arch[/variant]`, when the entry names a real platform.
    pub platform: Option<String>,
}

/// Why bytes are not a manifest or config envtrail can read. Names the field, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or a field of the wrong type.
    #[error("not a valid {what}: {message}")]
    Json {
        /// manifest, index or config.
        what: &'static str,
        /// serde's message (a path and a type, no content).
        message: String,
    },
    /// A media type envtrail does not read (schema 1, a helm chart, ...).
    #[error("unsupported manifest media type {0:?}")]
    MediaType(String),
    /// A digest field that is not `sha256:<64 hex>`.
    #[error("field `{0}`: not a sha256 digest")]
    Digest(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
    manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    digest: String,
    #[serde(default)]
    size: u64,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Reads manifest bytes. `content_type` is the registry's `Content-Type`, used when the manifest
/// itself has no `mediaType` (an OCI manifest may omit it).
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, ParseError> {
    let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| ParseError::Json {
        what: "manifest",
        message: e.to_string(),
    })?;
    let media_type = raw
        .media_type
        .clone()
        .or_else(|| content_type.map(str::to_owned))
        .unwrap_or_else(|| {
            if raw.manifests.is_some() {
                OCI_INDEX.to_owned()
            } else {
                OCI_MANIFEST.to_owned()
            }
        });
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => {
            let mut children = Vec::new();
            for (i, m) in raw.manifests.unwrap_or_default().into_iter().enumerate() {
                let digest = digest(&m.digest, &format!("manifests[{i}].digest"))?;
                children.push(Child {
                    digest,
                    platform: m.platform.as_ref().and_then(platform_string),
                });
            }
            Ok(Parsed::Index {
                children,
                annotations: raw.annotations,
            })
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = raw.config.ok_or_else(|| ParseError::Json {
                what: "manifest",
                message: "missing field `config`".into(),
            })?;
            let size =
                bytes.len() as u64 + config.size + raw.layers.iter().map(|l| l.size).sum::<u64>();
            Ok(Parsed::Image {
                config: digest(&config.digest, "config.digest")?,
                size,
                annotations: raw.annotations,
            })
        }
        other => Err(ParseError::MediaType(other.to_owned())),
    }
}

/// `os/arch[/variant]`; `None` for `unknown/unknown` (buildkit's attestation entries).
fn platform_string(p: &RawPlatform) -> Option<String> {
    if p.os == "unknown" || p.architecture == "unknown" {
        return None;
    }
    Some(match &p.variant {
        Some(v) if !v.is_empty() => format!("{}/{}/{v}", p.os, p.architecture),
        _ => format!("{}/{}", p.os, p.architecture),
    })
}

fn digest(text: &str, field: &str) -> Result<Digest, ParseError> {
    text.parse()
        .map_err(|_| ParseError::Digest(field.to_owned()))
}

/// What an image config says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFacts {
    /// `os/arch[/variant]`.
    pub platform: Option<String>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// The config's own `created`.
    pub created: Option<String>,
}

#[derive(Deserialize)]
struct RawConfig {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
    created: Option<String>,
    config: Option<RawRunConfig>,
}

#[derive(Deserialize)]
struct RawRunConfig {
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Reads an image config blob.
pub fn parse_config(bytes: &[u8]) -> Result<ConfigFacts, ParseError> {
    let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| ParseError::Json {
        what: "config",
        message: e.to_string(),
    })?;
    let platform = match (&raw.os, &raw.architecture) {
        (Some(os), Some(arch)) => platform_string(&RawPlatform {
            os: os.clone(),
            architecture: arch.clone(),
            variant: raw.variant.clone(),
        }),
        _ => None,
    };
    Ok(ConfigFacts {
        platform,
        labels: raw.config.and_then(|c| c.labels).unwrap_or_default(),
        created: raw.created,
    })
}

/// The facts of one digest, as cached: immutable, since the digest is the hash of the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFacts {
    /// `image` or `index`.
    pub kind: ManifestKind,
    /// `os/arch[/variant]` of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The platform manifests of an index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Child>,
    /// Source revision (label, else annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Source repository URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Version label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Build time (label, else annotation, else the config's `created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Bytes: manifest + config + layers for an image, the index's own bytes for an index.
    pub size: u64,
}

/// Whether a digest names one image or an index of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestKind {
    /// A single-platform image manifest.
    Image,
    /// An image index / manifest list.
    Index,
}

impl ManifestFacts {
    /// The facts of an index from its parsed bytes.
    pub fn index(children: Vec<Child>, annotations: &BTreeMap<String, String>, size: u64) -> Self {
        let get = |k: &str| annotations.get(k).cloned();
        Self {
            kind: ManifestKind::Index,
            platform: None,
            children,
            revision: get(LABEL_REVISION),
            source: get(LABEL_SOURCE),
            version: get(LABEL_VERSION),
            created: get(LABEL_CREATED),
            size,
        }
    }

    /// The facts of an image from its manifest annotations and its config. Config labels win
    /// over manifest annotations (they are what `docker inspect` shows).
    pub fn image(annotations: &BTreeMap<String, String>, config: ConfigFacts, size: u64) -> Self {
        let get = |k: &str| {
            config
                .labels
                .get(k)
                .filter(|v| !v.is_empty())
                .or_else(|| annotations.get(k).filter(|v| !v.is_empty()))
                .cloned()
        };
        Self {
            kind: ManifestKind::Image,
            platform: config.platform.clone(),
            children: Vec::new(),
            revision: get(LABEL_REVISION),
            source: get(LABEL_SOURCE),
            version: get(LABEL_VERSION),
            created: get(LABEL_CREATED).or(config.created.clone()),
            size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn renamed_blobs_still_hash_to_their_digest() {
        for (file, hex) in [
            (
                "v13-index.json",
                "e0a0a765d690a5104331cfbac88ebbbf01736c1f87aaa3cd455c516a5ea586a5",
            ),
            (
                "v13-manifest-amd64.json",
                "ae01bed04d3f41efa80182824a50345cd1430f4d1a9308eda4369122bd94c85e",
            ),
            (
                "v2-att-dsse-envelope.json",
                "784c5bd14237b9a979fd0251f01dcc7956f06da243ca1e9c52470c410e53c654",
            ),
        ] {
            assert_eq!(Digest::sha256_of(&data(file)).hex(), hex, "{file}");
        }
    }

    #[test]
    fn oci_index_lists_platforms_and_annotations() {
        let Parsed::Index {
            children,
            annotations,
        } = parse_manifest(&data("oci-image-index-artifacttype.json"), None).unwrap()
        else {
            panic!("an index")
        };
        let platforms: Vec<_> = children.iter().map(|c| c.platform.as_deref()).collect();
        assert_eq!(
            platforms,
            [
                Some("linux/ppc64le"),
                Some("linux/amd64"),
                Some("linux/arm64")
            ]
        );
        assert!(children[1].digest.hex().starts_with("5b0bcabd"));
        assert_eq!(annotations["com.example.key1"], "value1");
    }

    #[test]
    fn docker_manifest_list_has_variants() {
        let Parsed::Index { children, .. } =
            parse_manifest(&data("docker-manifest-list-multiarch.json"), None).unwrap()
        else {
            panic!("a manifest list")
        };
        let platforms: Vec<_> = children.iter().filter_map(|c| c.platform.clone()).collect();
        assert!(
            platforms.contains(&"linux/arm/v5".to_owned()),
            "{platforms:?}"
        );
        assert!(platforms.contains(&"linux/arm64/v8".to_owned()));
        assert_eq!(children.len(), 7);
    }

    #[test]
    fn buildkit_attestation_entry_has_no_platform() {
        let Parsed::Index { children, .. } = parse_manifest(&data("v13-index.json"), None).unwrap()
        else {
            panic!("an index")
        };
        assert_eq!(children.len(), 2);
        assert_eq!(children[0].platform.as_deref(), Some("linux/amd64"));
        assert_eq!(children[1].platform, None, "unknown/unknown is no platform");
    }

    #[test]
    fn image_manifests_give_config_and_size() {
        let bytes = data("v13-manifest-amd64.json");
        let Parsed::Image { config, size, .. } = parse_manifest(&bytes, None).unwrap() else {
            panic!("an image")
        };
        assert!(config.hex().starts_with("c317e96c"));
        assert!(size > bytes.len() as u64 + 2145, "layers count: {size}");

        let Parsed::Image { config, .. } =
            parse_manifest(&data("docker-manifest-v2s2.json"), None).unwrap()
        else {
            panic!("a docker image")
        };
        assert!(config.as_str().starts_with("sha256:"));
        let Parsed::Image { annotations, .. } =
            parse_manifest(&data("oci-image-manifest-annotations.json"), None).unwrap()
        else {
            panic!("an OCI image")
        };
        assert!(!annotations.is_empty());
    }

    #[test]
    fn config_labels_give_revision_source_version_created() {
        let config = parse_config(&data("v13-config.json")).unwrap();
        assert_eq!(config.platform.as_deref(), Some("linux/amd64"));
        let facts = ManifestFacts::image(&BTreeMap::new(), config, 10);
        assert_eq!(
            facts.revision.as_deref(),
            Some("d37a7f740ee7404914456f24dcd90e865a0509e8")
        );
        assert_eq!(
            facts.source.as_deref(),
            Some("https://github.com/slsa-framework/example-package")
        );
        assert_eq!(facts.version.as_deref(), Some("v13.0.30"));
        assert_eq!(facts.created.as_deref(), Some("2024-03-21T10:32:58.193Z"));

        let docker = parse_config(&data("v2-config.json")).unwrap();
        let facts = ManifestFacts::image(&BTreeMap::new(), docker, 1);
        assert!(facts.revision.unwrap().starts_with("904e2c3e"));
    }

    #[test]
    fn empty_labels_fall_back_to_annotations_and_config_created() {
        let config = parse_config(&data("docker-image-config.json")).unwrap();
        assert!(config.labels.is_empty());
        let annotations = BTreeMap::from([(LABEL_REVISION.to_owned(), "abc123".to_owned())]);
        let facts = ManifestFacts::image(&annotations, config, 1);
        assert_eq!(facts.revision.as_deref(), Some("abc123"));
        assert!(facts.created.unwrap().starts_with("2016-"));
    }

    #[test]
    fn garbage_and_unknown_types_are_errors_without_content() {
        let err = parse_manifest(b"{\"secret\": ", None).unwrap_err();
        assert!(matches!(err, ParseError::Json { .. }));
        let err = parse_manifest(
            br#"{"mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws"}"#,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unsupported"), "{err}");
        let err = parse_manifest(
            br#"{"mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"digest": "md5:x"}}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(err, ParseError::Digest("config.digest".into()));
    }
}
