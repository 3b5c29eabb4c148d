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

use envtrail_model::canonical::{canonical_json, sha256_hex};
use envtrail_model::evidence::{
    BundleBodies, ChainEntry, EVIDENCE_SCHEMA, EvidenceBundle, MembershipDelta,
};
use envtrail_model::output::ChainLink;
use envtrail_model::{Artifact, ComponentName, ComponentState, EnvName, Timestamp};
use rayon::prelude::*;
use rusqlite::params;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Store;
use crate::error::{Body, Fail, PrunedQuery, Scope, StoreError};
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
        let inner = || -> Result<Option<EvidenceBundle>, Fail> {
            let Some((mut bundle, bodies)) = self.evidence_inner(env, from, to, component)? else {
                return Ok(None);
            };
            bundle.states = typed(bodies.states, Body::State)?;
            bundle.artifacts = typed(bodies.artifacts, Body::Artifact)?;
            Ok(Some(bundle))
        };
        inner().map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }

    /// [`Store::evidence`] with the bundle's states and artifact facts left out of it and given
    /// as their canonical JSON instead, to be sealed with `envtrail_evidence::seal_parts`: a
    /// year's bundle holds ~170,000 states, which this neither decodes nor serialises again.
    pub fn evidence_parts(
        &self,
        env: &EnvName,
        from: Timestamp,
        to: Timestamp,
        component: Option<&ComponentName>,
    ) -> Result<Option<(EvidenceBundle, BundleBodies)>, StoreError> {
        self.evidence_inner(env, from, to, component)
            .map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }

    /// The chain link rows of the snapshots with these ids (unknown ids are left out), by id;
    /// a snapshot removed by `prune` but still referenced gives the link its checkpoint vouches
    /// for.
    pub fn chain_links(&self, ids: &[i64]) -> Result<Vec<ChainLink>, StoreError> {
        let inner = || -> Result<Vec<ChainLink>, Fail> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT s.id, e.name, s.seq, s.taken_at, s.items_root, s.content_hash, \
                 s.prev_link, s.link FROM snapshot_refs s JOIN environments e ON e.id = s.env_id \
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
    ) -> Result<Option<(EvidenceBundle, BundleBodies)>, Fail> {
        let conn = &self.conn;
        let env_id = require_env(conn, env)?;
        crate::prune::guard(conn, env_id, env, PrunedQuery::Evidence, Some(from))?;
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
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        for m in &state_members {
            if component.is_none_or(|c| c.as_str() == m.key) {
                states.entry(m.hash.clone()).or_insert(m.body);
            }
        }
        let shown_digests: Option<BTreeSet<String>> = match component {
            None => None,
            Some(_) => {
                let mut digests = BTreeSet::new();
                for (hash, &i) in &states {
                    let state: ComponentState = decode(
                        state_bodies
                            .raw(i)
                            .ok_or_else(|| missing(Body::State(hash.clone())))?,
                        || Body::State(hash.clone()),
                    )?;
                    digests.extend(state.artifact_digests().iter().map(|d| d.to_string()));
                }
                Some(digests)
            }
        };
        let mut artifacts: BTreeMap<String, usize> = BTreeMap::new();
        for m in &artifact_members {
            if shown_digests.as_ref().is_none_or(|d| d.contains(&m.key)) {
                artifacts.entry(m.hash.clone()).or_insert(m.body);
            }
        }
        let bodies = BundleBodies {
            states: canonical_bodies::<ComponentState>(&state_bodies, states, Body::State)?,
            artifacts: canonical_bodies::<Artifact>(&artifact_bodies, artifacts, Body::Artifact)?,
        };

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
        let bundle = EvidenceBundle {
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
            states: BTreeMap::new(),
            artifacts: BTreeMap::new(),
        };
        Ok(Some((bundle, bodies)))
    }
}

fn missing(what: Body) -> Fail {
    Fail::Store(StoreError::MissingBody { what })
}

/// The canonical JSON of the bodies `wanted` (hash → index in `bodies`), in parallel. A stored
/// body is its canonical JSON when it hashes to its key, which is the case for every body
/// written since bodies are stored canonical: those bytes are used as they are. Older ones
/// (serde_json bytes) are decoded and serialised canonically.
fn canonical_bodies<T: DeserializeOwned + Serialize>(
    bodies: &Bodies,
    wanted: BTreeMap<String, usize>,
    what: fn(String) -> Body,
) -> Result<BTreeMap<String, Vec<u8>>, Fail> {
    let wanted: Vec<(String, usize)> = wanted.into_iter().collect();
    let canonical: Vec<Vec<u8>> = wanted
        .par_iter()
        .with_min_len(256)
        .map(|(hash, i)| {
            let bytes = bodies.raw(*i).ok_or_else(|| missing(what(hash.clone())))?;
            if sha256_hex(bytes) == *hash {
                Ok(bytes.to_vec())
            } else {
                let value: T = decode(bytes, || what(hash.clone()))?;
                Ok(canonical_json(&value))
            }
        })
        .collect::<Result<_, Fail>>()?;
    Ok(wanted.into_iter().map(|(h, _)| h).zip(canonical).collect())
}

/// Canonical bodies decoded, in parallel.
fn typed<T: DeserializeOwned + Send>(
    bodies: BTreeMap<String, Vec<u8>>,
    what: fn(String) -> Body,
) -> Result<BTreeMap<String, T>, Fail> {
    let bodies: Vec<(String, Vec<u8>)> = bodies.into_iter().collect();
    bodies
        .into_par_iter()
        .with_min_len(256)
        .map(|(hash, bytes)| {
            let value = decode(&bytes, || what(hash.clone()))?;
            Ok((hash, value))
        })
        .collect::<Result<Vec<_>, Fail>>()
        .map(|v| v.into_iter().collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{SnapBuilder, at, env, temp_store};

    #[test]
    fn parts_are_canonical_even_for_bodies_stored_in_the_old_form() {
        let (_dir, mut store) = temp_store();
        for (t, c) in [("2026-03-01T10:00:00Z", 'a'), ("2026-03-01T11:00:00Z", 'b')] {
            store
                .import(
                    SnapBuilder::new("prod", t)
                        .component("api", c)
                        .artifact(c, None)
                        .build(),
                )
                .unwrap();
        }
        let (from, to) = (at("2026-03-01"), at("2026-03-02"));
        let (_, before) = store
            .evidence_parts(&env("prod"), from, to, None)
            .unwrap()
            .unwrap();
        // Bodies written by session 1's builds were serde_json bytes, not canonical JSON: the
        // same value, other bytes (here: pretty-printed).
        let rows: Vec<(i64, Vec<u8>)> = store
            .conn
            .prepare("SELECT id, body FROM states")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (id, body) in rows {
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let pretty = serde_json::to_vec_pretty(&value).unwrap();
            assert_ne!(pretty, body);
            store
                .conn
                .execute(
                    "UPDATE states SET body = ?1 WHERE id = ?2",
                    params![pretty, id],
                )
                .unwrap();
        }
        let (_, after) = store
            .evidence_parts(&env("prod"), from, to, None)
            .unwrap()
            .unwrap();
        assert_eq!(after, before);
        for (hash, body) in &after.states {
            assert_eq!(&sha256_hex(body), hash);
        }
        // And the decoded bundle holds the same states.
        let typed = store
            .evidence(&env("prod"), from, to, None)
            .unwrap()
            .unwrap();
        assert_eq!(typed.states.len(), 2);
        for (hash, state) in &typed.states {
            assert_eq!(&state.state_hash(), hash);
        }
    }
}
