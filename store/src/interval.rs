//! Where an interval of snapshot numbers sits in a relational interval tree, so that "which
//! intervals contain seq N" is a handful of B-tree range scans instead of a scan of history.
//!
//! A closed interval holds seqs `from..to` (`to` exclusive, so its last seq is `hi = to - 1`). Its
//! *fork node* is the smallest aligned power-of-two block of seqs that contains both ends: level
//! `lvl` = bit length of `from ^ hi`, block `blk = from >> lvl`. Every interval of a node contains
//! the node's midpoint `m = blk << lvl | 1 << (lvl - 1)`. For a point `N` only one block per level
//! can hold an interval containing `N` (block `N >> lvl`), and inside it an interval contains `N`
//! iff `from <= N` (when `N < m`, since then `hi >= m > N`) or iff `to > N` (when `N >= m`). Each
//! of those is one range scan over an index on `(lvl, blk, from)` or `(lvl, blk, to)` that returns
//! only matching rows. Open intervals (`to` unknown) sit at [`OPEN_LEVEL`] and are found by
//! `from <= N`: there are only as many as there are live components and artifacts.
//!
//! This is the RI-tree of Kriegel, Pötke and Seidl (VLDB 2000), simplified for integer points.

/// The `lvl` of an open interval.
pub(crate) const OPEN_LEVEL: i64 = -1;

/// Which column bounds the matches of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Intervals of the node with `from_seq <= N`.
    From,
    /// Intervals of the node with `to_seq > N`.
    To,
}

/// One range scan of a stabbing query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    pub lvl: i64,
    pub blk: i64,
    pub side: Side,
}

/// The fork node `(lvl, blk)` of the closed interval `from..to` (`from < to`, both >= 1).
pub(crate) fn fork_node(from: i64, to: i64) -> (i64, i64) {
    debug_assert!(1 <= from && from < to, "empty interval {from}..{to}");
    let hi = to - 1;
    let lvl = i64::from(64 - ((from ^ hi) as u64).leading_zeros());
    (lvl, from >> lvl)
}

/// The probes that together find every interval containing `n`, for an environment whose seqs are
/// at most `max_seq`. The open intervals come first.
pub(crate) fn probes(n: i64, max_seq: i64) -> Vec<Probe> {
    let top = i64::from(64 - (max_seq.max(1) as u64).leading_zeros());
    let mut probes = vec![Probe {
        lvl: OPEN_LEVEL,
        blk: 0,
        side: Side::From,
    }];
    for lvl in 0..=top {
        let blk = n >> lvl;
        let side = if lvl == 0 {
            Side::From
        } else {
            let mid = (blk << lvl) | (1 << (lvl - 1));
            if n < mid { Side::From } else { Side::To }
        };
        probes.push(Probe { lvl, blk, side });
    }
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over every closed interval within 1..=40: the probes find exactly the
    /// intervals containing each point.
    #[test]
    fn probes_find_exactly_the_intervals_containing_a_point() {
        let max = 40;
        let mut intervals = Vec::new();
        for from in 1..=max {
            for to in from + 1..=max + 1 {
                let (lvl, blk) = fork_node(from, to);
                intervals.push((from, to, lvl, blk));
            }
        }
        for n in 1..=max {
            let mut found: Vec<(i64, i64)> = Vec::new();
            for probe in probes(n, max) {
                for &(from, to, lvl, blk) in &intervals {
                    if lvl != probe.lvl || blk != probe.blk {
                        continue;
                    }
                    let hit = match probe.side {
                        Side::From => from <= n,
                        Side::To => to > n,
                    };
                    if hit {
                        found.push((from, to));
                    }
                }
            }
            found.sort_unstable();
            let mut expected: Vec<(i64, i64)> = intervals
                .iter()
                .filter(|i| i.0 <= n && n < i.1)
                .map(|i| (i.0, i.1))
                .collect();
            expected.sort_unstable();
            assert_eq!(found, expected, "point {n}");
        }
    }

    #[test]
    fn a_single_seq_interval_is_at_level_zero() {
        assert_eq!(fork_node(5, 6), (0, 5));
        assert_eq!(fork_node(4, 8), (2, 1));
        assert_eq!(fork_node(3, 5), (3, 0));
    }
}
