//! Reading intervals together with their bodies. Each distinct body is copied once into one
//! buffer (no allocation per row) and decoded once, in parallel, into one `Arc` per body: the
//! point-in-time query reads thousands of rows and must stay in the tens of milliseconds.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Params, Statement, params};
use serde::de::DeserializeOwned;

use crate::error::{Body, Fail, StoreError};
use crate::interval::{Side, probes};
use crate::lookup::{KIND_COMPONENT, bodies_table, decode};

/// One interval as read.
#[derive(Debug)]
pub(crate) struct Member {
    /// Component name or artifact digest.
    pub key: String,
    /// The body's hash (`id N` when the body is missing).
    pub hash: String,
    pub from: i64,
    pub to: Option<i64>,
    /// Index of its body in the [`Bodies`] that read it (and in what they decode to).
    pub body: usize,
}

/// The columns of a member query, before its `WHERE`: see [`Bodies::read`].
pub(crate) fn select(kind: i64) -> String {
    format!(
        "SELECT i.key, COALESCE(b.hash, 'id ' || i.body_id), i.from_seq, i.to_seq, i.body_id, \
         b.body FROM intervals i LEFT JOIN {} b ON b.id = i.body_id",
        bodies_table(kind)
    )
}

/// The bodies read so far for one kind, each once: (hash, where in `buf`; None if missing).
pub(crate) struct Bodies {
    kind: i64,
    buf: Vec<u8>,
    entries: Vec<(String, Option<Range<usize>>)>,
    /// body id -> index in `entries`.
    seen: HashMap<i64, usize>,
}

impl Bodies {
    pub(crate) fn new(kind: i64) -> Self {
        // Room for a few thousand typical bodies without regrowing.
        Self {
            kind,
            buf: Vec::with_capacity(1 << 20),
            entries: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// How many distinct bodies were read (a mark for [`Bodies::decode_from`]).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Runs a member query (selected with [`select`]), keeping each new body.
    pub(crate) fn read(
        &mut self,
        stmt: &mut Statement<'_>,
        params: impl Params,
        out: &mut Vec<Member>,
    ) -> rusqlite::Result<()> {
        let mut rows = stmt.query(params)?;
        while let Some(row) = rows.next()? {
            let body_id: i64 = row.get(4)?;
            let hash: String = row.get(1)?;
            let body = match self.seen.entry(body_id) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let span = match row.get_ref(5)? {
                        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => {
                            let start = self.buf.len();
                            self.buf.extend_from_slice(bytes);
                            Some(start..self.buf.len())
                        }
                        _ => None,
                    };
                    self.entries.push((hash.clone(), span));
                    *e.insert(self.entries.len() - 1)
                }
            };
            out.push(Member {
                key: row.get(0)?,
                hash,
                from: row.get(2)?,
                to: row.get(3)?,
                body,
            });
        }
        Ok(())
    }

    /// The stored bytes of body `i` (a [`Member::body`]); `None` when the body is missing.
    pub(crate) fn raw(&self, i: usize) -> Option<&[u8]> {
        self.entries[i]
            .1
            .as_ref()
            .map(|span| &self.buf[span.clone()])
    }

    /// Decodes every body read since mark `start`, in parallel, in order: the value of
    /// [`Member::body`] `i` is at `i - start`.
    pub(crate) fn decode_from<T: DeserializeOwned + Send + Sync>(
        &self,
        start: usize,
    ) -> Result<Vec<Arc<T>>, Fail> {
        let what = |hash: &str| {
            if self.kind == KIND_COMPONENT {
                Body::State(hash.to_owned())
            } else {
                Body::Artifact(hash.to_owned())
            }
        };
        self.entries[start..]
            .par_iter()
            .with_min_len(128)
            .map(|(hash, span)| {
                let Some(span) = span else {
                    return Err(Fail::Store(StoreError::MissingBody { what: what(hash) }));
                };
                let value: T = decode(&self.buf[span.clone()], || what(hash))?;
                Ok(Arc::new(value))
            })
            .collect()
    }
}

/// Every interval of `kind` containing seq `n` of the environment (whose seqs are at most
/// `max_seq`), by probing the interval tree: one statement per side, the nodes to probe passed
/// as a JSON array of `[lvl, blk]` (the statement stays cached whatever the nodes).
pub(crate) fn members_at(
    conn: &Connection,
    env_id: i64,
    kind: i64,
    n: i64,
    max_seq: i64,
    bodies: &mut Bodies,
) -> rusqlite::Result<Vec<Member>> {
    let (mut from_nodes, mut to_nodes) = (Vec::new(), Vec::new());
    for probe in probes(n, max_seq) {
        let nodes = match probe.side {
            Side::From => &mut from_nodes,
            Side::To => &mut to_nodes,
        };
        nodes.push(format!("[{},{}]", probe.lvl, probe.blk));
    }
    let mut out = Vec::new();
    for (nodes, bound) in [
        (from_nodes, "i.from_seq <= ?3"),
        (to_nodes, "i.to_seq > ?3"),
    ] {
        if nodes.is_empty() {
            continue;
        }
        // CROSS JOIN keeps the probes as the outer loop, each an index range on the node.
        let sql = format!(
            "{} WHERE i.env_id = ?1 AND i.kind = ?2 AND i.lvl = p.value ->> 0 \
             AND i.blk = p.value ->> 1 AND {bound}",
            select_probing(kind)
        );
        let nodes = format!("[{}]", nodes.join(","));
        bodies.read(
            &mut *conn.prepare_cached(&sql)?,
            params![env_id, kind, n, nodes],
            &mut out,
        )?;
    }
    Ok(out)
}

/// [`select`] with the probe list `?4` joined first.
fn select_probing(kind: i64) -> String {
    format!(
        "SELECT i.key, COALESCE(b.hash, 'id ' || i.body_id), i.from_seq, i.to_seq, i.body_id, \
         b.body FROM json_each(?4) p CROSS JOIN intervals i LEFT JOIN {} b ON b.id = i.body_id",
        bodies_table(kind)
    )
}

/// Every component interval of the environment that ended at or before seq `n`, by
/// (key, from_seq). Sorted here rather than by SQLite, which would sort the bodies along.
pub(crate) fn closed_before(
    conn: &Connection,
    env_id: i64,
    n: i64,
    bodies: &mut Bodies,
) -> rusqlite::Result<Vec<Member>> {
    let sql = format!(
        "{} WHERE i.env_id = ?1 AND i.to_seq <= ?2 AND i.kind = ?3",
        select(KIND_COMPONENT)
    );
    let mut out = Vec::new();
    bodies.read(
        &mut *conn.prepare_cached(&sql)?,
        params![env_id, n, KIND_COMPONENT],
        &mut out,
    )?;
    out.sort_unstable_by(|a, b| (&a.key, a.from).cmp(&(&b.key, b.from)));
    Ok(out)
}
