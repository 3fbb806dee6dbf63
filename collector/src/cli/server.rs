//! `init`, `serve`, `token …` and `agents …`.

use super::common::{fmt_ms, open_store, runtime};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use evident_collector::certs;
use evident_collector::clock::Clock;
use evident_collector::config::Config;
use evident_collector::server::{self, InitOptions, ServeOverrides};
use evident_collector::service::admin;
use evident_core::wire::AgentStatus;
use std::io::Write as _;
use std::process::ExitCode;

pub use super::common::DirArg;

/// `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// A DNS name or IP address agents reach the collector by (repeatable).
    /// Default: this host's fully qualified name. localhost, 127.0.0.1, ::1
    /// and a specific --listen address are always added; the first --san is
    /// the URL written to DIR/agent.toml.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Listen address written to the config (`0.0.0.0:8443`: every interface).
    #[arg(long, env = "EVIDENT_LISTEN")]
    pub listen: Option<String>,
    /// Do nothing (exit 0) when DIR is initialised already: for systemd's
    /// ExecStartPre and container entrypoints.
    #[arg(long)]
    pub if_missing: bool,
}

/// `cert …`.
#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Issue a new server certificate from the existing CA (agents keep
    /// trusting it); restart `serve` to use it.
    Reissue {
        #[command(flatten)]
        dir: DirArg,
        /// A DNS name or IP address for the certificate (repeatable; default:
        /// this host's fully qualified name).
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
    },
}

/// `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Address and port to listen on, instead of the config's (port 0: any
    /// free port; the bound address is printed).
    #[arg(long, env = "EVIDENT_LISTEN")]
    pub listen: Option<String>,
    /// Serve plain HTTP: only behind a TLS-terminating proxy.
    #[arg(long)]
    pub plain_http: bool,
}

/// `token …`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an enrollment token and print it (shown once).
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// Lifetime: a number with s, m, h or d (e.g. `24h`, `7d`).
        #[arg(long)]
        expires: Option<String>,
        /// How many agents may enroll with it.
        #[arg(long)]
        uses: Option<i64>,
    },
    /// List enrollment tokens.
    List {
        #[command(flatten)]
        dir: DirArg,
        /// Output format (`json`: an array, stable field names, RFC 3339 times).
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Revoke an enrollment token by id.
    Revoke {
        #[command(flatten)]
        dir: DirArg,
        /// Token id (from `token list`).
        id: String,
    },
}

/// Output of `token list` and `agents list`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns; agent-supplied strings shown escaped.
    Table,
    /// A JSON array of objects (times RFC 3339 UTC or null).
    Json,
}

/// Unix ms as RFC 3339 UTC, or JSON null.
fn json_time(ms: Option<i64>) -> serde_json::Value {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .map_or(serde_json::Value::Null, serde_json::Value::String)
}

/// `agents …`.
#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// List enrolled agents.
    List {
        #[command(flatten)]
        dir: DirArg,
        /// Output format (`json`: an array, stable field names, RFC 3339 times).
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Approve a pending agent.
    Approve {
        #[command(flatten)]
        dir: DirArg,
        /// Agent id.
        id: String,
    },
    /// Revoke an agent: its evidence is refused from now on.
    Revoke {
        #[command(flatten)]
        dir: DirArg,
        /// Agent id.
        id: String,
    },
}

/// `init`.
pub fn init(args: InitArgs) -> Result<ExitCode> {
    if args.if_missing && args.dir.dir.join(Config::FILE).is_file() {
        println!(
            "{} is initialised already; nothing done",
            args.dir.dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt = runtime()?;
    let done = rt.block_on(server::init(
        &args.dir.dir,
        InitOptions {
            sans: args.sans.clone(),
            host_names: certs::this_host_names(),
            database: args.dir.database.clone(),
            listen: args.listen.clone(),
        },
    ))?;
    let d = done.dir.display();
    println!("Initialised {d}");
    println!("  config:           {d}/config.toml");
    println!("  database:         {}", done.database);
    println!("  CA certificate:   {d}/ca.pem   (give this to agents)");
    println!(
        "  server certificate: {d}/server.pem for {} (more names: `evident-collector cert reissue --san NAME`)",
        done.names.join(", ")
    );
    println!("  admin token:      {d}/admin.token");
    println!(
        "  enrollment token: {d}/enroll.token (expires {}; make more with `evident-collector token create --expires 24h --uses N`)",
        super::common::fmt_ms(done.token_expires_at)
    );
    println!(
        "  bundle signing key: {d}/collector.key (key id {}; auditors check exported bundles against it)",
        done.signing_key_id
    );
    println!(
        "  agent config:     {d}/agent.toml (collector = \"{}\")",
        done.agent_url
    );
    println!();
    println!("Start the collector:");
    println!("  evident-collector serve --dir {d}");
    println!("Point an agent at it: copy {d}/agent.toml, {d}/ca.pem and {d}/enroll.token to the");
    println!("host and run `evident-agent install --config agent.toml --ca ca.pem --enroll-token enroll.token`");
    println!("(the agent enrolls on its first run).");
    Ok(ExitCode::SUCCESS)
}

/// `cert …`.
pub fn cert(cmd: CertCommand) -> Result<ExitCode> {
    let CertCommand::Reissue { dir, sans } = cmd;
    let done = certs::reissue(&dir.dir, &sans, &certs::this_host_names())?;
    println!(
        "{}: new server certificate for {} (same CA: agents keep trusting it); restart `serve` to use it",
        done.cert.display(),
        done.names.join(", ")
    );
    if let Some(ed) = &done.cert_ed25519 {
        println!(
            "{}: new Ed25519 server certificate (for agents) for the same names",
            ed.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `serve`.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(server::serve(
        &args.dir.dir,
        ServeOverrides {
            listen: args.listen,
            database: args.dir.database,
            plain_http: args.plain_http,
        },
        |addr, tls| {
            let scheme = if tls { "https" } else { "http" };
            println!("listening on {scheme}://{addr}");
            let _ = std::io::stdout().flush();
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// An agent-supplied string as data on a terminal: control characters
/// (escapes, newlines) and bidirectional overrides shown escaped.
pub fn terminal_safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let unsafe_char = c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c);
            let shown: Vec<char> = if unsafe_char {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}

fn parse_duration(s: &str) -> Result<i64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| format!("bad duration `{s}`"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("bad duration unit in `{s}` (use s, m, h or d)"),
    };
    Ok(n.saturating_mul(mult))
}

/// `token …`.
pub fn token(cmd: TokenCommand) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        match cmd {
            TokenCommand::Create { dir, expires, uses } => {
                let (_, store) = open_store(&dir).await?;
                let now = Clock::from_env().now_ms();
                let t = admin::mint_token(
                    &*store,
                    now,
                    expires
                        .as_deref()
                        .map(parse_duration)
                        .transpose()?
                        .map(|s| s.saturating_mul(1000)),
                    uses,
                )
                .await?;
                store.close().await;
                eprintln!(
                    "token {} created (expires {}, uses {})",
                    t.id,
                    fmt_ms(t.expires_at),
                    uses.map(|u| u.to_string())
                        .unwrap_or_else(|| "unlimited".into())
                );
                println!("{}", t.secret);
            }
            TokenCommand::List { dir, format } => {
                let (_, store) = open_store(&dir).await?;
                let json = format == ListFormat::Json;
                if !json {
                    println!(
                        "{:<18} {:<21} {:<21} {:>6} {:>8} state",
                        "id", "created", "expires", "uses", "max"
                    );
                }
                let now = Clock::from_env().now_ms();
                let mut rows = Vec::new();
                for t in store.list_tokens().await? {
                    let state = if t.revoked {
                        "revoked"
                    } else if t.expires_at.is_some_and(|e| e <= now) {
                        "expired"
                    } else if t.max_uses.is_some_and(|m| t.uses >= m) {
                        "used-up"
                    } else {
                        "valid"
                    };
                    if json {
                        rows.push(serde_json::json!({
                            "id": t.id,
                            "created_at": json_time(Some(t.created_at)),
                            "expires_at": json_time(t.expires_at),
                            "uses": t.uses,
                            "max_uses": t.max_uses,
                            "revoked": t.revoked,
                            "state": state,
                        }));
                        continue;
                    }
                    println!(
                        "{:<18} {:<21} {:<21} {:>6} {:>8} {state}",
                        t.id,
                        fmt_ms(Some(t.created_at)),
                        fmt_ms(t.expires_at),
                        t.uses,
                        t.max_uses
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| "-".into())
                    );
                }
                store.close().await;
                if json {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                }
            }
            TokenCommand::Revoke { dir, id } => {
                let (_, store) = open_store(&dir).await?;
                let done = admin::revoke_token(&*store, &id).await;
                store.close().await;
                done?;
                println!("token {id} revoked");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `agents …`.
pub fn agents(cmd: AgentsCommand) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let (dir, id, status) = match cmd {
            AgentsCommand::List { dir, format } => {
                let (_, store) = open_store(&dir).await?;
                let json = format == ListFormat::Json;
                if json {
                    // Streamed one page at a time: memory stays bounded.
                    print!("[");
                } else {
                    println!(
                        "{:<22} {:<10} {:<24} {:>8} {:<21} key",
                        "id", "status", "hostname", "seq", "last seen"
                    );
                }
                let mut first = true;
                let mut after: Option<String> = None;
                loop {
                    let page = store.list_agents(after.as_deref(), 500).await?;
                    for a in &page {
                        if json {
                            let row = serde_json::json!({
                                "id": a.id,
                                "status": a.status.as_str(),
                                "hostname": a.hostname,
                                "agent_version": a.agent_version,
                                "key_id": a.key_id,
                                "enrolled_at": json_time(Some(a.enrolled_at)),
                                "last_seen": json_time(a.last_seen),
                                "last_sequence": a.last_sequence,
                            });
                            print!("{}\n  {row}", if first { "" } else { "," });
                            first = false;
                            continue;
                        }
                        println!(
                            "{:<22} {:<10} {:<24} {:>8} {:<21} {}",
                            a.id,
                            a.status.as_str(),
                            terminal_safe(&a.hostname),
                            a.last_sequence
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "-".into()),
                            fmt_ms(a.last_seen),
                            a.key_id.get(..16).unwrap_or_default()
                        );
                    }
                    if page.len() < 500 {
                        break;
                    }
                    after = page.last().map(|a| a.id.clone());
                }
                store.close().await;
                if json {
                    println!("{}]", if first { "" } else { "\n" });
                }
                return Ok(ExitCode::SUCCESS);
            }
            AgentsCommand::Approve { dir, id } => (dir, id, AgentStatus::Active),
            AgentsCommand::Revoke { dir, id } => (dir, id, AgentStatus::Revoked),
        };
        let (_, store) = open_store(&dir).await?;
        let done = admin::set_agent_status(&*store, &id, status).await;
        store.close().await;
        done?;
        println!("agent {id} is now {}", status.as_str());
        Ok(ExitCode::SUCCESS)
    })
}
