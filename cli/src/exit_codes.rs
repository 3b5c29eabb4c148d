//! Exit codes are API: cron jobs and CI gates act on them. Documented in docs/cli.md.

/// Success: the command did what was asked (findings below `--fail-on` do not change this).
pub const SUCCESS: u8 = 0;
/// Any error: bad input, a missing store, a broken chain. The message names the file, field or
/// environment at fault.
pub const ERROR: u8 = 1;
/// `--fail-on SEVERITY` was given and a finding at or above it was reported (ignored findings do
/// not count).
pub const FINDINGS_AT_OR_ABOVE_THRESHOLD: u8 = 2;
/// `collect` stored its snapshots, but in one of them a source failed (unreachable, no
/// credentials) or was read only in part (e.g. a 403 on a namespace). The snapshot records which
/// and why; the report shows a `collection_gap` for it, never a `missing_component`.
pub const SNAPSHOT_INCOMPLETE: u8 = 3;
