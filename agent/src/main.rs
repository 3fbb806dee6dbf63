//! `evident-agent`: the command line. Parses arguments, calls the library,
//! maps outcomes to exit codes: 0 ok, 1 a rule fails, 2 error.

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use evident_agent::hostroot::HostRoot;
use evident_agent::probes::REGISTRY;
use evident_agent::{collect, report, scan};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "evident-agent",
    version = env!("EVIDENT_LONG_VERSION"),
    about = "Evident agent: probes this host for ISO/IEC 27001:2022 Annex A evidence"
)]
struct Cli {
    /// Log format of the service on stderr: text (default) or json (one
    /// object per line: timestamp, level, target, message and fields).
    #[arg(long, global = true, env = "EVIDENT_LOG_FORMAT", value_enum)]
    log_format: Option<service::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Probe the host, evaluate the policies, print a per-control report.
    Scan(ScanArgs),
    /// Print the raw evidence the probes collect.
    Collect(CollectArgs),
    /// List the probes with the controls they serve.
    Probes(ProbesArgs),
    /// Run as a service: collect on schedule, sign, spool, deliver to the collector.
    Run(RunArgs),
    /// Show the service's health: last run, last delivery, spool, errors.
    Status(StatusArgs),
    /// Install as a systemd service (binary, unit, configuration, state directory).
    Install(InstallArgs),
    /// Remove the systemd service (keeps the key and configuration unless --purge).
    Uninstall(UninstallArgs),
    /// Validate the configuration file (`config check`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(evident_agent::shell::CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand into --dir.
    Man(evident_agent::shell::ManArgs),
    /// One job of the service, started by `run` (not for direct use).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration: prints `ok` (exit 0) or the error with
    /// file, line and field (exit 2).
    Check {
        /// Configuration file (TOML).
        #[arg(long, default_value = evident_agent::config::DEFAULT_PATH)]
        config: PathBuf,
    },
}

#[derive(clap::Args)]
struct WorkerArgs {
    /// Configuration file (TOML).
    #[arg(long, default_value = evident_agent::config::DEFAULT_PATH)]
    config: PathBuf,
    /// Process id of the supervisor (the worker dies with it).
    #[arg(long)]
    parent: u32,
    /// Probes to collect, comma-separated (none: enroll and deliver only).
    #[arg(long, value_delimiter = ',')]
    probes: Vec<String>,
    /// First job after a start: check every spooled file.
    #[arg(long)]
    recover: bool,
    /// Stop delivering after this many milliseconds.
    #[arg(long, default_value_t = 60_000)]
    deliver_for_ms: u64,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Configuration file (TOML).
    #[arg(long, default_value = evident_agent::config::DEFAULT_PATH)]
    config: PathBuf,
    /// Collect once, deliver what can be delivered, and exit.
    #[arg(long)]
    once: bool,
}

#[derive(clap::Args)]
struct StatusArgs {
    /// Configuration file (TOML).
    #[arg(long, default_value = evident_agent::config::DEFAULT_PATH)]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: DataFormat,
}

#[derive(clap::Args)]
struct InstallArgs {
    /// Configuration file to install as /etc/evident/agent.toml (default: keep
    /// an existing one, or install the documented example).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Enrollment token file to install as /etc/evident/enroll.token.
    #[arg(long)]
    enroll_token: Option<PathBuf>,
    /// The collector's CA certificate (`ca.pem` from its data directory) to
    /// install as /etc/evident/ca.pem.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Install under this directory instead of / (packaging, tests); the
    /// service is then not enabled.
    #[arg(long, default_value = "/")]
    root: PathBuf,
}

#[derive(clap::Args)]
struct UninstallArgs {
    /// Uninstall from under this directory instead of /.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Also remove the configuration, the enrollment token and the state
    /// directory (the agent's key and undelivered evidence).
    #[arg(long)]
    purge: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScanFormat {
    Table,
    Json,
    Markdown,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Audit the file system under this directory (a mounted image or container root).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Audit the running host whose `/` is mounted here, from a container
    /// sharing its PID and network namespaces: files from DIR, and DIR/proc,
    /// DIR/sys, DIR/run read as the live system (like node_exporter's
    /// --path.rootfs).
    #[arg(long, value_name = "DIR", conflicts_with = "root")]
    host_root: Option<PathBuf>,
    /// Policy files or directories to evaluate instead of the bundled policies.
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// A waivers file (TOML).
    #[arg(long)]
    waivers: Option<PathBuf>,
    /// Keep what the apt lists offer the installed packages in DIR between
    /// runs, so unchanged lists are not read again (default:
    /// $XDG_CACHE_HOME/evident-agent, else ~/.cache/evident-agent). Never
    /// a directory inside --root / --host-root.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Read every apt list; neither use nor write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ScanFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DataFormat {
    Json,
    Table,
}

#[derive(clap::Args)]
struct CollectArgs {
    /// Read the file system under this directory.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Read the running host whose `/` is mounted here (as `scan --host-root`).
    #[arg(long, value_name = "DIR", conflicts_with = "root")]
    host_root: Option<PathBuf>,
    /// Only these probes (repeatable).
    #[arg(long = "probe")]
    probes: Vec<String>,
    /// Keep what the apt lists offer the installed packages in DIR between
    /// runs, so unchanged lists are not read again (default:
    /// $XDG_CACHE_HOME/evident-agent, else ~/.cache/evident-agent). Never
    /// a directory inside --root / --host-root.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Read every apt list; neither use nor write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: DataFormat,
}

#[derive(clap::Args)]
struct ProbesArgs {
    /// Output format (`markdown` is docs/probes.md: every field of every probe).
    #[arg(long, value_enum, default_value = "table")]
    format: ProbesFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProbesFormat {
    /// One line per probe.
    Table,
    /// The whole schema.
    Json,
    /// The probe reference (docs/probes.md).
    Markdown,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.log_format == Some(service::LogFormat::Json) {
        // Single-threaded still: the service's workers inherit the choice.
        std::env::set_var("EVIDENT_LOG_FORMAT", "json");
    }
    service::set_log_format(cli.log_format.unwrap_or_default());
    let result = match cli.command {
        Command::Scan(args) => run_scan(&args),
        Command::Collect(args) => run_collect(&args),
        Command::Probes(args) => run_probes(&args),
        Command::Run(args) => service::run(&args.config, args.once),
        Command::Status(args) => {
            service::status(&args.config, matches!(args.format, DataFormat::Json))
        }
        Command::Install(args) => {
            service::install(args.root, args.config, args.enroll_token, args.ca)
        }
        Command::Uninstall(args) => service::uninstall(&args.root, args.purge),
        Command::Config(ConfigCommand::Check { config }) => {
            match evident_agent::config::Config::load(&config) {
                Ok(_) => {
                    println!("ok");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    // The error names the file (and line for TOML errors).
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Completions(args) => evident_agent::shell::completions(&args, Cli::command()),
        Command::Man(args) => evident_agent::shell::man(&args, Cli::command()),
        Command::Worker(args) => service::worker(
            &args.config,
            args.parent,
            args.probes,
            args.recover,
            args.deliver_for_ms,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // The one place an error is shown, with its causes, each once.
            eprintln!("error: {}", evident_core::error_chain(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

mod service;

fn check_root(root: &PathBuf, host_root: Option<&PathBuf>) -> anyhow::Result<HostRoot> {
    if let Some(host) = host_root {
        anyhow::ensure!(
            host.is_dir(),
            "--host-root {}: not a directory",
            host.display()
        );
        return Ok(HostRoot::host_mode(host));
    }
    anyhow::ensure!(root.is_dir(), "--root {}: not a directory", root.display());
    Ok(HostRoot::new(root))
}

/// The root with the cache directory `scan` and `collect` use: `--cache-dir`,
/// else the user's cache directory; none with `--no-cache`. An explicit
/// directory inside the scanned root is an error; the default one there is
/// simply not used.
fn with_cache(root: HostRoot, dir: Option<&PathBuf>, no_cache: bool) -> anyhow::Result<HostRoot> {
    if no_cache {
        return Ok(root);
    }
    if let Some(dir) = dir {
        let root = root.with_cache_dir(Some(dir.clone()));
        anyhow::ensure!(
            root.cache_dir().is_some(),
            "--cache-dir {}: inside the scanned root (the agent never writes there)",
            dir.display()
        );
        return Ok(root);
    }
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let default = std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".cache"))
        })
        .map(|d| d.join("evident-agent"));
    Ok(root.with_cache_dir(default))
}

fn run_scan(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let root = check_root(&args.root, args.host_root.as_ref())?;
    let root = with_cache(root, args.cache_dir.as_ref(), args.no_cache)?;
    let sources = evident_policies::read_sources(&args.policies, args.waivers.as_deref())?;
    let (_, _, evaluation) = scan::load_and_scan(&sources, &root, chrono::Utc::now())?;
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let text = match args.format {
        ScanFormat::Table => report::table(
            &evaluation,
            report::Style::new(to_terminal && std::env::var_os("NO_COLOR").is_none()),
        ),
        ScanFormat::Markdown => report::markdown(&evaluation),
        ScanFormat::Json => report::json(&evaluation)? + "\n",
    };
    write_out(args.output.as_ref(), &text)?;
    for e in evaluation.rule_errors() {
        eprintln!("error: {e}");
    }
    Ok(ExitCode::from(scan::exit_code(&evaluation)))
}

fn write_out(path: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes());
            Ok(())
        }
    }
}

fn run_collect(args: &CollectArgs) -> anyhow::Result<ExitCode> {
    let root = check_root(&args.root, args.host_root.as_ref())?;
    let root = with_cache(root, args.cache_dir.as_ref(), args.no_cache)?;
    let collected = collect::collect(&root, &args.probes)?;
    let text = match args.format {
        DataFormat::Json => serde_json::to_string_pretty(&collected)? + "\n",
        DataFormat::Table => {
            let mut s = String::new();
            for p in &collected {
                s.push_str(&format!(
                    "{:<18} v{} {:<14} {:>7}us  {}\n",
                    p.probe,
                    p.version,
                    p.status.as_str(),
                    p.duration_us,
                    p.reason.as_deref().unwrap_or("")
                ));
            }
            s
        }
    };
    write_out(None, &text)?;
    Ok(ExitCode::SUCCESS)
}

fn run_probes(args: &ProbesArgs) -> anyhow::Result<ExitCode> {
    let text = match args.format {
        ProbesFormat::Markdown => evident_core::schema::markdown(),
        ProbesFormat::Json => {
            let list: Vec<_> = REGISTRY
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "id": p.spec.id, "version": p.spec.version, "description": p.spec.description,
                        "controls": p.spec.controls,
                        "fields": p.spec.fields.iter().map(|f| serde_json::json!({"name": f.path, "type": f.ty.to_string(), "doc": f.doc})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::to_string_pretty(&list)? + "\n"
        }
        ProbesFormat::Table => REGISTRY
            .iter()
            .map(|p| {
                format!(
                    "{:<18} v{}  {:<40} {}\n",
                    p.spec.id,
                    p.spec.version,
                    p.spec.controls.join(", "),
                    p.spec.description
                )
            })
            .collect(),
    };
    write_out(None, &text)?;
    Ok(ExitCode::SUCCESS)
}
