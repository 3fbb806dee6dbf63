//! The review side of the collector, callable from the CLI and the HTTP
//! layer alike: the collector's signing key, gathering a bundle's members
//! from the store, the bundle file, the report models built from members,
//! and the renderers (one module per format).
//!
//! Dependencies point one way: `render` → `model` → `evident_core`;
//! `period` (reports from the database, host by host) → `model`, `spill`,
//! `error`; `oscal_period` (OSCAL from the database) → `period`, `gather`,
//! `render`;
//! `export` (a bundle written as it is gathered) → `gather`, `bundle_file`;
//! `gather`, `bundle_file`, `key`, `soa` → `error`. Nothing here imports
//! `server`, `http` or `cli`.

pub mod bundle_file;
pub mod error;
pub mod export;
pub mod framework;
pub mod gather;
pub mod key;
pub mod model;
pub mod oscal_period;
pub mod period;
pub mod policy_files;
pub mod render;
pub mod soa;
pub mod spill;
pub mod stream;
pub mod trust;
pub mod vulns;

pub use bundle_file::{read_bundle, write_bundle};
pub use error::ReviewError;
pub use gather::{gather, scope, ExportFilter, Gathered};
pub use key::{collector_signer, COLLECTOR_KEY_FILE};
pub use model::Members;
pub use policy_files::policy_records;
pub use stream::verify_file;
