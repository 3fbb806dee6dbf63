//! The collector's configuration: `DIR/config.toml`, written by
//! `evident-collector init` and validated before `serve` starts. Relative
//! paths are relative to the data directory.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on (`127.0.0.1:8443`; `0.0.0.0:8443` for every interface).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Database URL: `sqlite://…` or `postgres://…`; empty means `evident.db` in the data directory.
    #[serde(default)]
    pub database: String,
    /// Serve plain HTTP instead of HTTPS; only behind a TLS-terminating proxy.
    #[serde(default)]
    pub plain_http: bool,
    /// Server certificate chain (PEM).
    #[serde(default = "default_cert")]
    pub tls_cert: PathBuf,
    /// Server private key (PEM).
    #[serde(default = "default_key")]
    pub tls_key: PathBuf,
    /// A second server certificate chain (PEM) whose key is Ed25519, served
    /// to the clients that offer Ed25519 signatures (agents): it costs the
    /// server less per new connection than `tls_cert`, which every other
    /// client (browsers) keeps getting. Issued by the same CA for the same
    /// names (`init` and `cert reissue` write both). Unset: `tls_cert` for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_ed25519: Option<PathBuf>,
    /// The Ed25519 private key (PKCS#8 PEM) of `tls_cert_ed25519`; set both or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_ed25519: Option<PathBuf>,
    /// File holding the admin bearer token.
    #[serde(default = "default_admin_token")]
    pub admin_token_file: PathBuf,
    /// Largest request body accepted, in bytes (larger bodies get 413 before parsing).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Newly enrolled agents stay `pending` until `evident-collector agents approve`.
    #[serde(default)]
    pub require_approval: bool,
    /// Policy files or directories to evaluate; empty means the bundled policies.
    #[serde(default)]
    pub policy_paths: Vec<PathBuf>,
    /// Framework mapping files or directories (`*.toml`, `*.csv`) that
    /// `report --framework`, `soa` and `isms` load besides the embedded NIST
    /// mappings (like `--mappings DIR`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapping_paths: Vec<PathBuf>,
    /// The user's ISO/IEC 27002 attribute values (like `--attributes FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<PathBuf>,
    /// Most envelopes committed in one database transaction (group commit).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Once more than one envelope is queued, how long the ingest writer
    /// waits for more (up to `max_batch`) before it commits, in ms: a busy
    /// collector then commits larger batches, with fewer commits and fsyncs
    /// per run; a lone envelope is never held. 0: commit what is queued.
    #[serde(default = "default_batch_linger")]
    pub batch_linger_ms: u64,
    /// Database connections (readers for SQLite; the pool size for PostgreSQL).
    #[serde(default = "default_connections")]
    pub max_connections: u32,
    /// How long a database operation may wait (lock, connection) before the request gets 503, in ms.
    #[serde(default = "default_db_timeout")]
    pub database_timeout_ms: u64,
    /// Seconds requests in flight get to finish on shutdown.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// SQLite `synchronous`: `full` (an acknowledged commit survives power
    /// loss; the default) or `normal` (survives a process crash only).
    #[serde(default = "default_synchronous")]
    pub sqlite_synchronous: String,
    /// Hostile clients and broken disks: limits, freshness, quotas (`[limits]`).
    #[serde(
        default,
        skip_serializing_if = "crate::limits::LimitsConfig::is_default"
    )]
    pub limits: crate::limits::LimitsConfig,
    /// Drift, stale-evidence and flapping settings (`[drift]`).
    #[serde(
        default,
        skip_serializing_if = "crate::alerting::config::DriftConfig::is_default"
    )]
    pub drift: crate::alerting::config::DriftConfig,
    /// The collector's public base URL (e.g. `https://collector.example:8443`):
    /// alert notifications link back to `PUBLIC_URL/alerts/ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Log output (`[log]`).
    #[serde(default, skip_serializing_if = "crate::logging::LogConfig::is_default")]
    pub log: crate::logging::LogConfig,
    /// Where alerts are delivered (`[[sink]]`, one table per sink).
    #[serde(default, rename = "sink", skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<crate::alerting::config::SinkConfig>,
    /// How long evidence and events are kept in full (`[retention]`).
    #[serde(
        default,
        skip_serializing_if = "crate::service::retention::RetentionConfig::is_default"
    )]
    pub retention: crate::service::retention::RetentionConfig,
}

fn default_listen() -> String {
    "127.0.0.1:8443".into()
}
fn default_cert() -> PathBuf {
    "server.pem".into()
}
fn default_key() -> PathBuf {
    "server.key".into()
}
fn default_admin_token() -> PathBuf {
    "admin.token".into()
}
fn default_max_body() -> usize {
    4 * 1024 * 1024
}
fn default_max_batch() -> usize {
    512
}
fn default_batch_linger() -> u64 {
    6
}
fn default_connections() -> u32 {
    8
}
fn default_db_timeout() -> u64 {
    5000
}
fn default_grace() -> u64 {
    10
}
fn default_synchronous() -> String {
    "full".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            database: String::new(),
            plain_http: false,
            tls_cert: default_cert(),
            tls_key: default_key(),
            tls_cert_ed25519: None,
            tls_key_ed25519: None,
            admin_token_file: default_admin_token(),
            max_body_bytes: default_max_body(),
            require_approval: false,
            policy_paths: Vec::new(),
            mapping_paths: Vec::new(),
            attributes: None,
            max_batch: default_max_batch(),
            batch_linger_ms: default_batch_linger(),
            max_connections: default_connections(),
            database_timeout_ms: default_db_timeout(),
            shutdown_grace_seconds: default_grace(),
            sqlite_synchronous: default_synchronous(),
            limits: Default::default(),
            drift: Default::default(),
            public_url: None,
            log: Default::default(),
            sinks: Vec::new(),
            retention: Default::default(),
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Toml {
        path: String,
        source: toml::de::Error,
    },
    #[error("config: {0}")]
    Invalid(String),
    /// The directory has no `config.toml`: `init` never ran there. Nothing
    /// is created in it (no database, no signing key).
    #[error("not an Evident data directory: {dir} (run `evident-collector init --dir {dir}`)")]
    NotInitialised { dir: String },
}

impl Config {
    /// The policy files to evaluate with (`policy_paths` under `dir`, else
    /// the bundled policies) and a discovered `waivers.toml`, read.
    pub fn policy_sources(
        &self,
        dir: &Path,
    ) -> Result<evident_policies::Sources, evident_policies::LoadError> {
        let paths: Vec<PathBuf> = self
            .policy_paths
            .iter()
            .map(|p| Config::path(dir, p))
            .collect();
        evident_policies::read_sources(&paths, None)
    }

    /// The file name inside the data directory.
    pub const FILE: &'static str = "config.toml";

    /// The default data directory (`--dir`, `EVIDENT_DIR`): the same in
    /// the systemd unit, the container image, Kubernetes and the README.
    pub const DEFAULT_DIR: &'static str = "/var/lib/evident";

    /// Read and validate `DIR/config.toml`. A directory without one is
    /// refused ([`ConfigError::NotInitialised`]): `init` never ran there.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        Self::require_initialised(dir)?;
        Self::load_file(&dir.join(Self::FILE))
    }

    /// Refuse a directory that `init` did not make (no `config.toml`), so
    /// that no command creates a database or a signing key in a wrong or
    /// mistyped directory.
    pub fn require_initialised(dir: &Path) -> Result<(), ConfigError> {
        if dir.join(Self::FILE).is_file() {
            Ok(())
        } else {
            Err(ConfigError::NotInitialised {
                dir: dir.display().to_string(),
            })
        }
    }

    /// Read and validate one config file; a missing file means defaults.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let config = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|source| ConfigError::Toml {
                path: path.display().to_string(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Check every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.listen.parse::<SocketAddr>().is_err() {
            return bad(format!("listen `{}` is not ADDRESS:PORT", self.listen));
        }
        if !self.database.is_empty()
            && !self.database.starts_with("sqlite:")
            && !self.database.starts_with("postgres://")
            && !self.database.starts_with("postgresql://")
        {
            return bad("database must be a sqlite:// or postgres:// URL".into());
        }
        if self.tls_cert_ed25519.is_some() != self.tls_key_ed25519.is_some() {
            return bad("tls_cert_ed25519 and tls_key_ed25519 must be set together".into());
        }
        if !(1024..=crate::limits::MAX_BODY_BYTES_CEILING).contains(&self.max_body_bytes) {
            return bad("max_body_bytes must be between 1024 and 268435456".into());
        }
        if !(1..=10_000).contains(&self.max_batch) {
            return bad("max_batch must be between 1 and 10000".into());
        }
        if self.batch_linger_ms > 1000 {
            return bad("batch_linger_ms must be between 0 and 1000".into());
        }
        if !(1..=1000).contains(&self.max_connections) {
            return bad("max_connections must be between 1 and 1000".into());
        }
        if !(10..=600_000).contains(&self.database_timeout_ms) {
            return bad("database_timeout_ms must be between 10 and 600000".into());
        }
        if self.shutdown_grace_seconds > 3600 {
            return bad("shutdown_grace_seconds must be at most 3600".into());
        }
        if self.durability().is_none() {
            return bad("sqlite_synchronous must be `full` or `normal`".into());
        }
        if let Some(u) = &self.public_url {
            if !(u.starts_with("https://") || u.starts_with("http://"))
                || u.contains(char::is_whitespace)
            {
                return bad(format!(
                    "public_url `{u}` must be an http:// or https:// URL"
                ));
            }
        }
        self.limits.validate().map_err(ConfigError::Invalid)?;
        crate::alerting::config::validate(&self.drift, &self.sinks)
            .map_err(ConfigError::Invalid)?;
        self.retention.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The Ed25519 certificate chain and key (`tls_cert_ed25519`,
    /// `tls_key_ed25519`) when both are set ([`Config::validate`] refuses
    /// one without the other).
    pub fn tls_ed25519(&self) -> Option<(&Path, &Path)> {
        self.tls_cert_ed25519
            .as_deref()
            .zip(self.tls_key_ed25519.as_deref())
    }

    /// `sqlite_synchronous` as a [`Durability`](crate::store::Durability).
    pub fn durability(&self) -> Option<crate::store::Durability> {
        match self.sqlite_synchronous.as_str() {
            "full" => Some(crate::store::Durability::Full),
            "normal" => Some(crate::store::Durability::Normal),
            _ => None,
        }
    }

    /// The database URL, defaulting to SQLite under `dir`.
    pub fn database_url(&self, dir: &Path) -> String {
        if self.database.is_empty() {
            format!("sqlite://{}", dir.join("evident.db").display())
        } else {
            self.database.clone()
        }
    }

    /// Resolve a configured path against the data directory.
    pub fn path(dir: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    }

    /// The TOML text, with a comment line per field.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        let mut out = String::from("# Evident collector configuration (see docs/protocol.md).\n");
        for line in body.lines() {
            if let Some(doc) = line.split(" = ").next().and_then(field_doc) {
                out.push_str("\n# ");
                out.push_str(doc);
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn field_doc(key: &str) -> Option<&'static str> {
    Some(match key {
        "listen" => "Address and port to listen on.",
        "database" => "Database URL (sqlite://… or postgres://…); empty: evident.db here.",
        "plain_http" => "Plain HTTP instead of HTTPS: only behind a TLS-terminating proxy.",
        "tls_cert" => "Server certificate chain (PEM).",
        "tls_key" => "Server private key (PEM).",
        "tls_cert_ed25519" => {
            "Server certificate chain with an Ed25519 key (PEM), for clients that accept it (agents)."
        }
        "tls_key_ed25519" => "Its private key (PEM); set both or neither.",
        "admin_token_file" => "File holding the admin bearer token.",
        "max_body_bytes" => "Largest request body in bytes (413 above it).",
        "require_approval" => "New agents wait for `evident-collector agents approve`.",
        "policy_paths" => "Policy files or directories; empty: the bundled policies.",
        "mapping_paths" => "Framework mapping files or directories (*.toml, *.csv).",
        "attributes" => "ISO/IEC 27002 attribute values file (TOML).",
        "max_batch" => "Most envelopes committed per database transaction.",
        "batch_linger_ms" => {
            "Once several envelopes are queued, ms the writer waits for more before committing."
        }
        "max_connections" => "Database connections.",
        "database_timeout_ms" => "Longest wait for the database before answering 503, in ms.",
        "shutdown_grace_seconds" => "Seconds requests in flight get to finish on shutdown.",
        "public_url" => "Public base URL; alert notifications link to PUBLIC_URL/alerts/ID.",
        "format" => "Log format: text or json (--log-format / EVIDENT_LOG_FORMAT win).",
        "sqlite_synchronous" => {
            "SQLite commits: full (survive power loss) or normal (process crash only)."
        }
        key => {
            return crate::limits::field_doc(key)
                .or_else(|| crate::alerting::config::field_doc(key))
                .or_else(|| crate::service::retention::field_doc(key))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_and_unknown_fields_are_refused() {
        let c = Config::default();
        let text = c.to_toml();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
        let bad = Config {
            max_batch: 0,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }

    /// Why `text` parses but does not validate.
    fn refusal(text: &str) -> String {
        let bad: Config = toml::from_str(text).unwrap();
        bad.validate().unwrap_err().to_string()
    }

    #[test]
    fn the_deploy_example_parses_and_limits_are_checked() {
        let c: Config = toml::from_str(include_str!("../../deploy/collector.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.durability(), Some(crate::store::Durability::Full));
        assert_eq!(c.limits, crate::limits::LimitsConfig::default());
        assert_eq!(c.batch_linger_ms, 6);
        assert!(refusal("sqlite_synchronous = \"off\"").contains("sqlite_synchronous"));
        assert!(refusal("batch_linger_ms = 1001").contains("batch_linger_ms"));
        assert_eq!(
            c.tls_cert_ed25519.as_deref(),
            Some(Path::new("server-ed25519.pem"))
        );
        assert!(refusal("tls_cert_ed25519 = \"x.pem\"").contains("set together"));
        assert!(toml::from_str::<Config>("[limits]\nmax_skew = 1\n").is_err());
        assert!(refusal("[limits]\nstatements_per_minute = 0\n").contains("statements_per_minute"));
    }
}
