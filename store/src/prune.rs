//! Retention: `prune --before T` removes history older than what each environment ran at `T`,
//! and leaves a signed checkpoint so the chain stays verifiable from the checkpoint on.
//!
//! What is kept, per environment: its snapshot in force at `T` (the latest taken at or before
//! it) and every later one, whole; so `asof`, `export`, `diff` and `report` at or after that
//! snapshot answer exactly as before. What goes: the environment's earlier snapshots, the
//! intervals that ended at or before the kept snapshot, and the state and artifact bodies no
//! interval references any more.
//!
//! The hash chain is global, in import order, so environments interleave in it. The *cut* is the
//! first kept snapshot in chain order: every row before it is removed, every row from it on stays,
//! so the chain from the cut to the head is whole. An environment's older snapshots that sit after
//! the cut (because another environment's kept snapshot is older in the chain) stay as *header
//! only* rows: header, items root, content hash and links, as other environments' entries appear
//! in an evidence bundle; their membership is gone. `verify` checks their links, not their
//! content.
//!
//! A few facts about removed snapshots are still needed by the answers that are kept: a component
//! running unchanged since a removed snapshot says "since #3, 2026-01-02" (its interval's
//! `from_seq`), and the first sighting of an artifact (the promotion findings' "seen upstream")
//! may be in removed history. Those references are kept in `pruned_refs` (the chain link row of
//! the snapshot, without its content) and read through the `snapshot_refs` view; sightings are
//! never removed. Neither can be recomputed from the chain any more, so the checkpoint signs a
//! root over them ([`retained_root`]).
//!
//! Everything happens in one immediate transaction: the store must verify first (a checkpoint
//! never vouches for an altered chain), the rows are removed, the checkpoint is written and signed,
//! and the pruned store is verified again before commit. Any failure rolls everything back. A dry
//! run does the same work and rolls back. `secure_delete` is on for the prune, so removed content
//! is overwritten in the file's pages; `VACUUM` ([`Store::vacuum`]) shrinks the file.
//!
//! Queries that reach into removed history fail with [`StoreError::Pruned`], naming the
//! checkpoint ([`guard`]): the store never answers "nothing ran" for a period it no longer holds.

use std::collections::HashMap;
use std::path::Path;

use envtrail_model::canonical::{canonical_json, chain_link, sha256_hex};
use envtrail_model::checkpoint::{
    CHECKPOINT_SCHEMA, ChainCut, Checkpoint, CheckpointCheck, PruneCounts, PrunedEnvironment,
    SignatureStatus,
};
use envtrail_model::evidence::EvidenceSignature;
use envtrail_model::output::{ChainLink, VerifyProblem};
use envtrail_model::{EnvName, Timestamp};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::Store;
use crate::error::{Body, Fail, PrunedQuery, StoreError};
use crate::lookup::{decode, environments, from_nanos, query_nanos};

/// Migration 4 (see [`crate::schema`]).
///
/// - `checkpoints(id, body, signature)`: one row per prune, `id` its number; `body` the exact
///   canonical JSON bytes that were signed, `signature` the canonical JSON of the signature.
/// - `pruned(env_id, seq, taken_at, checkpoint)`: per environment whose history was cut, its
///   kept snapshot (the one in force at the checkpoint's `before`): answers start there.
/// - `pruned_refs(env_id, seq, id, taken_at, items_root, content_hash, prev_link, link)`: the
///   chain link rows of removed snapshots that kept intervals or sightings still name.
/// - `snapshot_refs`: every snapshot reference, in the chain or kept from a removed one.
pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE checkpoints (
        id        INTEGER PRIMARY KEY,
        body      BLOB NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TABLE pruned (
        env_id     INTEGER PRIMARY KEY REFERENCES environments(id),
        seq        INTEGER NOT NULL,
        taken_at   INTEGER NOT NULL,
        checkpoint INTEGER NOT NULL REFERENCES checkpoints(id)
    );
    CREATE TABLE pruned_refs (
        env_id       INTEGER NOT NULL REFERENCES environments(id),
        seq          INTEGER NOT NULL,
        id           INTEGER NOT NULL,
        taken_at     INTEGER NOT NULL,
        items_root   TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        prev_link    TEXT NOT NULL,
        link         TEXT NOT NULL,
        PRIMARY KEY (env_id, seq)
    ) WITHOUT ROWID;
    CREATE VIEW snapshot_refs AS
        SELECT id, env_id, seq, taken_at, items_root, content_hash, prev_link, link FROM snapshots
        UNION ALL
        SELECT id, env_id, seq, taken_at, items_root, content_hash, prev_link, link FROM pruned_refs;
"#;

/// Checks a checkpoint's signature over its exact stored bytes: the problems, none when it
/// verifies. The store holds no keys: the caller (the CLI, through `envtrail-evidence`) does.
pub type SignatureCheck<'a> = &'a dyn Fn(&[u8], &EvidenceSignature) -> Vec<String>;

/// Signs a checkpoint: the key's id, and the signature over the bytes given.
pub struct Signer<'a> {
    /// `sha256:` of the public key, written into the checkpoint before it is signed.
    pub key_id: String,
    /// Signs the checkpoint's canonical JSON bytes.
    pub sign: &'a dyn Fn(&[u8]) -> EvidenceSignature,
}

/// What [`Store::prune`] did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneOutcome {
    /// The checkpoint written (or that would be); `None` when there was nothing to prune.
    pub checkpoint: Option<Checkpoint>,
    /// Its signature (`None` in a dry run).
    pub signature: Option<EvidenceSignature>,
    /// Why nothing was pruned, when nothing was.
    pub nothing_to_prune: Option<String>,
}

/// A checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The record.
    pub checkpoint: Checkpoint,
    /// Its signature.
    pub signature: EvidenceSignature,
    /// The exact bytes that were signed.
    pub bytes: Vec<u8>,
}

impl Store {
    /// Removes history older than what each environment ran at `before`, and writes a checkpoint
    /// signed by `signer` (see the module docs). `check` verifies the signature of the store's
    /// previous checkpoint, if any, and of the new one before commit. One transaction: on any
    /// error nothing is removed.
    pub fn prune(
        &mut self,
        before: Timestamp,
        signer: &Signer<'_>,
        check: Option<SignatureCheck<'_>>,
    ) -> Result<PruneOutcome, StoreError> {
        self.prune_inner(before, Some(signer), check)
    }

    /// What [`Store::prune`] would remove and the checkpoint it would sign, computed by doing the
    /// work and rolling it back: nothing is changed.
    pub fn prune_dry_run(
        &mut self,
        before: Timestamp,
        check: Option<SignatureCheck<'_>>,
    ) -> Result<PruneOutcome, StoreError> {
        self.prune_inner(before, None, check)
    }

    /// Every checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        read_checkpoints(&self.conn).map_err(|f| f.reading(|| crate::Scope::Store))
    }

    /// Rebuilds the file without the free pages a prune leaves (SQLite `VACUUM`), then truncates
    /// the write-ahead log. Takes as long as copying the store, and as much free disk.
    pub fn vacuum(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|source| StoreError::Prune {
                path: self.path.clone(),
                source,
            })
    }

    fn prune_inner(
        &mut self,
        before: Timestamp,
        signer: Option<&Signer<'_>>,
        check: Option<SignatureCheck<'_>>,
    ) -> Result<PruneOutcome, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Prune {
            path: path.clone(),
            source,
        };
        // Removed content is overwritten, not only unlinked (a retention rule may demand it).
        let secure: i64 = self
            .conn
            .query_row("PRAGMA secure_delete", [], |r| r.get(0))
            .map_err(sql)?;
        self.conn
            .pragma_update(None, "secure_delete", 1)
            .map_err(sql)?;
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            let outcome = prune(&tx, &path, before, signer, check).map_err(|f| f.with(sql))?;
            if signer.is_some() && outcome.checkpoint.is_some() {
                tx.commit().map_err(sql)?;
            }
            // A dry run, or nothing to prune: the transaction rolls back as it drops.
            Ok(outcome)
        })();
        let restored = self.conn.pragma_update(None, "secure_delete", secure);
        let outcome = result?;
        restored.map_err(sql)?;
        Ok(outcome)
    }
}

/// The snapshot of an environment in force at the cut.
struct Anchor {
    env_id: i64,
    env: EnvName,
    link: ChainLink,
    /// Its seq before this prune: 1, or the seq the previous checkpoint kept.
    previously_kept: i64,
}

fn prune(
    conn: &Connection,
    path: &Path,
    before: Timestamp,
    signer: Option<&Signer<'_>>,
    check: Option<SignatureCheck<'_>>,
) -> Result<PruneOutcome, Fail> {
    let first_problem = |verdict: &envtrail_model::output::VerifyResult| {
        verdict
            .problems
            .first()
            .map_or_else(|| "unknown problem".to_owned(), |p| p.message.clone())
    };
    let verdict = crate::verify::verify(conn, check)?;
    if !verdict.ok {
        return Err(StoreError::PruneUnverified {
            path: path.to_owned(),
            problem: first_problem(&verdict),
        }
        .into());
    }
    let nothing = |why: String| PruneOutcome {
        checkpoint: None,
        signature: None,
        nothing_to_prune: Some(why),
    };
    let previous = read_checkpoints(conn)?.pop();
    if let Some(p) = &previous
        && before <= p.checkpoint.before
    {
        return Ok(nothing(format!(
            "checkpoint #{} already pruned history before {}: give a later --before",
            p.checkpoint.number,
            envtrail_model::time::format_time(&p.checkpoint.before)
        )));
    }

    // Each environment's snapshot in force at `before`, and the cut: the first snapshot in the
    // chain that must stay whole.
    let nanos = query_nanos(&before);
    let kept_before: HashMap<i64, i64> = conn
        .prepare("SELECT env_id, seq FROM pruned")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut anchors = Vec::new();
    let mut cut_id = i64::MAX;
    for (env_id, env) in environments(conn)? {
        let anchor = conn
            .prepare_cached(
                "SELECT id, seq, taken_at, items_root, content_hash, prev_link, link \
                 FROM snapshots WHERE env_id = ?1 AND taken_at <= ?2 \
                 ORDER BY taken_at DESC LIMIT 1",
            )?
            .query_row(params![env_id, nanos], |r| {
                Ok(ChainLink {
                    id: r.get(0)?,
                    environment: env.clone(),
                    seq: r.get(1)?,
                    taken_at: from_nanos(r.get(2)?),
                    items_root: r.get(3)?,
                    content_hash: r.get(4)?,
                    previous_link: r.get(5)?,
                    link: r.get(6)?,
                })
            })
            .optional()?;
        match anchor {
            Some(link) => {
                cut_id = cut_id.min(link.id);
                anchors.push(Anchor {
                    env_id,
                    env,
                    previously_kept: kept_before.get(&env_id).copied().unwrap_or(1),
                    link,
                });
            }
            None => {
                let first: i64 = conn
                    .prepare_cached("SELECT MIN(id) FROM snapshots WHERE env_id = ?1")?
                    .query_row([env_id], |r| r.get(0))?;
                cut_id = cut_id.min(first);
            }
        }
    }
    let chain_start: Option<i64> =
        conn.query_row("SELECT MIN(id) FROM snapshots", [], |r| r.get(0))?;
    let Some(chain_start) = chain_start else {
        return Ok(nothing("the store holds no snapshot".to_owned()));
    };
    if cut_id <= chain_start && anchors.iter().all(|a| a.link.seq == a.previously_kept) {
        return Ok(nothing(format!(
            "no environment has a snapshot older than the one in force at {}",
            envtrail_model::time::format_time(&before)
        )));
    }

    // Per environment: what leaves the chain, what stays header only, the references to keep.
    let mut counts = PruneCounts::default();
    let mut environments = Vec::with_capacity(anchors.len());
    for a in &anchors {
        let removed: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM snapshots WHERE env_id = ?1 AND id < ?2")?
            .query_row(params![a.env_id, cut_id], |r| r.get(0))?;
        let first_seq: i64 = conn
            .prepare_cached("SELECT MIN(seq) FROM snapshots WHERE env_id = ?1 AND id >= ?2")?
            .query_row(params![a.env_id, cut_id], |r| r.get(0))?;
        let header_only = a.link.seq - first_seq;
        counts.snapshots += removed;
        counts.header_only_snapshots += (a.link.seq - a.previously_kept.max(first_seq)).max(0);
        keep_references(conn, a.env_id, a.link.seq, first_seq)?;
        counts.intervals += conn
            .prepare_cached("DELETE FROM intervals WHERE env_id = ?1 AND to_seq <= ?2")?
            .execute(params![a.env_id, a.link.seq])? as i64;
        environments.push(PrunedEnvironment {
            environment: a.env.clone(),
            in_force: a.link.clone(),
            first_seq,
            removed_snapshots: removed,
            header_only_snapshots: header_only,
        });
    }
    let cut_link: String = conn
        .prepare_cached("SELECT prev_link FROM snapshots WHERE id = ?1")?
        .query_row([cut_id], |r| r.get(0))?;
    conn.prepare_cached("DELETE FROM snapshots WHERE id < ?1")?
        .execute([cut_id])?;
    counts.states = conn.execute(
        "DELETE FROM states WHERE id NOT IN (SELECT body_id FROM intervals WHERE kind = 0)",
        [],
    )? as i64;
    counts.artifacts = conn.execute(
        "DELETE FROM artifacts WHERE id NOT IN (SELECT body_id FROM intervals WHERE kind = 1)",
        [],
    )? as i64;

    let kept: HashMap<i64, i64> = anchors.iter().map(|a| (a.env_id, a.link.seq)).collect();
    let chain_head: String = conn.query_row(
        "SELECT link FROM snapshots ORDER BY id DESC LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    let number = previous.as_ref().map_or(1, |p| p.checkpoint.number + 1);
    let mut checkpoint = Checkpoint {
        schema: CHECKPOINT_SCHEMA.to_owned(),
        number,
        before,
        created_at: chrono::Utc::now(),
        generator: format!("envtrail {}", env!("CARGO_PKG_VERSION")),
        previous: previous.as_ref().map(|p| sha256_hex(&p.bytes)),
        cut: ChainCut {
            snapshot_id: cut_id,
            link: cut_link,
        },
        chain_head,
        environments,
        removed: counts,
        retained_root: retained_root(conn, &kept)?,
        key_id: signer.map(|s| s.key_id.clone()),
    };
    let Some(signer) = signer else {
        return Ok(PruneOutcome {
            checkpoint: Some(checkpoint),
            signature: None,
            nothing_to_prune: None,
        });
    };
    let bytes = canonical_json(&checkpoint);
    let signature = (signer.sign)(&bytes);
    conn.execute(
        "INSERT INTO checkpoints (id, body, signature) VALUES (?1, ?2, ?3)",
        params![number, bytes, canonical_json(&signature)],
    )?;
    conn.execute("DELETE FROM pruned", [])?;
    for a in anchors.iter().filter(|a| a.link.seq > 1) {
        conn.execute(
            "INSERT INTO pruned (env_id, seq, taken_at, checkpoint) VALUES (?1, ?2, ?3, ?4)",
            params![a.env_id, a.link.seq, query_nanos(&a.link.taken_at), number],
        )?;
    }

    let verdict = crate::verify::verify(conn, check)?;
    if !verdict.ok {
        return Err(StoreError::PruneCheck {
            problem: first_problem(&verdict),
        }
        .into());
    }
    // The record as stored: what the dry run showed, with the key.
    checkpoint.key_id = Some(signer.key_id.clone());
    Ok(PruneOutcome {
        checkpoint: Some(checkpoint),
        signature: Some(signature),
        nothing_to_prune: None,
    })
}

/// The seqs below `first_seq` (removed from the chain) that kept intervals (those still open at
/// seq `kept`) or sightings of the environment name.
const NEEDED: &str = "(SELECT from_seq FROM intervals WHERE env_id = ?1 \
     AND (to_seq IS NULL OR to_seq > ?2) AND from_seq < ?3 \
     UNION SELECT first_seq FROM sightings WHERE env_id = ?1 AND first_seq < ?3)";

/// Keeps the chain link rows of removed snapshots that kept answers still name, and drops the
/// ones no longer named.
fn keep_references(
    conn: &Connection,
    env_id: i64,
    kept: i64,
    first_seq: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO pruned_refs \
         (env_id, seq, id, taken_at, items_root, content_hash, prev_link, link) \
         SELECT env_id, seq, id, taken_at, items_root, content_hash, prev_link, link \
         FROM snapshots WHERE env_id = ?1 AND seq IN {NEEDED}"
    ))?
    .execute(params![env_id, kept, first_seq])?;
    conn.prepare_cached(&format!(
        "DELETE FROM pruned_refs WHERE env_id = ?1 AND seq NOT IN {NEEDED}"
    ))?
    .execute(params![env_id, kept, first_seq])?;
    Ok(())
}

/// sha256 over what a checkpoint vouches for beyond the chain: every kept reference of a removed
/// snapshot, and every first sighting older than its environment's kept snapshot (`kept`: env id
/// → seq). One line per fact, sorted, fields separated by NUL.
pub(crate) fn retained_root(
    conn: &Connection,
    kept: &HashMap<i64, i64>,
) -> rusqlite::Result<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT e.name, r.seq, r.id, r.taken_at, r.items_root, r.content_hash, r.prev_link, \
         r.link FROM pruned_refs r JOIN environments e ON e.id = r.env_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(format!(
            "ref\0{}\0{}\0{}\0{}\0{}\0{}\0{}\0{}\n",
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
        ))
    })?;
    for row in rows {
        lines.push(row?);
    }
    let mut stmt = conn.prepare(
        "SELECT g.env_id, e.name, g.digest, g.first_seq, g.first_snapshot_id FROM sightings g \
         JOIN environments e ON e.id = g.env_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (env_id, env, digest, seq, id) = row?;
        if seq < kept.get(&env_id).copied().unwrap_or(1) {
            lines.push(format!("sighting\0{env}\0{digest}\0{seq}\0{id}\n"));
        }
    }
    lines.sort_unstable();
    Ok(sha256_hex(lines.concat().as_bytes()))
}

/// Every stored checkpoint, oldest first.
pub(crate) fn read_checkpoints(conn: &Connection) -> Result<Vec<StoredCheckpoint>, Fail> {
    let mut stmt =
        conn.prepare_cached("SELECT id, body, signature FROM checkpoints ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, bytes, signature) = row?;
        out.push(StoredCheckpoint {
            checkpoint: decode(&bytes, || Body::Checkpoint(id))?,
            signature: decode(&signature, || Body::Checkpoint(id))?,
            bytes,
        });
    }
    Ok(out)
}

/// Fails with [`StoreError::Pruned`] when `asked` (for a history: its start, `None` meaning the
/// beginning) lies before the environment's kept snapshot. A state at an instant is answered from
/// the kept snapshot's time on; a history only after it (its changes need the snapshot before).
pub(crate) fn guard(
    conn: &Connection,
    env_id: i64,
    env: &EnvName,
    query: PrunedQuery,
    asked: Option<Timestamp>,
) -> Result<(), Fail> {
    let kept = conn
        .prepare_cached("SELECT seq, taken_at, checkpoint FROM pruned WHERE env_id = ?1")?
        .query_row([env_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    let Some((kept_seq, kept_nanos, checkpoint)) = kept else {
        return Ok(());
    };
    let inside = match (query, &asked) {
        (_, None) => true,
        (PrunedQuery::History, Some(t)) => query_nanos(t) <= kept_nanos,
        (_, Some(t)) => query_nanos(t) < kept_nanos,
    };
    if !inside {
        return Ok(());
    }
    let before = read_checkpoints(conn)?
        .into_iter()
        .find(|c| c.checkpoint.number == checkpoint)
        .map(|c| c.checkpoint.before)
        .unwrap_or_else(|| from_nanos(kept_nanos));
    Err(StoreError::Pruned {
        query,
        environment: env.clone(),
        asked,
        checkpoint,
        before,
        kept_seq,
        kept_from: from_nanos(kept_nanos),
    }
    .into())
}

/// What `verify` needs from the checkpoints: the latest one (the chain is verified from its cut),
/// each pruned environment's first seq in the chain and kept seq, and the problems found in the
/// records themselves.
#[derive(Default)]
pub(crate) struct Checkpoints {
    pub latest: Option<Checkpoint>,
    pub check: Option<CheckpointCheck>,
    /// env id → (first seq in the chain, kept seq).
    pub envs: HashMap<i64, (i64, i64)>,
    pub problems: Vec<VerifyProblem>,
    /// Whether the store has any checkpoint row (readable or not).
    pub any: bool,
}

fn problem(message: String) -> VerifyProblem {
    VerifyProblem {
        snapshot_id: None,
        message,
    }
}

/// Reads and checks the checkpoint records: each parses, numbers follow each other, each names the
/// previous one's hash, `before` increases, and the latest one's signature verifies (with
/// `check`; the earlier ones are vouched for by the latest's `previous` chain).
pub(crate) fn load(
    conn: &Connection,
    check: Option<SignatureCheck<'_>>,
) -> Result<Checkpoints, Fail> {
    let mut out = Checkpoints::default();
    let mut stmt = conn.prepare("SELECT id, body, signature FROM checkpoints ORDER BY id")?;
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    out.any = !rows.is_empty();
    let mut previous: Option<(Vec<u8>, Checkpoint)> = None;
    let count = rows.len() as i64;
    for (index, (id, bytes, signature)) in rows.into_iter().enumerate() {
        let last = index as i64 + 1 == count;
        let checkpoint: Checkpoint = match serde_json::from_slice(&bytes) {
            Ok(c) => c,
            Err(e) => {
                out.problems.push(problem(format!(
                    "checkpoint #{id}: its record is unreadable ({e}): it was altered"
                )));
                previous = None;
                continue;
            }
        };
        let mut wrong = Vec::new();
        if checkpoint.schema != CHECKPOINT_SCHEMA {
            wrong.push(format!("its schema is {:?}", checkpoint.schema));
        }
        if checkpoint.number != id {
            wrong.push(format!("it says it is #{}", checkpoint.number));
        }
        let expected_previous = previous.as_ref().map(|(b, _)| sha256_hex(b));
        if index > 0 && previous.is_none() {
            // The previous record was unreadable: already reported.
        } else if checkpoint.previous != expected_previous {
            wrong.push(
                "it does not name the previous checkpoint's hash (checkpoints were removed, \
                 reordered or altered)"
                    .to_owned(),
            );
        }
        if let Some((_, p)) = &previous
            && checkpoint.before <= p.before
        {
            wrong.push("its --before is not later than the previous checkpoint's".to_owned());
        }
        let status = match serde_json::from_slice::<EvidenceSignature>(&signature) {
            Err(e) => {
                wrong.push(format!("its signature is unreadable ({e})"));
                SignatureStatus::Failed
            }
            Ok(sig) => {
                if checkpoint.key_id.as_deref() != Some(sig.key_id.as_str()) {
                    wrong.push(format!(
                        "it names key {} but is signed by {}",
                        checkpoint.key_id.as_deref().unwrap_or("(none)"),
                        sig.key_id
                    ));
                }
                match check {
                    Some(check) if last => {
                        let failed = check(&bytes, &sig);
                        if failed.is_empty() {
                            SignatureStatus::Verified
                        } else {
                            wrong.extend(failed);
                            SignatureStatus::Failed
                        }
                    }
                    _ => SignatureStatus::NotChecked,
                }
            }
        };
        if !wrong.is_empty() {
            out.problems
                .push(problem(format!("checkpoint #{id}: {}", wrong.join("; "))));
        }
        if last {
            out.check = Some(CheckpointCheck {
                checkpoint: checkpoint.clone(),
                signature: if wrong.is_empty() {
                    status
                } else {
                    SignatureStatus::Failed
                },
                key_pinned: false,
                checkpoints: count,
            });
        }
        previous = Some((bytes, checkpoint));
    }
    if let Some((_, latest)) = previous {
        let ids: HashMap<String, i64> = environments(conn)?
            .into_iter()
            .map(|(id, name)| (name.to_string(), id))
            .collect();
        for e in &latest.environments {
            match ids.get(e.environment.as_str()) {
                Some(&id) => {
                    out.envs.insert(id, (e.first_seq, e.in_force.seq));
                }
                None => out.problems.push(problem(format!(
                    "checkpoint #{}: environment {} is no longer in the store",
                    latest.number, e.environment
                ))),
            }
        }
        out.latest = Some(latest);
    }
    Ok(out)
}

/// What the latest checkpoint vouches for, against the tables: each environment's kept snapshot
/// is in the chain as recorded, the `pruned` rows match, the kept references and old sightings
/// hash to the retained root, every kept reference is a consistent link row of a removed snapshot,
/// and every interval and sighting still names a snapshot that exists or is kept as a reference.
pub(crate) fn check_retained(
    conn: &Connection,
    checkpoints: &Checkpoints,
) -> Result<Vec<VerifyProblem>, Fail> {
    let Some(latest) = &checkpoints.latest else {
        let orphans: i64 = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM pruned) + (SELECT COUNT(*) FROM pruned_refs)",
            [],
            |r| r.get(0),
        )?;
        return Ok(if orphans > 0 && !checkpoints.any {
            vec![problem(
                "the store holds pruning records but no checkpoint: the checkpoint was removed"
                    .to_owned(),
            )]
        } else {
            Vec::new()
        });
    };
    let n = latest.number;
    let mut problems = Vec::new();
    let ids: HashMap<String, i64> = environments(conn)?
        .into_iter()
        .map(|(id, name)| (name.to_string(), id))
        .collect();

    let mut expected_pruned: HashMap<i64, (i64, i64)> = HashMap::new();
    for e in &latest.environments {
        let Some(&env_id) = ids.get(e.environment.as_str()) else {
            continue;
        };
        let link = &e.in_force;
        let row = conn
            .prepare_cached(
                "SELECT env_id, seq, taken_at, content_hash, link FROM snapshots WHERE id = ?1",
            )?
            .query_row([link.id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        let expected = (
            env_id,
            link.seq,
            query_nanos(&link.taken_at),
            link.content_hash.clone(),
            link.link.clone(),
        );
        if row.as_ref() != Some(&expected) {
            problems.push(problem(format!(
                "checkpoint #{n}: the snapshot it keeps for {} (id {}, #{}) is {} in the chain",
                e.environment,
                link.id,
                link.seq,
                if row.is_some() {
                    "not as recorded"
                } else {
                    "missing"
                }
            )));
        }
        if link.seq > 1 {
            expected_pruned.insert(env_id, (link.seq, query_nanos(&link.taken_at)));
        }
    }
    let stored_pruned: HashMap<i64, (i64, i64, i64)> = conn
        .prepare("SELECT env_id, seq, taken_at, checkpoint FROM pruned")?
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
        .collect::<Result<_, _>>()?;
    let matches = stored_pruned.len() == expected_pruned.len()
        && expected_pruned
            .iter()
            .all(|(env, (seq, t))| stored_pruned.get(env) == Some(&(*seq, *t, n)));
    if !matches {
        problems.push(problem(format!(
            "the pruned environments' kept snapshots do not match checkpoint #{n} (the table \
             `pruned` was altered)"
        )));
    }

    let kept: HashMap<i64, i64> = checkpoints
        .envs
        .iter()
        .map(|(env, (_, kept))| (*env, *kept))
        .collect();
    if retained_root(conn, &kept)? != latest.retained_root {
        problems.push(problem(format!(
            "the references and first sightings kept for pruned snapshots do not hash to \
             checkpoint #{n}'s retained root: they were altered"
        )));
    }

    let mut stmt = conn.prepare(
        "SELECT r.env_id, r.seq, r.id, r.content_hash, r.prev_link, r.link, \
         (SELECT MIN(seq) FROM snapshots s WHERE s.env_id = r.env_id) FROM pruned_refs r",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<i64>>(6)?,
        ))
    })?;
    for row in rows {
        let (env_id, seq, id, content, prev, link, first) = row?;
        if chain_link(&prev, &content) != link || first.is_none_or(|f| seq >= f) {
            problems.push(problem(format!(
                "the reference kept for pruned snapshot {id} (environment id {env_id}, #{seq}) \
                 is not a removed snapshot's link row: it was altered"
            )));
        }
    }

    let dangling: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM intervals i WHERE NOT EXISTS \
           (SELECT 1 FROM snapshot_refs s WHERE s.env_id = i.env_id AND s.seq = i.from_seq)) \
         + (SELECT COUNT(*) FROM sightings g WHERE NOT EXISTS \
           (SELECT 1 FROM snapshot_refs s WHERE s.env_id = g.env_id AND s.seq = g.first_seq))",
        [],
        |r| r.get(0),
    )?;
    if dangling > 0 {
        problems.push(problem(format!(
            "{dangling} intervals or sightings name a snapshot that is neither in the chain nor \
             kept by checkpoint #{n}"
        )));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use envtrail_model::evidence::SignatureAlgorithm;
    use envtrail_model::view::EnvironmentState;

    use super::*;
    use crate::testutil::{SnapBuilder, at, count, counts, digest, env, temp_store};

    /// A stand-in for the evidence key (the store crate holds no crypto): a keyed sha256.
    fn sign(bytes: &[u8]) -> EvidenceSignature {
        EvidenceSignature {
            algorithm: SignatureAlgorithm::Ed25519,
            public_key: "test key".into(),
            key_id: "sha256:test".into(),
            value: sha256_hex(&[b"secret\n".as_slice(), bytes].concat()),
        }
    }

    fn check(bytes: &[u8], signature: &EvidenceSignature) -> Vec<String> {
        if sign(bytes).value == signature.value {
            Vec::new()
        } else {
            vec!["the signature does not verify over the checkpoint's bytes".into()]
        }
    }

    fn signer() -> Signer<'static> {
        Signer {
            key_id: "sha256:test".into(),
            sign: &sign,
        }
    }

    /// Chain (id env#seq time): 1 dev#1 07:00, 2 prod#1 08:00, 3 prod#2 10:00, 4 prod#3 12:00,
    /// 5 dev#2 13:00, 6 prod#4 14:00, 7 qa#1 14:30, 8 dev#3 15:00 (all 2026-03-01).
    /// prod runs api `a` unchanged from #1 to #3; web goes b -> c -> c with config debug.
    fn store() -> (tempfile::TempDir, Store) {
        let (dir, mut store) = temp_store();
        let snapshots = [
            SnapBuilder::new("dev", "2026-03-01T07:00:00Z")
                .component("api", 'a')
                .component("web", 'b'),
            SnapBuilder::new("prod", "2026-03-01T08:00:00Z")
                .component("api", 'a')
                .component("web", 'b')
                .artifact('a', Some('f')),
            SnapBuilder::new("prod", "2026-03-01T10:00:00Z")
                .component("api", 'a')
                .component("web", 'c')
                .artifact('a', Some('f')),
            SnapBuilder::new("prod", "2026-03-01T12:00:00Z")
                .component("api", 'a')
                .component_config("web", 'c', "debug")
                .artifact('a', Some('f')),
            SnapBuilder::new("dev", "2026-03-01T13:00:00Z")
                .component("api", 'e')
                .component("web", 'c'),
            SnapBuilder::new("prod", "2026-03-01T14:00:00Z")
                .component("api", 'e')
                .component_config("web", 'c', "debug"),
            SnapBuilder::new("qa", "2026-03-01T14:30:00Z").component("api", 'e'),
            SnapBuilder::new("dev", "2026-03-01T15:00:00Z").component("api", 'd'),
        ];
        for s in snapshots {
            store.import(s.build()).unwrap();
        }
        assert!(store.verify().unwrap().ok);
        (dir, store)
    }

    fn pruned(store: &mut Store, before: &str) -> Checkpoint {
        let outcome = store.prune(at(before), &signer(), Some(&check)).unwrap();
        assert_eq!(outcome.nothing_to_prune, None);
        assert!(outcome.signature.is_some());
        outcome.checkpoint.unwrap()
    }

    fn verified(store: &Store) -> envtrail_model::output::VerifyResult {
        let verdict = store.verify_with(Some(&check)).unwrap();
        assert!(verdict.ok, "{:#?}", verdict.problems);
        verdict
    }

    fn broken(store: &Store) -> Vec<String> {
        let verdict = store.verify_with(Some(&check)).unwrap();
        assert!(!verdict.ok, "the tampering went unnoticed");
        verdict.problems.into_iter().map(|p| p.message).collect()
    }

    fn exec(store: &Store, sql: &str) {
        let changed = store.conn.execute(sql, []).unwrap();
        assert!(changed > 0, "the tampering changed nothing: {sql}");
    }

    /// What `asof` and `export` answer, as bytes.
    fn answers(store: &Store, env_name: &str, times: &[&str]) -> Vec<String> {
        times
            .iter()
            .map(|t| {
                let state: Option<EnvironmentState> = store
                    .environment_state(&env(env_name), at(t), false)
                    .unwrap();
                let export = store.export(&env(env_name), at(t)).unwrap();
                format!("{state:?}\n{}", serde_json::to_string(&export).unwrap())
            })
            .collect()
    }

    #[test]
    fn prune_keeps_the_state_in_force_and_the_chain_verifies_from_the_checkpoint() {
        let (_dir, mut store) = store();
        let head = store.chain_head().unwrap().unwrap();
        let link_of_3: String = store
            .conn
            .query_row("SELECT link FROM snapshots WHERE id = 3", [], |r| r.get(0))
            .unwrap();
        let checkpoint = pruned(&mut store, "2026-03-01T13:30:00Z");

        // dev's kept snapshot is #2 (id 5), prod's #3 (id 4): the chain starts at id 4.
        assert_eq!(checkpoint.number, 1);
        assert_eq!(checkpoint.previous, None);
        assert_eq!(checkpoint.cut.snapshot_id, 4);
        assert_eq!(checkpoint.cut.link, link_of_3);
        assert_eq!(checkpoint.chain_head, head);
        assert_eq!(checkpoint.key_id.as_deref(), Some("sha256:test"));
        let kept: Vec<(&str, i64, i64, i64)> = checkpoint
            .environments
            .iter()
            .map(|e| {
                (
                    e.environment.as_str(),
                    e.in_force.id,
                    e.in_force.seq,
                    e.removed_snapshots,
                )
            })
            .collect();
        assert_eq!(
            kept,
            [("dev", 5, 2, 1), ("prod", 4, 3, 2)],
            "qa starts later"
        );
        assert_eq!(checkpoint.removed.snapshots, 3);
        assert_eq!(checkpoint.removed.header_only_snapshots, 0);
        // Gone: dev's api a and web b (ended at dev #2), prod's web b and web c (ended by #3).
        assert_eq!(checkpoint.removed.intervals, 4);
        assert!(checkpoint.removed.states >= 1);
        assert_eq!(count(&store, "snapshots"), 5);

        let verdict = verified(&store);
        assert_eq!(verdict.snapshots_checked, 5);
        assert_eq!(verdict.chain_head.as_deref(), Some(head.as_str()));
        let cp = verdict.checkpoint.unwrap();
        assert_eq!(cp.checkpoint, checkpoint);
        assert_eq!(cp.signature, SignatureStatus::Verified);
        assert_eq!(cp.checkpoints, 1);
        // The library's plain verify holds no key: it says so rather than vouch.
        let plain = store.verify().unwrap();
        assert!(plain.ok);
        assert_eq!(
            plain.checkpoint.unwrap().signature,
            SignatureStatus::NotChecked
        );
        assert_eq!(store.checkpoints().unwrap().len(), 1);
    }

    #[test]
    fn answers_at_and_after_the_kept_snapshot_are_unchanged_byte_for_byte() {
        let (_dir, mut store) = store();
        let prod_times = [
            "2026-03-01T12:00:00Z",
            "2026-03-01T13:30:00Z",
            "2026-03-01T14:00:00Z",
            "2030-01-01T00:00:00Z",
        ];
        let dev_times = ["2026-03-01T13:00:00Z", "2026-03-01T14:59:59Z", "2030-01-01"];
        let qa_times = ["2026-03-01T14:00:00Z", "2026-03-01T14:30:00Z"];
        let before = (
            answers(&store, "prod", &prod_times),
            answers(&store, "dev", &dev_times),
            answers(&store, "qa", &qa_times),
        );
        pruned(&mut store, "2026-03-01T13:30:00Z");
        let after = (
            answers(&store, "prod", &prod_times),
            answers(&store, "dev", &dev_times),
            answers(&store, "qa", &qa_times),
        );
        assert_eq!(before, after);
        // prod's api still says "since #1", a snapshot no longer in the chain.
        let state = store
            .environment_state(&env("prod"), at("2026-03-01T13:00:00Z"), false)
            .unwrap()
            .unwrap();
        let api = &state.components[&"api".parse().unwrap()];
        assert_eq!((api.current.from.seq, api.current.from.id), (1, 2));
        // qa had nothing before its first snapshot: that is still "no snapshot", not pruned.
        assert_eq!(
            store
                .environment_state(&env("qa"), at("2026-03-01T14:00:00Z"), false)
                .unwrap(),
            None
        );
        // The first sightings are kept: prod first ran digest b at #1.
        let with_history = store
            .environment_state(&env("prod"), at("2026-03-01T14:00:00Z"), true)
            .unwrap()
            .unwrap();
        assert_eq!(with_history.sightings[&digest('b')].first.seq, 1);
        assert_eq!(with_history.sightings[&digest('a')].first.seq, 1);
        // And the chain links behind `asof --evidence` still resolve.
        let links = store.chain_links(&[2, 4]).unwrap();
        assert_eq!(links.iter().map(|l| l.id).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(
            chain_link(&links[0].previous_link, &links[0].content_hash),
            links[0].link
        );
    }

    #[test]
    fn questions_about_pruned_history_name_the_checkpoint() {
        let (_dir, mut store) = store();
        pruned(&mut store, "2026-03-01T13:30:00Z");
        let prod = env("prod");
        let early = at("2026-03-01T11:00:00Z");
        let err = store.environment_state(&prod, early, false).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Pruned {
                    query: PrunedQuery::State,
                    checkpoint: 1,
                    kept_seq: 3,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("checkpoint #1")
                && msg.contains("2026-03-01T13:30:00Z")
                && msg.contains("2026-03-01T12:00:00Z"),
            "{msg}"
        );
        assert!(matches!(
            store.export(&prod, early),
            Err(StoreError::Pruned { .. })
        ));
        assert!(matches!(
            store.snapshot_at(&prod, early),
            Err(StoreError::Pruned { .. })
        ));
        // Before the first snapshot ever, too: the store no longer knows when that was.
        assert!(matches!(
            store.environment_state(&prod, at("2020-01-01"), false),
            Err(StoreError::Pruned { .. })
        ));
        assert!(matches!(
            store.evidence(&prod, early, at("2026-03-01T15:00:00Z"), None),
            Err(StoreError::Pruned {
                query: PrunedQuery::Evidence,
                ..
            })
        ));
        // A history must start after the kept snapshot: its changes need the one before.
        for since in [None, Some(early), Some(at("2026-03-01T12:00:00Z"))] {
            let err = store.history(&prod, None, since, None).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::Pruned {
                        query: PrunedQuery::History,
                        ..
                    }
                ),
                "{since:?}: {err}"
            );
        }
        let changes = store
            .history(&prod, None, Some(at("2026-03-01T12:00:01Z")), None)
            .unwrap();
        let seqs: Vec<(i64, &str)> = changes
            .iter()
            .map(|c| (c.snapshot.seq, c.component.as_str()))
            .collect();
        assert_eq!(seqs, [(4, "api")]);
        // From the kept snapshot on, everything answers; evidence from it too.
        assert!(
            store
                .environment_state(&prod, at("2026-03-01T12:00:00Z"), false)
                .unwrap()
                .is_some()
        );
        let bundle = store
            .evidence(
                &prod,
                at("2026-03-01T12:00:00Z"),
                at("2026-03-01T15:00:00Z"),
                None,
            )
            .unwrap()
            .unwrap();
        assert_eq!(bundle.chain.first().map(|e| e.id), Some(4));
        assert_eq!(
            bundle.chain_start,
            store.checkpoints().unwrap()[0].checkpoint.cut.link
        );
        // An environment untouched by the prune answers as before.
        assert!(store.history(&env("qa"), None, None, None).is_ok());
    }

    #[test]
    fn tampering_after_a_prune_is_still_caught() {
        type Tamper = (&'static str, &'static str);
        let cases: [Tamper; 9] = [
            // A kept state body.
            (
                "UPDATE states SET body = CAST(replace(CAST(body AS TEXT), 'info', 'warn') AS BLOB) \
                 WHERE body LIKE '%\"api\"%eeee%'",
                "altered",
            ),
            // A snapshot after the cut.
            (
                "UPDATE snapshots SET taken_at = taken_at + 1 WHERE id = 6",
                "taken at",
            ),
            // The first snapshot of the chain removed: the cut is gone.
            ("DELETE FROM snapshots WHERE id = 4", "cut"),
            // A kept reference's time (asof would show a false `since`).
            (
                "UPDATE pruned_refs SET taken_at = taken_at + 60000000000",
                "retained root",
            ),
            // A first sighting in pruned history.
            (
                "UPDATE sightings SET first_seq = 2, first_snapshot_id = 3 \
                 WHERE digest LIKE 'sha256:bbb%' AND env_id = (SELECT id FROM environments WHERE name = 'prod')",
                "retained root",
            ),
            // The kept-snapshot table, to make an early asof answer from a pruned row.
            ("UPDATE pruned SET seq = 1, taken_at = 0", "table `pruned`"),
            // The checkpoint removed: the chain no longer starts at the genesis.
            ("DELETE FROM checkpoints", "genesis"),
            // The cut's link in the checkpoint record, re-serialised: the signature breaks.
            (
                "UPDATE checkpoints SET body = CAST(replace(CAST(body AS TEXT), '\"number\":1', '\"number\":1 ') AS BLOB)",
                "signature",
            ),
            // The signature itself.
            (
                "UPDATE checkpoints SET signature = CAST(replace(CAST(signature AS TEXT), '\"value\":\"', '\"value\":\"0') AS BLOB)",
                "signature",
            ),
        ];
        for (sql, needle) in cases {
            let (_dir, mut store) = store();
            pruned(&mut store, "2026-03-01T13:30:00Z");
            verified(&store);
            if sql.starts_with("DELETE FROM checkpoints") {
                // The foreign key from `pruned` would refuse; an attacker removes both.
                exec(&store, "DELETE FROM pruned");
            }
            exec(&store, sql);
            let problems = broken(&store);
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{sql}: {problems:#?}"
            );
        }
    }

    #[test]
    fn a_forged_checkpoint_fails_its_signature() {
        let (_dir, mut store) = store();
        pruned(&mut store, "2026-03-01T13:30:00Z");
        // Claim fewer snapshots were removed, keeping the bytes canonical.
        let bytes: Vec<u8> = store
            .conn
            .query_row("SELECT body FROM checkpoints", [], |r| r.get(0))
            .unwrap();
        let mut forged: Checkpoint = serde_json::from_slice(&bytes).unwrap();
        forged.removed.snapshots = 0;
        store
            .conn
            .execute(
                "UPDATE checkpoints SET body = ?1",
                [canonical_json(&forged)],
            )
            .unwrap();
        let verdict = store.verify_with(Some(&check)).unwrap();
        assert!(!verdict.ok);
        assert_eq!(
            verdict.checkpoint.as_ref().unwrap().signature,
            SignatureStatus::Failed
        );
        assert!(
            verdict.problems[0].message.starts_with("checkpoint #1")
                && verdict.problems[0].message.contains("does not verify"),
            "{:#?}",
            verdict.problems
        );
        // Re-signed by whoever forged it: the signature holds, so only pinning the key (the CLI's
        // `verify --key`) catches it. Here: a different key id than the one recorded.
        let mut resigned = sign(&canonical_json(&forged));
        resigned.key_id = "sha256:other".into();
        store
            .conn
            .execute(
                "UPDATE checkpoints SET signature = ?1",
                [canonical_json(&resigned)],
            )
            .unwrap();
        assert!(broken(&store).iter().any(|p| p.contains("sha256:other")));
    }

    #[test]
    fn a_dry_run_changes_nothing_and_shows_what_the_prune_does() {
        let (_dir, mut store) = store();
        let rows = counts(&store);
        let preview = store
            .prune_dry_run(at("2026-03-01T13:30:00Z"), Some(&check))
            .unwrap();
        assert_eq!(counts(&store), rows);
        assert_eq!(count(&store, "checkpoints"), 0);
        assert!(store.verify().unwrap().checkpoint.is_none());
        let preview = preview.checkpoint.unwrap();
        assert_eq!(preview.key_id, None);
        let real = pruned(&mut store, "2026-03-01T13:30:00Z");
        assert_eq!(preview.removed, real.removed);
        assert_eq!(preview.environments, real.environments);
        assert_eq!(preview.cut, real.cut);
        assert_eq!(preview.retained_root, real.retained_root);
    }

    #[test]
    fn a_failure_removes_nothing() {
        let (_dir, mut store) = store();
        let rows = counts(&store);
        let head = store.chain_head().unwrap();
        store
            .conn
            .execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON checkpoints \
                 BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            )
            .unwrap();
        let err = store
            .prune(at("2026-03-01T13:30:00Z"), &signer(), Some(&check))
            .unwrap_err();
        assert!(matches!(err, StoreError::Prune { .. }), "{err}");
        assert_eq!(counts(&store), rows);
        assert_eq!(count(&store, "pruned_refs"), 0);
        assert_eq!(store.chain_head().unwrap(), head);
        assert!(verified(&store).checkpoint.is_none());
    }

    #[test]
    fn a_store_that_does_not_verify_is_not_pruned() {
        let (_dir, mut store) = store();
        exec(
            &store,
            "UPDATE snapshots SET taken_at = taken_at + 1 WHERE id = 2",
        );
        let rows = counts(&store);
        let err = store
            .prune(at("2026-03-01T13:30:00Z"), &signer(), Some(&check))
            .unwrap_err();
        assert!(
            matches!(err, StoreError::PruneUnverified { .. })
                && err.to_string().contains("snapshot 2"),
            "{err}"
        );
        assert_eq!(counts(&store), rows);
    }

    #[test]
    fn a_slow_environment_holds_the_cut_and_the_others_stay_header_only() {
        let (_dir, mut store) = store();
        // At 12:30 dev's snapshot in force is its first (id 1): nothing leaves the chain, but
        // prod #1 and #2 lose their content.
        let first = pruned(&mut store, "2026-03-01T12:30:00Z");
        assert_eq!(first.cut.snapshot_id, 1);
        assert_eq!(first.removed.snapshots, 0);
        assert_eq!(first.removed.header_only_snapshots, 2);
        let prod = first
            .environments
            .iter()
            .find(|e| e.environment.as_str() == "prod")
            .unwrap();
        assert_eq!((prod.first_seq, prod.in_force.seq), (1, 3));
        assert_eq!(prod.header_only_snapshots, 2);
        assert_eq!(count(&store, "snapshots"), 8);
        verified(&store);
        assert!(matches!(
            store.environment_state(&env("prod"), at("2026-03-01T10:30:00Z"), false),
            Err(StoreError::Pruned { .. })
        ));
        // dev lost nothing: its first snapshot is its kept one, no `pruned` row.
        assert!(
            store
                .environment_state(&env("dev"), at("2026-03-01T07:00:00Z"), false)
                .unwrap()
                .is_some()
        );
        // Altering a header-only row is still caught by the links.
        let (_d, mut other) = self::store();
        pruned(&mut other, "2026-03-01T12:30:00Z");
        exec(
            &other,
            "UPDATE snapshots SET header = CAST(replace(CAST(header AS TEXT), '\"ok\"', '\"failed\"') AS BLOB) WHERE id = 3",
        );
        assert!(broken(&other)[0].contains("snapshot 3"));

        // The second prune moves the cut, and chains to the first checkpoint.
        let second = pruned(&mut store, "2026-03-01T13:30:00Z");
        assert_eq!(second.number, 2);
        assert_eq!(
            second.previous,
            Some(sha256_hex(&store.checkpoints().unwrap()[0].bytes))
        );
        assert_eq!(second.cut.snapshot_id, 4);
        assert_eq!(second.removed.snapshots, 3);
        let verdict = verified(&store);
        assert_eq!(verdict.checkpoint.unwrap().checkpoints, 2);
        // Asking again for an earlier or equal --before: nothing to do, nothing written.
        for before in ["2026-03-01T13:30:00Z", "2026-03-01T12:00:00Z"] {
            let again = store.prune(at(before), &signer(), Some(&check)).unwrap();
            assert!(again.checkpoint.is_none());
            assert!(again.nothing_to_prune.unwrap().contains("checkpoint #2"));
        }
        assert_eq!(count(&store, "checkpoints"), 2);
    }

    #[test]
    fn nothing_older_than_the_state_in_force_means_nothing_to_prune() {
        let (_dir, mut store) = store();
        let outcome = store
            .prune(at("2026-03-01T07:30:00Z"), &signer(), Some(&check))
            .unwrap();
        assert!(outcome.checkpoint.is_none());
        assert!(outcome.nothing_to_prune.unwrap().contains("no environment"));
        assert_eq!(count(&store, "checkpoints"), 0);
        let (_dir, mut empty) = temp_store();
        let outcome = empty.prune(at("2026-03-01"), &signer(), None).unwrap();
        assert!(outcome.checkpoint.is_none());
    }

    #[test]
    fn imports_continue_the_chain_after_a_prune() {
        let (_dir, mut store) = store();
        pruned(&mut store, "2026-03-01T13:30:00Z");
        let outcome = store
            .import(
                SnapBuilder::new("prod", "2026-03-01T16:00:00Z")
                    .component("api", 'a')
                    .component("web", 'b')
                    .build(),
            )
            .unwrap();
        assert!(outcome.stored);
        assert_eq!(outcome.snapshot.seq, 5);
        verified(&store);
        // web's body `b` was pruned and is stored again; its first sighting is still #1.
        let state = store
            .environment_state(&env("prod"), at("2026-03-01T16:00:00Z"), true)
            .unwrap()
            .unwrap();
        assert_eq!(state.sightings[&digest('b')].first.seq, 1);
        // And a second prune over the new snapshots verifies too.
        pruned(&mut store, "2026-03-01T15:30:00Z");
        verified(&store);
    }
}
