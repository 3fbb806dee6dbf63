//! `evident-agent install` and `uninstall`: put the agent in place as a
//! hardened systemd service, or take it away.
//!
//! Under a root prefix (`/` or `--root DIR` for packaging and tests),
//! `install` writes:
//!
//! - `usr/local/bin/evident-agent`: this binary;
//! - `etc/systemd/system/evident-agent.service`: the unit from
//!   `deploy/evident-agent.service`, its `ExecStart` pointed at that binary;
//! - `etc/evident/agent.toml`: `--config FILE`, or the documented example
//!   when no configuration is there yet (an existing one is kept);
//! - `etc/evident/enroll.token` (mode 0600): `--enroll-token FILE`;
//! - `etc/evident/ca.pem` (mode 0644): `--ca FILE`, the collector's CA
//!   certificate (`ca.pem` in the collector's data directory), checked to be
//!   PEM certificates;
//! - `var/lib/evident-agent/` (mode 0700): the state directory.
//!
//! On the live root with systemd running it then runs `systemctl
//! daemon-reload` and `systemctl enable --now`. `uninstall` disables and
//! removes the unit and the binary and keeps the configuration and the state
//! directory (the agent's key) unless `--purge`.

use crate::fsutil::{ensure_dir, write_atomic};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit file shipped in `deploy/`.
pub const UNIT: &str = include_str!("../../deploy/evident-agent.service");
/// The unit's name.
pub const UNIT_NAME: &str = "evident-agent.service";
/// Where `install` puts the binary (relative to the root).
pub const BIN_PATH: &str = "usr/local/bin/evident-agent";
/// Where the unit goes.
pub const UNIT_PATH: &str = "etc/systemd/system/evident-agent.service";
/// Where the configuration goes.
pub const CONFIG_PATH: &str = "etc/evident/agent.toml";
/// Where the enrollment token goes.
pub const TOKEN_PATH: &str = "etc/evident/enroll.token";
/// Where the collector's CA certificate goes.
pub const CA_PATH: &str = "etc/evident/ca.pem";
/// The state directory.
pub const STATE_PATH: &str = "var/lib/evident-agent";

/// Why installing failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("`{command}` failed: {message}")]
    Systemctl { command: String, message: String },
    #[error("{path}: {message}")]
    BadCa { path: String, message: String },
}

/// Refuse a CA file that holds no PEM certificate (or a broken one).
fn check_ca(path: &Path, text: &[u8]) -> Result<(), InstallError> {
    use rustls::pki_types::pem::PemObject as _;
    let mut certs = 0;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(text) {
        cert.map_err(|e| InstallError::BadCa {
            path: path.display().to_string(),
            message: format!("not a PEM certificate: {e}"),
        })?;
        certs += 1;
    }
    if certs == 0 {
        return Err(InstallError::BadCa {
            path: path.display().to_string(),
            message: "no PEM certificate in it (expected the collector's ca.pem)".into(),
        });
    }
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Root prefix (`/` for the live system).
    pub root: PathBuf,
    /// A configuration file to install.
    pub config: Option<PathBuf>,
    /// An enrollment token file to install.
    pub enroll_token: Option<PathBuf>,
    /// The collector's CA certificate (PEM) to install.
    pub ca: Option<PathBuf>,
    /// The binary to install (normally the running executable).
    pub binary: PathBuf,
}

/// The unit text with `ExecStart` pointed at `/<BIN_PATH>`.
pub fn unit_text() -> String {
    UNIT.replace(
        "ExecStart=/usr/bin/evident-agent ",
        &format!("ExecStart=/{BIN_PATH} "),
    )
}

fn is_live(root: &Path) -> bool {
    std::fs::canonicalize(root)
        .map(|p| p == Path::new("/"))
        .unwrap_or(false)
}

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn systemctl(args: &[&str]) -> Result<(), InstallError> {
    let out =
        Command::new("systemctl")
            .args(args)
            .output()
            .map_err(|e| InstallError::Systemctl {
                command: format!("systemctl {}", args.join(" ")),
                message: e.to_string(),
            })?;
    if !out.status.success() {
        return Err(InstallError::Systemctl {
            command: format!("systemctl {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Install; returns the lines describing what was done.
pub fn install(opts: &InstallOptions) -> Result<Vec<String>, InstallError> {
    let root = &opts.root;
    let mut done = Vec::new();
    if let Some(cfg) = &opts.config {
        // Refuse a configuration that does not even parse.
        let text = std::fs::read_to_string(cfg).map_err(io(cfg))?;
        crate::config::Config::parse(&text).map_err(|source| crate::config::ConfigError::Toml {
            path: cfg.display().to_string(),
            source: Box::new(source),
        })?;
    }
    let ca_text = match &opts.ca {
        Some(src) => {
            let text = std::fs::read(src).map_err(io(src))?;
            check_ca(src, &text)?;
            Some(text)
        }
        None => None,
    };
    for dir in ["usr/local/bin", "etc/systemd/system"] {
        let d = root.join(dir);
        ensure_dir(&d, 0o755).map_err(io(&d))?;
    }
    let etc = root.join("etc/evident");
    ensure_dir(&etc, 0o755).map_err(io(&etc))?;

    let bin = root.join(BIN_PATH);
    let bytes = std::fs::read(&opts.binary).map_err(io(&opts.binary))?;
    write_atomic(&bin, &bytes, 0o755).map_err(io(&bin))?;
    done.push(format!("installed {}", bin.display()));

    let unit = root.join(UNIT_PATH);
    write_atomic(&unit, unit_text().as_bytes(), 0o644).map_err(io(&unit))?;
    done.push(format!("installed {}", unit.display()));

    let config = root.join(CONFIG_PATH);
    match &opts.config {
        Some(src) => {
            let text = std::fs::read(src).map_err(io(src))?;
            write_atomic(&config, &text, 0o640).map_err(io(&config))?;
            done.push(format!(
                "installed {} from {}",
                config.display(),
                src.display()
            ));
        }
        None if config.exists() => done.push(format!("kept {}", config.display())),
        None => {
            write_atomic(
                &config,
                crate::config::Config::default_text().as_bytes(),
                0o640,
            )
            .map_err(io(&config))?;
            done.push(format!(
                "installed the example {}: set `collector` and `ca_file` before starting",
                config.display()
            ));
        }
    }
    if let Some(src) = &opts.enroll_token {
        let token = root.join(TOKEN_PATH);
        let text = std::fs::read(src).map_err(io(src))?;
        write_atomic(&token, &text, 0o600).map_err(io(&token))?;
        done.push(format!("installed {}", token.display()));
    }
    if let Some(text) = &ca_text {
        let ca = root.join(CA_PATH);
        write_atomic(&ca, text, 0o644).map_err(io(&ca))?;
        done.push(format!("installed {}", ca.display()));
    }
    let state = root.join(STATE_PATH);
    ensure_dir(&state, 0o700).map_err(io(&state))?;
    done.push(format!("state directory {}", state.display()));

    if is_live(root) && systemd_running() {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "--now", UNIT_NAME])?;
        done.push(format!("enabled and started {UNIT_NAME}"));
    } else {
        done.push("systemd not running (or --root given): service not enabled".into());
    }
    Ok(done)
}

/// Uninstall; `purge` also removes the configuration, the token and the state (key, spool).
pub fn uninstall(root: &Path, purge: bool) -> Result<Vec<String>, InstallError> {
    let mut done = Vec::new();
    if is_live(root) && systemd_running() {
        // Not enabled or not loaded is fine.
        let _ = systemctl(&["disable", "--now", UNIT_NAME]);
        done.push(format!("stopped and disabled {UNIT_NAME}"));
    }
    let mut remove = vec![UNIT_PATH, BIN_PATH];
    if purge {
        remove.extend([CONFIG_PATH, TOKEN_PATH, CA_PATH]);
    }
    for rel in remove {
        let p = root.join(rel);
        match std::fs::remove_file(&p) {
            Ok(()) => done.push(format!("removed {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&p)(e)),
        }
    }
    let state = root.join(STATE_PATH);
    if purge {
        match std::fs::remove_dir_all(&state) {
            Ok(()) => done.push(format!("removed {} (key, state, spool)", state.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&state)(e)),
        }
        let etc = root.join("etc/evident");
        if std::fs::remove_dir(&etc).is_ok() {
            done.push(format!("removed {}", etc.display()));
        }
    } else if state.exists() {
        done.push(format!(
            "kept {} and {} (use --purge to remove the key and configuration)",
            state.display(),
            root.join(CONFIG_PATH).display()
        ));
    }
    if is_live(root) && systemd_running() {
        let _ = systemctl(&["daemon-reload"]);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn install_then_uninstall_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let token = dir.path().join("token");
        std::fs::write(&token, "secret-token\n").unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"\x7fELF fake").unwrap();
        let opts = InstallOptions {
            root: root.clone(),
            config: None,
            enroll_token: Some(token),
            ca: None,
            binary: bin,
        };
        install(&opts).unwrap();
        let unit = std::fs::read_to_string(root.join(UNIT_PATH)).unwrap();
        assert!(unit.contains("ExecStart=/usr/local/bin/evident-agent run"));
        assert!(unit.contains("ProtectSystem=strict"));
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(TOKEN_PATH), 0o600);
        assert_eq!(mode(STATE_PATH), 0o700);
        assert_eq!(mode(BIN_PATH), 0o755);
        // A key in the state directory survives a plain uninstall.
        std::fs::write(root.join(STATE_PATH).join("agent.key"), [1u8; 32]).unwrap();
        uninstall(&root, false).unwrap();
        assert!(!root.join(UNIT_PATH).exists());
        assert!(!root.join(BIN_PATH).exists());
        assert!(root.join(STATE_PATH).join("agent.key").exists());
        assert!(root.join(CONFIG_PATH).exists());
        uninstall(&root, true).unwrap();
        assert!(!root.join(STATE_PATH).exists());
        assert!(!root.join(CONFIG_PATH).exists());
    }

    #[test]
    fn install_takes_the_collector_ca_and_refuses_a_file_that_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"\x7fELF fake").unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        let token = dir.path().join("enroll.token");
        std::fs::write(&token, "t\n").unwrap();
        let mut opts = InstallOptions {
            root: root.clone(),
            config: None,
            enroll_token: None,
            ca: Some(token),
            binary: bin,
        };
        // The enrollment token given as the CA: refused, nothing installed.
        let err = install(&opts).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        assert!(!root.join(BIN_PATH).exists());
        opts.ca = Some(ca);
        install(&opts).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join(CA_PATH)).unwrap(),
            ca_cert.pem()
        );
        uninstall(&root, true).unwrap();
        assert!(!root.join(CA_PATH).exists());
    }
}
