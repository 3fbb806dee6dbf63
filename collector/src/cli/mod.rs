//! Subcommands of `evident-collector`.

pub mod alerts;
pub mod attest;
pub mod catalog;
pub mod common;
pub mod export;
pub mod html;
pub mod oscal;
pub mod policy;
pub mod report;
pub mod server;
pub mod verify;
