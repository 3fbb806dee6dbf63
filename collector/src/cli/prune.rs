//! `prune`: one retention pass now, under the `[retention]` policy of the
//! data directory's config (`serve` also runs them in the background);
//! `--dry-run` says what would be pruned and changes nothing.

use super::common::{fmt_ms, open_store, runtime, DirArg};
use anyhow::Result;
use clap::Args;
use evident_collector::service::retention::run_pass;
use std::process::ExitCode;

/// `prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Say what would be pruned; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `prune`.
pub fn run(args: &PruneArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let report = rt.block_on(async {
        let (config, store) = open_store(&args.dir).await?;
        let now = evident_collector::clock::Clock::from_env().now_ms();
        let r = run_pass(&*store, &config.retention, now, args.dry_run, &|| false).await;
        store.close().await;
        Ok::<_, anyhow::Error>(r?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    match report.run {
        Some(id) => println!("retention run {id}: policy: {}", report.policy),
        None => println!("dry run: policy: {}", report.policy),
    }
    println!(
        "{verb} {} of {} statements considered (collected before {}, {} hosts) to chain stubs",
        report.pruned,
        report.considered,
        fmt_ms(Some(report.cutoff)),
        report.hosts
    );
    let e = &report.events;
    println!(
        "{verb} {} resolved alerts, {} transitions, {} delivered notifications, {} integrity events",
        e.alerts, e.transitions, e.outbox, e.integrity_events
    );
    Ok(ExitCode::SUCCESS)
}
