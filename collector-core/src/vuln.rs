//! Vulnerability evidence (issue #18): distribution version ordering, the
//! Debian Security Tracker and OSV feed parsers, the compact snapshot index
//! they produce and the pure matching of a host's package inventory against
//! it.
//!
//! Everything here is pure: feeds are read from any [`std::io::Read`] the
//! caller opens, matching takes values and returns values. Imports run one
//! way: `version` → `index` → `feed` / `inventory` → `matching` → `probe` →
//! `basis` (what an evaluation's `vulns` data was computed from).

pub mod basis;
pub mod feed;
pub mod index;
pub mod inventory;
pub mod matching;
pub mod probe;
pub mod subset;
pub mod version;

pub use basis::{vulns_entry, FirstSeenRef, VulnBasis};
pub use index::{Entry, Release, SnapshotIndex, Status, Urgency};
pub use inventory::{Inventory, InventoryPackage};
pub use matching::{installed_sources, match_host, HostMatch, PackageFinding};
pub use version::{compare, Scheme, VersionError};
