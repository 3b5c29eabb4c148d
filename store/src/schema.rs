//! The on-disk format: connection settings, the numbered schema migrations and the readability
//! check.
//!
//! Compatibility rule: the schema version is `PRAGMA user_version`, the number of migrations
//! applied. A store is only ever migrated forward, one numbered step per transaction; a migration
//! is never edited once released, a change is a new migration. An envtrail opening a store whose
//! version is newer than [`SCHEMA_VERSION`] refuses it ([`StoreError::TooNew`]) rather than guess.
//! `PRAGMA application_id` marks the file as an envtrail store so that another SQLite database is
//! never migrated by mistake.
//!
//! Tables (migration 1):
//! - `environments(id, name)`.
//! - `snapshots(id, env_id, seq, taken_at, header, items_root, content_hash, prev_link, link,
//!   components)`: one row per stored snapshot; `id` is the global import (chain) order, `seq` the
//!   environment's own 1-based number, `taken_at` UTC nanoseconds, `header` the serde_json bytes of
//!   the snapshot header.
//! - `states(id, hash, body)` and `artifacts(id, hash, digest, index_digest, body)`:
//!   content-addressed bodies (serde_json bytes, an exact round trip; `hash` is the sha256 of their
//!   canonical JSON), stored once and shared across environments and time.
//! - `intervals(env_id, kind, key, body_id, from_seq, to_seq, lvl, blk)`: component (kind 0) or
//!   artifact (kind 1) `key` held body `body_id` (a `states` or `artifacts` id) in snapshots
//!   `from_seq <= seq < to_seq` (`to_seq` NULL: still open). `lvl`/`blk` place the interval in a
//!   relational interval tree (see [`crate::interval`]) so that "what held at seq N" is a few
//!   seeks on covering indexes, then one rowid lookup per body. Integer body ids keep those
//!   indexes small.
//! - `sightings(env_id, digest, first_seq, first_snapshot_id)`: the first snapshot of an
//!   environment that ran an artifact.
//!
//! Tables (migration 2):
//! - `notify_state(target, posted_at, report_at, findings)`: per `envtrail notify` target, the
//!   findings of its last successful post (serde_json bytes of `Vec<Finding>`), so that
//!   `--only-changes` can post only what is new or resolved. Mutable bookkeeping, not evidence:
//!   outside the hash chain, and `verify` does not read it.
//!
//! Migration 3:
//! - `states.quick`: the sha256 of the state's compact `serde_json` bytes (32 bytes; NULL for
//!   states stored before), which an import compares to skip canonicalising unchanged components
//!   (see [`crate::prepare`]). A cache, not evidence: `verify` recomputes hashes from the bodies
//!   and never trusts it.
//!
//! Tables (migration 4, [`crate::prune::MIGRATION`]): `checkpoints`, `pruned`, `pruned_refs` and
//! the view `snapshot_refs`, what `envtrail prune` leaves behind (see [`crate::prune`]).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::error::StoreError;

/// `PRAGMA application_id` of an envtrail store ("envt").
pub const APPLICATION_ID: i64 = 0x656e_7674;

/// The page size of a store this build creates.
pub(crate) const PAGE_SIZE: i64 = 16 * 1024;

/// How much of the file a connection maps: `SQLITE_MAX_MMAP_SIZE` of the bundled SQLite, which
/// clamps larger requests anyway.
pub(crate) const MMAP_SIZE: i64 = 0x7fff_0000;

/// The schema version this build writes and reads (the number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The migrations, in order: `MIGRATIONS[i]` takes the store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE environments (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE snapshots (
        id           INTEGER PRIMARY KEY,
        env_id       INTEGER NOT NULL REFERENCES environments(id),
        seq          INTEGER NOT NULL,
        taken_at     INTEGER NOT NULL,
        header       BLOB NOT NULL,
        items_root   TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        prev_link    TEXT NOT NULL,
        link         TEXT NOT NULL,
        components   INTEGER NOT NULL,
        UNIQUE (env_id, seq),
        UNIQUE (env_id, taken_at)
    );
    CREATE INDEX snapshots_content ON snapshots (env_id, content_hash);
    CREATE TABLE states (
        id   INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        body BLOB NOT NULL
    );
    CREATE TABLE artifacts (
        id           INTEGER PRIMARY KEY,
        hash         TEXT NOT NULL UNIQUE,
        digest       TEXT NOT NULL,
        index_digest TEXT,
        body         BLOB NOT NULL
    );
    CREATE INDEX artifacts_index ON artifacts (index_digest, digest) WHERE index_digest IS NOT NULL;
    CREATE TABLE intervals (
        id       INTEGER PRIMARY KEY,
        env_id   INTEGER NOT NULL REFERENCES environments(id),
        kind     INTEGER NOT NULL,
        key      TEXT NOT NULL,
        body_id  INTEGER NOT NULL,
        from_seq INTEGER NOT NULL,
        to_seq   INTEGER,
        lvl      INTEGER NOT NULL,
        blk      INTEGER NOT NULL
    );
    CREATE INDEX intervals_node_from ON intervals (env_id, kind, lvl, blk, from_seq, to_seq, body_id, key);
    CREATE INDEX intervals_node_to ON intervals (env_id, kind, lvl, blk, to_seq, from_seq, body_id, key);
    CREATE INDEX intervals_key ON intervals (env_id, kind, key, from_seq);
    CREATE INDEX intervals_from ON intervals (env_id, from_seq);
    CREATE INDEX intervals_to ON intervals (env_id, to_seq, kind, from_seq, body_id, key);
    CREATE TABLE sightings (
        env_id            INTEGER NOT NULL REFERENCES environments(id),
        digest            TEXT NOT NULL,
        first_seq         INTEGER NOT NULL,
        first_snapshot_id INTEGER NOT NULL,
        PRIMARY KEY (env_id, digest)
    ) WITHOUT ROWID;
    CREATE INDEX sightings_seq ON sightings (env_id, first_seq);
    "#,
    // 2: what each notification target was last told.
    r#"
    CREATE TABLE notify_state (
        target    TEXT PRIMARY KEY,
        posted_at INTEGER NOT NULL,
        report_at INTEGER NOT NULL,
        findings  BLOB NOT NULL
    );
    "#,
    // 3: quick hashes of component states, so an import recognises unchanged components without
    // building their canonical JSON (NULL for states stored before).
    r#"
    ALTER TABLE states ADD COLUMN quick BLOB;
    "#,
    // 4: retention (`envtrail prune`): signed checkpoints and what they keep. The SQL lives with
    // its code; to renumber, move this line.
    crate::prune::MIGRATION,
];

/// Opens (creating if missing) and migrates the store at `path`.
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|source| open_error(path, source))?;
    prepare(conn, path)
}

/// Opens and migrates a fresh in-memory store.
pub(crate) fn open_in_memory() -> Result<Connection, StoreError> {
    let path = Path::new(":memory:");
    let conn = Connection::open_in_memory().map_err(|source| open_error(path, source))?;
    prepare(conn, path)
}

fn open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Open {
        path: path.to_owned(),
        source,
    }
}

fn prepare(mut conn: Connection, path: &Path) -> Result<Connection, StoreError> {
    configure(&conn).map_err(|source| open_error(path, source))?;
    let version = check_readable(&conn, path)?;
    migrate(&mut conn, path, version)?;
    Ok(conn)
}

/// WAL keeps a crash-safe store with `synchronous=NORMAL` (a crash can lose the last commits, never
/// corrupt); the busy timeout lets a reader and the single writer share the file.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    // A new file gets 16 KiB pages (a no-op on an existing one, which keeps its page size): a
    // state body is 1-3 KB, so 4 KiB pages held one body each and wasted a third of the file,
    // and every B-tree is shallower. Must come before WAL is switched on.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // In memory this answers "memory": that is fine.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Point-in-time reads touch a few thousand scattered rows: map the file rather than copy
    // pages through read(2), and keep a larger page cache. The whole file up to SQLite's
    // compile-time cap (2 GB): with 256 MB mapped, asof on a year of history (a 1.12 GB file)
    // read most pages through read(2), p95 36-44 ms; mapped whole, 28-32 ms.
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    conn.pragma_update(None, "cache_size", -32768)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The schema version of the file, refusing a newer one or a foreign database.
fn check_readable(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let read = |sql: &str| -> Result<i64, StoreError> {
        conn.query_row(sql, [], |row| row.get(0))
            .map_err(|source| open_error(path, source))
    };
    let version = read("PRAGMA user_version")?;
    let app_id = read("PRAGMA application_id")?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let foreign = if app_id == 0 {
        // A fresh file has no table; anything else was written by another program.
        conn.query_row("SELECT 1 FROM sqlite_master LIMIT 1", [], |_| Ok(()))
            .optional()
            .map_err(|source| open_error(path, source))?
            .is_some()
            && version == 0
    } else {
        app_id != APPLICATION_ID
    };
    if foreign {
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
        });
    }
    Ok(version)
}

fn migrate(conn: &mut Connection, path: &Path, from: i64) -> Result<(), StoreError> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let version = index as i64 + 1;
        let mut step = || -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        step().map_err(|source| StoreError::Migrate {
            path: path.to_owned(),
            version,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_at_the_current_version_with_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let conn = open(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let mapped: i64 = conn
            .query_row("PRAGMA mmap_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mapped, MMAP_SIZE, "the whole file, up to SQLite's cap");
        drop(conn);
        // Reopening an up-to-date store is a no-op.
        let conn = open(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn a_new_store_gets_large_pages_and_an_existing_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        let conn = open(&dir.path().join("new.db")).unwrap();
        assert_eq!(page_size(&conn), PAGE_SIZE);

        // A file already laid out with 4 KiB pages (as stores made before were).
        let old = dir.path().join("old.db");
        let raw = Connection::open(&old).unwrap();
        raw.pragma_update(None, "page_size", 4096).unwrap();
        raw.pragma_update(None, "user_version", 0).unwrap();
        drop(raw);
        let conn = open(&old).unwrap();
        assert_eq!(page_size(&conn), 4096);
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn a_store_from_a_newer_envtrail_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let conn = open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("s.db") && msg.contains("upgrade envtrail"),
            "{msg}"
        );
    }

    #[test]
    fn another_programs_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        drop(conn);
        let err = open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        let conn = Connection::open(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0, "a refused file is not migrated");
    }

    #[test]
    fn a_file_that_is_not_sqlite_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err}");
        assert!(err.to_string().contains("junk.db"), "{err}");
    }
}
