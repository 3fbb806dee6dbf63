//! Plumbing every probe may import (and the only probe code they share):
//! probes import these modules, never each other.
//!
//! - [`dpkg`] — which packages dpkg says are installed (installed vs. configured).
//! - [`presence`] — whether a program is installed: dpkg, then its binary,
//!   then (no package database) its configuration.
//! - [`reader`] — the one [`Reader`](reader::Reader): reads under a
//!   [`HostRoot`](crate::hostroot::HostRoot) and records what could not be read.
//! - [`systemd`] — the one systemd unit reader: unit directories, enabled,
//!   masked and present units, a unit's file.
//! - [`sysctl`] — the one sysctl reader: file order, parsing, and the one
//!   rule for a key's value (live, configured, kernel build default) with its source.
//! - `testutil` (tests only) — fixture trees, links, field listings.

pub mod dpkg;
pub mod presence;
pub mod reader;
pub mod sysctl;
pub mod systemd;
#[cfg(test)]
pub mod testutil;
