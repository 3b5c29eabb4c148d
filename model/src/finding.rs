//! Findings: what the diff reports, each with a kind, a severity, the things involved and the
//! evidence (which snapshots) it rests on. Kind names and fields are public contract (JSON output,
//! `--fail-on`, ignore rules): extend, never rename.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::{ComponentName, Digest, EnvName};
use crate::view::SnapshotRef;

/// How bad a finding is. Ordered: `info < low < medium < high < critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Minor.
    Low,
    /// Should be looked at.
    Medium,
    /// Blocks a promotion.
    High,
    /// Stop everything.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown severity name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected one of info, low, medium, high, critical")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

macro_rules! finding_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $severity:ident;)*) => {
        /// The kinds of finding. Names are contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum FindingKind {
            $($(#[$doc])* $variant,)*
        }

        impl FindingKind {
            /// Every kind.
            pub const ALL: &'static [FindingKind] = &[$(FindingKind::$variant,)*];

            /// The snake_case name used in JSON, config and ignore rules.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The severity used unless the config says otherwise.
            pub fn default_severity(self) -> Severity {
                match self { $(Self::$variant => Severity::$severity,)* }
            }
        }
    };
}

finding_kinds! {
    /// Upstream runs an artifact the downstream has not received yet.
    PendingPromotion = "pending_promotion", Info;
    /// Downstream runs an artifact never seen in any upstream environment.
    UnpromotedHotfix = "unpromoted_hotfix", High;
    /// Downstream runs an artifact seen further upstream but never in an environment between.
    SkippedEnvironment = "skipped_environment", High;
    /// The artifact reached the downstream before it first appeared upstream.
    OutOfOrderPromotion = "out_of_order_promotion", Medium;
    /// Adjacent environments differ in a config key that is not environment-specific.
    ConfigDrift = "config_drift", Low;
    /// Config changed between snapshots of one environment while the artifacts stayed the same.
    OutOfBandChange = "out_of_band_change", Medium;
    /// A component exists downstream and in no upstream environment.
    OrphanComponent = "orphan_component", Medium;
    /// A component exists upstream but not downstream.
    MissingComponent = "missing_component", Info;
    /// One container of a workload runs more than one digest.
    MixedVersions = "mixed_versions", Low;
    /// A source of the snapshot failed: what it would have reported is unknown.
    CollectionGap = "collection_gap", High;
    /// The newest snapshot of an environment is older than the allowed age.
    StaleSnapshot = "stale_snapshot", Medium;
    /// The same repository:tag was resolved to different digests, in different environments or
    /// over time.
    MutableTag = "mutable_tag", Medium;
    /// An artifact run in an environment fails its artifact policy (signature or provenance
    /// required, allowed identities and builders). High by default in the last environment of the
    /// path, medium before it.
    UnverifiedArtifact = "unverified_artifact", High;
    /// Adjacent environments both have the same infrastructure resource (matched by address, or
    /// by type within a component) and it differs in an attribute not declared
    /// environment-specific (e.g. Postgres 15.4 upstream, 14.9 downstream).
    InfraDrift = "infra_drift", Medium;
    /// A running artifact was built from a commit that is not on its repository's mainline: the
    /// fix would be lost by the next release from the mainline.
    UnmergedHotfix = "unmerged_hotfix", High;
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown finding kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding kind {0:?}")]
pub struct UnknownFindingKind(pub String);

impl FromStr for FindingKind {
    type Err = UnknownFindingKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownFindingKind(s.to_owned()))
    }
}

/// One snapshot a finding rests on, and its role in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// What this snapshot shows, e.g. `current`, `first_seen`, `before_change`.
    pub role: String,
    /// The snapshot.
    pub snapshot: SnapshotRef,
}

/// One thing the diff found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// What kind of finding.
    pub kind: FindingKind,
    /// How bad (after the config's overrides).
    pub severity: Severity,
    /// The component, where the finding is about one.
    pub component: Option<ComponentName>,
    /// The environment the finding is about.
    pub environment: EnvName,
    /// The other environment involved (upstream or downstream), where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_environment: Option<EnvName>,
    /// The digests involved.
    #[serde(default)]
    pub digests: Vec<Digest>,
    /// The config keys (or source ids, attribute names) involved.
    #[serde(default)]
    pub keys: Vec<String>,
    /// One line for humans.
    pub message: String,
    /// The snapshots it rests on.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

impl Finding {
    /// The order findings are printed and hashed in: most severe first, then kind, component,
    /// environment, message.
    pub fn sort_key(&self) -> impl Ord + '_ {
        (
            std::cmp::Reverse(self.severity),
            self.kind,
            self.component.as_ref(),
            &self.environment,
            self.related_environment.as_ref(),
            &self.message,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in FindingKind::ALL {
            assert_eq!(kind.as_str().parse::<FindingKind>().unwrap(), *kind);
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(FindingKind::ALL.len(), 15);
    }

    #[test]
    fn severities_are_ordered() {
        assert!(Severity::Info < Severity::Low && Severity::High < Severity::Critical);
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert!("urgent".parse::<Severity>().is_err());
    }
}
