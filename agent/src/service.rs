//! The service subcommands of the CLI (`run`, `status`, `install`,
//! `uninstall`): argument plumbing, logging set-up, the tokio runtime and
//! signal handling around the library's daemon.

use anyhow::Context as _;
use evident_agent::config::Config;
use evident_agent::daemon::{Daemon, Job};
use evident_agent::supervisor::Supervisor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--log-format` / `EVIDENT_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line with stable fields: `timestamp` (RFC 3339
    /// UTC), `level`, `target`, `message` and the event's fields.
    Json,
}

static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Remember the format (before any logging is set up). Workers get it
/// through `EVIDENT_LOG_FORMAT`, which they inherit.
pub fn set_log_format(f: LogFormat) {
    let _ = LOG_FORMAT.set(f);
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = match LOG_FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        // Under systemd the journal stamps every line itself.
        LogFormat::Text if std::env::var_os("JOURNAL_STREAM").is_some() => {
            builder.with_target(false).without_time().try_init()
        }
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}

/// `run [--config FILE] [--once]`: the supervisor, or one in-process run.
pub fn run(config_path: &Path, once: bool) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = Config::load(config_path)?;
    let rt = runtime()?;
    rt.block_on(async move {
        if once {
            // `--once` keeps the default signal actions (a stop ends it at once).
            let mut daemon = Daemon::open(config, true)?;
            let left = daemon.run_once().await?;
            if left > 0 {
                anyhow::bail!(
                    "{left} statement(s) still spooled: delivery failed (see `evident-agent status`)"
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let shutdown = shutdown_signal();
        Supervisor::new(config_path.to_path_buf(), config)?
            .run(shutdown)
            .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `worker`: one job for the supervisor; the exit code is its [`Outcome`].
pub fn worker(
    config_path: &Path,
    parent: u32,
    probes: Vec<String>,
    recover: bool,
    deliver_for_ms: u64,
) -> anyhow::Result<ExitCode> {
    init_logging();
    evident_agent::supervisor::tie_to_parent(parent)?;
    let config = Config::load(config_path)?;
    let job = Job {
        probes,
        recover,
        deliver_for: std::time::Duration::from_millis(deliver_for_ms),
    };
    let rt = runtime()?;
    let outcome = rt.block_on(async move {
        let shutdown = shutdown_signal();
        let mut daemon = match Daemon::open(config, job.recover) {
            Ok(d) => d,
            // A full disk is waited out by the supervisor, never fatal.
            Err(e) if evident_agent::daemon::is_disk_full(&e) => {
                tracing::error!(error = %e, "the state directory's disk is full; the service retries with backoff");
                return Ok(evident_agent::daemon::Outcome::DiskFull);
            }
            Err(e) => return Err(anyhow::Error::from(e)),
        };
        Ok::<_, anyhow::Error>(daemon.work(&job, shutdown).await)
    })?;
    Ok(ExitCode::from(outcome.code()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Listen for SIGTERM and SIGINT right away (before the key, state and
/// spool are opened), so a stop during start-up is graceful too.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                tracing::warn!("cannot listen for signals; stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    }
}

/// `status [--config FILE] [--format json]`: exit 1 when not enrolled or delivery is stopped.
pub fn status(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let mut config = Config::parse(&text).with_context(|| config_path.display().to_string())?;
    if let Some(base) = config_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        config.resolve_paths(base);
    }
    let status = evident_agent::status::read(&config.collector, &config.state_dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.render());
    }
    Ok(if status.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `install [--config FILE] [--enroll-token FILE] [--root DIR]`.
pub fn install(
    root: PathBuf,
    config: Option<PathBuf>,
    enroll_token: Option<PathBuf>,
    ca: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let binary = std::env::current_exe().context("locating the running binary")?;
    let opts = evident_agent::install::InstallOptions {
        root,
        config,
        enroll_token,
        ca,
        binary,
    };
    for line in evident_agent::install::install(&opts)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `uninstall [--root DIR] [--purge]`.
pub fn uninstall(root: &Path, purge: bool) -> anyhow::Result<ExitCode> {
    for line in evident_agent::install::uninstall(root, purge)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
