//! What each `envtrail notify` target was last told: the findings of its last successful post, so
//! that `--only-changes` can post only the new and the resolved ones. A target's state is replaced
//! whole, and only after the chat platform accepted the post: a failed delivery leaves it as it
//! was, so the next run posts the same changes again.

use envtrail_model::{Finding, Timestamp};
use rusqlite::OptionalExtension;

use crate::Store;
use crate::error::{Body, StoreError};
use crate::lookup::{from_nanos, query_nanos};

/// The last successful post to a target.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyState {
    /// When it was posted.
    pub posted_at: Timestamp,
    /// The instant the posted report described.
    pub report_at: Timestamp,
    /// The findings the target knew of after that post (every finding that passed its filter).
    pub findings: Vec<Finding>,
}

impl Store {
    /// The state of `target`, if a post to it ever succeeded.
    pub fn notify_state(&self, target: &str) -> Result<Option<NotifyState>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT posted_at, report_at, findings FROM notify_state WHERE target = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([target], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(|source| StoreError::NotifyState {
                target: target.to_owned(),
                source,
            })?;
        row.map(|(posted_at, report_at, body)| {
            let findings =
                serde_json::from_slice(&body).map_err(|source| StoreError::CorruptBody {
                    what: Body::NotifyState(target.to_owned()),
                    source,
                })?;
            Ok(NotifyState {
                posted_at: from_nanos(posted_at),
                report_at: from_nanos(report_at),
                findings,
            })
        })
        .transpose()
    }

    /// Replaces the state of `target` after a successful post.
    pub fn set_notify_state(
        &mut self,
        target: &str,
        state: &NotifyState,
    ) -> Result<(), StoreError> {
        let body =
            serde_json::to_vec(&state.findings).map_err(|source| StoreError::CorruptBody {
                what: Body::NotifyState(target.to_owned()),
                source,
            })?;
        self.conn
            .execute(
                "INSERT INTO notify_state (target, posted_at, report_at, findings)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (target) DO UPDATE SET
                   posted_at = excluded.posted_at, report_at = excluded.report_at,
                   findings = excluded.findings",
                rusqlite::params![
                    target,
                    query_nanos(&state.posted_at),
                    query_nanos(&state.report_at),
                    body
                ],
            )
            .map_err(|source| StoreError::NotifyState {
                target: target.to_owned(),
                source,
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use envtrail_model::{FindingKind, Severity, parse_time};

    use super::*;

    fn finding(component: &str) -> Finding {
        Finding {
            kind: FindingKind::UnpromotedHotfix,
            severity: Severity::High,
            component: Some(component.parse().unwrap()),
            environment: "prod".parse().unwrap(),
            related_environment: None,
            digests: vec![],
            keys: vec![],
            message: format!("{component}: hotfix"),
            evidence: vec![],
        }
    }

    #[test]
    fn a_target_state_is_absent_then_replaced_whole_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.notify_state("slack").unwrap(), None);
        let first = NotifyState {
            posted_at: parse_time("2026-11-01T10:00:00Z").unwrap(),
            report_at: parse_time("2026-11-01T09:59:00Z").unwrap(),
            findings: vec![finding("api"), finding("web")],
        };
        store.set_notify_state("slack", &first).unwrap();
        let second = NotifyState {
            findings: vec![finding("web")],
            ..first.clone()
        };
        store.set_notify_state("slack", &second).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.notify_state("slack").unwrap(), Some(second));
        assert_eq!(store.notify_state("teams").unwrap(), None, "per target");
        assert!(store.verify().unwrap().ok, "outside the chain");
    }
}
