//! Evidence: the part of the hash chain that proves what one environment ran over a period
//! ([`Store::evidence`]), and the chain links behind an answer ([`Store::chain_links`]).
//!
//! The bundle is built from the same rows `verify` checks: the state in force at the start of the
//! period (membership at its seq), then only the interval boundaries inside the period, so a year
//! of hourly snapshots reads each changed state once. The chain part is every snapshot from the
//! first bundled one to the head, with the header and items root of each, so a verifier can
//! recompute every link without the database and see that no snapshot of the environment is
//! missing. Signing is not done here (the store holds no keys): see the `envtrail-evidence` crate.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envtrail_model::evidence::{ChainEntry, EVIDENCE_SCHEMA, EvidenceBundle, MembershipDelta};
use envtrail_model::output::ChainLink;
use envtrail_model::{Artifact, ComponentName, ComponentState, EnvName, Timestamp};
use rusqlite::params;

use crate::Store;
use crate::error::{Body, Fail, Scope, StoreError};
use crate::lookup::{
    KIND_ARTIFACT, KIND_COMPONENT, decode, from_nanos, max_seq, parse_name, query_nanos,
    require_env, snapshot_after, snapshot_at,
};
use crate::members::{Bodies, Member, members_at, select};

impl Store {
    /// The unsigned evidence bundle of `env` (of one component if given) from the snapshot in
    /// force at `from` (or the first after it) to the last one taken at or before `to`, tied to
    /// the chain head. `None` when the environment has no snapshot in that period.
    pub fn evidence(
        &self,
        env: &EnvName,
        from: Timestamp,
        to: Timestamp,
        component: Option<&ComponentName>,
    ) -> Result<Option<EvidenceBundle>, StoreError> {
        self.evidence_inner(env, from, to, component)
            .map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }

    /// The chain link rows of the snapshots with these ids (unknown ids are left out), by id.
    pub fn chain_links(&self, ids: &[i64]) -> Result<Vec<ChainLink>, StoreError> {
        let inner = || -> Result<Vec<ChainLink>, Fail> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT s.id, e.name, s.seq, s.taken_at, s.items_root, s.content_hash, \
                 s.prev_link, s.link FROM snapshots s JOIN environments e ON e.id = s.env_id \
                 WHERE s.id = ?1",
            )?;
            let ids: BTreeSet<i64> = ids.iter().copied().collect();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let mut rows = stmt.query([id])?;
                if let Some(row) = rows.next()? {
                    let environment: String = row.get(1)?;
                    out.push(ChainLink {
                        id,
                        environment: parse_name("environment", &environment)?,
                        seq: row.get(2)?,
                        taken_at: from_nanos(row.get(3)?),
                        items_root: row.get(4)?,
                        content_hash: row.get(5)?,
                        previous_link: row.get(6)?,
                        link: row.get(7)?,
                    });
                }
            }
            Ok(out)
        };
        inner().map_err(|f| f.reading(|| Scope::Store))
    }

    fn evidence_inner(
        &self,
        env: &EnvName,
        from: Timestamp,
        to: Timestamp,
        component: Option<&ComponentName>,
    ) -> Result<Option<EvidenceBundle>, Fail> {
        let conn = &self.conn;
        let env_id = require_env(conn, env)?;
        let first = match snapshot_at(conn, env_id, env, query_nanos(&from))? {
            Some(s) => s,
            None => match snapshot_after(conn, env_id, env, query_nanos(&from))? {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        let Some(last) = snapshot_at(conn, env_id, env, query_nanos(&to))? else {
            return Ok(None);
        };
        if last.seq < first.seq {
            return Ok(None);
        }
        let (lo, hi) = (first.seq, last.seq);
        let top = max_seq(conn, env_id)?;

        // Membership: everything at `lo`, then each boundary inside (lo, hi].
        let mut state_bodies = Bodies::new(KIND_COMPONENT);
        let mut artifact_bodies = Bodies::new(KIND_ARTIFACT);
        let mut deltas: BTreeMap<i64, MembershipDelta> = (lo..=hi)
            .map(|seq| {
                (
                    seq,
                    MembershipDelta {
                        seq,
                        ..MembershipDelta::default()
                    },
                )
            })
            .collect();
        let mut state_members = Vec::new();
        let mut artifact_members = Vec::new();
        for (kind, bodies, kept) in [
            (KIND_COMPONENT, &mut state_bodies, &mut state_members),
            (KIND_ARTIFACT, &mut artifact_bodies, &mut artifact_members),
        ] {
            let initial = members_at(conn, env_id, kind, lo, top, bodies)?;
            let boundaries = boundary_rows(conn, env_id, kind, lo, hi, bodies)?;
            for m in &initial {
                slot(&mut deltas, lo, kind).insert(m.key.clone(), Some(m.hash.clone()));
            }
            // Ends first: a change at one seq is an end and a start, and the start wins.
            for m in &boundaries {
                if let Some(end) = m.to
                    && end > lo
                    && end <= hi
                {
                    slot(&mut deltas, end, kind).insert(m.key.clone(), None);
                }
            }
            for m in &boundaries {
                if m.from > lo && m.from <= hi {
                    slot(&mut deltas, m.from, kind).insert(m.key.clone(), Some(m.hash.clone()));
                }
            }
            kept.extend(initial);
            kept.extend(boundaries);
        }

        // Bodies: every one, or only the filtered component's and the artifacts it runs.
        let decoded_states: Vec<Arc<ComponentState>> = state_bodies.decode_from(0)?;
        let mut states = BTreeMap::new();
        for m in &state_members {
            if component.is_some_and(|c| c.as_str() != m.key) {
                continue;
            }
            states
                .entry(m.hash.clone())
                .or_insert_with(|| ComponentState::clone(&decoded_states[m.body]));
        }
        let shown_digests: Option<BTreeSet<String>> = component.map(|_| {
            states
                .values()
                .flat_map(|s: &ComponentState| s.artifact_digests())
                .map(|d| d.to_string())
                .collect()
        });
        let decoded_artifacts: Vec<Arc<Artifact>> = artifact_bodies.decode_from(0)?;
        let mut artifacts = BTreeMap::new();
        for m in &artifact_members {
            if shown_digests.as_ref().is_some_and(|d| !d.contains(&m.key)) {
                continue;
            }
            artifacts
                .entry(m.hash.clone())
                .or_insert_with(|| Artifact::clone(&decoded_artifacts[m.body]));
        }

        // The chain from the first bundled snapshot to the head.
        let mut stmt = conn.prepare_cached(
            "SELECT id, env_id, seq, header, items_root, content_hash, prev_link, link \
             FROM snapshots WHERE id >= ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![first.id])?;
        let mut chain = Vec::new();
        let mut chain_start = None;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let row_env: i64 = row.get(1)?;
            let seq: i64 = row.get(2)?;
            let header_bytes: Vec<u8> = row.get(3)?;
            if chain_start.is_none() {
                chain_start = Some(row.get::<_, String>(6)?);
            }
            let members = if row_env == env_id {
                deltas.remove(&seq)
            } else {
                None
            };
            chain.push(ChainEntry {
                id,
                header: decode(&header_bytes, || Body::Header(id))?,
                items_root: row.get(4)?,
                content_hash: row.get(5)?,
                link: row.get(7)?,
                members,
            });
        }
        let chain_head = chain
            .last()
            .map(|e| e.link.clone())
            .expect("the chain holds at least the first bundled snapshot");
        Ok(Some(EvidenceBundle {
            schema: EVIDENCE_SCHEMA.to_owned(),
            environment: env.clone(),
            component: component.cloned(),
            from,
            to,
            exported_at: chrono::Utc::now(),
            generator: format!("envtrail {}", env!("CARGO_PKG_VERSION")),
            chain_start: chain_start.expect("the chain is not empty"),
            chain_head,
            chain,
            states,
            artifacts,
        }))
    }
}

/// The delta map of `kind` at `seq`.
fn slot(
    deltas: &mut BTreeMap<i64, MembershipDelta>,
    seq: i64,
    kind: i64,
) -> &mut BTreeMap<String, Option<String>> {
    let delta = deltas
        .get_mut(&seq)
        .expect("every seq of the range has a delta");
    if kind == KIND_COMPONENT {
        &mut delta.components
    } else {
        &mut delta.artifacts
    }
}

/// Every interval of `kind` that starts or ends within seqs `lo+1..=hi`.
fn boundary_rows(
    conn: &rusqlite::Connection,
    env_id: i64,
    kind: i64,
    lo: i64,
    hi: i64,
    bodies: &mut Bodies,
) -> rusqlite::Result<Vec<Member>> {
    let select = select(kind);
    let mut rows = Vec::new();
    for column in ["from_seq", "to_seq"] {
        let sql = format!(
            "{select} WHERE i.env_id = ?1 AND i.{column} > ?2 AND i.{column} <= ?3 AND i.kind = ?4"
        );
        bodies.read(
            &mut *conn.prepare_cached(&sql)?,
            params![env_id, lo, hi, kind],
            &mut rows,
        )?;
    }
    rows.sort_unstable_by(|a, b| (&a.key, a.from).cmp(&(&b.key, b.from)));
    rows.dedup_by(|a, b| a.key == b.key && a.from == b.from);
    Ok(rows)
}
