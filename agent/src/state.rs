//! The agent's persistent state (`state.json` in the state directory):
//! enrollment, the hash chain (highest sequence handed out, last sequence
//! spooled and its envelope digest), the range of sequences lost but not yet
//! declared, blobs the collector is known to hold, and health (last run, last
//! delivery, last error) for `evident-agent status`.
//!
//! Every save is atomic and durable ([`crate::fsutil::write_atomic`]). The
//! daemon saves the reserved sequence number BEFORE it signs, so a number is
//! never used twice, even across a crash; a number reserved but never
//! spooled (crash in between) is declared as a gap by the next statement.

use crate::fsutil::write_atomic;
use chrono::{DateTime, Utc};
use evident_core::evidence::SequenceRange;
use evident_core::Digest;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";
/// How many blob digests known to the collector are remembered.
pub const KNOWN_BLOBS_CAP: usize = 512;

/// Everything the agent remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// Agent id assigned by the collector at enrollment.
    pub agent_id: Option<String>,
    /// Key id the enrollment registered.
    pub key_id: Option<String>,
    /// Enrollment status the collector answered (`active`, `pending`).
    pub enroll_status: Option<String>,
    /// The collector the agent enrolled with.
    pub enrolled_with: Option<String>,
    /// Highest sequence number ever handed out (saved before signing).
    pub reserved_sequence: u64,
    /// Sequence of the last statement written to the spool.
    pub head_sequence: u64,
    /// sha256 of the exact bytes of that statement's envelope.
    pub chain_head: Option<Digest>,
    /// Sequences lost (dropped from the spool or never spooled) and not yet
    /// declared by a delivered statement.
    pub pending_gap: Option<SequenceRange>,
    /// Every sequence range the agent ever had to drop, newest last (at most 32 kept).
    pub dropped: Vec<SequenceRange>,
    /// Blob digests the collector said it holds, oldest first.
    pub known_blobs: VecDeque<Digest>,
    /// When the last collection run finished.
    pub last_run: Option<DateTime<Utc>>,
    /// Sequence of the last run.
    pub last_run_sequence: Option<u64>,
    /// When the collector last acknowledged a statement (2xx).
    pub last_delivery: Option<DateTime<Utc>>,
    /// Sequence of the last acknowledged statement.
    pub last_delivered_sequence: Option<u64>,
    /// Statements delivered since the state was created.
    pub delivered_total: u64,
    /// Request body bytes sent for the last delivered statement.
    pub last_bytes_sent: u64,
    /// Request body bytes sent since the state was created.
    pub bytes_sent_total: u64,
    /// Statements the collector refused for good (moved to `spool/rejected/`).
    pub rejected_total: u64,
    /// The last error, and when.
    pub last_error: Option<String>,
    /// When `last_error` happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Set when the collector refused the key (403): delivery is stopped.
    pub delivery_stopped: Option<String>,
    /// Spool files found corrupt and moved aside.
    pub corrupt_total: u64,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: state file is corrupt ({source}); move it aside to start a new chain")]
    Corrupt {
        path: String,
        source: serde_json::Error,
    },
}

impl State {
    /// The state file under `state_dir`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(STATE_FILE)
    }

    /// Load the state; a missing file is a fresh state.
    pub fn load(state_dir: &Path) -> Result<State, StateError> {
        let path = State::path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
                path: path.display().to_string(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Save atomically and durably.
    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        let path = State::path(state_dir);
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        write_atomic(&path, &bytes, 0o600).map_err(|source| StateError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Hand out the next sequence number, declaring as lost any number
    /// reserved earlier but never spooled. The caller saves before signing.
    pub fn reserve_sequence(&mut self) -> u64 {
        if self.reserved_sequence > self.head_sequence {
            self.add_lost(SequenceRange {
                from: self.head_sequence + 1,
                to: self.reserved_sequence,
            });
            self.head_sequence = self.reserved_sequence;
        }
        self.reserved_sequence += 1;
        self.reserved_sequence
    }

    /// Record that statement `sequence` with envelope digest `digest` is spooled.
    pub fn spooled(&mut self, sequence: u64, digest: Digest) {
        if sequence >= self.head_sequence {
            self.head_sequence = sequence;
            self.chain_head = Some(digest);
        }
        self.reserved_sequence = self.reserved_sequence.max(sequence);
    }

    /// Merge a lost range into the pending gap and the drop history.
    pub fn add_lost(&mut self, range: SequenceRange) {
        self.pending_gap = Some(match self.pending_gap {
            None => range,
            Some(g) => SequenceRange {
                from: g.from.min(range.from),
                to: g.to.max(range.to),
            },
        });
        match self.dropped.last_mut() {
            Some(last) if last.to + 1 >= range.from && range.to + 1 >= last.from => {
                last.from = last.from.min(range.from);
                last.to = last.to.max(range.to);
            }
            _ => self.dropped.push(range),
        }
        if self.dropped.len() > 32 {
            self.dropped.remove(0);
        }
    }

    /// Record the collector's acknowledgement of statement `sequence`, which declared `gap`.
    pub fn delivered(&mut self, sequence: u64, gap: Option<SequenceRange>, now: DateTime<Utc>) {
        self.last_delivery = Some(now);
        self.last_delivered_sequence = Some(sequence);
        self.delivered_total += 1;
        if let (Some(pending), Some(declared)) = (self.pending_gap, gap) {
            if declared.from <= pending.from && declared.to >= pending.to {
                self.pending_gap = None;
            }
        }
        self.delivery_stopped = None;
    }

    /// Remember blobs the collector holds.
    pub fn remember_blobs(&mut self, digests: impl IntoIterator<Item = Digest>) {
        for d in digests {
            if let Some(pos) = self.known_blobs.iter().position(|k| *k == d) {
                self.known_blobs.remove(pos);
            }
            self.known_blobs.push_back(d);
        }
        while self.known_blobs.len() > KNOWN_BLOBS_CAP {
            self.known_blobs.pop_front();
        }
    }

    /// Forget blobs the collector says it lacks.
    pub fn forget_blobs(&mut self, digests: &[Digest]) {
        self.known_blobs.retain(|d| !digests.contains(d));
    }

    /// Record an error for `status`.
    pub fn error(&mut self, message: impl Into<String>, now: DateTime<Utc>) {
        self.last_error = Some(message.into());
        self.last_error_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::sha256_digest;

    #[test]
    fn round_trip_and_fresh_state() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut s = State {
            agent_id: Some("a1".into()),
            ..State::default()
        };
        let seq = s.reserve_sequence();
        s.spooled(seq, sha256_digest(b"x"));
        s.remember_blobs([sha256_digest(b"b")]);
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn corrupt_state_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(State::path(dir.path()), b"{\"agent_id\": ").unwrap();
        let err = State::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
    }

    #[test]
    fn reserved_but_unspooled_sequences_become_a_gap() {
        let mut s = State::default();
        let a = s.reserve_sequence();
        s.spooled(a, sha256_digest(b"1"));
        // Crash after reserving 2, before spooling it.
        assert_eq!(s.reserve_sequence(), 2);
        let c = s.reserve_sequence();
        assert_eq!(c, 3);
        assert_eq!(s.pending_gap, Some(SequenceRange { from: 2, to: 2 }));
        // The chain head is still statement 1's envelope.
        assert_eq!(s.chain_head, Some(sha256_digest(b"1")));
        s.spooled(c, sha256_digest(b"3"));
        // Delivered with the gap declared: pending cleared.
        s.delivered(3, Some(SequenceRange { from: 2, to: 2 }), Utc::now());
        assert_eq!(s.pending_gap, None);
    }

    #[test]
    fn lost_ranges_merge_and_clear_only_when_fully_declared() {
        let mut s = State::default();
        s.add_lost(SequenceRange { from: 1, to: 1 });
        s.add_lost(SequenceRange { from: 2, to: 4 });
        assert_eq!(s.pending_gap, Some(SequenceRange { from: 1, to: 4 }));
        assert_eq!(s.dropped, vec![SequenceRange { from: 1, to: 4 }]);
        s.delivered(5, Some(SequenceRange { from: 1, to: 3 }), Utc::now());
        assert_eq!(s.pending_gap, Some(SequenceRange { from: 1, to: 4 }));
        s.delivered(6, Some(SequenceRange { from: 1, to: 4 }), Utc::now());
        assert_eq!(s.pending_gap, None);
    }

    #[test]
    fn known_blobs_are_bounded() {
        let mut s = State::default();
        for i in 0..(KNOWN_BLOBS_CAP + 10) {
            s.remember_blobs([sha256_digest(&i.to_le_bytes())]);
        }
        assert_eq!(s.known_blobs.len(), KNOWN_BLOBS_CAP);
        s.forget_blobs(&[sha256_digest(&(KNOWN_BLOBS_CAP + 9).to_le_bytes())]);
        assert_eq!(s.known_blobs.len(), KNOWN_BLOBS_CAP - 1);
    }
}
