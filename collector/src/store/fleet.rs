//! Fleet count changes of one write transaction, summed before they are
//! written (issue #10).
//!
//! `fleet_status` holds, per control or rule subject and status, how many
//! active hosts' latest evaluation has it: a few hundred rows that every
//! changed evaluation moves. Written item by item, a writer batch of 64
//! first statements updated each of those rows 64 times in one transaction;
//! on PostgreSQL every update is a new row version that no one may prune
//! until the transaction ends, so the rows' pages filled with dead
//! versions, updates stopped being HOT and each later update walked the
//! growing chains (measured: 10,000 hosts' first statements left 1.77 M
//! dead versions behind ~300 live rows and cost ~10,700 page reads each).
//! The transaction now adds each item's moves into a [`FleetStatusDelta`] and
//! writes the sum once, just before it commits: one update per row and
//! transaction, and the same counts.

use std::collections::BTreeMap;

use evident_core::drift::StatusMap;

/// Per (subject, status): how many hosts join (+) or leave (−) the count.
#[derive(Debug, Default)]
pub(crate) struct FleetStatusDelta {
    moves: BTreeMap<(String, String), i64>,
}

impl FleetStatusDelta {
    /// Move one active host's control and rule statuses from `prev` to
    /// `next` (None: the host leaves or joins the counts).
    pub(crate) fn apply(&mut self, prev: Option<&StatusMap>, next: Option<&StatusMap>) {
        for (m, sign) in [(prev, -1), (next, 1)] {
            for (k, v) in m.into_iter().flat_map(|m| m.iter()) {
                if k.starts_with("control:") || k.starts_with("rule:") {
                    *self.moves.entry((k.clone(), v.clone())).or_default() += sign;
                }
            }
        }
    }

    /// The non-zero sums as `(subject, status, hosts)`, in (subject,
    /// status) order: the order concurrent writers lock the rows in.
    pub(crate) fn rows(&self) -> Vec<(&str, &str, i64)> {
        self.moves
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((subject, status), n)| (subject.as_str(), status.as_str(), *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> StatusMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn moves_of_many_hosts_sum_and_cancel() {
        let mut d = FleetStatusDelta::default();
        let pass = map(&[
            ("control:A.8.5", "satisfied"),
            ("rule:ssh", "pass"),
            ("other", "x"),
        ]);
        let fail = map(&[("control:A.8.5", "not-satisfied"), ("rule:ssh", "fail")]);
        // Two hosts join passing, one of them then fails.
        d.apply(None, Some(&pass));
        d.apply(None, Some(&pass));
        d.apply(Some(&pass), Some(&fail));
        assert_eq!(
            d.rows(),
            vec![
                ("control:A.8.5", "not-satisfied", 1),
                ("control:A.8.5", "satisfied", 1),
                ("rule:ssh", "fail", 1),
                ("rule:ssh", "pass", 1),
            ]
        );
        // Moves that cancel write nothing.
        let mut d = FleetStatusDelta::default();
        d.apply(None, Some(&fail));
        d.apply(Some(&fail), None);
        assert!(d.rows().is_empty());
    }
}
