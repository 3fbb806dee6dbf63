//! `db check` (identity, lost write-ahead log, full integrity check) and
//! `db backup` (SQLite: a consistent online copy with `VACUUM INTO`;
//! PostgreSQL: the `pg_dump` command to use), and `api-token …` (scoped
//! tokens: admin, operator, auditor, metrics).

use super::common::{fmt_ms, open_store, runtime, DirArg};
use anyhow::Result;
use clap::Subcommand;
use evident_collector::clock::Clock;
use evident_collector::service::access;
use std::path::PathBuf;
use std::process::ExitCode;

/// `db …`.
#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Check the database: it is this directory's (identity), no write-ahead
    /// log was lost, and a full integrity check. Exit 1 when a problem is found.
    Check {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Write a consistent copy of the live database (SQLite; safe while
    /// `serve` runs). Restore: stop `serve`, put the copy in place of the
    /// database file (remove its `-wal` and `-shm` files), start again.
    Backup {
        #[command(flatten)]
        dir: DirArg,
        /// Where to write the copy (never overwritten).
        #[arg(long)]
        to: PathBuf,
    },
}

/// `api-token …`.
#[derive(Subcommand, Debug)]
pub enum ApiTokenCommand {
    /// Create a scoped API token and print it (shown once).
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// admin, operator (acknowledge alerts), auditor (read, export) or metrics (scrape).
        #[arg(long)]
        scope: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List API tokens.
    List {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Revoke an API token by id.
    Revoke {
        #[command(flatten)]
        dir: DirArg,
        /// Token id (from `api-token list`).
        id: String,
    },
}

/// `db …`.
pub fn db(cmd: DbCommand) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        match cmd {
            DbCommand::Check { dir } => {
                // Opening checks the identity and the write-ahead log.
                let (_, store) = open_store(&dir).await?;
                let problems = store.integrity_problems(true, 100).await;
                let id = store.store_identity().await;
                store.close().await;
                let problems = problems?;
                println!(
                    "store {} ({})",
                    id?.unwrap_or_else(|| "-".into()),
                    store.kind()
                );
                if problems.is_empty() {
                    println!("integrity check: ok");
                    Ok(ExitCode::SUCCESS)
                } else {
                    println!("integrity check: {} problem(s)", problems.len());
                    for p in problems {
                        println!("  {}", p.escape_debug());
                    }
                    Ok(ExitCode::from(1))
                }
            }
            DbCommand::Backup { dir, to } => {
                let (_, store) = open_store(&dir).await?;
                let done = store.backup_to(&to).await;
                store.close().await;
                done?;
                println!("backup written to {}", to.display());
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// `api-token …`.
pub fn api_token(cmd: ApiTokenCommand) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        match cmd {
            ApiTokenCommand::Create { dir, scope, name } => {
                let (_, store) = open_store(&dir).await?;
                let t = access::mint(&*store, &scope, &name, Clock::from_env().now_ms()).await;
                store.close().await;
                let t = t?;
                eprintln!("API token {} created (scope {})", t.info.id, t.info.scope);
                println!("{}", t.secret);
            }
            ApiTokenCommand::List { dir } => {
                let (_, store) = open_store(&dir).await?;
                let list = store.list_api_tokens().await;
                store.close().await;
                println!(
                    "{:<22} {:<9} {:<21} {:<8} name",
                    "id", "scope", "created", "state"
                );
                for t in list? {
                    println!(
                        "{:<22} {:<9} {:<21} {:<8} {}",
                        t.id,
                        t.scope,
                        fmt_ms(Some(t.created_at)),
                        if t.revoked { "revoked" } else { "valid" },
                        t.name.escape_debug()
                    );
                }
            }
            ApiTokenCommand::Revoke { dir, id } => {
                let (_, store) = open_store(&dir).await?;
                let done = access::revoke(&*store, &id).await;
                store.close().await;
                done?;
                println!("API token {id} revoked");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
