//! `init` (config, private CA, server certificate, admin and enrollment
//! tokens) and `serve` (the HTTPS service with graceful shutdown).

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::service::{self, App};
use crate::store::{self, StoreError};
use crate::tls::{self, TlsError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the tables whose statistics are due are analyzed (`ANALYZE`
/// of what grew by a tenth / `PRAGMA optimize`; nothing when none is).
const STATISTICS_EVERY: Duration = Duration::from_secs(60);

/// Why `init` or `serve` failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} already exists; refusing to overwrite an initialised collector")]
    AlreadyInitialised(String),
    #[error("policies: {0}")]
    Policies(#[from] evident_policies::LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), ServerError> {
    crate::certs::write_private(path, contents).map_err(io(path))
}

/// What `init` made.
#[derive(Debug)]
pub struct Initialised {
    /// The data directory.
    pub dir: PathBuf,
    /// The database URL.
    pub database: String,
    /// The listen address in the config.
    pub listen: String,
    /// The URL agents use (a name the server certificate carries).
    pub agent_url: String,
    /// Every name the server certificate is valid for.
    pub names: Vec<String>,
    /// Key id (sha256 of the public key) of the collector's bundle-signing key.
    pub signing_key_id: String,
    /// When the first enrollment token expires (Unix ms).
    pub token_expires_at: Option<i64>,
}

/// The first enrollment token (`init`) expires after 24 hours.
pub const INIT_TOKEN_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// What `init` is asked for.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// `--san`: names for the server certificate (none: the host's names).
    pub sans: Vec<String>,
    /// The host's names, fully qualified first ([`crate::certs::this_host_names`]).
    pub host_names: Vec<String>,
    /// `--database`.
    pub database: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
}

/// Create `dir` with a config, a private CA and server certificate, an
/// admin token, a first enrollment token, the agent configuration
/// (`agent.toml`) and the collector's Ed25519 key that signs exported
/// evidence bundles (its fingerprint can be handed to auditors before any
/// bundle exists).
pub async fn init(dir: &Path, opts: InitOptions) -> Result<Initialised, ServerError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let cfg_path = dir.join(Config::FILE);
    if cfg_path.exists() {
        return Err(ServerError::AlreadyInitialised(
            cfg_path.display().to_string(),
        ));
    }
    let mut config = Config::default();
    if let Some(db) = opts.database {
        config.database = db;
    }
    if let Some(l) = opts.listen {
        config.listen = l;
    }
    config.validate()?;

    let sans = crate::certs::server_sans(&opts.sans, &opts.host_names, &config.listen);
    let agent_url = crate::certs::agent_url(&opts.sans, &opts.host_names, &config.listen);
    let g = tls::generate(&sans)?;
    std::fs::write(dir.join("ca.pem"), &g.ca_pem).map_err(io(&dir.join("ca.pem")))?;
    write_private(&dir.join("ca.key"), g.ca_key_pem.as_bytes())?;
    // A certificate chain (readable by all) and its key (by the owner alone).
    let write_pair = |cert: &Path, key: &Path, chain_pem: &str, key_pem: &str| {
        let cert = Config::path(dir, cert);
        std::fs::write(&cert, chain_pem).map_err(io(&cert))?;
        write_private(&Config::path(dir, key), key_pem.as_bytes())
    };
    write_pair(
        &config.tls_cert,
        &config.tls_key,
        &g.server.chain_pem,
        &g.server.key_pem,
    )?;
    let (cert, key) = (
        PathBuf::from("server-ed25519.pem"),
        PathBuf::from("server-ed25519.key"),
    );
    write_pair(
        &cert,
        &key,
        &g.server.ed25519_chain_pem,
        &g.server.ed25519_key_pem,
    )?;
    config.tls_cert_ed25519 = Some(cert);
    config.tls_key_ed25519 = Some(key);
    let agent_path = dir.join("agent.toml");
    std::fs::write(&agent_path, crate::certs::agent_toml(&agent_url)).map_err(io(&agent_path))?;
    let admin = format!("evadm_{}", service::random_hex(32));
    write_private(&dir.join("admin.token"), format!("{admin}\n").as_bytes())?;

    let url = config.database_url(dir);
    let store = store::guard::open_checked(
        dir,
        &url,
        2,
        Duration::from_millis(config.database_timeout_ms),
        config.durability().unwrap_or_default(),
    )
    .await?;
    let minted = service::admin::mint_token(
        &*store,
        crate::clock::Clock::from_env().now_ms(),
        Some(INIT_TOKEN_LIFETIME_MS),
        None,
    )
    .await
    .map_err(|e| ConfigError::Invalid(format!("enrollment token: {e}")))?;
    store.close().await;
    write_private(
        &dir.join("enroll.token"),
        format!("{}\n", minted.secret).as_bytes(),
    )?;
    let signer = crate::review::collector_signer(dir)
        .map_err(|e| ConfigError::Invalid(format!("collector signing key: {e}")))?;
    write_private(&cfg_path, config.to_toml().as_bytes())?;
    Ok(Initialised {
        dir: dir.to_path_buf(),
        database: redact_url(&url),
        listen: config.listen,
        agent_url,
        names: tls::server_names(&sans),
        signing_key_id: signer.key_id().to_string(),
        token_expires_at: minted.expires_at,
    })
}

/// A database URL without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Why a PostgreSQL URL leaves the connection open to eavesdropping or
/// impersonation: `sslmode` other than `verify-full` (`prefer`, sqlx's
/// default, falls back to plaintext silently; `require` and `verify-ca`
/// accept any host name) towards a host that is not this machine. None for
/// SQLite, Unix sockets, loopback and `verify-full`.
pub fn postgres_tls_warning(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, q),
        None => (rest, ""),
    };
    let hostport = authority
        .split('/')
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        hostport.split(':').next().unwrap_or_default()
    };
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let local = host.is_empty()
        || host == "localhost"
        || host.starts_with('%')
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || param("host").is_some_and(|h| h.starts_with('/') || h.starts_with("%2F"));
    let mode = param("sslmode").unwrap_or("prefer");
    if local || mode == "verify-full" {
        return None;
    }
    Some(format!(
        "PostgreSQL at {host} with sslmode={mode}: {}; use sslmode=verify-full&sslrootcert=CA.pem",
        match mode {
            "verify-ca" => "the server's certificate is checked, but not that it is for this host",
            "require" => "encrypted, but any server certificate is accepted",
            _ => "the connection may be unencrypted",
        }
    ))
}

/// Command-line overrides of the config for `serve`.
#[derive(Debug, Clone, Default)]
pub struct ServeOverrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database`.
    pub database: Option<String>,
    /// `--plain-http`.
    pub plain_http: bool,
}

/// Run the service until SIGINT/SIGTERM, then drain requests in flight.
/// `on_ready` gets the bound address (port 0 picks a free one).
pub async fn serve(
    dir: &Path,
    overrides: ServeOverrides,
    on_ready: impl FnOnce(SocketAddr, bool),
) -> Result<(), ServerError> {
    let mut config = Config::load(dir)?;
    if let Some(l) = overrides.listen {
        config.listen = l;
    }
    if let Some(d) = overrides.database {
        config.database = d;
    }
    config.plain_http |= overrides.plain_http;
    config.validate()?;

    let sources = config.policy_sources(dir)?;
    let policies = Arc::new(sources.load()?);
    let admin_path = Config::path(dir, &config.admin_token_file);
    let admin = std::fs::read_to_string(&admin_path).map_err(io(&admin_path))?;
    let url = config.database_url(dir);
    let timeout = Duration::from_millis(config.database_timeout_ms);
    let store = store::guard::open_checked(
        dir,
        &url,
        config.max_connections,
        timeout,
        config.durability().unwrap_or_default(),
    )
    .await?;
    let health = service::health::start_check(store.clone()).await;
    // Keep the exact files before any result is recorded with them: an
    // export carries the files each result cites, even after they change.
    store
        .keep_policy_files(&crate::review::policy_records(
            &sources,
            chrono::Utc::now().timestamp_millis(),
        ))
        .await?;
    tracing::info!(database = %redact_url(&url), kind = store.kind(), policies = policies.policies().len(), "store ready");
    if let Some(warning) = postgres_tls_warning(&url) {
        tracing::warn!("{warning}");
    }

    let metrics = Arc::new(Metrics::default());
    let alerting = Arc::new(
        crate::alerting::Alerting::new(
            dir,
            &config.drift,
            &config.sinks,
            metrics.clone(),
            config.public_url.clone(),
        )
        .map_err(|e| ConfigError::Invalid(e.to_string()))?,
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clock = crate::clock::Clock::from_env();
    let alert_tasks = alerting
        .clone()
        .spawn(store.clone(), clock.clone(), stop_rx.clone());
    let stats_task = {
        let (store, mut stop) = (store.clone(), stop_rx.clone());
        // Statistics after bulk growth: the planner keeps choosing the
        // per-host indexes as tables grow by orders of magnitude.
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(STATISTICS_EVERY) => {}
                    _ = stop.changed() => return,
                }
                if let Err(e) = store.refresh_statistics().await {
                    tracing::warn!(error = %e, "refreshing database statistics failed");
                }
            }
        })
    };
    // Retention in the background, in small batches (issue 10).
    let retention_task = config.retention.enabled.then(|| {
        service::retention::spawn(
            store.clone(),
            config.retention.clone(),
            clock.clone(),
            stop_rx.clone(),
        )
    });
    let (writer, writer_task) = service::writer::spawn(
        store.clone(),
        metrics.clone(),
        config.max_batch,
        Duration::from_millis(config.batch_linger_ms),
        stop_rx,
    );
    let app = Arc::new(App {
        store: store.clone(),
        ingest: service::ingest::Ingestor::new(writer, &policies)
            .with_drift(alerting.settings.clone()),
        policies,
        query: service::query::Query::default(),
        metrics,
        admin_token_hash: service::secret_hash(admin.trim()),
        require_approval: config.require_approval,
        max_body_bytes: config.max_body_bytes,
        clock,
        health,
        limits: config.limits.clone(),
        enroll_attempts: crate::limits::Windows::new(60_000, 100_000),
        quota_statements: crate::limits::Windows::new(60_000, 200_000),
        quota_bytes: crate::limits::Windows::new(86_400_000, 200_000),
        access: Default::default(),
        vuln: Default::default(),
        data_dir: Some(dir.to_path_buf()),
    });
    // A newly imported vulnerability snapshot: re-match the fleet's latest
    // inventories in the background (issue 18).
    let rematch_task = service::vuln_rematch::spawn(app.clone(), stop_tx.subscribe());
    // The console's background work: expired sessions, the fleet trend
    // (one snapshot of the fleet counts per day, backfilled from history).
    let trend_task =
        crate::console::housekeeping::spawn(store.clone(), app.clock.clone(), stop_tx.subscribe());
    let router =
        crate::http::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();

    let listener =
        std::net::TcpListener::bind(&config.listen).map_err(|source| ServerError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServerError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    let handle = axum_server::Handle::new();
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: draining requests in flight");
            handle.graceful_shutdown(Some(grace));
        });
    }
    let tls = !config.plain_http;
    tracing::info!(%addr, tls, "listening");
    on_ready(addr, tls);
    let header_timeout = Duration::from_millis(config.limits.header_timeout_ms);
    let cap = crate::conn::effective_cap(config.limits.max_client_connections);
    tracing::info!(
        max_client_connections = cap,
        header_timeout_ms = config.limits.header_timeout_ms,
        "connection limits"
    );
    let on_accept_error = |_: Option<&SocketAddr>, e: &std::io::Error| {
        // Refusals over the cap are logged by the acceptor; running out of
        // descriptors (EMFILE) is logged here, at most once a second.
        if e.raw_os_error().is_some() {
            static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
            let now_s = crate::clock::system_ms() / 1000;
            if LAST.swap(now_s, std::sync::atomic::Ordering::Relaxed) != now_s {
                tracing::error!(error = %e, "accepting connections failed");
            }
        }
    };
    let mut server = axum_server::from_tcp(listener)
        .map_err(io(Path::new(&config.listen)))?
        .handle(handle)
        .first_request_timeout(header_timeout)
        .accept_error_handler(on_accept_error);
    server
        .http_builder()
        .http1()
        .header_read_timeout(header_timeout);
    // The accept loop on a worker thread, not `block_on`'s: each
    // connection's task is then spawned onto that worker's own queue
    // instead of a worker being woken from outside for every connection.
    let accepting = if tls {
        let read = |p: &Path| {
            let p = Config::path(dir, p);
            std::fs::read(&p).map_err(io(&p))
        };
        let cert = read(&config.tls_cert)?;
        let key = read(&config.tls_key)?;
        let ed25519 = match config.tls_ed25519() {
            Some((c, k)) => Some((read(c)?, read(k)?)),
            None => None,
        };
        let rustls =
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls::server_config(
                &cert,
                &key,
                ed25519.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
            )?));
        // TCP_NODELAY on every accepted socket: small responses are not
        // held back by Nagle's algorithm waiting for the peer's delayed ACK.
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
            .handshake_timeout(header_timeout)
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        tokio::spawn(
            server
                .acceptor(crate::conn::CappedAcceptor::new(
                    acceptor,
                    cap,
                    app.metrics.clone(),
                ))
                .serve(router),
        )
    } else {
        tracing::warn!("plain HTTP: only run this behind a TLS-terminating proxy");
        tokio::spawn(
            server
                .acceptor(crate::conn::CappedAcceptor::new(
                    axum_server::accept::NoDelayAcceptor::new(),
                    cap,
                    app.metrics.clone(),
                ))
                .serve(router),
        )
    };
    let served = match accepting.await {
        Ok(served) => served,
        Err(e) => Err(std::io::Error::other(format!(
            "the accept loop failed: {e}"
        ))),
    };
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), writer_task).await;
    stats_task.abort();
    trend_task.abort();
    rematch_task.abort();
    if let Some(t) = retention_task {
        t.abort();
    }
    for t in alert_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    drop(app);
    store.close().await;
    tracing::info!("stopped");
    served.map_err(io(Path::new(&config.listen)))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_postgres_without_verify_full_is_warned_about() {
        let warn = |u: &str| postgres_tls_warning(u);
        assert!(warn("postgres://u:p@db.example:5432/evident")
            .is_some_and(|w| w.contains("may be unencrypted")));
        assert!(warn("postgres://db.example/e?sslmode=require")
            .is_some_and(|w| w.contains("any server certificate")));
        assert!(warn("postgresql://db.example/e?sslmode=verify-ca&sslrootcert=/c").is_some());
        assert!(warn("postgres://db.example/e?sslmode=verify-full&sslrootcert=/c").is_none());
        assert!(warn("postgres://u@127.0.0.1:5432/test").is_none());
        assert!(warn("postgres://u@localhost/test").is_none());
        assert!(warn("postgres://u@[::1]:5432/test").is_none());
        assert!(warn("postgres:///evident?host=/var/run/postgresql").is_none());
        assert!(warn("sqlite:///var/lib/evident/evident.db").is_none());
        assert!(
            warn("postgres://u@[2001:db8::1]:5432/e").is_some_and(|w| w.contains("2001:db8::1"))
        );
    }
}
