//! Feed parsers: the Debian Security Tracker JSON (`debian.rs`, streamed)
//! and OSV records (`osv.rs`, one record at a time), both into a
//! [`SnapshotIndex`](super::SnapshotIndex). Readers are handed in by the
//! caller; [`HashingReader`] gives the snapshot's sha256 over exactly the
//! bytes parsed.

pub mod debian;
pub mod osv;

pub use debian::parse_debian_tracker;
pub use osv::{add_osv_record, OsvStats};

use crate::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::io::Read;

/// Why a feed was refused. A refused feed never replaces a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Malformed or truncated JSON, or a value of the wrong shape.
    #[error("{file}: {}line {line}, column {column}: {message}", if *.truncated { "truncated at " } else { "" })]
    Json {
        /// The file (or archive member) being read.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
        /// The input ended early.
        truncated: bool,
    },
    /// A read error of the underlying reader.
    #[error("{file}: read error: {message}")]
    Read {
        /// The file.
        file: String,
        /// The error.
        message: String,
    },
    /// The feed parsed but holds nothing usable.
    #[error("{file}: {message}")]
    Empty {
        /// The file.
        file: String,
        /// Why it is useless.
        message: String,
    },
}

impl FeedError {
    pub(crate) fn from_json(file: &str, e: &serde_json::Error) -> FeedError {
        if e.is_io() {
            return FeedError::Read {
                file: file.to_string(),
                message: e.to_string(),
            };
        }
        // serde_json appends " at line L column C" to its message.
        let full = e.to_string();
        let message = match full.rfind(" at line ") {
            Some(at) => full[..at].to_string(),
            None => full,
        };
        FeedError::Json {
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            message,
            truncated: e.is_eof(),
        }
    }
}

/// A reader that hashes (sha256) and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wrap a reader.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The digest and size of what was read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.hasher.finalize().into()), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(read) = buf.get(..n) {
            self.hasher.update(read);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}
