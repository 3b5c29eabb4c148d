//! `verify`: recompute every hash from the stored rows and walk the chain in import order.
//!
//! 1. Every state and artifact body is re-hashed (in parallel) from its canonical JSON; a body
//!    that does not hash to its key is marked altered.
//! 2. The snapshots are replayed in id order. Per environment the membership (which key held
//!    which hash) is rebuilt from the interval boundaries, substituting a marker for altered
//!    bodies; each snapshot's items root, header (environment, time, canonical form), content hash,
//!    sequence, time order, previous link and link are recomputed and compared. The first snapshot
//!    where anything differs is the first broken link; the walk stops there, as everything after
//!    it rests on it.
//! 3. Store-wide checks: intervals pointing past an environment's last snapshot (the tail of the
//!    chain removed), sightings against the ones the intervals imply, and `PRAGMA integrity_check`.
//!
//! Limit: removing the newest snapshots (and every row they wrote) leaves a shorter, consistent
//! chain. Record the chain head elsewhere (reports carry it) to detect that.

use std::collections::{BTreeMap, HashMap};

use envtrail_model::canonical::{
    GENESIS, ItemKind, canonical_json, chain_link, content_hash, hash_canonical, items_root,
};
use envtrail_model::output::{VERIFY_SCHEMA, VerifyProblem, VerifyResult};
use envtrail_model::snapshot::SnapshotHeader;
use envtrail_model::time::format_time;
use envtrail_model::{Artifact, ComponentState, Digest};
use rayon::prelude::*;
use rusqlite::{Connection, params};

use crate::Store;
use crate::error::{Fail, Scope, StoreError};
use crate::lookup::{KIND_COMPONENT, from_nanos};

/// Rows hashed per parallel batch.
const CHUNK: usize = 4096;

impl Store {
    /// Recomputes every hash and the chain from the stored rows (see the module docs). `ok` is
    /// false when anything differs; the first problem names the first broken snapshot.
    pub fn verify(&self) -> Result<VerifyResult, StoreError> {
        verify(&self.conn).map_err(|f| f.reading(|| Scope::Verify))
    }
}

/// Why a body is bad, by hash.
type Altered = HashMap<String, String>;

/// Every digest a correct state body runs, by state hash (only states that run some).
type StateDigests = HashMap<String, Vec<Digest>>;

fn verify(conn: &Connection) -> Result<VerifyResult, Fail> {
    let (altered_states, state_digests) = check_states(conn)?;
    let altered_artifacts = check_artifacts(conn)?;
    let envs: HashMap<i64, String> = conn
        .prepare("SELECT id, name FROM environments")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;

    let mut problems = Vec::new();
    let (checked, broken) = walk_chain(conn, &envs, &altered_states, &altered_artifacts)?;
    problems.extend(broken);
    if problems.is_empty() {
        problems.extend(check_tail(conn, &envs)?);
    }
    for (hash, why) in sorted(&altered_states) {
        problems.push(VerifyProblem {
            snapshot_id: None,
            message: format!("component state {hash}: {why}"),
        });
    }
    for (hash, why) in sorted(&altered_artifacts) {
        problems.push(VerifyProblem {
            snapshot_id: None,
            message: format!("artifact facts {hash}: {why}"),
        });
    }
    problems.extend(check_sightings(conn, &envs, &state_digests)?);
    problems.extend(integrity(conn)?);

    let chain_head = conn
        .query_row(
            "SELECT link FROM snapshots ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| {
            if e == rusqlite::Error::QueryReturnedNoRows {
                Ok(None)
            } else {
                Err(e)
            }
        })?;
    Ok(VerifyResult {
        schema: VERIFY_SCHEMA.to_owned(),
        ok: problems.is_empty(),
        snapshots_checked: checked,
        chain_head,
        problems,
    })
}

fn sorted(map: &Altered) -> Vec<(&String, &String)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort();
    v
}

/// Runs `sql`, reads each row with `read` on this thread and processes batches of rows with
/// `work` in parallel. Keeps memory bounded whatever the number of rows.
fn par_rows<R: Send, O: Send>(
    conn: &Connection,
    sql: &str,
    mut read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    work: impl Fn(R) -> O + Sync + Send,
) -> rusqlite::Result<Vec<O>> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    loop {
        let mut batch = Vec::with_capacity(CHUNK);
        while batch.len() < CHUNK {
            match rows.next()? {
                Some(row) => batch.push(read(row)?),
                None => break,
            }
        }
        if batch.is_empty() {
            return Ok(out);
        }
        out.par_extend(batch.into_par_iter().map(&work));
    }
}

/// Re-hashes every state body: the altered ones, and the digests each correct one runs.
fn check_states(conn: &Connection) -> Result<(Altered, StateDigests), Fail> {
    let results = par_rows(
        conn,
        "SELECT hash, body FROM states",
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)),
        |(hash, body)| {
            let checked = match serde_json::from_slice::<ComponentState>(&body) {
                Err(e) => Err(format!("the stored body is unreadable ({e})")),
                Ok(state) => {
                    let actual = state.state_hash();
                    if actual == hash {
                        Ok(state.artifact_digests().into_iter().collect::<Vec<_>>())
                    } else {
                        Err(format!(
                            "the stored body hashes to {actual}: it was altered"
                        ))
                    }
                }
            };
            (hash, checked)
        },
    )?;
    let mut altered = Altered::new();
    let mut digests = StateDigests::new();
    for (hash, checked) in results {
        match checked {
            Ok(d) if d.is_empty() => {}
            Ok(d) => {
                digests.insert(hash, d);
            }
            Err(why) => {
                altered.insert(hash, why);
            }
        }
    }
    Ok((altered, digests))
}

/// Re-hashes every artifact body and checks the columns derived from it.
fn check_artifacts(conn: &Connection) -> Result<Altered, Fail> {
    let results = par_rows(
        conn,
        "SELECT hash, digest, index_digest, body FROM artifacts",
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Vec<u8>>(3)?,
            ))
        },
        |(hash, digest, index_digest, body)| {
            let why = match serde_json::from_slice::<Artifact>(&body) {
                Err(e) => Some(format!("the stored body is unreadable ({e})")),
                Ok(a) => {
                    let actual = hash_canonical(&a);
                    if actual != hash {
                        Some(format!(
                            "the stored body hashes to {actual}: it was altered"
                        ))
                    } else if a.digest.as_str() != digest
                        || a.index_digest.as_ref().map(|d| d.as_str()) != index_digest.as_deref()
                    {
                        Some(
                            "the digest columns do not match the body: they were altered"
                                .to_owned(),
                        )
                    } else {
                        None
                    }
                }
            };
            why.map(|why| (hash, why))
        },
    )?;
    Ok(results.into_iter().flatten().collect())
}

/// One environment's replay state.
#[derive(Default)]
struct EnvWalk {
    seq: i64,
    taken_at: Option<i64>,
    /// (kind, key) -> (hash as it verifies, from_seq).
    members: BTreeMap<(i64, String), (String, i64)>,
}

/// The marker that replaces an altered body's hash in the recomputed root.
const ALTERED: &str = "altered";

/// Replays the snapshots in id order: (snapshots checked, the first broken link if any).
fn walk_chain(
    conn: &Connection,
    envs: &HashMap<i64, String>,
    altered_states: &Altered,
    altered_artifacts: &Altered,
) -> Result<(i64, Option<VerifyProblem>), Fail> {
    let mut walks: HashMap<i64, EnvWalk> = HashMap::new();
    let mut events = conn.prepare(
        "SELECT kind, key, state_hash, from_seq, to_seq FROM intervals \
         WHERE env_id = ?1 AND ((from_seq > ?2 AND from_seq <= ?3) OR (to_seq > ?2 AND to_seq <= ?3))",
    )?;
    let mut stmt = conn.prepare(
        "SELECT id, env_id, seq, taken_at, header, items_root, content_hash, prev_link, link, \
         components FROM snapshots ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut link = GENESIS.to_owned();
    let mut checked = 0;
    while let Some(row) = rows.next()? {
        checked += 1;
        let id: i64 = row.get(0)?;
        let env_id: i64 = row.get(1)?;
        let seq: i64 = row.get(2)?;
        let taken_at: i64 = row.get(3)?;
        let header_bytes: Vec<u8> = row.get(4)?;
        let stored_root: String = row.get(5)?;
        let stored_content: String = row.get(6)?;
        let prev_link: String = row.get(7)?;
        let stored_link: String = row.get(8)?;
        let stored_components: i64 = row.get(9)?;

        let env_name = envs
            .get(&env_id)
            .map_or("<unknown environment>", String::as_str);
        let mut wrong: Vec<String> = Vec::new();
        let walk = walks.entry(env_id).or_default();

        if seq != walk.seq + 1 {
            wrong.push(format!(
                "its sequence number is {seq} but the environment's previous snapshot is #{} \
                 (snapshots were removed or reordered)",
                walk.seq
            ));
        }
        if let Some(prev) = walk.taken_at
            && taken_at <= prev
        {
            wrong.push(format!(
                "it is not newer than the environment's previous snapshot ({})",
                format_time(&from_nanos(prev))
            ));
        }

        // Membership at `seq`: apply the boundaries since the environment's previous snapshot,
        // ends before starts at each seq.
        let mut boundaries: Vec<(i64, bool, i64, String, String, i64)> = Vec::new();
        let found = events.query_map(params![env_id, walk.seq, seq], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
        for ev in found {
            let (kind, key, hash, from, to) = ev?;
            if let Some(to) = to
                && to > walk.seq
                && to <= seq
            {
                boundaries.push((to, false, kind, key.clone(), hash.clone(), from));
            }
            if from > walk.seq && from <= seq {
                boundaries.push((from, true, kind, key, hash, from));
            }
        }
        boundaries.sort_by_key(|a| (a.0, a.1));
        for (_, start, kind, key, hash, from) in boundaries {
            let altered = if kind == KIND_COMPONENT {
                altered_states
            } else {
                altered_artifacts
            };
            let effective = if altered.contains_key(&hash) {
                ALTERED.to_owned()
            } else {
                hash
            };
            if start {
                if let Some((_, other)) =
                    walk.members.insert((kind, key.clone()), (effective, from))
                {
                    wrong.push(format!(
                        "{} {key} has two overlapping intervals (from #{other} and #{from})",
                        kind_name(kind)
                    ));
                }
            } else if walk
                .members
                .get(&(kind, key.clone()))
                .is_some_and(|(_, f)| *f == from)
            {
                walk.members.remove(&(kind, key));
            }
        }
        walk.seq = seq;
        walk.taken_at = Some(taken_at);

        let root = items_root(walk.members.iter().map(|((kind, key), (hash, _))| {
            let kind = if *kind == KIND_COMPONENT {
                ItemKind::Component
            } else {
                ItemKind::Artifact
            };
            (kind, key.as_str(), hash.as_str())
        }));
        if root != stored_root {
            let altered: Vec<String> = walk
                .members
                .iter()
                .filter(|(_, (h, _))| h == ALTERED)
                .map(|((kind, key), _)| format!("{} {key}", kind_name(*kind)))
                .collect();
            if altered.is_empty() {
                wrong.push(
                    "its items root does not match its stored membership (intervals were altered)"
                        .to_owned(),
                );
            } else {
                wrong.push(format!(
                    "the stored body of {} was altered",
                    altered.join(", ")
                ));
            }
        }
        let components = walk
            .members
            .keys()
            .filter(|(kind, _)| *kind == KIND_COMPONENT)
            .count() as i64;
        if components != stored_components {
            wrong.push(format!(
                "it records {stored_components} components but its membership has {components}"
            ));
        }

        let canonical_header = match serde_json::from_slice::<SnapshotHeader>(&header_bytes) {
            Err(e) => {
                wrong.push(format!("its header is unreadable ({e})"));
                header_bytes.clone()
            }
            Ok(header) => {
                if header.environment.as_str() != env_name {
                    wrong.push(format!(
                        "its header names environment {}",
                        header.environment
                    ));
                }
                if header.taken_at.timestamp_nanos_opt() != Some(taken_at) {
                    wrong.push(format!(
                        "its header says it was taken at {}, its row at {}",
                        format_time(&header.taken_at),
                        format_time(&from_nanos(taken_at))
                    ));
                }
                canonical_json(&header)
            }
        };
        let content = content_hash(&canonical_header, &stored_root);
        if content != stored_content {
            wrong.push(
                "its content hash does not match its header (the header was altered)".to_owned(),
            );
        }
        if prev_link != link {
            wrong.push("its previous link is not the link of the snapshot before it in the chain (snapshots were removed or reordered)".to_owned());
        }
        if chain_link(&prev_link, &stored_content) != stored_link {
            wrong.push("its link does not match its content hash and previous link".to_owned());
        }

        if !wrong.is_empty() {
            let message = format!(
                "first broken link: snapshot {id} of {env_name} (#{seq}, taken at {}): {}",
                format_time(&from_nanos(taken_at)),
                wrong.join("; ")
            );
            return Ok((
                checked,
                Some(VerifyProblem {
                    snapshot_id: Some(id),
                    message,
                }),
            ));
        }
        link = stored_link;
    }
    Ok((checked, None))
}

fn kind_name(kind: i64) -> &'static str {
    if kind == KIND_COMPONENT {
        "component"
    } else {
        "artifact"
    }
}

/// Intervals that point past their environment's last snapshot: the newest snapshots were cut.
fn check_tail(conn: &Connection, envs: &HashMap<i64, String>) -> Result<Vec<VerifyProblem>, Fail> {
    let mut stmt = conn.prepare(
        "SELECT i.env_id, MAX(MAX(i.from_seq), COALESCE(MAX(i.to_seq), 0)), \
         (SELECT COALESCE(MAX(seq), 0) FROM snapshots s WHERE s.env_id = i.env_id) \
         FROM intervals i GROUP BY i.env_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut problems = Vec::new();
    for row in rows {
        let (env_id, referenced, last) = row?;
        if referenced > last {
            let env = envs
                .get(&env_id)
                .map_or("<unknown environment>", String::as_str);
            problems.push(VerifyProblem {
                snapshot_id: None,
                message: format!(
                    "environment {env}: its states refer to snapshot #{referenced} but its last \
                     snapshot is #{last}: the newest snapshots were removed"
                ),
            });
        }
    }
    Ok(problems)
}

/// The sightings table against what the intervals imply: each digest run by a component state
/// is first sighted at the earliest interval start of such a state.
fn check_sightings(
    conn: &Connection,
    envs: &HashMap<i64, String>,
    digests: &StateDigests,
) -> Result<Vec<VerifyProblem>, Fail> {
    let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT env_id, state_hash, MIN(from_seq) FROM intervals WHERE kind = ?1 \
         GROUP BY env_id, state_hash",
    )?;
    let rows = stmt.query_map([KIND_COMPONENT], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (env_id, hash, from) = row?;
        for digest in digests.get(&hash).into_iter().flatten() {
            let e = expected.entry((env_id, digest.to_string())).or_insert(from);
            *e = (*e).min(from);
        }
    }
    let mut stmt = conn.prepare(
        "SELECT g.env_id, g.digest, g.first_seq, g.first_snapshot_id, s.id FROM sightings g \
         LEFT JOIN snapshots s ON s.env_id = g.env_id AND s.seq = g.first_seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
        ))
    })?;
    let mut problems = Vec::new();
    let env_name = |id: i64| {
        envs.get(&id)
            .cloned()
            .unwrap_or_else(|| "<unknown environment>".to_owned())
    };
    for row in rows {
        let (env_id, digest, first_seq, first_id, actual_id) = row?;
        let message = match expected.remove(&(env_id, digest.clone())) {
            Some(seq) if seq == first_seq && actual_id == Some(first_id) => continue,
            Some(seq) => format!(
                "sighting of {digest} in {}: recorded first at #{first_seq} (snapshot {first_id}), \
                 the states say #{seq}",
                env_name(env_id)
            ),
            None => format!(
                "sighting of {digest} in {}: no stored state runs it",
                env_name(env_id)
            ),
        };
        problems.push(VerifyProblem {
            snapshot_id: None,
            message,
        });
    }
    for ((env_id, digest), seq) in expected {
        problems.push(VerifyProblem {
            snapshot_id: None,
            message: format!(
                "sighting of {digest} in {}: missing (first run at #{seq})",
                env_name(env_id)
            ),
        });
    }
    Ok(problems)
}

/// `PRAGMA integrity_check`: anything but a single `ok` is a problem.
fn integrity(conn: &Connection) -> Result<Vec<VerifyProblem>, Fail> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(lines
        .into_iter()
        .filter(|l| l != "ok")
        .map(|l| VerifyProblem {
            snapshot_id: None,
            message: format!("database integrity check: {l}"),
        })
        .collect())
}
