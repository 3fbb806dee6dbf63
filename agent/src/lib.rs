//! `evident-agent` as a library: probes, the host root they read through,
//! collection, the scan pipeline and report rendering, and the daemon
//! (configuration, key, state, spool, schedule, shipper, the supervisor and
//! its workers, install). The
//! binary in `main.rs` is a thin CLI over it.

pub mod collect;
pub mod config;
pub mod daemon;
pub mod fsutil;
pub mod hostroot;
pub mod install;
pub mod probes;
pub mod report;
pub mod scan;
pub mod schedule;
pub mod shell;
pub mod shipper;
pub mod signer;
pub mod spool;
pub mod state;
pub mod status;
pub mod supervisor;
