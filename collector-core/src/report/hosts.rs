//! The report's host rows, held in memory or read one at a time from a
//! source the caller keeps elsewhere (the collector spills a fleet's rows to
//! a temporary file while it builds a report, so that a report's memory does
//! not grow with the fleet's rows: ~20–40 KB each with their failing rules).
//! Core stays pure: a [`HostRowSource`] is any indexed reader the caller
//! provides; reading it may fail, and every consumer sees that failure.

use super::HostRow;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;

/// Why a host row could not be read back from its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host row {index} of the report could not be read: {reason}")]
pub struct HostRowsError {
    /// Position of the row.
    pub index: usize,
    /// What went wrong.
    pub reason: String,
}

/// Host rows stored outside the report, in report order.
pub trait HostRowSource: Send + Sync + std::fmt::Debug {
    /// Number of rows.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Row `index` (`index < len()`).
    fn get(&self, index: usize) -> Result<HostRow, String>;
}

/// The rows of [`super::Report::hosts`], ordered by host name then agent.
#[derive(Debug, Clone)]
pub enum HostRows {
    /// In memory.
    Held(Vec<HostRow>),
    /// Read one at a time from a source.
    Source(Arc<dyn HostRowSource>),
}

impl Default for HostRows {
    fn default() -> Self {
        HostRows::Held(Vec::new())
    }
}

impl From<Vec<HostRow>> for HostRows {
    fn from(rows: Vec<HostRow>) -> Self {
        HostRows::Held(rows)
    }
}

impl HostRows {
    /// Number of hosts.
    pub fn len(&self) -> usize {
        match self {
            HostRows::Held(v) => v.len(),
            HostRows::Source(s) => s.len(),
        }
    }

    /// Whether the report has no host.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows in order; a row that cannot be read is an error (and the
    /// iteration goes on only if the caller keeps calling).
    pub fn iter(&self) -> impl Iterator<Item = Result<Cow<'_, HostRow>, HostRowsError>> + '_ {
        (0..self.len()).map(move |index| match self {
            HostRows::Held(v) => v.get(index).map(Cow::Borrowed).ok_or(HostRowsError {
                index,
                reason: "missing".into(),
            }),
            HostRows::Source(s) => s
                .get(index)
                .map(Cow::Owned)
                .map_err(|reason| HostRowsError { index, reason }),
        })
    }

    /// The rows when they are in memory.
    pub fn held(&self) -> Option<&[HostRow]> {
        match self {
            HostRows::Held(v) => Some(v),
            HostRows::Source(_) => None,
        }
    }

    /// Every row in memory (for small reports and tests).
    pub fn to_vec(&self) -> Result<Vec<HostRow>, HostRowsError> {
        self.iter().map(|r| r.map(Cow::into_owned)).collect()
    }
}

impl PartialEq for HostRows {
    /// Equal rows in the same order, wherever they are kept (a row that
    /// cannot be read makes the two unequal).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| matches!((a, b), (Ok(a), Ok(b)) if a == b))
    }
}

impl Eq for HostRows {}

impl Serialize for HostRows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for row in self.iter() {
            let row = row.map_err(S::Error::custom)?;
            seq.serialize_element(row.as_ref())?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for HostRows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<HostRow>::deserialize(d).map(HostRows::Held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use std::collections::BTreeMap;

    fn row(name: &str) -> HostRow {
        HostRow {
            agent: format!("agt-{name}"),
            hostname: name.into(),
            statements: 3,
            last_sequence: 3,
            last_collected: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            age_seconds: 60,
            fresh: true,
            rules: BTreeMap::from([("pass".to_string(), 2)]),
            controls: BTreeMap::new(),
            failing_rules: Vec::new(),
            waived_rules: Vec::new(),
            keys: Vec::new(),
        }
    }

    #[derive(Debug)]
    struct Rows(Vec<HostRow>, Option<usize>);

    impl HostRowSource for Rows {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn get(&self, index: usize) -> Result<HostRow, String> {
            if Some(index) == self.1 {
                return Err("disk gone".into());
            }
            self.0
                .get(index)
                .cloned()
                .ok_or_else(|| "out of range".into())
        }
    }

    #[test]
    fn a_source_serializes_as_the_held_rows_do() {
        let rows = vec![row("a"), row("b")];
        let held = HostRows::Held(rows.clone());
        let source = HostRows::Source(Arc::new(Rows(rows, None)));
        assert_eq!(
            serde_json::to_string(&held).unwrap(),
            serde_json::to_string(&source).unwrap()
        );
        assert_eq!(held, source);
        let back: HostRows =
            serde_json::from_str(&serde_json::to_string(&source).unwrap()).unwrap();
        assert_eq!(back, held);
        assert_eq!(source.to_vec().unwrap().len(), 2);
    }

    #[test]
    fn a_row_that_cannot_be_read_fails_serialization_and_equality() {
        let rows = vec![row("a"), row("b")];
        let broken = HostRows::Source(Arc::new(Rows(rows.clone(), Some(1))));
        let err = serde_json::to_string(&broken).unwrap_err().to_string();
        assert!(
            err.contains("host row 1") && err.contains("disk gone"),
            "{err}"
        );
        assert_ne!(broken, HostRows::Held(rows));
        assert!(broken.to_vec().is_err());
    }
}
