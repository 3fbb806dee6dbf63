//! `alerts`: list, acknowledge, and show drift timelines, straight from the
//! database (like `token` and `agents`).

use super::common::{fmt_ms, open_store, runtime, DirArg};
use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use evident_collector::clock::Clock;
use evident_collector::store::drift::{AlertQuery, AlertRecord};
use std::process::ExitCode;

/// Output format.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON document.
    Json,
}

/// `alerts`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// `alerts [--open] [--host H] [--kind K] [--format table|json]`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Only open or acknowledged alerts.
    #[arg(long)]
    pub open: bool,
    /// Only this host (agent id or host name).
    #[arg(long)]
    pub host: Option<String>,
    /// Only this kind: drift, stale, integrity.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(evident_collector::store::drift::ALERT_KINDS))]
    pub kind: Option<String>,
    /// Most alerts shown.
    #[arg(long, default_value_t = 200)]
    pub limit: i64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `alerts …` subcommands.
#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Acknowledge an open alert.
    Ack {
        #[command(flatten)]
        dir: DirArg,
        /// Alert id.
        id: i64,
        /// Why (recorded with the alert).
        #[arg(long)]
        reason: String,
        /// Who acknowledges (default: $USER).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
    /// Drift timeline of a host and/or a control.
    Timeline {
        #[command(flatten)]
        dir: DirArg,
        /// Agent id.
        #[arg(long)]
        host: Option<String>,
        /// Control id (e.g. A.8.5) or subject (rule:ID).
        #[arg(long)]
        control: Option<String>,
        /// Most transitions shown.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn print_table(alerts: &[AlertRecord]) {
    println!(
        "{:>6} {:<13} {:<9} {:<9} {:<20} {:<34} {:<21} detail",
        "id", "state", "kind", "severity", "host", "subject", "opened"
    );
    for a in alerts {
        let mut state = a.state.clone();
        if a.baseline {
            state.push('*');
        }
        if a.flapping {
            state.push('~');
        }
        println!(
            "{:>6} {:<13} {:<9} {:<9} {:<20} {:<34} {:<21} {}",
            a.id,
            state,
            a.kind,
            a.severity,
            super::server::terminal_safe(if a.hostname.is_empty() {
                &a.agent_id
            } else {
                &a.hostname
            }),
            super::server::terminal_safe(&a.subject),
            fmt_ms(Some(a.opened_at)),
            super::server::terminal_safe(&a.detail)
        );
    }
    if alerts.iter().any(|a| a.baseline || a.flapping) {
        println!("(* baseline: found on the host's first statement; ~ flapping)");
    }
}

/// `alerts …`.
pub fn run(args: AlertsArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        match args.command {
            None => {
                let l = args.list;
                let (_, store) = open_store(&l.dir).await?;
                let alerts = store
                    .list_alerts(&AlertQuery {
                        open_only: l.open,
                        host: l.host,
                        kind: l.kind,
                        after: None,
                        limit: l.limit.clamp(1, 100_000),
                    })
                    .await?;
                store.close().await;
                match l.format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&alerts)?),
                    Format::Table => print_table(&alerts),
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(AlertsCommand::Ack {
                dir,
                id,
                reason,
                by,
            }) => {
                if reason.trim().is_empty() {
                    bail!("--reason must not be empty");
                }
                let (_, store) = open_store(&dir).await?;
                let done = store
                    .ack_alert(id, &by, &reason, Clock::from_env().now_ms())
                    .await?;
                let current = store.alert(id).await?;
                store.close().await;
                match (done, current) {
                    (true, _) => {
                        println!("alert {id} acknowledged by {by}");
                        Ok(ExitCode::SUCCESS)
                    }
                    (false, None) => bail!("no alert {id}"),
                    (false, Some(a)) => bail!("alert {id} is {}, not open", a.state),
                }
            }
            Some(AlertsCommand::Timeline {
                dir,
                host,
                control,
                limit,
                format,
            }) => {
                let subject = control.map(|c| {
                    if c.contains(':') {
                        c
                    } else {
                        format!("control:{c}")
                    }
                });
                let (_, store) = open_store(&dir).await?;
                let rows = store
                    .transitions(host.as_deref(), subject.as_deref(), limit.clamp(1, 100_000))
                    .await?;
                store.close().await;
                match format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                    Format::Table => {
                        println!(
                            "{:<21} {:<22} {:>8} {:<34} change",
                            "at", "host", "seq", "subject"
                        );
                        for t in &rows {
                            println!(
                                "{:<21} {:<22} {:>8} {:<34} {} → {}",
                                fmt_ms(Some(t.at)),
                                t.agent_id,
                                t.sequence,
                                t.subject,
                                t.from.as_deref().unwrap_or("-"),
                                t.to
                            );
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
