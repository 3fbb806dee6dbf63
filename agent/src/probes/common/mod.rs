//! Plumbing every probe may import (and the only probe code they share):
//! probes import these modules, never each other.
//!
//! - [`reader`] — the one [`Reader`](reader::Reader): reads under a
//!   [`HostRoot`](crate::hostroot::HostRoot) and records what could not be read.
//! - [`systemd`] — the one systemd unit reader: unit directories, enabled,
//!   masked and present units, a unit's file.
//! - `testutil` (tests only) — fixture trees, links, field listings.

pub mod reader;
pub mod systemd;
#[cfg(test)]
pub mod testutil;
