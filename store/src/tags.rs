//! Tag history: every (repository:tag → digest) that the artifact facts of stored snapshots
//! carried, per environment, with the first and last snapshot that recorded it. The OCI
//! enrichment records the tags a digest had at collection time, so a tag that moved between two
//! collections shows up here as two digests; the diff's `mutable_tag` compares them.
//!
//! Read from the artifact intervals (kind 1): an interval holds one artifact body from `from_seq`
//! until `to_seq`, so the first and last snapshots follow from its bounds.

use envtrail_model::view::TagSighting;
use envtrail_model::{Artifact, Timestamp};
use rusqlite::params;

use crate::Store;
use crate::error::{Body, Fail, Scope, StoreError};
use crate::lookup::{KIND_ARTIFACT, Refs, decode, environments, query_nanos, snapshot_at};

impl Store {
    /// Every tag sighting up to `at` in every environment, sorted.
    pub fn tag_history(&self, at: Timestamp) -> Result<Vec<TagSighting>, StoreError> {
        self.tag_history_inner(at)
            .map_err(|f| f.reading(|| Scope::Store))
    }

    fn tag_history_inner(&self, at: Timestamp) -> Result<Vec<TagSighting>, Fail> {
        let conn = &self.conn;
        let mut out = Vec::new();
        for (env_id, env) in environments(conn)? {
            let Some(now) = snapshot_at(conn, env_id, &env, query_nanos(&at))? else {
                continue;
            };
            let mut stmt = conn.prepare_cached(
                "SELECT i.from_seq, i.to_seq, a.hash, a.body FROM intervals i \
                 JOIN artifacts a ON a.id = i.body_id \
                 WHERE i.env_id = ?1 AND i.kind = ?2 AND i.from_seq <= ?3",
            )?;
            let rows = stmt
                .query_map(params![env_id, KIND_ARTIFACT, now.seq], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, Option<i64>>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut refs = Refs::new(conn, env_id, &env);
            for (from, to, hash, body) in rows {
                let artifact: Artifact = decode(&body, || Body::Artifact(hash))?;
                if artifact.tags.is_empty() {
                    continue;
                }
                let last = to.map_or(now.seq, |to| (to - 1).min(now.seq));
                let (first, last) = (refs.get(from)?, refs.get(last)?);
                for tag in &artifact.tags {
                    out.push(TagSighting {
                        repository: artifact.repository.clone(),
                        tag: tag.clone(),
                        digest: artifact.digest.clone(),
                        environment: env.clone(),
                        first: first.clone(),
                        last: last.clone(),
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testutil::*;

    /// A snapshot of `env` at `time` running `digest(run)`, whose facts say `app:1.0` is `tagged`.
    fn tagged(env: &str, time: &str, run: char, tagged: char) -> envtrail_model::Snapshot {
        let mut s = SnapBuilder::new(env, time).component("api", run).build();
        s.artifacts.push(
            serde_json::from_value(json!({
                "digest": digest(tagged), "repository": "registry.example.com/app", "tags": ["1.0"]
            }))
            .unwrap(),
        );
        s
    }

    #[test]
    fn a_tag_that_moved_has_two_sightings_with_their_snapshots() {
        let (_dir, mut store) = temp_store();
        store
            .import(tagged("prod", "2026-03-01T00:00:00Z", 'a', 'a'))
            .unwrap();
        store
            .import(tagged("prod", "2026-03-02T00:00:00Z", 'a', 'a'))
            .unwrap();
        store
            .import(tagged("prod", "2026-03-03T00:00:00Z", 'a', 'b'))
            .unwrap();
        store
            .import(tagged("staging", "2026-03-02T00:00:00Z", 'b', 'b'))
            .unwrap();

        let all = store.tag_history(at("2026-03-10")).unwrap();
        let prod: Vec<_> = all
            .iter()
            .filter(|t| t.environment.as_str() == "prod")
            .collect();
        assert_eq!(prod.len(), 2, "{all:?}");
        let a = prod.iter().find(|t| t.digest == digest('a')).unwrap();
        assert_eq!((a.first.seq, a.last.seq), (1, 2));
        let b = prod.iter().find(|t| t.digest == digest('b')).unwrap();
        assert_eq!((b.first.seq, b.last.seq), (3, 3));
        assert_eq!(b.tag, "1.0");
        assert_eq!(b.repository, "registry.example.com/app");
        assert_eq!(all.len(), 3);

        // Before the move, only the first digest is on record.
        let early = store.tag_history(at("2026-03-02T12:00:00Z")).unwrap();
        assert!(
            early
                .iter()
                .all(|t| t.digest == digest('a') || t.environment.as_str() == "staging")
        );
        assert!(
            early
                .iter()
                .all(|t| t.last.taken_at <= at("2026-03-02T12:00:00Z"))
        );
    }
}
