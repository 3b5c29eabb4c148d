//! Builders for hand-made environment states in unit tests: short to write, close to what the
//! store hands the diff (an interval per component, sightings for every artifact run).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use envtrail_model::view::{
    ComponentEntry, EnvironmentState, ReportInput, Sighting, SnapshotRef, StateInterval,
};
use envtrail_model::{
    Artifact, ComponentName, ComponentState, ConfigValue, Container, Digest, EnvName, Fingerprint,
    InfraItem, Source, SourceStatus, Timestamp, Workload,
};

/// A deterministic digest numbered `n`.
pub fn digest(n: u32) -> Digest {
    Digest::sha256_of(format!("artifact-{n}").as_bytes())
}

/// A component name.
pub fn component(name: &str) -> ComponentName {
    name.parse().unwrap()
}

/// An environment name.
pub fn env(name: &str) -> EnvName {
    name.parse().unwrap()
}

/// The report time of every test: 2026-03-10T12:00:00Z.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

/// `hours` before the report time.
pub fn hours_ago(hours: i64) -> Timestamp {
    t0() - Duration::hours(hours)
}

/// A snapshot of `environment`, number `seq`, taken `hours` before the report time.
pub fn snap(environment: &str, seq: i64, hours: i64) -> SnapshotRef {
    SnapshotRef {
        id: seq * 100 + environment.len() as i64,
        environment: env(environment),
        seq,
        taken_at: hours_ago(hours),
        hash: format!("{environment}-{seq}"),
    }
}

/// A component's state, one workload per distinct reference.
#[derive(Default, Clone)]
pub struct StateBuilder {
    state: ComponentState,
}

impl StateBuilder {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    fn workload(&mut self, reference: &str) -> &mut Workload {
        if let Some(i) = self
            .state
            .workloads
            .iter()
            .position(|w| w.reference == reference)
        {
            return &mut self.state.workloads[i];
        }
        self.state.workloads.push(Workload {
            component: component("placeholder"),
            source: "k8s".into(),
            reference: reference.into(),
            containers: vec![],
            config: BTreeMap::new(),
            metadata: BTreeMap::new(),
        });
        self.state.workloads.last_mut().unwrap()
    }

    /// A container `name` in workload `Deployment/app/main` running `digests`.
    pub fn container(self, name: &str, digests: &[Digest]) -> Self {
        self.container_in("Deployment/app/main", name, digests)
    }

    /// A container `name` in workload `reference` running `digests`.
    pub fn container_in(mut self, reference: &str, name: &str, digests: &[Digest]) -> Self {
        self.workload(reference).containers.push(Container {
            name: name.into(),
            image: format!("registry.example.com/{name}:latest"),
            digest: None,
            running_digests: digests.to_vec(),
            init: false,
        });
        self
    }

    /// A container whose digest is unknown (declared by tag only, nothing running reported).
    pub fn container_unknown(mut self, name: &str) -> Self {
        self.workload("Deployment/app/main")
            .containers
            .push(Container {
                name: name.into(),
                image: format!("registry.example.com/{name}:latest"),
                digest: None,
                running_digests: vec![],
                init: false,
            });
        self
    }

    /// A plain config key.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.workload("Deployment/app/main").config.insert(
            key.into(),
            ConfigValue {
                fingerprint: Fingerprint::of_plain_value(value),
                value: Some(value.into()),
                secret: false,
            },
        );
        self
    }

    /// A secret config key (keyed fingerprint, no value).
    pub fn secret(mut self, key: &str, value: &str) -> Self {
        let plain = Fingerprint::of_plain_value(value);
        let keyed = format!("hmac-{}", plain.as_str()).parse().unwrap();
        self.workload("Deployment/app/main").config.insert(
            key.into(),
            ConfigValue {
                fingerprint: keyed,
                value: None,
                secret: true,
            },
        );
        self
    }

    /// An infrastructure item.
    pub fn infra(mut self, address: &str, kind: &str, attributes: serde_json::Value) -> Self {
        let attributes = serde_json::from_value(attributes).unwrap();
        self.state.infrastructure.push(InfraItem {
            component: component("placeholder"),
            source: "tf".into(),
            address: address.into(),
            resource_type: kind.into(),
            attributes,
            metadata: BTreeMap::new(),
        });
        self
    }

    /// Renames every workload reference (as another environment's namespace would).
    pub fn namespaced(mut self, namespace: &str) -> Self {
        for w in &mut self.state.workloads {
            w.reference = format!("{}/{namespace}", w.reference);
            w.source = format!("k8s/{namespace}");
        }
        self
    }

    /// The state.
    pub fn build(mut self) -> ComponentState {
        self.state.normalize();
        self.state
    }
}

fn named(mut state: ComponentState, name: &str) -> ComponentState {
    for w in &mut state.workloads {
        w.component = component(name);
    }
    for i in &mut state.infrastructure {
        i.component = component(name);
    }
    state
}

fn interval(from: SnapshotRef, until: Option<SnapshotRef>, state: ComponentState) -> StateInterval {
    StateInterval {
        from,
        until,
        state_hash: state.state_hash(),
        state: Arc::new(state),
    }
}

/// An environment state under construction.
pub struct EnvBuilder {
    state: EnvironmentState,
}

impl EnvBuilder {
    /// Environment `name` whose snapshot in force is `snapshot`, with one `ok` source.
    pub fn new(name: &str, snapshot: SnapshotRef) -> Self {
        Self {
            state: EnvironmentState {
                environment: env(name),
                at: t0(),
                snapshot,
                next: None,
                sources: vec![Source {
                    id: format!("k8s/{name}"),
                    kind: "kubernetes".into(),
                    status: SourceStatus::Ok,
                    error: None,
                }],
                components: BTreeMap::new(),
                artifacts: BTreeMap::new(),
                sightings: HashMap::new(),
            },
        }
    }

    /// Environment `name` at its snapshot number 1, taken one hour before the report.
    pub fn at(name: &str) -> Self {
        Self::new(name, snap(name, 1, 1))
    }

    fn sight(&mut self, state: &ComponentState, first: &SnapshotRef) {
        for d in state.artifact_digests() {
            let entry = self.state.sightings.entry(d).or_insert(Sighting {
                first: first.clone(),
            });
            if first.taken_at < entry.first.taken_at {
                entry.first = first.clone();
            }
        }
    }

    /// Component `name` with `state`, in force since the current snapshot.
    pub fn component(self, name: &str, state: ComponentState) -> Self {
        let since = self.state.snapshot.clone();
        self.component_since(name, state, since)
    }

    /// Component `name` with `state`, in force since `since`.
    pub fn component_since(
        mut self,
        name: &str,
        state: ComponentState,
        since: SnapshotRef,
    ) -> Self {
        let state = named(state, name);
        self.sight(&state, &since);
        let entry = ComponentEntry {
            current: interval(since, None, state),
            previous: vec![],
        };
        self.state.components.insert(component(name), entry);
        self
    }

    /// An earlier interval of component `name` (add them oldest first, after `component`).
    pub fn previous(
        mut self,
        name: &str,
        state: ComponentState,
        from: SnapshotRef,
        until: SnapshotRef,
    ) -> Self {
        let state = named(state, name);
        self.sight(&state, &from);
        let entry = self
            .state
            .components
            .get_mut(&component(name))
            .expect("component first");
        entry.previous.push(interval(from, Some(until), state));
        self
    }

    /// Records that `digest` was first run here in `first` (it need not run now).
    pub fn seen(mut self, digest: &Digest, first: SnapshotRef) -> Self {
        self.state
            .sightings
            .insert(digest.clone(), Sighting { first });
        self
    }

    /// Adds a source with `status`.
    pub fn source(mut self, id: &str, status: SourceStatus, error: Option<&str>) -> Self {
        self.state.sources.push(Source {
            id: id.into(),
            kind: "aws".into(),
            status,
            error: error.map(str::to_owned),
        });
        self
    }

    /// Records an artifact fact: `platform` is a manifest inside image index `index`.
    pub fn index(mut self, platform: &Digest, index: &Digest) -> Self {
        self.state.artifacts.insert(
            platform.clone(),
            Artifact {
                digest: platform.clone(),
                repository: "registry.example.com/app".into(),
                tags: vec![],
                index_digest: Some(index.clone()),
                platform: Some("linux/amd64".into()),
                revision: None,
                source_url: None,
                created: None,
                version: None,
                size: None,
                signature: None,
                provenance: None,
            },
        );
        self
    }

    fn artifact(&mut self, digest: &Digest) -> &mut Artifact {
        self.state
            .artifacts
            .entry(digest.clone())
            .or_insert_with(|| Artifact {
                digest: digest.clone(),
                repository: "registry.example.com/app".into(),
                tags: vec![],
                index_digest: None,
                platform: None,
                revision: None,
                source_url: None,
                created: None,
                version: None,
                size: None,
                signature: None,
                provenance: None,
            })
    }

    /// Records that `repository:tag` pointed at `digest` when this snapshot was collected.
    pub fn tagged(mut self, digest: &Digest, repository: &str, tag: &str) -> Self {
        let a = self.artifact(digest);
        a.repository = repository.into();
        a.tags.push(tag.into());
        self
    }

    /// Records `digest`'s signature and provenance checks.
    pub fn facts(
        mut self,
        digest: &Digest,
        signature: Option<envtrail_model::Verification>,
        provenance: Option<envtrail_model::Verification>,
    ) -> Self {
        let a = self.artifact(digest);
        a.signature = signature;
        a.provenance = provenance;
        self
    }

    /// The environment state.
    pub fn build(self) -> EnvironmentState {
        self.state
    }
}

/// A report input over `envs` (path order); `None` entries are environments without snapshot.
pub fn input(path: &[&str], envs: Vec<Option<EnvironmentState>>) -> ReportInput {
    ReportInput {
        at: t0(),
        path: path.iter().map(|e| env(e)).collect(),
        environments: envs,
        artifact_links: vec![],
        tag_history: vec![],
    }
}

/// The report for `input` under the default policy.
pub fn run(input: &ReportInput) -> envtrail_model::output::Report {
    crate::report(input, &crate::Policy::default()).unwrap()
}

/// The findings of `kind`.
pub fn of_kind(
    report: &envtrail_model::output::Report,
    kind: envtrail_model::FindingKind,
) -> Vec<&envtrail_model::Finding> {
    report.findings.iter().filter(|f| f.kind == kind).collect()
}

/// Every finding as `kind env component` (component `-` when none), in report order.
pub fn summary_lines(report: &envtrail_model::output::Report) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| {
            let c = f.component.as_ref().map_or("-", |c| c.as_str());
            format!("{} {} {c}", f.kind, f.environment)
        })
        .collect()
}

/// A one-container state running `digests`.
pub fn runs(digests: &[Digest]) -> ComponentState {
    StateBuilder::new().container("app", digests).build()
}
