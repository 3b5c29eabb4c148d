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
//! After a prune ([`crate::prune`]), the walk starts at the latest checkpoint's cut with its
//! link in place of the genesis; an environment's snapshots older than its kept one are header
//! only there (their links and headers are checked, not their content), and its membership is
//! rebuilt from every interval up to the kept snapshot. The checkpoint records themselves, the
//! latest one's signature (through a [`SignatureCheck`]: the store holds no keys) and what they
//! vouch for beyond the chain ([`crate::prune::check_retained`]) are checked too.
//!
//! Limit: removing the newest snapshots (and every row they wrote) leaves a shorter, consistent
//! chain. Record the chain head elsewhere (reports and checkpoints carry it) to detect that.

use std::collections::{BTreeMap, HashMap};

use envtrail_model::canonical::{
    GENESIS, ItemKind, canonical_json, chain_link, content_hash, hash_canonical, items_root_sorted,
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
use crate::prune::{Checkpoints, SignatureCheck};

/// Rows hashed per parallel batch.
const CHUNK: usize = 4096;

impl Store {
    /// Recomputes every hash and the chain from the stored rows (see the module docs). `ok` is
    /// false when anything differs; the first problem names the first broken snapshot. A
    /// checkpoint's signature is not checked here (its status says `not_checked`): use
    /// [`Store::verify_with`].
    pub fn verify(&self) -> Result<VerifyResult, StoreError> {
        self.verify_with(None)
    }

    /// [`Store::verify`], checking the latest checkpoint's signature with `check`.
    pub fn verify_with(
        &self,
        check: Option<SignatureCheck<'_>>,
    ) -> Result<VerifyResult, StoreError> {
        verify(&self.conn, check).map_err(|f| f.reading(|| Scope::Verify))
    }
}

/// The bad bodies by id: (stored hash, why).
type Altered = HashMap<i64, (String, String)>;

/// Every digest a correct state body runs, by state id (only states that run some).
type StateDigests = HashMap<i64, Vec<Digest>>;

pub(crate) fn verify(
    conn: &Connection,
    check: Option<SignatureCheck<'_>>,
) -> Result<VerifyResult, Fail> {
    let checkpoints = crate::prune::load(conn, check)?;
    let (altered_states, state_digests) = check_states(conn)?;
    let altered_artifacts = check_artifacts(conn)?;
    let envs: HashMap<i64, String> = conn
        .prepare("SELECT id, name FROM environments")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;

    let mut problems = Vec::new();
    let (checked, broken) = walk_chain(
        conn,
        &envs,
        &altered_states,
        &altered_artifacts,
        &checkpoints,
    )?;
    problems.extend(broken);
    problems.extend(checkpoints.problems.iter().cloned());
    if problems.is_empty() {
        problems.extend(check_tail(conn, &envs)?);
    }
    problems.extend(crate::prune::check_retained(conn, &checkpoints)?);
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
    problems.extend(check_sightings(conn, &envs, &state_digests, &checkpoints)?);
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
        checkpoint: checkpoints.check,
    })
}

fn sorted(map: &Altered) -> Vec<(&String, &String)> {
    let mut v: Vec<_> = map.values().map(|(hash, why)| (hash, why)).collect();
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
        "SELECT id, hash, body FROM states",
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        },
        |(id, hash, body)| {
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
            (id, hash, checked)
        },
    )?;
    let mut altered = Altered::new();
    let mut digests = StateDigests::new();
    for (id, hash, checked) in results {
        match checked {
            Ok(d) if d.is_empty() => {}
            Ok(d) => {
                digests.insert(id, d);
            }
            Err(why) => {
                altered.insert(id, (hash, why));
            }
        }
    }
    Ok((altered, digests))
}

/// Re-hashes every artifact body and checks the columns derived from it.
fn check_artifacts(conn: &Connection) -> Result<Altered, Fail> {
    let results = par_rows(
        conn,
        "SELECT id, hash, digest, index_digest, body FROM artifacts",
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Vec<u8>>(4)?,
            ))
        },
        |(id, hash, digest, index_digest, body)| {
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
            why.map(|why| (id, (hash, why)))
        },
    )?;
    Ok(results.into_iter().flatten().collect())
}

/// One environment's replay state.
#[derive(Default)]
struct EnvWalk {
    seq: i64,
    /// The seq up to which interval boundaries were applied to `members`.
    applied: i64,
    /// Snapshots before this seq are header only (pruned): 1 unless a checkpoint kept a later one.
    kept: i64,
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
    checkpoints: &Checkpoints,
) -> Result<(i64, Option<VerifyProblem>), Fail> {
    let mut walks: HashMap<i64, EnvWalk> = HashMap::new();
    // Starts and ends in two statements: each is then one index range (an OR of the two would
    // scan the environment's whole history for every snapshot).
    let events = |column: &str| {
        conn.prepare(&format!(
            "SELECT i.kind, i.key, i.body_id, i.from_seq, i.to_seq, \
             CASE i.kind WHEN 0 THEN (SELECT hash FROM states WHERE id = i.body_id) \
             ELSE (SELECT hash FROM artifacts WHERE id = i.body_id) END \
             FROM intervals i WHERE i.env_id = ?1 AND i.{column} > ?2 AND i.{column} <= ?3"
        ))
    };
    let (mut starts, mut ends) = (events("from_seq")?, events("to_seq")?);
    let mut stmt = conn.prepare(
        "SELECT id, env_id, seq, taken_at, header, items_root, content_hash, prev_link, link, \
         components FROM snapshots ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let cut = checkpoints.latest.as_ref().map(|c| (c.number, &c.cut));
    let mut link = cut.map_or(GENESIS, |(_, cut)| cut.link.as_str()).to_owned();
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
        if checked == 1 {
            match cut {
                Some((number, cut)) if cut.snapshot_id != id => wrong.push(format!(
                    "the chain starts here, but checkpoint #{number} cuts it at snapshot {} \
                     (snapshots were added before the cut or the cut was removed)",
                    cut.snapshot_id
                )),
                None if prev_link != GENESIS => wrong.push(
                    "the chain starts here without the genesis link and the store holds no \
                     checkpoint: earlier snapshots were removed without a prune"
                        .to_owned(),
                ),
                _ => {}
            }
        }
        let walk = walks.entry(env_id).or_insert_with(|| {
            let (first, kept) = checkpoints.envs.get(&env_id).copied().unwrap_or((1, 1));
            EnvWalk {
                seq: first - 1,
                kept,
                ..EnvWalk::default()
            }
        });
        // Pruned: only its header and links are left (see the module docs).
        let header_only = seq < walk.kept;

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

        // Membership at `seq`: apply the boundaries since the environment's previous snapshot
        // (since the beginning for a pruned environment's kept one), ends before starts at each
        // seq.
        let mut boundaries: Vec<(i64, bool, i64, String, String, i64)> = Vec::new();
        let lists = if header_only {
            Vec::new()
        } else {
            vec![(&mut starts, true), (&mut ends, false)]
        };
        for (stmt, start) in lists {
            let found = stmt.query_map(params![env_id, walk.applied, seq], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })?;
            for ev in found {
                let (kind, key, body_id, from, to, hash) = ev?;
                let altered = if kind == KIND_COMPONENT {
                    altered_states
                } else {
                    altered_artifacts
                };
                // A missing or altered body verifies as neither its own hash nor any other.
                let hash = match hash {
                    Some(hash) if !altered.contains_key(&body_id) => hash,
                    _ => ALTERED.to_owned(),
                };
                let at = if start { from } else { to.unwrap_or(from) };
                boundaries.push((at, start, kind, key, hash, from));
            }
        }
        boundaries.sort_by_key(|a| (a.0, a.1));
        for (_, start, kind, key, effective, from) in boundaries {
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
        if !header_only {
            walk.applied = seq;
        }
        walk.taken_at = Some(taken_at);

        // The map is ordered by (kind, key) and kind 0 (component) sorts before 1 (artifact), as
        // the root's items do.
        let root = items_root_sorted(walk.members.iter().map(|((kind, key), (hash, _))| {
            let kind = if *kind == KIND_COMPONENT {
                ItemKind::Component
            } else {
                ItemKind::Artifact
            };
            (kind, key.as_str(), hash.as_str())
        }));
        if header_only {
            // Its items are gone: the stored root stands in, covered by the content hash.
        } else if root != stored_root {
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
        if !header_only && components != stored_components {
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
        if checked == 1 && prev_link != link {
            if let Some((number, _)) = cut {
                wrong.push(format!(
                    "its previous link is not the link checkpoint #{number} recorded at the cut"
                ));
            }
        } else if prev_link != link {
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
/// is first sighted at the earliest interval start of such a state. After a prune, a sighting
/// older than its environment's kept snapshot cannot be recomputed (the intervals are gone): the
/// checkpoint's retained root vouches for it, and it must still name its snapshot.
fn check_sightings(
    conn: &Connection,
    envs: &HashMap<i64, String>,
    digests: &StateDigests,
    checkpoints: &Checkpoints,
) -> Result<Vec<VerifyProblem>, Fail> {
    let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT env_id, body_id, MIN(from_seq) FROM intervals WHERE kind = ?1 \
         GROUP BY env_id, body_id",
    )?;
    let rows = stmt.query_map([KIND_COMPONENT], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (env_id, body_id, from) = row?;
        for digest in digests.get(&body_id).into_iter().flatten() {
            let e = expected.entry((env_id, digest.to_string())).or_insert(from);
            *e = (*e).min(from);
        }
    }
    let mut stmt = conn.prepare(
        "SELECT g.env_id, g.digest, g.first_seq, g.first_snapshot_id, s.id FROM sightings g \
         LEFT JOIN snapshot_refs s ON s.env_id = g.env_id AND s.seq = g.first_seq",
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
        let kept = checkpoints.envs.get(&env_id).map_or(1, |(_, kept)| *kept);
        let message = match expected.remove(&(env_id, digest.clone())) {
            Some(seq) if seq == first_seq && actual_id == Some(first_id) => continue,
            // In pruned history: vouched for by the checkpoint, not recomputable.
            Some(seq) if first_seq < kept && first_seq < seq && actual_id == Some(first_id) => {
                continue;
            }
            None if first_seq < kept && actual_id == Some(first_id) => continue,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{SnapBuilder, temp_store};

    /// ids: 1 prod #1 (api a, web b), 2 dev #1, 3 prod #2 (web c), 4 prod #3 (api config).
    fn store() -> (tempfile::TempDir, Store) {
        let (dir, mut store) = temp_store();
        let snapshots = [
            SnapBuilder::new("prod", "2026-03-01T10:00:00Z")
                .component("api", 'a')
                .component("web", 'b'),
            SnapBuilder::new("dev", "2026-03-01T09:00:00Z")
                .component("api", 'a')
                .component("web", 'c'),
            SnapBuilder::new("prod", "2026-03-01T11:00:00Z")
                .component("api", 'a')
                .component_config("web", 'c', "warn")
                .artifact('c', Some('e')),
            SnapBuilder::new("prod", "2026-03-01T12:00:00Z")
                .component_config("api", 'a', "debug")
                .component_config("web", 'c', "warn")
                .artifact('c', Some('e')),
        ];
        for s in snapshots {
            store.import(s.build()).unwrap();
        }
        let verdict = store.verify().unwrap();
        assert!(verdict.ok, "{:?}", verdict.problems);
        assert_eq!(verdict.snapshots_checked, 4);
        (dir, store)
    }

    fn first_broken(store: &Store) -> VerifyProblem {
        let verdict = store.verify().unwrap();
        assert!(!verdict.ok);
        verdict.problems.into_iter().next().unwrap()
    }

    fn exec(store: &Store, sql: &str) {
        let changed = store.conn.execute(sql, []).unwrap();
        assert!(changed > 0, "the tampering changed nothing: {sql}");
    }

    #[test]
    fn an_empty_store_verifies() {
        let (_dir, store) = temp_store();
        let verdict = store.verify().unwrap();
        assert!(verdict.ok);
        assert_eq!((verdict.snapshots_checked, verdict.chain_head), (0, None));
        assert_eq!(verdict.schema, VERIFY_SCHEMA);
    }

    #[test]
    fn the_chain_head_is_reported() {
        let (_dir, store) = store();
        assert_eq!(
            store.verify().unwrap().chain_head,
            store.chain_head().unwrap()
        );
    }

    #[test]
    fn an_altered_state_body_breaks_the_first_snapshot_using_it() {
        let (_dir, store) = store();
        // web's state with LOG_LEVEL=warn first appears in prod #2 (id 3).
        let (hash, body): (String, Vec<u8>) = store
            .conn
            .query_row(
                "SELECT hash, body FROM states WHERE body LIKE '%warn%'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let altered = String::from_utf8(body).unwrap().replace("web:1", "web:2");
        store
            .conn
            .execute(
                "UPDATE states SET body = ?1 WHERE hash = ?2",
                params![altered.as_bytes(), hash],
            )
            .unwrap();
        let problem = first_broken(&store);
        assert_eq!(problem.snapshot_id, Some(3), "{}", problem.message);
        assert!(problem.message.contains("prod"), "{}", problem.message);
        assert!(
            problem.message.contains("component web"),
            "{}",
            problem.message
        );
        // One byte, not a re-serialisation: still caught.
        let mut bytes = altered.into_bytes();
        let i = bytes.iter().position(|b| *b == b'2').unwrap();
        bytes[i] = b'3';
        store
            .conn
            .execute(
                "UPDATE states SET body = ?1 WHERE hash = ?2",
                params![bytes, hash],
            )
            .unwrap();
        assert_eq!(first_broken(&store).snapshot_id, Some(3));
    }

    #[test]
    fn an_altered_artifact_body_or_column_is_caught() {
        let (_dir, store) = store();
        exec(
            &store,
            "UPDATE artifacts SET body = CAST(replace(CAST(body AS TEXT), 'verified', 'invalid') AS BLOB)",
        );
        let problem = first_broken(&store);
        assert_eq!(problem.snapshot_id, Some(3), "{}", problem.message);
        assert!(
            problem.message.contains("artifact sha256:ccc"),
            "{}",
            problem.message
        );

        let (_dir, store) = self::store();
        exec(&store, "UPDATE artifacts SET index_digest = digest");
        let verdict = store.verify().unwrap();
        assert!(!verdict.ok);
        assert!(
            verdict
                .problems
                .iter()
                .any(|p| p.message.contains("digest columns")),
            "{:?}",
            verdict.problems
        );
    }

    #[test]
    fn an_altered_header_breaks_its_snapshot() {
        let (_dir, store) = store();
        exec(
            &store,
            "UPDATE snapshots SET header = CAST(replace(CAST(header AS TEXT), '\"ok\"', '\"failed\"') AS BLOB) WHERE id = 3",
        );
        let problem = first_broken(&store);
        assert_eq!(problem.snapshot_id, Some(3));
        assert!(
            problem.message.contains("content hash") && problem.message.contains("prod"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_moved_time_or_environment_is_caught() {
        let (_dir, store) = store();
        exec(
            &store,
            "UPDATE snapshots SET taken_at = taken_at + 1 WHERE id = 4",
        );
        let problem = first_broken(&store);
        assert_eq!(problem.snapshot_id, Some(4));
        assert!(problem.message.contains("taken at"), "{}", problem.message);

        let (_dir, store) = self::store();
        exec(
            &store,
            "UPDATE snapshots SET env_id = (SELECT id FROM environments WHERE name = 'dev') WHERE id = 4",
        );
        assert_eq!(first_broken(&store).snapshot_id, Some(4));
    }

    #[test]
    fn a_deleted_snapshot_breaks_the_next_link() {
        let (_dir, store) = store();
        exec(&store, "DELETE FROM snapshots WHERE id = 2");
        let problem = first_broken(&store);
        assert_eq!(problem.snapshot_id, Some(3), "{}", problem.message);
        assert!(
            problem.message.contains("previous link"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn swapped_snapshots_are_caught_at_the_first_of_them() {
        let (_dir, store) = store();
        exec(&store, "UPDATE snapshots SET id = -3 WHERE id = 3");
        exec(&store, "UPDATE snapshots SET id = 3 WHERE id = 4");
        exec(&store, "UPDATE snapshots SET id = 4 WHERE id = -3");
        let problem = first_broken(&store);
        assert_eq!(problem.snapshot_id, Some(3), "{}", problem.message);
    }

    #[test]
    fn altered_membership_is_caught() {
        let (_dir, store) = store();
        // Pretend web never changed in prod #2.
        exec(
            &store,
            "DELETE FROM intervals WHERE key = 'web' AND from_seq = 2 AND env_id = 1",
        );
        exec(
            &store,
            "UPDATE intervals SET to_seq = NULL, lvl = -1, blk = 0 WHERE key = 'web' AND env_id = 1",
        );
        let problem = first_broken(&store);
        assert_eq!(problem.snapshot_id, Some(3), "{}", problem.message);
        assert!(
            problem.message.contains("items root"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn only_the_first_broken_link_is_named_first() {
        let (_dir, store) = store();
        exec(
            &store,
            "UPDATE snapshots SET items_root = content_hash WHERE id IN (3, 4)",
        );
        let verdict = store.verify().unwrap();
        assert_eq!(verdict.problems[0].snapshot_id, Some(3));
        assert!(
            verdict.problems[0].message.starts_with("first broken link"),
            "{}",
            verdict.problems[0].message
        );
        assert_eq!(verdict.snapshots_checked, 3);
    }

    #[test]
    fn altered_sightings_are_caught() {
        let (_dir, store) = store();
        exec(
            &store,
            "UPDATE sightings SET first_seq = 2, first_snapshot_id = 3 WHERE digest LIKE 'sha256:aaa%' AND env_id = 1",
        );
        let verdict = store.verify().unwrap();
        assert!(!verdict.ok);
        assert!(
            verdict
                .problems
                .iter()
                .any(|p| p.message.contains("sighting of sha256:aaa")),
            "{:?}",
            verdict.problems
        );

        let (_dir, store) = self::store();
        exec(&store, "DELETE FROM sightings WHERE env_id = 2");
        let verdict = store.verify().unwrap();
        assert!(
            verdict
                .problems
                .iter()
                .any(|p| p.message.contains("missing")),
            "{:?}",
            verdict.problems
        );
    }

    #[test]
    fn a_cut_tail_is_caught_when_it_left_rows_behind() {
        let (_dir, store) = store();
        exec(&store, "DELETE FROM snapshots WHERE id = 4");
        let verdict = store.verify().unwrap();
        assert!(!verdict.ok);
        assert!(
            verdict
                .problems
                .iter()
                .any(|p| p.message.contains("newest snapshots were removed")),
            "{:?}",
            verdict.problems
        );
    }
}
