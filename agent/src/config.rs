//! The agent daemon's configuration: a TOML file (`/etc/evident/agent.toml`
//! by default; a documented example is `deploy/agent.toml`). Unknown keys are
//! rejected, and [`Config::validate`] checks everything before the daemon
//! starts: cron expressions parse, probe overrides name real probes, the
//! collector URL is HTTPS (unless `allow_http = true`), and the files it
//! names exist. Relative paths are relative to the configuration file's
//! directory.

use crate::schedule::{CronSchedule, ScheduleError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `run`, `status` and `install` look when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/evident/agent.toml";

/// `agent.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The collector's base URL (`https://collector.example:8443`).
    pub collector: String,
    /// PEM file with the CA certificate(s) the collector's certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Also trust the system's CA bundle (default: only `ca_file`).
    #[serde(default)]
    pub use_system_roots: bool,
    /// Allow a plain `http://` collector URL (tests, or behind a local TLS proxy).
    #[serde(default)]
    pub allow_http: bool,
    /// PEM client certificate (chain) for mutual TLS; needs `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// Directory for the signing key, the state file and the spool.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// File holding the enrollment token, read once on first start.
    #[serde(default)]
    pub enroll_token_file: Option<PathBuf>,
    /// The file system the probes read (`/`, or a mounted host root such as `/host`).
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// `root` is the running host's `/`, mounted into a container that
    /// shares the host's process and network namespaces (Kubernetes
    /// `hostPID` + `hostNetwork`): `root/proc`, `root/sys` and `root/run`
    /// are read as the live system (see `HostRoot::host_mode`).
    #[serde(default)]
    pub host_mode: bool,
    /// When probes run.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Bounds of the on-disk spool.
    #[serde(default)]
    pub spool: SpoolConfig,
    /// Delivery tuning.
    #[serde(default)]
    pub delivery: DeliveryConfig,
}

/// `[schedule]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron expression for every probe (`sec min hour day month weekday`; a
    /// five-field expression gets `0` seconds prepended).
    #[serde(default = "default_cron")]
    pub default: String,
    /// Probe id → cron expression overriding `default` for that probe.
    #[serde(default)]
    pub probes: BTreeMap<String, String>,
    /// Each run starts up to this many seconds after its cron time (random),
    /// so a fleet does not stampede the collector.
    #[serde(default = "default_jitter")]
    pub jitter_seconds: u64,
}

/// `[spool]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Largest total size of spooled statements, in bytes; the oldest are dropped beyond it.
    #[serde(default = "default_spool_bytes")]
    pub max_bytes: u64,
    /// Statements older than this many seconds are dropped undelivered.
    #[serde(default = "default_spool_age")]
    pub max_age_seconds: u64,
}

/// `[delivery]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// First retry delay after a failed delivery, in milliseconds (doubles each time).
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    /// Longest retry delay, in seconds.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_seconds: u64,
    /// Timeout of one HTTP request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_state_dir() -> PathBuf {
    "/var/lib/evident-agent".into()
}
fn default_root() -> PathBuf {
    "/".into()
}
fn default_cron() -> String {
    "0 */15 * * * *".into()
}
fn default_jitter() -> u64 {
    60
}
fn default_spool_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_spool_age() -> u64 {
    30 * 24 * 3600
}
fn default_backoff_initial() -> u64 {
    1000
}
fn default_backoff_max() -> u64 {
    300
}
fn default_timeout() -> u64 {
    30
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            default: default_cron(),
            probes: BTreeMap::new(),
            jitter_seconds: default_jitter(),
        }
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: default_spool_bytes(),
            max_age_seconds: default_spool_age(),
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            backoff_initial_ms: default_backoff_initial(),
            backoff_max_seconds: default_backoff_max(),
            timeout_seconds: default_timeout(),
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
        source: Box<toml::de::Error>,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: schedule for {what}: {source}")]
    Schedule {
        path: String,
        what: String,
        source: ScheduleError,
    },
}

impl Config {
    /// Read, resolve relative paths against the file's directory, and validate.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|source| ConfigError::Toml {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        config.resolve_paths(base);
        config.validate(path)?;
        Ok(config)
    }

    /// Parse TOML text without validating.
    pub fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// Make every relative path absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            &mut self.ca_file,
            &mut self.client_cert_file,
            &mut self.client_key_file,
            &mut self.enroll_token_file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        fix(&mut self.state_dir);
        fix(&mut self.root);
    }

    /// The file system the probes read: `root`, live when it is `/` or in
    /// `host_mode`.
    pub fn host_root(&self) -> crate::hostroot::HostRoot {
        if self.host_mode {
            crate::hostroot::HostRoot::host_mode(&self.root)
        } else {
            crate::hostroot::HostRoot::new(&self.root)
        }
    }

    /// Check every field; `path` only labels the errors.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let label = path.display().to_string();
        let bad = |message: String| {
            Err(ConfigError::Invalid {
                path: label.clone(),
                message,
            })
        };
        let url = match reqwest::Url::parse(&self.collector) {
            Ok(u) => u,
            Err(e) => return bad(format!("collector `{}` is not a URL: {e}", self.collector)),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return bad(format!(
                    "collector `{}` is plain HTTP; use https:// or set `allow_http = true`",
                    self.collector
                ))
            }
            other => return bad(format!("collector URL scheme `{other}` is not https")),
        }
        if url.host_str().is_none() {
            return bad(format!("collector `{}` names no host", self.collector));
        }
        if url.scheme() == "https" && self.ca_file.is_none() && !self.use_system_roots {
            return bad("set `ca_file` (the collector's CA) or `use_system_roots = true`".into());
        }
        let must_exist = |what: &str, p: &Option<PathBuf>| -> Result<(), ConfigError> {
            if let Some(p) = p {
                if !p.is_file() {
                    return bad(format!("{what} {} does not exist", p.display()));
                }
            }
            Ok(())
        };
        must_exist("ca_file", &self.ca_file)?;
        must_exist("client_cert_file", &self.client_cert_file)?;
        must_exist("client_key_file", &self.client_key_file)?;
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            return bad("client_cert_file and client_key_file go together".into());
        }
        if !self.root.is_dir() {
            return bad(format!("root {} is not a directory", self.root.display()));
        }
        let sched = |what: &str, expr: &str| {
            CronSchedule::parse(expr).map_err(|source| ConfigError::Schedule {
                path: label.clone(),
                what: what.to_string(),
                source,
            })
        };
        sched("default", &self.schedule.default)?;
        for (probe, expr) in &self.schedule.probes {
            if crate::probes::find(probe).is_none() {
                return bad(format!(
                    "schedule.probes: unknown probe `{probe}` (see `evident-agent probes`)"
                ));
            }
            sched(&format!("probe `{probe}`"), expr)?;
        }
        if self.schedule.jitter_seconds > 24 * 3600 {
            return bad("schedule.jitter_seconds must be at most 86400".into());
        }
        if self.spool.max_bytes < 64 * 1024 {
            return bad("spool.max_bytes must be at least 65536".into());
        }
        if self.spool.max_age_seconds < 60 {
            return bad("spool.max_age_seconds must be at least 60".into());
        }
        let d = &self.delivery;
        if !(10..=3_600_000).contains(&d.backoff_initial_ms) {
            return bad("delivery.backoff_initial_ms must be between 10 and 3600000".into());
        }
        if !(1..=86_400).contains(&d.backoff_max_seconds) {
            return bad("delivery.backoff_max_seconds must be between 1 and 86400".into());
        }
        if !(1..=3600).contains(&d.timeout_seconds) {
            return bad("delivery.timeout_seconds must be between 1 and 3600".into());
        }
        Ok(())
    }

    /// The enrollment token file must exist when the agent is not enrolled yet.
    pub fn check_enroll_token(&self) -> Result<&Path, String> {
        match &self.enroll_token_file {
            Some(p) if p.is_file() => Ok(p),
            Some(p) => Err(format!(
                "enroll_token_file {} does not exist (needed once, to enroll)",
                p.display()
            )),
            None => Err("the agent is not enrolled and no `enroll_token_file` is set".into()),
        }
    }

    /// A starting configuration (used by `install` when none is given).
    pub fn default_text() -> &'static str {
        include_str!("../../deploy/agent.toml")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("agent.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn base(dir: &Path) -> String {
        std::fs::write(dir.join("ca.pem"), "x").unwrap();
        std::fs::create_dir_all(dir.join("root")).unwrap();
        "collector = \"https://127.0.0.1:8443\"\nca_file = \"ca.pem\"\nstate_dir = \"state\"\nroot = \"root\"\n".to_string()
    }

    #[test]
    fn minimal_config_loads_with_resolved_paths() {
        let dir = tempfile::tempdir().unwrap();
        let text = base(dir.path());
        let c = Config::load(&write(dir.path(), &text)).unwrap();
        assert_eq!(c.ca_file.unwrap(), dir.path().join("ca.pem"));
        assert_eq!(c.state_dir, dir.path().join("state"));
        assert_eq!(c.schedule.default, "0 */15 * * * *");
    }

    #[test]
    fn the_documented_example_parses() {
        let c = Config::parse(Config::default_text()).unwrap();
        assert!(c.collector.starts_with("https://"));
        CronSchedule::parse(&c.schedule.default).unwrap();
        for expr in c.schedule.probes.values() {
            CronSchedule::parse(expr).unwrap();
        }
    }

    #[test]
    fn errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let b = base(dir.path());
        let cases: &[(&str, &str)] = &[
            ("colector = \"x\"\n", "unknown field"),
            ("[schedule]\ndefault = \"nonsense\"\n", "schedule for default"),
            (
                "[schedule]\ndefault = \"* * * * * *\"\n[schedule.probes]\nnope = \"* * * * * *\"\n",
                "unknown probe `nope`",
            ),
            (
                "[schedule.probes]\nsshd = \"61 * * * * *\"\n",
                "schedule for probe `sshd`",
            ),
            ("[spool]\nmax_bytes = 10\n", "spool.max_bytes"),
            ("client_cert_file = \"ca.pem\"\n", "go together"),
            ("enroll_token_file = 3\n", "invalid type"),
        ];
        for (extra, needle) in cases {
            let text = format!("{b}{extra}");
            let err = Config::load(&write(dir.path(), &text))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra:?}: {err}");
        }
        let http = b.replace("https://", "http://");
        let err = Config::load(&write(dir.path(), &http))
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_http"), "{err}");
        let ok = format!("{http}allow_http = true\n");
        Config::load(&write(dir.path(), &ok)).unwrap();
        let missing = b.replace("ca.pem", "missing.pem");
        let err = Config::load(&write(dir.path(), &missing))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.pem does not exist"), "{err}");
        let noroot = b.replace("root = \"root\"", "root = \"nowhere\"");
        let err = Config::load(&write(dir.path(), &noroot))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a directory"), "{err}");
    }
}
