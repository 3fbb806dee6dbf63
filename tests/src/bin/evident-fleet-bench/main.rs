//! `evident-fleet-bench`: the collector measured the way real fleets use it.
//!
//! - `ingest`: end-to-end HTTPS load from a modelled fleet (round-robin over
//!   more hosts than any cache, gzip bodies, a new TLS connection per run,
//!   distinct per-host output with package churn, days of history).
//! - `populate`: a large signed history written straight into a store, to
//!   measure read paths at 1 M and 10 M statements.
//! - `handshake`: the collector's TLS server CPU per new connection, in
//!   memory, against rustls' defaults.
//!
//! `cargo build --release -p evident-collector -p evident-e2e &&
//!  target/release/evident-fleet-bench ingest --agents 10000`

mod fleet;
mod handshake;
mod ingest;
mod populate;

use anyhow::Result;
use clap::{Parser, Subcommand};
use fleet::Spec;

#[derive(Parser)]
#[command(about = "Collector benchmarks that model a real fleet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// End-to-end ingest over HTTPS from a modelled fleet.
    Ingest(ingest::IngestArgs),
    /// Write a signed history straight into a collector's store.
    Populate(populate::PopulateArgs),
    /// The TLS server's CPU per new agent connection, in memory.
    Handshake(handshake::HandshakeArgs),
}

/// How the modelled fleet behaves (shared by both commands).
#[derive(clap::Args)]
pub struct FleetArgs {
    /// Schedule interval in seconds: collected_at advances by this every run.
    #[arg(long, default_value_t = 3600)]
    interval: u64,
    /// A host installs package updates every this many runs (0: never).
    #[arg(long, default_value_t = 168)]
    churn_every: u64,
    /// Installed packages per host.
    #[arg(long, default_value_t = 600)]
    packages: usize,
    /// Distinct package inventories (default: one per host).
    #[arg(long)]
    images: Option<usize>,
    /// Sign predicate v1 statements (every run complete), like agents
    /// before predicate v2, instead of v2 (unchanged runs compact).
    #[arg(long)]
    v1: bool,
}

impl FleetArgs {
    /// The fleet's spec for `runs` runs of `hosts` hosts, ending about
    /// `end` (default: now).
    fn spec(&self, runs: u64, hosts: usize, end: Option<chrono::DateTime<chrono::Utc>>) -> Spec {
        let now = end.unwrap_or_else(chrono::Utc::now).timestamp();
        let interval = self.interval.max(1);
        let span = i64::try_from(runs.saturating_mul(interval)).unwrap_or(i64::MAX / 2);
        let start = (now - span) / 3600 * 3600;
        Spec {
            interval_s: interval,
            churn_every: self.churn_every,
            start: chrono::DateTime::from_timestamp(start, 0).unwrap_or_default(),
            images: self.images.unwrap_or(hosts),
            v2: !self.v1,
        }
    }
}

/// Map `f` over `items` on every core (contiguous chunks, order kept).
pub fn par_map<S: Send, T: Send>(items: &mut [S], f: impl Fn(&mut S) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks_mut(chunk)
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter_mut().map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Ingest(a) => ingest::run(a).await,
        Command::Populate(a) => populate::run(a).await,
        Command::Handshake(a) => handshake::run(a),
    }
}
