//! The baseline the store is compared with: every snapshot stored in full, as its JSON, one row
//! per snapshot in a separate SQLite file. This is what "just keep the files" costs, and what the
//! store's content addressing and intervals are meant to beat.

use std::path::Path;

use envtrail_model::{EnvName, Snapshot, Timestamp};
use rusqlite::{Connection, OptionalExtension as _, params};

/// A naive snapshot archive: `snapshots(environment, taken_at, body)` with the full JSON.
pub struct NaiveStore {
    conn: Connection,
}

impl NaiveStore {
    /// Opens (creating if missing) the archive at `path`, with the same durability settings the
    /// store uses (WAL, `synchronous=NORMAL`) so the comparison is fair.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS snapshots (
                 id INTEGER PRIMARY KEY,
                 environment TEXT NOT NULL,
                 taken_at INTEGER NOT NULL,
                 body TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS snapshots_by_time ON snapshots (environment, taken_at);",
        )?;
        Ok(Self { conn })
    }

    /// Stores `snapshot` in full; returns the size of its JSON in bytes.
    pub fn import(&mut self, snapshot: &Snapshot) -> rusqlite::Result<usize> {
        let body = serde_json::to_string(snapshot).expect("snapshots always serialise");
        self.conn.execute(
            "INSERT INTO snapshots (environment, taken_at, body) VALUES (?1, ?2, ?3)",
            params![
                snapshot.environment.as_str(),
                snapshot.taken_at.timestamp(),
                body
            ],
        )?;
        Ok(body.len())
    }

    /// The snapshot of `env` in force at `at` (the latest taken at or before), parsed.
    pub fn asof(&self, env: &EnvName, at: Timestamp) -> rusqlite::Result<Option<Snapshot>> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM snapshots WHERE environment = ?1 AND taken_at <= ?2
                 ORDER BY taken_at DESC LIMIT 1",
                params![env.as_str(), at.timestamp()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b).expect("the archive holds only valid snapshots")))
    }

    /// Number of snapshots stored.
    pub fn len(&self) -> rusqlite::Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM snapshots", [], |row| row.get(0))?;
        Ok(n.unsigned_abs())
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> rusqlite::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Moves the WAL into the main file, so the file size is the archive's size.
    pub fn checkpoint(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Fleet, FleetConfig};

    #[test]
    fn asof_returns_the_snapshot_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let mut naive = NaiveStore::open(&dir.path().join("naive.sqlite")).unwrap();
        let fleet = Fleet::new(FleetConfig {
            components: 20,
            config_keys: 3,
            ..FleetConfig::default()
        });
        let prod: EnvName = "prod".parse().unwrap();
        let first = fleet.initial(&prod, 2);
        let second = fleet.next(&first, 0.5);
        naive.import(&first).unwrap();
        naive.import(&second).unwrap();
        assert_eq!(naive.len().unwrap(), 2);
        let between = first.taken_at + chrono::TimeDelta::minutes(30);
        assert_eq!(naive.asof(&prod, between).unwrap().unwrap(), first);
        assert_eq!(naive.asof(&prod, second.taken_at).unwrap().unwrap(), second);
        let before = first.taken_at - chrono::TimeDelta::minutes(1);
        assert!(naive.asof(&prod, before).unwrap().is_none());
    }
}
