//! Subcommands of `evident-collector`.

pub mod alerts;
pub mod attest;
pub mod catalog;
pub mod common;
pub mod config;
pub mod db;
pub mod export;
pub mod feed;
pub mod framework;
pub mod isms;
pub mod key;
pub mod policy;
pub mod progress;
pub mod prune;
pub mod report;
pub mod server;
pub mod shell;
pub mod source;
pub mod verify;
pub mod vulns;
