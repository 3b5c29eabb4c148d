//! Small reads every query shares: environment ids, snapshot references, headers, the time
//! encoding, and decoding stored bodies (in parallel, one `Arc` per distinct hash).

use std::collections::HashMap;
use std::str::FromStr;

use chrono::DateTime;
use envtrail_model::snapshot::SnapshotHeader;
use envtrail_model::view::SnapshotRef;
use envtrail_model::{EnvName, NameError, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::de::DeserializeOwned;

use crate::error::{Body, Fail, StoreError};

/// `intervals.kind` of a component state.
pub(crate) const KIND_COMPONENT: i64 = 0;
/// `intervals.kind` of an artifact's facts.
pub(crate) const KIND_ARTIFACT: i64 = 1;

/// The table holding the bodies of `kind`.
pub(crate) fn bodies_table(kind: i64) -> &'static str {
    if kind == KIND_COMPONENT {
        "states"
    } else {
        "artifacts"
    }
}

/// An instant as the query key: exact nanoseconds, clamped to the representable range (an
/// instant past 2262 is after every stored snapshot, one before 1677 before all of them).
pub(crate) fn query_nanos(at: &Timestamp) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A stored `taken_at` back as an instant.
pub(crate) fn from_nanos(nanos: i64) -> Timestamp {
    DateTime::from_timestamp_nanos(nanos)
}

/// Parses a stored name, digest or fingerprint.
pub(crate) fn parse_name<T: FromStr<Err = NameError>>(
    what: &'static str,
    value: &str,
) -> Result<T, Fail> {
    value.parse().map_err(|source| {
        Fail::Store(StoreError::CorruptName {
            what,
            value: value.to_owned(),
            source,
        })
    })
}

/// Every environment, by name.
pub(crate) fn environments(conn: &Connection) -> Result<Vec<(i64, EnvName)>, Fail> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM environments ORDER BY name")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name) = row?;
        out.push((id, parse_name("environment", &name)?));
    }
    Ok(out)
}

/// The id of `env`, or [`StoreError::UnknownEnvironment`] listing the known ones.
pub(crate) fn require_env(conn: &Connection, env: &EnvName) -> Result<i64, Fail> {
    let id = conn
        .prepare_cached("SELECT id FROM environments WHERE name = ?1")?
        .query_row([env.as_str()], |row| row.get(0))
        .optional()?;
    match id {
        Some(id) => Ok(id),
        None => {
            let known = environments(conn)?
                .into_iter()
                .map(|(_, name)| name)
                .collect();
            Err(StoreError::UnknownEnvironment {
                environment: env.clone(),
                known,
            }
            .into())
        }
    }
}

/// The columns [`snapshot_ref`] reads, in order.
pub(crate) const REF_COLUMNS: &str = "id, seq, taken_at, link";

/// A [`SnapshotRef`] from a row selected with [`REF_COLUMNS`] (starting at column `at`).
pub(crate) fn snapshot_ref(row: &Row<'_>, env: &EnvName) -> rusqlite::Result<SnapshotRef> {
    Ok(SnapshotRef {
        id: row.get(0)?,
        environment: env.clone(),
        seq: row.get(1)?,
        taken_at: from_nanos(row.get(2)?),
        hash: row.get(3)?,
    })
}

/// The latest snapshot of the environment taken at or before `nanos`.
pub(crate) fn snapshot_at(
    conn: &Connection,
    env_id: i64,
    env: &EnvName,
    nanos: i64,
) -> rusqlite::Result<Option<SnapshotRef>> {
    conn.prepare_cached(&format!(
        "SELECT {REF_COLUMNS} FROM snapshots WHERE env_id = ?1 AND taken_at <= ?2 \
         ORDER BY taken_at DESC LIMIT 1"
    ))?
    .query_row(params![env_id, nanos], |row| snapshot_ref(row, env))
    .optional()
}

/// The first snapshot of the environment taken after `nanos`.
pub(crate) fn snapshot_after(
    conn: &Connection,
    env_id: i64,
    env: &EnvName,
    nanos: i64,
) -> rusqlite::Result<Option<SnapshotRef>> {
    conn.prepare_cached(&format!(
        "SELECT {REF_COLUMNS} FROM snapshots WHERE env_id = ?1 AND taken_at > ?2 \
         ORDER BY taken_at ASC LIMIT 1"
    ))?
    .query_row(params![env_id, nanos], |row| snapshot_ref(row, env))
    .optional()
}

/// The environment's highest seq (0 when it has none).
pub(crate) fn max_seq(conn: &Connection, env_id: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM snapshots WHERE env_id = ?1")?
        .query_row([env_id], |row| row.get(0))
}

/// The header of snapshot `id`.
pub(crate) fn header(conn: &Connection, id: i64) -> Result<SnapshotHeader, Fail> {
    let bytes: Vec<u8> = conn
        .prepare_cached("SELECT header FROM snapshots WHERE id = ?1")?
        .query_row([id], |row| row.get(0))?;
    decode(&bytes, || Body::Header(id))
}

/// Parses one stored JSON body.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> Body,
) -> Result<T, Fail> {
    // One UTF-8 check of the whole body, then a parse that does not check each string again:
    // `from_slice` validates every string on its own, which was ~5% of a report's CPU. Bytes
    // that are not UTF-8 go to `from_slice`, for its error.
    let parsed = match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    };
    parsed.map_err(|source| {
        Fail::Store(StoreError::CorruptBody {
            what: what(),
            source,
        })
    })
}

/// Snapshot references of one environment by seq, read on demand and kept for the call. Read
/// through the `snapshot_refs` view, so a component's `since` or an artifact's first sighting
/// still resolves after `prune` removed that snapshot ([`crate::prune`]).
pub(crate) struct Refs<'a> {
    conn: &'a Connection,
    env_id: i64,
    env: &'a EnvName,
    by_seq: HashMap<i64, SnapshotRef>,
}

impl<'a> Refs<'a> {
    pub(crate) fn new(conn: &'a Connection, env_id: i64, env: &'a EnvName) -> Self {
        Self {
            conn,
            env_id,
            env,
            by_seq: HashMap::new(),
        }
    }

    /// Reads every snapshot of the environment up to `seq` at once (for history-wide calls).
    pub(crate) fn preload(&mut self, up_to_seq: i64) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REF_COLUMNS} FROM snapshot_refs WHERE env_id = ?1 AND seq <= ?2"
        ))?;
        for r in stmt.query_map(params![self.env_id, up_to_seq], |row| {
            snapshot_ref(row, self.env)
        })? {
            let r = r?;
            self.by_seq.insert(r.seq, r);
        }
        Ok(())
    }

    /// Reads the snapshots with the given seqs that are not known yet, in one statement.
    pub(crate) fn load(&mut self, seqs: impl IntoIterator<Item = i64>) -> rusqlite::Result<()> {
        let mut missing: Vec<i64> = seqs
            .into_iter()
            .filter(|s| !self.by_seq.contains_key(s))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let list = serde_json::Value::from(missing).to_string();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REF_COLUMNS} FROM snapshot_refs WHERE env_id = ?1 \
             AND seq IN (SELECT value FROM json_each(?2))"
        ))?;
        for r in stmt.query_map(params![self.env_id, list], |row| {
            snapshot_ref(row, self.env)
        })? {
            let r = r?;
            self.by_seq.insert(r.seq, r);
        }
        Ok(())
    }

    /// The snapshot with `seq`. A missing one means the rows were altered.
    pub(crate) fn get(&mut self, seq: i64) -> rusqlite::Result<SnapshotRef> {
        if let Some(r) = self.by_seq.get(&seq) {
            return Ok(r.clone());
        }
        let r = self
            .conn
            .prepare_cached(&format!(
                "SELECT {REF_COLUMNS} FROM snapshot_refs WHERE env_id = ?1 AND seq = ?2"
            ))?
            .query_row(params![self.env_id, seq], |row| snapshot_ref(row, self.env))?;
        self.by_seq.insert(seq, r.clone());
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use envtrail_model::ComponentState;

    use super::*;

    fn decode_state(bytes: &[u8]) -> Result<ComponentState, Fail> {
        decode(bytes, || Body::State("h".into()))
    }

    #[test]
    fn a_body_decodes_and_a_broken_one_is_a_corrupt_body_naming_it() {
        let state = decode_state(br#"{"workloads": [], "infrastructure": []}"#).unwrap();
        assert_eq!(state, ComponentState::default());
        for broken in [&b"{\"workloads\": [\xff]}"[..], b"{\"workloads\": 1}", b"{"] {
            match decode_state(broken) {
                Err(Fail::Store(StoreError::CorruptBody { what, .. })) => {
                    assert_eq!(what, Body::State("h".into()))
                }
                other => panic!("{broken:?}: {:?}", other.map(|_| ())),
            }
        }
    }
}
