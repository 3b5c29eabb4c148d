//! Storing one snapshot: validate and normalise, hash in parallel, then one immediate transaction
//! that appends the snapshot row, extends the chain, writes only the states and intervals that
//! changed and records first sightings. Any failure rolls the whole snapshot back.

use std::collections::{HashMap, HashSet};

use envtrail_model::EnvName;
use envtrail_model::canonical::{
    GENESIS, ItemKind, canonical_json, chain_link, content_hash, items_root,
};
use envtrail_model::view::SnapshotRef;
use envtrail_model::{QuickHash, Snapshot, Timestamp, UnparsedComponent};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Fail, Scope, StoreError};
use crate::interval::{OPEN_LEVEL, fork_node};
use crate::lookup::{
    KIND_ARTIFACT, KIND_COMPONENT, REF_COLUMNS, bodies_table, from_nanos, snapshot_ref,
};
use crate::prepare::{
    Item, OpenState, Prepared, artifact_item, component_item, to_body, unparsed_item,
};
use crate::{ImportOutcome, Store};
use rayon::prelude::*;

impl Store {
    /// Stores `snapshot` (after [`Snapshot::validate`] and [`Snapshot::normalize`]) in one
    /// transaction: on any error nothing of it is stored.
    ///
    /// An identical snapshot of the same environment already stored is not stored again
    /// (`stored: false`, its existing reference). A snapshot taken at or before the environment's
    /// newest stored one is refused with [`StoreError::OutOfOrder`].
    pub fn import(&mut self, snapshot: Snapshot) -> Result<ImportOutcome, StoreError> {
        self.import_parts(snapshot, Vec::new())
    }

    /// [`Store::import`] of a snapshot whose reader left the `unparsed` components out because
    /// their bytes were exactly the states the store holds for them (compared by quick hash with
    /// [`Store::open_quick_hashes`]): each is stored as that state again, exactly as if it had
    /// been parsed. If the environment's open interval of one of them no longer holds a state
    /// with that quick hash (an import in between changed it), nothing is stored and the error
    /// is [`StoreError::UnparsedChanged`]: parse the document in full and import it again.
    pub fn import_parts(
        &mut self,
        mut snapshot: Snapshot,
        unparsed: Vec<UnparsedComponent>,
    ) -> Result<ImportOutcome, StoreError> {
        let environment = snapshot.environment.clone();
        let taken_at = snapshot.taken_at;
        snapshot
            .validate_with(&unparsed)
            .map_err(|source| StoreError::InvalidSnapshot {
                environment: environment.clone(),
                taken_at,
                source,
            })?;
        snapshot.normalize();
        let Some(nanos) = taken_at.timestamp_nanos_opt() else {
            return Err(StoreError::TimeOutOfRange {
                environment,
                taken_at,
            });
        };
        let before = raise_cache(&self.conn).map_err(|source| StoreError::Import {
            environment: environment.clone(),
            taken_at,
            source,
        })?;
        let bulk = BulkLoad::begin(&self.conn);
        let outcome = self.write_snapshot(&environment, taken_at, nanos, snapshot, &unparsed);
        bulk.end(&self.conn);
        // Only a smaller cache for later reads is at stake: nothing to report if this fails.
        let _ = self.conn.pragma_update(None, "cache_size", before);
        outcome
    }

    /// Prepares (hashes) and writes `snapshot` in one immediate transaction: the states of the
    /// open intervals, which let unchanged components skip canonical hashing, are read under the
    /// same write lock that the writes happen under.
    fn write_snapshot(
        &mut self,
        environment: &EnvName,
        taken_at: Timestamp,
        nanos: i64,
        snapshot: Snapshot,
        unparsed: &[UnparsedComponent],
    ) -> Result<ImportOutcome, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Import {
                environment: environment.clone(),
                taken_at,
                source,
            })?;
        let outcome = (|| -> Result<ImportOutcome, Fail> {
            let open = match existing_env_id(&tx, environment)? {
                Some(env_id) => open_states(&tx, env_id, KIND_COMPONENT)?,
                None => HashMap::new(),
            };
            for component in unparsed {
                let held = open.get(component.component.as_str());
                if held.and_then(|held| held.quick) != Some(component.quick) {
                    return Err(StoreError::UnparsedChanged {
                        environment: environment.clone(),
                        taken_at,
                        component: component.component.clone(),
                    }
                    .into());
                }
            }
            let newest = match existing_env_id(&tx, environment)? {
                Some(env_id) => newest_snapshot(&tx, env_id)?,
                None => None,
            };
            // A snapshot newer than every stored one of its environment cannot be one of them
            // (the content hash covers `taken_at`), so its rows can be written while the rest
            // is still being hashed. Not from inside the rayon pool, whose threads the writing
            // would wait for. A snapshot that is not newer is stored already (then stored
            // once) or out of order, which the content hash decides: everything is hashed first.
            let newer = newest.as_ref().is_none_or(|newest| newest.taken_at < nanos);
            if newer && rayon::current_thread_index().is_none() {
                let newest_seq = newest.map_or(0, |newest| newest.seq);
                write_streaming(
                    &tx,
                    environment,
                    taken_at,
                    nanos,
                    snapshot,
                    open,
                    unparsed,
                    newest_seq,
                )
            } else {
                let prepared = Prepared::new(snapshot, &open, unparsed);
                write(&tx, environment, taken_at, nanos, &prepared, open)
            }
        })()
        .and_then(|outcome| {
            tx.commit()?;
            Ok(outcome)
        })
        .map_err(|fail| {
            fail.with(|source| StoreError::Import {
                environment: environment.clone(),
                taken_at,
                source,
            })
        })?;
        Ok(outcome)
    }
}

impl Store {
    /// The quick hashes of the states held by `env`'s open component intervals, by component
    /// name (empty for an environment without snapshots; `None` entries, states stored before
    /// quick hashes existed, are left out). What a snapshot reader compares a document's bytes
    /// with to leave unchanged components unparsed ([`Store::import_parts`]).
    pub fn open_quick_hashes(
        &self,
        env: &EnvName,
    ) -> Result<HashMap<String, QuickHash>, StoreError> {
        let inner = || -> Result<_, Fail> {
            let Some(env_id) = existing_env_id(&self.conn, env)? else {
                return Ok(HashMap::new());
            };
            Ok(open_states(&self.conn, env_id, KIND_COMPONENT)?
                .into_iter()
                .filter_map(|(key, held)| held.quick.map(|quick| (key, quick)))
                .collect())
        };
        inner().map_err(|f| f.reading(|| Scope::Environment(env.clone())))
    }
}

/// The first import into a store without snapshots is written straight into the database file
/// under a rollback journal instead of through the WAL. In WAL mode a transaction's pages go to
/// the WAL at commit and are copied into the database file again by the checkpoint that
/// follows: a first import of a large fleet is hundreds of MB written twice. With a rollback
/// journal each page is written once, and the journal only holds what the file held before
/// (next to nothing), so a crash still leaves no partial snapshot: the journal rolls it back.
/// `synchronous=FULL` while in that mode (NORMAL is only crash-safe with WAL). The store is put
/// back in WAL mode after the import (and `Store::open` does so again in any case).
///
/// Leaving WAL needs the only connection to the file; if another one has it open, the switch
/// fails and the import goes through the WAL as any other.
struct BulkLoad {
    active: bool,
}

impl BulkLoad {
    fn begin(conn: &Connection) -> Self {
        let empty = conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM snapshots)", [], |row| {
                row.get::<_, bool>(0)
            })
            .unwrap_or(false);
        if !empty {
            return Self { active: false };
        }
        let switched = journal_mode(conn, "DELETE").is_some_and(|mode| mode == "delete");
        if switched && conn.pragma_update(None, "synchronous", "FULL").is_err() {
            // Never import with a rollback journal and NORMAL sync.
            let _ = journal_mode(conn, "WAL");
            return Self { active: false };
        }
        Self { active: switched }
    }

    fn end(self, conn: &Connection) {
        // Nothing to report if this fails: the store stays crash-safe under the rollback
        // journal with FULL sync, and `Store::open` puts WAL back.
        if self.active && journal_mode(conn, "WAL").is_some_and(|mode| mode == "wal") {
            let _ = conn.pragma_update(None, "synchronous", "NORMAL");
        }
    }
}

/// Sets the journal mode, returning the mode now in force (`None` on error).
fn journal_mode(conn: &Connection, mode: &str) -> Option<String> {
    conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |row| {
        row.get(0)
    })
    .ok()
}

/// The page cache an import may fill before SQLite spills dirty pages to the WAL, in KiB. A first
/// import of a large fleet dirties a few hundred MB of pages in one transaction; with the default
/// cache (32 MiB) SQLite writes them to the WAL mid-transaction, reads them back for the next
/// insert into the same B-tree page and writes them again at commit. The cache is a cap, not an
/// allocation: a small import uses what it touches.
const IMPORT_CACHE_KIB: i64 = 512 * 1024;

/// Raises the connection's page cache for one import, returning the setting to put back.
fn raise_cache(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    let before = conn.query_row("PRAGMA cache_size", [], |row| row.get(0))?;
    conn.pragma_update(None, "cache_size", -IMPORT_CACHE_KIB)?;
    Ok(before)
}

/// The writes of one import, inside `tx` (rolled back by the caller's drop on error).
fn write(
    tx: &Transaction<'_>,
    env: &EnvName,
    taken_at: Timestamp,
    nanos: i64,
    prepared: &Prepared,
    open_components: HashMap<String, OpenState>,
) -> Result<ImportOutcome, Fail> {
    let env_id = env_id(tx, env)?;
    let components = prepared.components.len();

    let existing = tx
        .prepare_cached(&format!(
            "SELECT {REF_COLUMNS} FROM snapshots WHERE env_id = ?1 AND content_hash = ?2"
        ))?
        .query_row(params![env_id, prepared.content_hash], |row| {
            snapshot_ref(row, env)
        })
        .optional()?;
    if let Some(snapshot) = existing {
        return Ok(ImportOutcome {
            snapshot,
            stored: false,
            components,
            components_changed: 0,
        });
    }

    let newest: Option<(i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT id, seq, taken_at FROM snapshots WHERE env_id = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([env_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    if let Some((newest_id, _, newest_nanos)) = newest
        && nanos <= newest_nanos
    {
        return Err(StoreError::OutOfOrder {
            environment: env.clone(),
            taken_at,
            newest: from_nanos(newest_nanos),
            newest_id,
        }
        .into());
    }
    let seq = newest.map_or(1, |(_, seq, _)| seq + 1);

    let prev_link: String = tx
        .prepare_cached("SELECT link FROM snapshots ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_owned());
    let link = chain_link(&prev_link, &prepared.content_hash);
    tx.prepare_cached(
        "INSERT INTO snapshots (env_id, seq, taken_at, header, items_root, content_hash, \
         prev_link, link, components) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        env_id,
        seq,
        nanos,
        prepared.header,
        prepared.items_root,
        prepared.content_hash,
        prev_link,
        link,
        components as i64,
    ])?;
    let id = tx.last_insert_rowid();
    let snapshot = SnapshotRef {
        id,
        environment: env.clone(),
        seq,
        taken_at,
        hash: link,
    };

    let mut writer = Writer {
        tx,
        env_id,
        seq,
        snapshot_id: id,
    };
    let components_changed = writer.apply(KIND_COMPONENT, &prepared.components, open_components)?;
    let open_artifacts = open_states(tx, env_id, KIND_ARTIFACT)?;
    writer.apply(KIND_ARTIFACT, &prepared.artifacts, open_artifacts)?;
    Ok(ImportOutcome {
        snapshot,
        stored: true,
        components,
        components_changed,
    })
}

/// An environment's newest stored snapshot.
struct Newest {
    seq: i64,
    taken_at: i64,
}

fn newest_snapshot(tx: &Connection, env_id: i64) -> rusqlite::Result<Option<Newest>> {
    tx.prepare_cached(
        "SELECT seq, taken_at FROM snapshots WHERE env_id = ?1 ORDER BY seq DESC LIMIT 1",
    )?
    .query_row([env_id], |row| {
        Ok(Newest {
            seq: row.get(0)?,
            taken_at: row.get(1)?,
        })
    })
    .optional()
}

/// Components prepared per message of [`write_streaming`]: enough to keep both cores busy,
/// little enough that the bodies in flight stay a few MB.
const STREAM_CHUNK: usize = 1024;

/// The writes of a snapshot newer than every stored one of its environment, inside `tx`, while
/// its items are still being prepared: a producer thread hashes component states a chunk at a
/// time on the rayon pool (then the artifacts) and this thread writes each chunk as it comes, so
/// that SQLite's single writer and the hashing overlap. The snapshot row comes last, once the
/// items root is known, with the id the store would have given it first. The rows written are
/// those [`write`] writes; only interval and body row ids may come in another order.
#[allow(clippy::too_many_arguments)]
fn write_streaming(
    tx: &Transaction<'_>,
    env: &EnvName,
    taken_at: Timestamp,
    nanos: i64,
    mut snapshot: Snapshot,
    open_components: HashMap<String, OpenState>,
    unparsed: &[UnparsedComponent],
    newest_seq: i64,
) -> Result<ImportOutcome, Fail> {
    let env_id = env_id(tx, env)?;
    let seq = newest_seq + 1;
    let snapshot_id: i64 = tx.query_row(
        "SELECT COALESCE(MAX(id), 0) + 1 FROM snapshots",
        [],
        |row| row.get(0),
    )?;
    let open_artifacts = open_states(tx, env_id, KIND_ARTIFACT)?;
    let header = snapshot.header();
    let states: Vec<_> = snapshot.take_component_states().into_iter().collect();
    let artifacts = std::mem::take(&mut snapshot.artifacts);
    let writer = Writer {
        tx,
        env_id,
        seq,
        snapshot_id,
    };

    // (kind, key, hash) of every item, for the items root.
    let mut hashes: Vec<(i64, String, String)> =
        Vec::with_capacity(states.len() + unparsed.len() + artifacts.len());
    let mut seen: HashSet<String> = HashSet::with_capacity(states.len() + unparsed.len());
    for component in unparsed {
        let item = unparsed_item(component, &open_components);
        seen.insert(item.key.clone());
        hashes.push((KIND_COMPONENT, item.key, item.hash));
    }
    let mut changed = 0;
    let (sender, receiver) = std::sync::mpsc::sync_channel::<(i64, Vec<Item>)>(2);
    let open = &open_components;
    let written = std::thread::scope(|scope| -> Result<(), Fail> {
        scope.spawn(move || {
            for chunk in states.chunks(STREAM_CHUNK) {
                let items = chunk
                    .par_iter()
                    .with_min_len(64)
                    .map(|(name, state)| component_item(name, state, open))
                    .collect();
                if sender.send((KIND_COMPONENT, items)).is_err() {
                    return; // the writer stopped on an error
                }
            }
            let items = artifacts.par_iter().map(artifact_item).collect();
            let _ = sender.send((KIND_ARTIFACT, items));
        });
        let mut components_done = false;
        for (kind, items) in &receiver {
            if kind == KIND_ARTIFACT && !components_done {
                components_done = true;
                changed += writer.close_unseen(open, &seen)?;
                seen.clear();
            }
            for item in items {
                let held = if kind == KIND_COMPONENT {
                    open.get(&item.key)
                } else {
                    open_artifacts.get(&item.key)
                };
                if writer.apply_one(kind, &item, held)? && kind == KIND_COMPONENT {
                    changed += 1;
                }
                seen.insert(item.key.clone());
                hashes.push((kind, item.key, item.hash));
            }
        }
        // Dropping the receiver ends a producer stopped by an error.
        drop(receiver);
        if !components_done {
            // Not reached: the producer always sends the artifacts, even none.
            changed += writer.close_unseen(open, &seen)?;
            seen.clear();
        }
        writer.close_unseen(&open_artifacts, &seen)?;
        Ok(())
    });
    written?;

    let items_root = items_root(hashes.iter().map(|(kind, key, hash)| {
        let kind = if *kind == KIND_COMPONENT {
            ItemKind::Component
        } else {
            ItemKind::Artifact
        };
        (kind, key.as_str(), hash.as_str())
    }));
    let content_hash = content_hash(&canonical_json(&header), &items_root);
    let prev_link: String = tx
        .prepare_cached("SELECT link FROM snapshots ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_owned());
    let link = chain_link(&prev_link, &content_hash);
    let components = hashes
        .iter()
        .filter(|(kind, _, _)| *kind == KIND_COMPONENT)
        .count();
    tx.prepare_cached(
        "INSERT INTO snapshots (id, env_id, seq, taken_at, header, items_root, content_hash, \
         prev_link, link, components) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        snapshot_id,
        env_id,
        seq,
        nanos,
        to_body(&header),
        items_root,
        content_hash,
        prev_link,
        link,
        components as i64,
    ])?;
    Ok(ImportOutcome {
        snapshot: SnapshotRef {
            id: snapshot_id,
            environment: env.clone(),
            seq,
            taken_at,
            hash: link,
        },
        stored: true,
        components,
        components_changed: changed,
    })
}

/// The environment's id, if it has any snapshot.
fn existing_env_id(tx: &Connection, env: &EnvName) -> rusqlite::Result<Option<i64>> {
    tx.prepare_cached("SELECT id FROM environments WHERE name = ?1")?
        .query_row([env.as_str()], |row| row.get(0))
        .optional()
}

/// The environment's id, creating the environment on its first snapshot.
fn env_id(tx: &Transaction<'_>, env: &EnvName) -> rusqlite::Result<i64> {
    match existing_env_id(tx, env)? {
        Some(id) => Ok(id),
        None => {
            tx.prepare_cached("INSERT INTO environments (name) VALUES (?1)")?
                .execute([env.as_str()])?;
            Ok(tx.last_insert_rowid())
        }
    }
}

/// The open intervals of one kind of the environment, by key, with the hash (and for component
/// states the quick hash) of the body each holds.
fn open_states(
    tx: &Connection,
    env_id: i64,
    kind: i64,
) -> rusqlite::Result<HashMap<String, OpenState>> {
    let quick = if kind == KIND_COMPONENT {
        "b.quick"
    } else {
        "NULL"
    };
    let sql = format!(
        "SELECT i.key, i.id, i.from_seq, b.hash, {quick} FROM intervals i \
         JOIN {} b ON b.id = i.body_id \
         WHERE i.env_id = ?1 AND i.kind = ?2 AND i.lvl = ?3 AND i.blk = 0",
        bodies_table(kind)
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![env_id, kind, OPEN_LEVEL], |row| {
        let quick: Option<Vec<u8>> = row.get(4)?;
        Ok((
            row.get::<_, String>(0)?,
            OpenState {
                interval: row.get(1)?,
                from: row.get(2)?,
                hash: row.get(3)?,
                // A value of another length was not written by this code: treat it as absent.
                quick: quick.and_then(|q| QuickHash::try_from(q.as_slice()).ok()),
            },
        ))
    })?;
    rows.collect()
}

struct Writer<'a, 'c> {
    tx: &'a Transaction<'c>,
    env_id: i64,
    seq: i64,
    snapshot_id: i64,
}

impl Writer<'_, '_> {
    /// Brings the intervals of one kind in line with `items`: unchanged items cost nothing, a
    /// changed or vanished item closes its interval, a new or changed one opens one. Returns how
    /// many keys were added, changed or removed.
    fn apply(
        &mut self,
        kind: i64,
        items: &[Item],
        mut open: HashMap<String, OpenState>,
    ) -> rusqlite::Result<usize> {
        let mut changed = 0;
        for item in items {
            let held = open.remove(item.key.as_str());
            if self.apply_one(kind, item, held.as_ref())? {
                changed += 1;
            }
        }
        for held in open.into_values() {
            changed += 1;
            self.close(held.interval, held.from)?;
        }
        Ok(changed)
    }

    /// Brings one key in line with `item`, given the interval `held` open for it: nothing when
    /// it holds the same body, else it is closed and a new one opened. True if it changed.
    fn apply_one(
        &self,
        kind: i64,
        item: &Item,
        held: Option<&OpenState>,
    ) -> rusqlite::Result<bool> {
        match held {
            Some(held) if held.hash == item.hash => return Ok(false),
            Some(held) => self.close(held.interval, held.from)?,
            None => {}
        }
        debug_assert!(
            !item.unchanged,
            "an unchanged item matches its open interval"
        );
        self.open(kind, item)?;
        Ok(true)
    }

    /// Closes the intervals of `open` whose key is not in `seen` (vanished keys); how many.
    fn close_unseen(
        &self,
        open: &HashMap<String, OpenState>,
        seen: &HashSet<String>,
    ) -> rusqlite::Result<usize> {
        let mut closed = 0;
        for (key, held) in open {
            if !seen.contains(key) {
                closed += 1;
                self.close(held.interval, held.from)?;
            }
        }
        Ok(closed)
    }

    fn close(&self, id: i64, from: i64) -> rusqlite::Result<()> {
        let (lvl, blk) = fork_node(from, self.seq);
        self.tx
            .prepare_cached("UPDATE intervals SET to_seq = ?1, lvl = ?2, blk = ?3 WHERE id = ?4")?
            .execute(params![self.seq, lvl, blk, id])?;
        Ok(())
    }

    /// The id of the stored body with `item`'s hash, storing it if new. Most bodies of an import
    /// are new: insert first (one search of the hash index), look up only when it was there.
    fn body_id(&self, kind: i64, item: &Item) -> rusqlite::Result<i64> {
        let inserted = if kind == KIND_COMPONENT {
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO states (hash, body, quick) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    item.hash,
                    item.body,
                    item.quick.as_ref().map(|q| &q[..])
                ])?
        } else {
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO artifacts (hash, digest, index_digest, body) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    item.hash,
                    item.key,
                    item.index_digest.as_ref().map(|d| d.as_str()),
                    item.body
                ])?
        };
        if inserted == 1 {
            return Ok(self.tx.last_insert_rowid());
        }
        let table = bodies_table(kind);
        self.tx
            .prepare_cached(&format!("SELECT id FROM {table} WHERE hash = ?1"))?
            .query_row([&item.hash], |row| row.get(0))
    }

    fn open(&self, kind: i64, item: &Item) -> rusqlite::Result<()> {
        let body_id = self.body_id(kind, item)?;
        self.tx
            .prepare_cached(
                "INSERT INTO intervals (env_id, kind, key, body_id, from_seq, to_seq, lvl, blk) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, 0)",
            )?
            .execute(params![
                self.env_id,
                kind,
                item.key,
                body_id,
                self.seq,
                OPEN_LEVEL
            ])?;
        // An unchanged interval's digests were sighted when it opened: only new ones can be new.
        let mut sight = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO sightings (env_id, digest, first_seq, first_snapshot_id) \
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for digest in &item.digests {
            sight.execute(params![
                self.env_id,
                digest.as_str(),
                self.seq,
                self.snapshot_id
            ])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{SnapBuilder, at, count, counts, env, temp_store};

    fn three(time: &str, web: char) -> Snapshot {
        SnapBuilder::new("prod", time)
            .component("api", 'a')
            .component("web", web)
            .component("db", 'd')
            .infra(
                "db",
                serde_json::json!({"engine": "postgres", "storage": 100, "ratio": 1.5, "scale": 1.0}),
            )
            .artifact('a', Some('f'))
            .build()
    }

    #[test]
    fn import_then_export_round_trips_the_normalized_snapshot() {
        let (_dir, mut store) = temp_store();
        let mut snapshot = three("2026-01-01T00:00:00Z", 'b');
        snapshot.extra.insert(
            "future_field".into(),
            serde_json::json!({"kept": [1, 2.5, "x"]}),
        );
        // Out of canonical order on purpose: the store normalises.
        snapshot.workloads.reverse();
        let outcome = store.import(snapshot.clone()).unwrap();
        assert!(outcome.stored);
        assert_eq!((outcome.components, outcome.components_changed), (3, 3));
        assert_eq!(outcome.snapshot.seq, 1);

        let exported = store
            .export(&env("prod"), at("2026-01-01T00:00:00Z"))
            .unwrap()
            .unwrap();
        snapshot.normalize();
        // Bodies are the canonical JSON the hashes cover, so numbers come back as I-JSON doubles in
        // their shortest form (`1.0` as `1`): the same numbers, the same bytes, the same hash.
        let canonical = envtrail_model::canonical::canonical_json;
        assert_eq!(canonical(&exported), canonical(&snapshot));
        let reparsed: envtrail_model::Snapshot =
            serde_json::from_slice(&canonical(&snapshot)).unwrap();
        assert_eq!(exported, reparsed);
        assert_eq!(
            envtrail_model::canonical::snapshot_content_hash(&exported),
            envtrail_model::canonical::snapshot_content_hash(&snapshot)
        );
    }

    #[test]
    fn the_same_snapshot_twice_is_stored_once() {
        let (_dir, mut store) = temp_store();
        let first = store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let before = counts(&store);
        let again = store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        assert!(!again.stored);
        assert_eq!(again.snapshot, first.snapshot);
        assert_eq!(again.components_changed, 0);
        assert_eq!(counts(&store), before);
        // An older duplicate is recognised too, not refused as out of order.
        store.import(three("2026-01-01T01:00:00Z", 'c')).unwrap();
        let old = store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        assert!(!old.stored);
        assert_eq!(old.snapshot, first.snapshot);
    }

    #[test]
    fn one_changed_component_writes_one_state_and_one_interval() {
        let (_dir, mut store) = temp_store();
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let (states, intervals, snapshots) = (
            count(&store, "states"),
            count(&store, "intervals"),
            count(&store, "snapshots"),
        );
        let second = store.import(three("2026-01-01T01:00:00Z", 'c')).unwrap();
        assert_eq!(second.components_changed, 1);
        assert_eq!(second.snapshot.seq, 2);
        assert_eq!(count(&store, "states"), states + 1);
        assert_eq!(count(&store, "intervals"), intervals + 1);
        assert_eq!(count(&store, "snapshots"), snapshots + 1);
        // Nothing changed: one snapshot row and nothing else.
        let third = store.import(three("2026-01-01T02:00:00Z", 'c')).unwrap();
        assert_eq!(third.components_changed, 0);
        assert_eq!(count(&store, "states"), states + 1);
        assert_eq!(count(&store, "intervals"), intervals + 1);
        // A state seen in another environment is shared, not stored again.
        let mut staging = three("2026-01-01T00:30:00Z", 'c');
        staging.environment = env("staging");
        store.import(staging).unwrap();
        assert_eq!(count(&store, "states"), states + 1);
    }

    #[test]
    fn an_out_of_order_snapshot_is_refused_naming_both_times() {
        let (_dir, mut store) = temp_store();
        store.import(three("2026-01-01T10:00:00Z", 'b')).unwrap();
        let before = counts(&store);
        let err = store
            .import(three("2026-01-01T09:00:00Z", 'c'))
            .unwrap_err();
        assert!(matches!(err, StoreError::OutOfOrder { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("prod"), "{msg}");
        assert!(
            msg.contains("2026-01-01T09:00:00Z") && msg.contains("2026-01-01T10:00:00Z"),
            "{msg}"
        );
        // The same instant with other content is refused too.
        let err = store
            .import(three("2026-01-01T10:00:00Z", 'c'))
            .unwrap_err();
        assert!(matches!(err, StoreError::OutOfOrder { .. }), "{err}");
        assert_eq!(counts(&store), before);
        // Another environment may be older.
        let mut dev = three("2026-01-01T08:00:00Z", 'c');
        dev.environment = env("dev");
        assert!(store.import(dev).unwrap().stored);
    }

    #[test]
    fn an_invalid_snapshot_stores_nothing() {
        let (_dir, mut store) = temp_store();
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let before = counts(&store);
        let mut bad = three("2026-01-01T01:00:00Z", 'c');
        bad.workloads[1].source = "nowhere".into();
        let err = store.import(bad).unwrap_err();
        assert!(matches!(err, StoreError::InvalidSnapshot { .. }), "{err}");
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            chain.contains("prod") && chain.contains("nowhere"),
            "{chain}"
        );
        assert_eq!(counts(&store), before);
    }

    #[test]
    fn a_failure_mid_import_leaves_no_partial_snapshot() {
        let (_dir, mut store) = temp_store();
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let before = counts(&store);
        let head = store.chain_head().unwrap();
        // Sightings are written last, after the snapshot row, states and intervals: fail there.
        store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER fail_sighting BEFORE INSERT ON sightings \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
            )
            .unwrap();
        let err = store
            .import(three("2026-01-01T01:00:00Z", 'c'))
            .unwrap_err();
        assert!(matches!(err, StoreError::Import { .. }), "{err}");
        assert!(err.to_string().contains("prod"), "{err}");
        assert_eq!(
            counts(&store),
            before,
            "no row of the failed snapshot is left"
        );
        assert_eq!(store.chain_head().unwrap(), head);
        let verdict = store.verify().unwrap();
        assert!(verdict.ok, "{:?}", verdict.problems);

        // The fault gone, the same snapshot imports normally.
        store
            .conn
            .execute_batch("DROP TRIGGER fail_sighting")
            .unwrap();
        let outcome = store.import(three("2026-01-01T01:00:00Z", 'c')).unwrap();
        assert_eq!(outcome.snapshot.seq, 2);
        assert!(store.verify().unwrap().ok);
    }

    #[test]
    fn an_import_raises_the_page_cache_only_while_it_runs() {
        let (_dir, mut store) = temp_store();
        let cache = |store: &Store| -> i64 {
            store
                .conn
                .query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        let configured = cache(&store);
        assert_ne!(configured, -IMPORT_CACHE_KIB);
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        assert_eq!(cache(&store), configured);
        // A refused import puts it back too.
        store
            .import(three("2025-01-01T00:00:00Z", 'c'))
            .unwrap_err();
        assert_eq!(cache(&store), configured);
    }

    /// The chain link `snapshot` must get after `prev`, computed from the whole snapshot without
    /// the store.
    /// `snapshot` (normalised) without `component`, and that component as a reader leaves it
    /// unparsed when its texts have the quick hash `quick`.
    fn leave_out(
        mut snapshot: Snapshot,
        component: &str,
        quick: QuickHash,
    ) -> (Snapshot, UnparsedComponent) {
        use envtrail_model::UnparsedWorkload;
        snapshot.normalize();
        let mut workloads = Vec::new();
        for (index, w) in snapshot.workloads.iter().enumerate() {
            if w.component.as_str() == component {
                workloads.push(UnparsedWorkload {
                    index,
                    source: w.source.clone(),
                    reference: w.reference.clone(),
                });
            }
        }
        snapshot
            .workloads
            .retain(|w| w.component.as_str() != component);
        let unparsed = UnparsedComponent {
            component: component.parse().unwrap(),
            quick,
            workloads,
        };
        (snapshot, unparsed)
    }

    #[test]
    fn a_component_left_unparsed_is_stored_exactly_as_a_full_import_stores_it() {
        let (_full_dir, mut full) = temp_store();
        let (_parts_dir, mut parts) = temp_store();
        for store in [&mut full, &mut parts] {
            store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        }
        let next = three("2026-01-01T01:00:00Z", 'c');
        let whole = full.import(next.clone()).unwrap();

        let held = parts.open_quick_hashes(&env("prod")).unwrap();
        assert_eq!(held.len(), 3, "api, web and db: {held:?}");
        let mut normalized = next.clone();
        normalized.normalize();
        let api = &normalized.component_states()[&"api".parse().unwrap()];
        assert_eq!(held["api"], api.quick_hash());
        let (partial, unparsed) = leave_out(next, "api", held["api"]);
        assert_eq!(unparsed.workloads.len(), 1);
        let split = parts.import_parts(partial, vec![unparsed]).unwrap();

        assert_eq!(
            split.snapshot.hash, whole.snapshot.hash,
            "the same chain link"
        );
        assert_eq!(
            (split.components, split.components_changed),
            (whole.components, whole.components_changed)
        );
        assert_eq!((split.components, split.components_changed), (3, 1));
        let t = at("2026-01-01T01:00:00Z");
        assert_eq!(
            parts.export(&env("prod"), t).unwrap(),
            full.export(&env("prod"), t).unwrap()
        );
        assert_eq!(counts(&parts), counts(&full));
        assert!(parts.verify().unwrap().ok);
        assert!(
            parts.open_quick_hashes(&env("staging")).unwrap().is_empty(),
            "an environment without snapshots holds nothing"
        );
    }

    #[test]
    fn a_component_left_unparsed_that_changed_meanwhile_stores_nothing() {
        let (_dir, mut store) = temp_store();
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        // A reader sees `web` as the store holds it at 00:00...
        let held = store.open_quick_hashes(&env("prod")).unwrap();
        // ...while another import changes it.
        store.import(three("2026-01-01T01:00:00Z", 'c')).unwrap();
        let before = counts(&store);
        let (partial, unparsed) = leave_out(three("2026-01-01T02:00:00Z", 'b'), "web", held["web"]);
        let err = store.import_parts(partial, vec![unparsed]).unwrap_err();
        assert!(
            matches!(&err, StoreError::UnparsedChanged { component, .. } if component.as_str() == "web"),
            "{err}"
        );
        assert!(err.to_string().contains("read the file again"), "{err}");
        assert_eq!(counts(&store), before, "nothing stored");

        // A component left unparsed must still have its source in the snapshot.
        let held = store.open_quick_hashes(&env("prod")).unwrap();
        let (mut partial, unparsed) =
            leave_out(three("2026-01-01T02:00:00Z", 'c'), "web", held["web"]);
        let source = unparsed.workloads[0].source.clone();
        partial.sources.retain(|s| s.id != source);
        partial.workloads.retain(|w| w.source != source);
        let err = store.import_parts(partial, vec![unparsed]).unwrap_err();
        assert!(matches!(err, StoreError::InvalidSnapshot { .. }), "{err}");
        assert_eq!(counts(&store), before, "nothing stored");
    }

    fn journal(store: &Store) -> (String, i64) {
        let mode = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        (mode, sync)
    }

    #[test]
    fn the_first_import_bypasses_the_wal_and_leaves_the_store_in_wal_mode() {
        let (dir, mut store) = temp_store();
        let wal = || std::fs::metadata(dir.path().join("envtrail.db-wal")).map_or(0, |m| m.len());
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        assert_eq!(
            journal(&store),
            ("wal".to_owned(), 1),
            "WAL and NORMAL again"
        );
        assert_eq!(
            wal(),
            0,
            "the first import's pages went straight to the file"
        );
        store.import(three("2026-01-01T01:00:00Z", 'c')).unwrap();
        assert!(wal() > 0, "later imports go through the WAL");
        assert_eq!(journal(&store), ("wal".to_owned(), 1));
        assert!(store.verify().unwrap().ok);
    }

    #[test]
    fn a_failed_first_import_stores_nothing_and_leaves_wal_mode() {
        let (_dir, mut store) = temp_store();
        let held = [(String::from("web"), [7u8; 32])];
        let (partial, unparsed) = leave_out(three("2026-01-01T00:00:00Z", 'b'), "web", held[0].1);
        let err = store.import_parts(partial, vec![unparsed]).unwrap_err();
        assert!(matches!(err, StoreError::UnparsedChanged { .. }), "{err}");
        assert!(
            counts(&store).iter().all(|(_, n)| *n == 0),
            "{:?}",
            counts(&store)
        );
        assert_eq!(journal(&store), ("wal".to_owned(), 1));
    }

    #[test]
    fn with_another_connection_open_the_first_import_goes_through_the_wal() {
        let (dir, mut store) = temp_store();
        let reader = Store::open(&dir.path().join("envtrail.db")).unwrap();
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        assert_eq!(journal(&store), ("wal".to_owned(), 1));
        assert_eq!(reader.environments().unwrap().len(), 1);
        assert!(store.verify().unwrap().ok);
    }

    #[test]
    fn an_import_from_inside_the_rayon_pool_hashes_first_and_stores_the_same() {
        // Writing while hashing would wait for the pool's threads from one of them.
        let (_dir, mut store) = temp_store();
        let first = store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let next = three("2026-01-01T01:00:00Z", 'c');
        let (second, ()) = rayon::join(|| store.import(next.clone()).unwrap(), || ());
        assert!(second.stored);
        assert_eq!(second.components_changed, 1);
        assert_eq!(
            second.snapshot.hash,
            expected_link(&first.snapshot.hash, next)
        );
        assert!(store.verify().unwrap().ok);
    }

    fn expected_link(prev: &str, mut snapshot: Snapshot) -> String {
        snapshot.normalize();
        chain_link(
            prev,
            &envtrail_model::canonical::snapshot_content_hash(&snapshot),
        )
    }

    /// Imports the next snapshot (one component changed) and checks that it counts one change,
    /// gets the link a full computation gives, and that the store verifies.
    fn import_one_change_like_a_full_computation(store: &mut Store, previous_link: &str) {
        let next = three("2026-01-01T01:00:00Z", 'c');
        let second = store.import(next.clone()).unwrap();
        assert_eq!(second.components_changed, 1);
        assert_eq!(second.snapshot.hash, expected_link(previous_link, next));
        assert!(store.verify().unwrap().ok);
    }

    #[test]
    fn unchanged_components_skip_hashing_yet_the_snapshot_hash_is_the_full_one() {
        let (_dir, mut store) = temp_store();
        let first = store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let with_quick: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM states WHERE length(quick) = 32",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(with_quick, count(&store, "states"));
        import_one_change_like_a_full_computation(&mut store, &first.snapshot.hash);
    }

    #[test]
    fn the_quick_hash_is_what_recognises_an_unchanged_component() {
        // Give the state `web` holds the quick hash of the state `web` is about to have: the
        // import then takes the new state for the one it holds. This proves the skip happens; it
        // is also why the column is a cache only imports write (see `prepare`).
        let (_dir, mut store) = temp_store();
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let mut changed = three("2026-01-01T01:00:00Z", 'c');
        changed.normalize();
        let states = changed.clone().take_component_states();
        let quick = states[&"web".parse().unwrap()].quick_hash();
        store
            .conn
            .execute(
                "UPDATE states SET quick = ?1 WHERE id = \
                 (SELECT body_id FROM intervals WHERE key = 'web' AND kind = 0)",
                [&quick[..]],
            )
            .unwrap();
        assert_eq!(store.import(changed).unwrap().components_changed, 0);
    }

    #[test]
    fn a_missing_or_foreign_quick_hash_falls_back_to_full_hashing() {
        let (_dir, mut store) = temp_store();
        let first = store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        // As in a store migrated from before quick hashes, or a value of another length.
        store
            .conn
            .execute_batch(
                "UPDATE states SET quick = NULL WHERE id % 2 = 0; \
                 UPDATE states SET quick = x'00' WHERE id % 2 = 1;",
            )
            .unwrap();
        import_one_change_like_a_full_computation(&mut store, &first.snapshot.hash);
    }

    #[test]
    fn a_number_written_differently_is_the_same_state() {
        // `1.0` and `1` are one canonical number but two serde_json texts: the quick hashes
        // differ, the full hash decides, and nothing changed.
        let (_dir, mut store) = temp_store();
        let snapshot = |time: &str, scale: serde_json::Value| {
            SnapBuilder::new("prod", time)
                .component("db", 'd')
                .infra("db", serde_json::json!({"scale": scale}))
                .build()
        };
        store
            .import(snapshot("2026-01-01T00:00:00Z", serde_json::json!(1.0)))
            .unwrap();
        let second = store
            .import(snapshot("2026-01-01T01:00:00Z", serde_json::json!(1)))
            .unwrap();
        assert!(second.stored);
        assert_eq!(second.components_changed, 0);
        assert!(store.verify().unwrap().ok);
    }

    #[test]
    fn a_first_snapshot_failing_leaves_no_environment() {
        let (_dir, mut store) = temp_store();
        store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER fail_interval BEFORE INSERT ON intervals \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
            )
            .unwrap();
        store
            .import(three("2026-01-01T00:00:00Z", 'b'))
            .unwrap_err();
        assert!(
            counts(&store).iter().all(|(_, n)| *n == 0),
            "{:?}",
            counts(&store)
        );
        assert!(store.environments().unwrap().is_empty());
    }

    #[test]
    fn the_chain_links_every_snapshot_in_import_order() {
        use envtrail_model::canonical::{GENESIS, chain_link, snapshot_content_hash};
        let (_dir, mut store) = temp_store();
        let a = three("2026-01-01T00:00:00Z", 'b');
        let mut b = three("2025-12-31T00:00:00Z", 'c');
        b.environment = env("dev");
        let ra = store.import(a.clone()).unwrap().snapshot;
        let rb = store.import(b.clone()).unwrap().snapshot;
        let mut a = a;
        a.normalize();
        b.normalize();
        let la = chain_link(GENESIS, &snapshot_content_hash(&a));
        assert_eq!(ra.hash, la);
        assert_eq!(rb.hash, chain_link(&la, &snapshot_content_hash(&b)));
        assert_eq!(store.chain_head().unwrap(), Some(rb.hash));
        assert!(rb.id > ra.id);
    }

    #[test]
    fn sightings_record_the_first_snapshot_that_ran_a_digest() {
        let (_dir, mut store) = temp_store();
        store.import(three("2026-01-01T00:00:00Z", 'b')).unwrap();
        let second = store.import(three("2026-01-01T01:00:00Z", 'c')).unwrap();
        store.import(three("2026-01-01T02:00:00Z", 'b')).unwrap();
        let state = store
            .environment_state(&env("prod"), at("2026-01-01T03:00:00Z"), true)
            .unwrap()
            .unwrap();
        let first = |c: char| state.sightings[&crate::testutil::digest(c)].first.clone();
        assert_eq!(first('a').seq, 1);
        assert_eq!(first('b').seq, 1, "b came back: still first sighted at #1");
        assert_eq!(first('c'), second.snapshot);
        // As of before #2, c was not yet sighted.
        let early = store
            .environment_state(&env("prod"), at("2026-01-01T00:30:00Z"), true)
            .unwrap()
            .unwrap();
        assert!(!early.sightings.contains_key(&crate::testutil::digest('c')));
        assert_eq!(early.sightings.len(), 3);
    }
}
