//! Point-in-time reads: which snapshot was in force at an instant, the state of an environment
//! then (optionally with its history), the export of a stored snapshot, and the store-wide
//! summaries. Membership at a seq is a stabbing query on the interval tree
//! ([`crate::interval::probes`]), bodies are decoded in parallel with one `Arc` per state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use envtrail_model::output::EnvironmentSummary;
use envtrail_model::view::{
    ComponentEntry, EnvironmentState, ReportInput, Sighting, SnapshotRef, StateInterval,
};
use envtrail_model::{
    Artifact, ComponentName, ComponentState, Digest, EnvName, Snapshot, SourceStatus, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::Store;
use crate::error::{Fail, PrunedQuery, Scope, StoreError};
use crate::lookup::{
    KIND_ARTIFACT, KIND_COMPONENT, REF_COLUMNS, Refs, environments, header, max_seq, parse_name,
    query_nanos, require_env, snapshot_after, snapshot_at,
};
use crate::members::{Bodies, closed_before, members_at};

impl Store {
    /// Every environment with its newest snapshot, by name.
    pub fn environments(&self) -> Result<Vec<EnvironmentSummary>, StoreError> {
        self.environments_inner()
            .map_err(|f| f.reading(|| Scope::Store))
    }

    fn environments_inner(&self) -> Result<Vec<EnvironmentSummary>, Fail> {
        let mut out = Vec::new();
        for (env_id, environment) in environments(&self.conn)? {
            let (count, newest, components) = self
                .conn
                .prepare_cached(&format!(
                    "SELECT (SELECT COUNT(*) FROM snapshots WHERE env_id = ?1), {REF_COLUMNS}, \
                     components FROM snapshots WHERE env_id = ?1 ORDER BY seq DESC LIMIT 1"
                ))?
                .query_row([env_id], |row| {
                    let r = SnapshotRef {
                        id: row.get(1)?,
                        environment: environment.clone(),
                        seq: row.get(2)?,
                        taken_at: crate::lookup::from_nanos(row.get(3)?),
                        hash: row.get(4)?,
                    };
                    Ok((row.get::<_, i64>(0)?, r, row.get::<_, i64>(5)?))
                })?;
            let sources = header(&self.conn, newest.id)?.sources;
            let complete = sources.iter().all(|s| s.status == SourceStatus::Ok);
            out.push(EnvironmentSummary {
                environment,
                snapshots: count,
                newest,
                components: components as usize,
                sources,
                complete,
            });
        }
        Ok(out)
    }

    /// The snapshot of `env` in force at `at`: the latest taken at or before it.
    pub fn snapshot_at(
        &self,
        env: &EnvName,
        at: Timestamp,
    ) -> Result<Option<SnapshotRef>, StoreError> {
        let inner = || -> Result<_, Fail> {
            let env_id = require_env(&self.conn, env)?;
            crate::prune::guard(&self.conn, env_id, env, PrunedQuery::State, Some(at))?;
            Ok(snapshot_at(&self.conn, env_id, env, query_nanos(&at))?)
        };
        inner().map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }

    /// The state of `env` at `at`: the snapshot in force, the next one, every component and the
    /// artifact facts. With `with_history`, each component's earlier intervals and the first
    /// sighting of every artifact run up to `at` as well.
    ///
    /// `None` when the environment has no snapshot at or before `at`; an error if it has none at
    /// all ([`StoreError::UnknownEnvironment`]).
    pub fn environment_state(
        &self,
        env: &EnvName,
        at: Timestamp,
        with_history: bool,
    ) -> Result<Option<EnvironmentState>, StoreError> {
        self.environment_state_inner(env, at, with_history)
            .map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }

    fn environment_state_inner(
        &self,
        env: &EnvName,
        at: Timestamp,
        with_history: bool,
    ) -> Result<Option<EnvironmentState>, Fail> {
        let conn = &self.conn;
        let env_id = require_env(conn, env)?;
        crate::prune::guard(conn, env_id, env, PrunedQuery::State, Some(at))?;
        let nanos = query_nanos(&at);
        let Some(snapshot) = snapshot_at(conn, env_id, env, nanos)? else {
            return Ok(None);
        };
        let n = snapshot.seq;
        let top = max_seq(conn, env_id)?;
        let mut state_bodies = Bodies::new(KIND_COMPONENT);
        let current = members_at(conn, env_id, KIND_COMPONENT, n, top, &mut state_bodies)?;

        // Decode the component states on the pool while this thread keeps reading (an SQLite
        // connection is not shared between threads).
        let mut decoded = None;
        let mut read = None;
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| decoded = Some(state_bodies.decode_from::<ComponentState>(0)));
            read = Some((|| -> Result<_, Fail> {
                let next = snapshot_after(conn, env_id, env, nanos)?;
                let sources = header(conn, snapshot.id)?.sources;
                let artifacts = artifacts_at(conn, env_id, n, top)?;
                let mut refs = Refs::new(conn, env_id, env);
                if with_history {
                    refs.preload(n)?;
                } else {
                    refs.load(current.iter().map(|m| m.from))?;
                }
                Ok((next, sources, artifacts, refs))
            })());
        });
        let mut states = decoded.expect("the scope ran the decode")?;
        let (next, sources, artifacts, mut refs) = read.expect("the scope ran the reads")?;

        let mut components = BTreeMap::new();
        for m in current {
            let name: ComponentName = parse_name("component", &m.key)?;
            let current = StateInterval {
                from: refs.get(m.from)?,
                until: None,
                state: states[m.body].clone(),
                state_hash: m.hash,
            };
            components.insert(
                name,
                ComponentEntry {
                    current,
                    previous: Vec::new(),
                },
            );
        }

        let mut sightings = HashMap::new();
        if with_history {
            let mark = state_bodies.len();
            let earlier = closed_before(conn, env_id, n, &mut state_bodies)?;
            debug_assert_eq!(states.len(), mark);
            states.extend(state_bodies.decode_from::<ComponentState>(mark)?);
            // `closed_before` is ordered by (key, from_seq): oldest first per component.
            for m in earlier {
                let name: ComponentName = parse_name("component", &m.key)?;
                let Some(entry) = components.get_mut(&name) else {
                    continue;
                };
                let until = m.to.map(|to| refs.get(to)).transpose()?;
                entry.previous.push(StateInterval {
                    from: refs.get(m.from)?,
                    until,
                    state: states[m.body].clone(),
                    state_hash: m.hash,
                });
            }
            let mut stmt = conn.prepare_cached(
                "SELECT digest, first_seq FROM sightings WHERE env_id = ?1 AND first_seq <= ?2",
            )?;
            let rows = stmt.query_map(params![env_id, n], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (digest, seq) = row?;
                let digest: Digest = parse_name("digest", &digest)?;
                sightings.insert(
                    digest,
                    Sighting {
                        first: refs.get(seq)?,
                    },
                );
            }
        }

        Ok(Some(EnvironmentState {
            environment: env.clone(),
            at,
            snapshot,
            next,
            sources,
            components,
            artifacts,
            sightings,
        }))
    }

    /// Rebuilds the snapshot of `env` in force at `at`, exactly as it was imported (normalised).
    pub fn export(&self, env: &EnvName, at: Timestamp) -> Result<Option<Snapshot>, StoreError> {
        let inner = || -> Result<Option<Snapshot>, Fail> {
            let conn = &self.conn;
            let env_id = require_env(conn, env)?;
            crate::prune::guard(conn, env_id, env, PrunedQuery::State, Some(at))?;
            let Some(snapshot) = snapshot_at(conn, env_id, env, query_nanos(&at))? else {
                return Ok(None);
            };
            let top = max_seq(conn, env_id)?;
            let header = header(conn, snapshot.id)?;
            let mut bodies = Bodies::new(KIND_COMPONENT);
            members_at(conn, env_id, KIND_COMPONENT, snapshot.seq, top, &mut bodies)?;
            let states = bodies.decode_from::<ComponentState>(0)?;
            let artifacts = artifacts_at(conn, env_id, snapshot.seq, top)?;
            Ok(Some(Snapshot::from_parts(
                header,
                states.into_iter().map(Arc::unwrap_or_clone),
                artifacts.into_values().collect(),
            )))
        };
        inner().map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }

    /// Every (platform manifest, image index) pair in any stored artifact facts, sorted.
    pub fn artifact_links(&self) -> Result<Vec<(Digest, Digest)>, StoreError> {
        let inner = || -> Result<Vec<(Digest, Digest)>, Fail> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT DISTINCT digest, index_digest FROM artifacts \
                 WHERE index_digest IS NOT NULL ORDER BY digest, index_digest",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (digest, index) = row?;
                out.push((
                    parse_name("digest", &digest)?,
                    parse_name("digest", &index)?,
                ));
            }
            Ok(out)
        };
        inner().map_err(|f| f.reading(|| Scope::Store))
    }

    /// The link of the last imported snapshot (`None` for an empty store).
    pub fn chain_head(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT link FROM snapshots ORDER BY id DESC LIMIT 1")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)).optional())
            .map_err(|source| StoreError::Read {
                scope: Scope::Store,
                source,
            })
    }

    /// What a promotion report along `path` needs at `at`: each environment's state with history
    /// (`None` where it had no snapshot yet) and every artifact link.
    pub fn report_input(&self, path: &[EnvName], at: Timestamp) -> Result<ReportInput, StoreError> {
        let environments = path
            .iter()
            .map(|env| self.environment_state(env, at, true))
            .collect::<Result<_, _>>()?;
        Ok(ReportInput {
            at,
            path: path.to_vec(),
            environments,
            artifact_links: self.artifact_links()?,
            tag_history: self.tag_history(at)?,
        })
    }
}

/// The artifact facts recorded in the environment's snapshot with seq `n`.
fn artifacts_at(
    conn: &Connection,
    env_id: i64,
    n: i64,
    max_seq: i64,
) -> Result<BTreeMap<Digest, Artifact>, Fail> {
    let mut bodies = Bodies::new(KIND_ARTIFACT);
    members_at(conn, env_id, KIND_ARTIFACT, n, max_seq, &mut bodies)?;
    Ok(bodies
        .decode_from::<Artifact>(0)?
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .map(|a| (a.digest.clone(), a))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{SnapBuilder, at, digest, env, temp_store};

    /// prod at 10:00 (api a, web b), 11:00 (web c), 12:00 (web removed, api a2 via config).
    fn history_store() -> (tempfile::TempDir, Store) {
        let (dir, mut store) = temp_store();
        let s1 = SnapBuilder::new("prod", "2026-03-01T10:00:00Z")
            .component("api", 'a')
            .component("web", 'b');
        let s2 = SnapBuilder::new("prod", "2026-03-01T11:00:00Z")
            .component("api", 'a')
            .component("web", 'c');
        let s3 = SnapBuilder::new("prod", "2026-03-01T12:00:00Z")
            .component_config("api", 'a', "debug")
            .artifact('a', Some('e'))
            .source_status("tf", "partial");
        for s in [s1, s2, s3] {
            store.import(s.build()).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn before_the_first_snapshot_there_is_no_state() {
        let (_dir, store) = history_store();
        let prod = env("prod");
        assert_eq!(
            store
                .environment_state(&prod, at("2026-03-01T09:59:59Z"), false)
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .snapshot_at(&prod, at("2026-03-01T09:59:59Z"))
                .unwrap(),
            None
        );
        assert_eq!(
            store.export(&prod, at("2026-03-01T09:59:59Z")).unwrap(),
            None
        );
    }

    #[test]
    fn between_snapshots_the_earlier_one_holds_and_the_next_bounds_the_window() {
        let (_dir, store) = history_store();
        let prod = env("prod");
        let state = store
            .environment_state(&prod, at("2026-03-01T10:30:00Z"), false)
            .unwrap()
            .unwrap();
        assert_eq!(state.snapshot.seq, 1);
        assert_eq!(state.next.as_ref().map(|n| n.seq), Some(2));
        assert_eq!(state.at, at("2026-03-01T10:30:00Z"));
        let web = &state.components[&"web".parse().unwrap()];
        assert!(web.current.state.artifact_digests().contains(&digest('b')));
        assert_eq!(web.current.until, None, "the next change is not exposed");
        assert!(
            web.previous.is_empty() && state.sightings.is_empty(),
            "no history asked"
        );
        assert!(state.is_complete());
    }

    #[test]
    fn at_the_exact_instant_the_snapshot_taken_then_holds() {
        let (_dir, store) = history_store();
        let prod = env("prod");
        let state = store
            .environment_state(&prod, at("2026-03-01T11:00:00Z"), false)
            .unwrap()
            .unwrap();
        assert_eq!(state.snapshot.seq, 2);
        assert_eq!(state.next.as_ref().map(|n| n.seq), Some(3));
        let web = &state.components[&"web".parse().unwrap()];
        assert!(web.current.state.artifact_digests().contains(&digest('c')));
        assert_eq!(web.current.from.seq, 2);
        let api = &state.components[&"api".parse().unwrap()];
        assert_eq!(api.current.from.seq, 1, "unchanged since #1");

        let last = store
            .environment_state(&prod, at("2030-01-01"), false)
            .unwrap()
            .unwrap();
        assert_eq!(last.snapshot.seq, 3);
        assert_eq!(last.next, None);
        assert_eq!(last.components.len(), 1, "web was removed");
        assert!(!last.is_complete());
        assert_eq!(last.artifacts[&digest('a')].index_digest, Some(digest('e')));
        assert_eq!(
            store
                .snapshot_at(&prod, at("2026-03-01T11:59:00Z"))
                .unwrap()
                .unwrap()
                .seq,
            2
        );
    }

    #[test]
    fn with_history_gives_earlier_intervals_oldest_first() {
        let (_dir, mut store) = history_store();
        store
            .import(
                SnapBuilder::new("prod", "2026-03-01T13:00:00Z")
                    .component("api", 'b')
                    .build(),
            )
            .unwrap();
        let state = store
            .environment_state(&env("prod"), at("2026-03-01T13:00:00Z"), true)
            .unwrap()
            .unwrap();
        let api = &state.components[&"api".parse().unwrap()];
        assert_eq!(api.current.from.seq, 4);
        let spans: Vec<(i64, Option<i64>)> = api
            .previous
            .iter()
            .map(|i| (i.from.seq, i.until.as_ref().map(|u| u.seq)))
            .collect();
        assert_eq!(spans, vec![(1, Some(3)), (3, Some(4))]);
        assert_eq!(
            api.previous[1].state.config_fingerprints()["LOG_LEVEL"].len(),
            1
        );
        // As of #2, only what happened up to #2 is visible.
        let early = store
            .environment_state(&env("prod"), at("2026-03-01T11:00:00Z"), true)
            .unwrap()
            .unwrap();
        let web = &early.components[&"web".parse().unwrap()];
        assert_eq!(web.previous.len(), 1);
        assert_eq!(web.previous[0].until.as_ref().map(|u| u.seq), Some(2));
        assert!(
            early.components[&"api".parse().unwrap()]
                .previous
                .is_empty()
        );
    }

    #[test]
    fn identical_states_share_one_arc() {
        let (_dir, mut store) = temp_store();
        // Two components with the same state cannot exist (the name is inside), but one state
        // across its history can repeat: a -> b -> a.
        for (t, c) in [
            ("2026-01-01T00:00:00Z", 'a'),
            ("2026-01-01T01:00:00Z", 'b'),
            ("2026-01-01T02:00:00Z", 'a'),
        ] {
            store
                .import(SnapBuilder::new("prod", t).component("api", c).build())
                .unwrap();
        }
        let state = store
            .environment_state(&env("prod"), at("2026-01-02"), true)
            .unwrap()
            .unwrap();
        let api = &state.components[&"api".parse().unwrap()];
        assert!(Arc::ptr_eq(&api.current.state, &api.previous[0].state));
        assert_eq!(api.current.state_hash, api.previous[0].state_hash);
    }

    #[test]
    fn an_unknown_environment_is_an_error_listing_the_known_ones() {
        let (_dir, store) = history_store();
        let err = store
            .environment_state(&env("qa"), at("2026-03-02"), false)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::UnknownEnvironment { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("\"qa\"") && err.to_string().contains("prod"),
            "{err}"
        );
        assert!(matches!(
            store.snapshot_at(&env("qa"), at("2026-03-02")),
            Err(StoreError::UnknownEnvironment { .. })
        ));
        assert!(matches!(
            store.export(&env("qa"), at("2026-03-02")),
            Err(StoreError::UnknownEnvironment { .. })
        ));
        assert!(matches!(
            store.history(&env("qa"), None, None, None),
            Err(StoreError::UnknownEnvironment { .. })
        ));
        assert!(matches!(
            store.report_input(&[env("prod"), env("qa")], at("2026-03-02")),
            Err(StoreError::UnknownEnvironment { .. })
        ));
    }

    #[test]
    fn environments_summarise_the_newest_snapshot_by_name() {
        let (_dir, mut store) = history_store();
        store
            .import(
                SnapBuilder::new("dev", "2026-03-01T00:00:00Z")
                    .component("api", '9')
                    .build(),
            )
            .unwrap();
        let envs = store.environments().unwrap();
        let names: Vec<&str> = envs.iter().map(|e| e.environment.as_str()).collect();
        assert_eq!(names, ["dev", "prod"]);
        let prod = &envs[1];
        assert_eq!(
            (prod.snapshots, prod.newest.seq, prod.components),
            (3, 3, 1)
        );
        assert!(!prod.complete);
        assert_eq!(prod.sources.len(), 2);
    }

    #[test]
    fn report_input_follows_the_path_and_carries_artifact_links() {
        let (_dir, mut store) = history_store();
        store
            .import(
                SnapBuilder::new("dev", "2026-03-01T12:30:00Z")
                    .component("api", '9')
                    .build(),
            )
            .unwrap();
        let input = store
            .report_input(&[env("dev"), env("prod")], at("2026-03-01T12:00:00Z"))
            .unwrap();
        assert_eq!(input.path, vec![env("dev"), env("prod")]);
        assert!(
            input.environments[0].is_none(),
            "dev had no snapshot yet at 12:00"
        );
        let prod = input.environments[1].as_ref().unwrap();
        assert_eq!(prod.snapshot.seq, 3);
        assert!(!prod.sightings.is_empty());
        assert_eq!(input.artifact_links, vec![(digest('a'), digest('e'))]);
    }

    #[test]
    fn times_beyond_the_representable_range_clamp() {
        let (_dir, store) = history_store();
        let far = at("9999-01-01");
        assert_eq!(
            store.snapshot_at(&env("prod"), far).unwrap().unwrap().seq,
            3
        );
        let ancient = at("1000-01-01");
        assert_eq!(store.snapshot_at(&env("prod"), ancient).unwrap(), None);
    }
}
