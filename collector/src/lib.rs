//! `evident-collector` as a library: the HTTPS service (enrollment, signed
//! evidence ingest, query API, metrics), its storage on SQLite or
//! PostgreSQL, and `init`. The binary in `main.rs` is a thin CLI over it.

pub mod alerting;
pub mod certs;
pub mod clock;
pub mod config;
pub mod conn;
pub mod console;
pub mod error;
pub mod http;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod review;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
