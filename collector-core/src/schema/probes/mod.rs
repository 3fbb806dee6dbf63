//! One file per probe: its id, version, controls and documented fields.

use super::ProbeSchema;

pub mod accounts;
pub mod crypto;
pub mod file_permissions;
pub mod firewall;
pub mod host;
pub mod kernel;
pub mod logging;
pub mod mac;
pub mod malware;
pub mod network;
pub mod packages;
pub mod scheduled_jobs;
pub mod services;
pub mod sshd;
pub mod time;
pub mod vulns;

/// Every probe, in the order the agent runs and reports them. Adding a probe:
/// its file here plus one line below (and its folder plus one registry line in
/// the agent; a test checks the two registries agree).
pub static PROBES: &[&ProbeSchema] = &[
    &host::SCHEMA,
    &packages::SCHEMA,
    &sshd::SCHEMA,
    &accounts::SCHEMA,
    &logging::SCHEMA,
    &time::SCHEMA,
    &firewall::SCHEMA,
    &network::SCHEMA,
    &kernel::SCHEMA,
    &mac::SCHEMA,
    &crypto::SCHEMA,
    &malware::SCHEMA,
    &file_permissions::SCHEMA,
    &services::SCHEMA,
    &scheduled_jobs::SCHEMA,
];

/// Data the collector derives and binds to CEL like a probe's, but that no
/// agent collects (so not part of the wire contract of [`PROBES`]): `vulns`,
/// the match of the packages inventory against a vulnerability feed.
pub static DERIVED: &[&ProbeSchema] = &[&vulns::SCHEMA];
