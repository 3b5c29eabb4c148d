//! The change log of an environment, derived from interval boundaries: an interval starting at
//! seq S is the component's state from snapshot S on, one ending at S is the state it left. Both at
//! S for one key is a change; only a start is an addition, only an end a removal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use envtrail_model::{ComponentName, ComponentState, EnvName, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Fail, PrunedQuery, Scope, StoreError};
use crate::lookup::{KIND_COMPONENT, Refs, header, parse_name, query_nanos, require_env};
use crate::members::{Bodies, Member, select};
use crate::{StateChange, Store};

impl Store {
    /// The component changes of `env` (of one component if given) in snapshots taken between
    /// `since` and `until` (both inclusive), oldest first, then by component. The environment's
    /// first snapshot adds all its components.
    pub fn history(
        &self,
        env: &EnvName,
        component: Option<&ComponentName>,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Vec<StateChange>, StoreError> {
        self.history_inner(env, component, since, until)
            .map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }

    fn history_inner(
        &self,
        env: &EnvName,
        component: Option<&ComponentName>,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Vec<StateChange>, Fail> {
        let conn = &self.conn;
        let env_id = require_env(conn, env)?;
        crate::prune::guard(conn, env_id, env, PrunedQuery::History, since)?;
        let Some((lo, hi)) = seq_range(conn, env_id, since, until)? else {
            return Ok(Vec::new());
        };
        let mut bodies = Bodies::new(KIND_COMPONENT);
        let rows = boundary_rows(conn, env_id, component, lo, hi, &mut bodies)?;
        let states: Vec<Arc<ComponentState>> = bodies.decode_from(0)?;

        // (seq, key) -> (body before, body after)
        type Change = (Option<usize>, Option<usize>);
        let mut changes: BTreeMap<(i64, &str), Change> = BTreeMap::new();
        for m in &rows {
            if (lo..=hi).contains(&m.from) {
                changes.entry((m.from, &m.key)).or_default().1 = Some(m.body);
            }
            if let Some(to) = m.to
                && (lo..=hi).contains(&to)
            {
                changes.entry((to, &m.key)).or_default().0 = Some(m.body);
            }
        }

        let mut refs = Refs::new(conn, env_id, env);
        let mut incomplete: HashMap<i64, Vec<String>> = HashMap::new();
        let mut out = Vec::with_capacity(changes.len());
        for ((seq, key), (before, after)) in changes {
            let snapshot = refs.get(seq)?;
            let previous = if seq > 1 {
                Some(refs.get(seq - 1)?)
            } else {
                None
            };
            let incomplete_sources = match incomplete.get(&seq) {
                Some(ids) => ids.clone(),
                None => {
                    let ids: Vec<String> = header(conn, snapshot.id)?
                        .sources
                        .iter()
                        .filter(|s| s.status != envtrail_model::SourceStatus::Ok)
                        .map(|s| s.id.clone())
                        .collect();
                    incomplete.insert(seq, ids.clone());
                    ids
                }
            };
            out.push(StateChange {
                snapshot,
                previous,
                component: parse_name("component", key)?,
                before: before.map(|i| states[i].clone()),
                after: after.map(|i| states[i].clone()),
                incomplete_sources,
            });
        }
        Ok(out)
    }
}

/// The seqs of the environment's snapshots taken within `since..=until`, if any.
fn seq_range(
    conn: &Connection,
    env_id: i64,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let lo: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM snapshots WHERE env_id = ?1 AND taken_at >= ?2 ORDER BY taken_at LIMIT 1",
        )?
        .query_row(params![env_id, since.as_ref().map_or(i64::MIN, query_nanos)], |r| r.get(0))
        .optional()?;
    let hi: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM snapshots WHERE env_id = ?1 AND taken_at <= ?2 \
             ORDER BY taken_at DESC LIMIT 1",
        )?
        .query_row(
            params![env_id, until.as_ref().map_or(i64::MAX, query_nanos)],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match (lo, hi) {
        (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
        _ => None,
    })
}

/// Every component interval that starts or ends within seqs `lo..=hi`.
fn boundary_rows(
    conn: &Connection,
    env_id: i64,
    component: Option<&ComponentName>,
    lo: i64,
    hi: i64,
    bodies: &mut Bodies,
) -> rusqlite::Result<Vec<Member>> {
    let select = select(KIND_COMPONENT);
    let mut rows = Vec::new();
    match component {
        // One component: all its intervals (few), filtered by the caller.
        Some(name) => {
            let sql = format!("{select} WHERE i.env_id = ?1 AND i.kind = ?2 AND i.key = ?3");
            let params = params![env_id, KIND_COMPONENT, name.as_str()];
            bodies.read(&mut *conn.prepare_cached(&sql)?, params, &mut rows)?;
        }
        None => {
            for column in ["from_seq", "to_seq"] {
                let sql = format!(
                    "{select} WHERE i.env_id = ?1 AND i.{column} BETWEEN ?2 AND ?3 AND i.kind = ?4"
                );
                let params = params![env_id, lo, hi, KIND_COMPONENT];
                bodies.read(&mut *conn.prepare_cached(&sql)?, params, &mut rows)?;
            }
            // An interval both starting and ending in range was read twice.
            rows.sort_unstable_by(|a, b| (&a.key, a.from).cmp(&(&b.key, b.from)));
            rows.dedup_by(|a, b| a.key == b.key && a.from == b.from);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{SnapBuilder, at, digest, env, temp_store};

    /// prod: #1 10:00 api a, web b; #2 11:00 web c; #3 12:00 web removed, db added (tf partial).
    fn store() -> (tempfile::TempDir, Store) {
        let (dir, mut store) = temp_store();
        let snapshots = [
            SnapBuilder::new("prod", "2026-03-01T10:00:00Z")
                .component("api", 'a')
                .component("web", 'b'),
            SnapBuilder::new("prod", "2026-03-01T11:00:00Z")
                .component("api", 'a')
                .component("web", 'c'),
            SnapBuilder::new("prod", "2026-03-01T12:00:00Z")
                .component("api", 'a')
                .infra("db", serde_json::json!({"engine": "postgres"}))
                .source_status("tf", "partial"),
        ];
        for s in snapshots {
            store.import(s.build()).unwrap();
        }
        (dir, store)
    }

    fn summary(changes: &[StateChange]) -> Vec<(i64, String, &'static str)> {
        changes
            .iter()
            .map(|c| {
                let what = match (&c.before, &c.after) {
                    (None, Some(_)) => "added",
                    (Some(_), None) => "removed",
                    (Some(_), Some(_)) => "changed",
                    (None, None) => "nothing",
                };
                (c.snapshot.seq, c.component.to_string(), what)
            })
            .collect()
    }

    #[test]
    fn history_lists_additions_changes_and_removals_oldest_first() {
        let (_dir, store) = store();
        let changes = store.history(&env("prod"), None, None, None).unwrap();
        assert_eq!(
            summary(&changes),
            vec![
                (1, "api".into(), "added"),
                (1, "web".into(), "added"),
                (2, "web".into(), "changed"),
                (3, "db".into(), "added"),
                (3, "web".into(), "removed"),
            ]
        );
        let web_change = &changes[2];
        assert!(
            web_change
                .before
                .as_ref()
                .unwrap()
                .artifact_digests()
                .contains(&digest('b'))
        );
        assert!(
            web_change
                .after
                .as_ref()
                .unwrap()
                .artifact_digests()
                .contains(&digest('c'))
        );
        assert_eq!(web_change.previous.as_ref().map(|p| p.seq), Some(1));
        assert_eq!(changes[0].previous, None);
        assert_eq!(changes[4].incomplete_sources, vec!["tf".to_owned()]);
        assert!(changes[2].incomplete_sources.is_empty());
    }

    #[test]
    fn history_filters_by_component_and_period() {
        let (_dir, store) = store();
        let web: ComponentName = "web".parse().unwrap();
        let changes = store.history(&env("prod"), Some(&web), None, None).unwrap();
        assert_eq!(
            summary(&changes),
            vec![
                (1, "web".into(), "added"),
                (2, "web".into(), "changed"),
                (3, "web".into(), "removed")
            ]
        );
        // since/until are inclusive and select the snapshots that showed the change.
        let window = store
            .history(
                &env("prod"),
                None,
                Some(at("2026-03-01T11:00:00Z")),
                Some(at("2026-03-01T11:59:59Z")),
            )
            .unwrap();
        assert_eq!(summary(&window), vec![(2, "web".into(), "changed")]);
        let after = store
            .history(
                &env("prod"),
                Some(&web),
                Some(at("2026-03-01T11:30:00Z")),
                None,
            )
            .unwrap();
        assert_eq!(summary(&after), vec![(3, "web".into(), "removed")]);
        let none = store
            .history(&env("prod"), None, Some(at("2027-01-01")), None)
            .unwrap();
        assert!(none.is_empty());
        let inverted = store.history(
            &env("prod"),
            None,
            Some(at("2026-03-01T12:00:00Z")),
            Some(at("2026-03-01T10:00:00Z")),
        );
        assert!(inverted.unwrap().is_empty());
    }
}
