//! The names the collector's server certificate is made for (`init --san`,
//! `cert reissue`), the URL agents are told to use, and the agent
//! configuration `init` writes beside the CA (`DIR/agent.toml`).
//!
//! Default names: the host's fully qualified name (and its short name), as
//! the resolver's `/etc/hosts` gives it, plus localhost, 127.0.0.1, ::1 and
//! the listen address when it is a specific one (never 0.0.0.0 or ::, which
//! no client can check a certificate against).

use crate::config::Config;
use crate::tls::{self, TlsError};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// Why certificate files could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write a file readable only by its owner (a temporary file renamed over
/// the target, so a reader sees the old or the new contents, never half).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), std::io::Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp-write");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The host's names, fully qualified first: the kernel's host name and, when
/// it has no dot, the first dotted name `/etc/hosts` (text `etc_hosts`)
/// gives it (what `hostname --fqdn` answers from files).
pub fn host_names(hostname: &str, etc_hosts: &str) -> Vec<String> {
    let short = hostname.trim();
    if short.is_empty() || short == "localhost" || short.contains(char::is_whitespace) {
        return Vec::new();
    }
    let mut names = Vec::new();
    if !short.contains('.') {
        let prefix = format!("{short}.");
        for line in etc_hosts.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let aliases: Vec<&str> = line.split_whitespace().skip(1).collect();
            if !aliases.contains(&short) {
                continue;
            }
            if let Some(fqdn) = aliases.iter().find(|a| a.starts_with(&prefix)) {
                names.push((*fqdn).to_string());
                break;
            }
        }
    }
    names.push(short.to_string());
    names
}

/// This machine's names ([`host_names`] over `/proc/sys/kernel/hostname`
/// and `/etc/hosts`); empty when neither can be read.
pub fn this_host_names() -> Vec<String> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    host_names(&hostname, &hosts)
}

/// The specific address in `listen` (None for 0.0.0.0, :: or a bad value).
fn specific_listen_ip(listen: &str) -> Option<IpAddr> {
    listen
        .parse::<SocketAddr>()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
}

/// The extra names for the server certificate: the `explicit` ones
/// (`--san`), else the host's names; then the listen address when it is a
/// specific one. (localhost, 127.0.0.1 and ::1 are always added by
/// [`tls::server_names`].)
pub fn server_sans(explicit: &[String], host: &[String], listen: &str) -> Vec<String> {
    let mut sans: Vec<String> = if explicit.is_empty() {
        host.to_vec()
    } else {
        explicit.to_vec()
    };
    if let Some(ip) = specific_listen_ip(listen) {
        sans.push(ip.to_string());
    }
    sans
}

/// The URL agents use: the first explicit name, else the specific listen
/// address, else the host's fully qualified name, else localhost, always
/// a name the certificate carries.
pub fn agent_url(explicit: &[String], host: &[String], listen: &str) -> String {
    let port = listen
        .parse::<SocketAddr>()
        .map(|a| a.port())
        .unwrap_or(8443);
    let name = explicit
        .first()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| specific_listen_ip(listen).map(|ip| ip.to_string()))
        .or_else(|| host.first().cloned())
        .unwrap_or_else(|| "localhost".into());
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}"),
        _ => format!("https://{name}:{port}"),
    }
}

/// The agent configuration `init` writes as `DIR/agent.toml`, to copy to
/// `/etc/evident/agent.toml` on each host with `ca.pem` and `enroll.token`.
pub fn agent_toml(url: &str) -> String {
    format!(
        "# Agent configuration written by `evident-collector init`. Copy it to each host as\n\
         # /etc/evident/agent.toml, with this directory's ca.pem and enroll.token as\n\
         # /etc/evident/ca.pem and /etc/evident/enroll.token (or run\n\
         # `evident-agent install --config agent.toml --ca ca.pem --enroll-token enroll.token`).\n\
         # Every setting is described in deploy/agent.toml.\n\
         collector = \"{url}\"\n\
         ca_file = \"/etc/evident/ca.pem\"\n\
         enroll_token_file = \"/etc/evident/enroll.token\"\n\
         state_dir = \"/var/lib/evident-agent\"\n"
    )
}

/// What `cert reissue` did.
#[derive(Debug)]
pub struct Reissued {
    /// Every name the new certificate is valid for.
    pub names: Vec<String>,
    /// The certificate chain file written.
    pub cert: std::path::PathBuf,
    /// The Ed25519 certificate chain file written, when one is configured
    /// (`tls_cert_ed25519`): both certificates are for the same names.
    pub cert_ed25519: Option<std::path::PathBuf>,
}

/// Re-issue the server certificate of initialised data directory `dir`
/// from its CA (`ca.pem`, `ca.key`) for [`server_sans`] of `explicit`,
/// `host` and the configured listen address. Agents keep trusting it;
/// `serve` reads it on its next start.
pub fn reissue(dir: &Path, explicit: &[String], host: &[String]) -> Result<Reissued, CertError> {
    let config = Config::load(dir)?;
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(io(&p))
    };
    let ca_pem = read("ca.pem")?;
    let ca_key = read("ca.key")?;
    let sans = server_sans(explicit, host, &config.listen);
    let made = tls::reissue(&ca_pem, &ca_key, &sans)?;
    let write = |p: &Path, text: &str| {
        let p = Config::path(dir, p);
        write_private(&p, text.as_bytes()).map_err(io(&p))?;
        Ok::<_, CertError>(p)
    };
    write(&config.tls_key, &made.key_pem)?;
    let cert = write(&config.tls_cert, &made.chain_pem)?;
    let cert_ed25519 = match config.tls_ed25519() {
        Some((c, k)) => {
            write(k, &made.ed25519_key_pem)?;
            Some(write(c, &made.ed25519_chain_pem)?)
        }
        None => None,
    };
    Ok(Reissued {
        names: tls::server_names(&sans),
        cert,
        cert_ed25519,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "127.0.0.1 localhost\n127.0.1.1 col1.example.org col1 # the host\n";

    #[test]
    fn the_fqdn_comes_from_etc_hosts_when_the_host_name_is_short() {
        assert_eq!(host_names("col1\n", HOSTS), ["col1.example.org", "col1"]);
        assert_eq!(host_names("other", HOSTS), ["other"]);
        assert_eq!(host_names("a.example.net", HOSTS), ["a.example.net"]);
        assert!(host_names("localhost", HOSTS).is_empty());
        assert!(host_names("", HOSTS).is_empty());
    }

    #[test]
    fn unspecified_listen_addresses_never_become_names() {
        let host = vec!["col1.example.org".to_string(), "col1".to_string()];
        assert_eq!(
            server_sans(&[], &host, "0.0.0.0:8443"),
            ["col1.example.org", "col1"]
        );
        assert_eq!(server_sans(&[], &host, "[::]:8443"), host);
        assert_eq!(
            server_sans(&["ev.example".into()], &host, "10.1.2.3:8443"),
            ["ev.example", "10.1.2.3"]
        );
        assert_eq!(
            agent_url(&[], &host, "0.0.0.0:9443"),
            "https://col1.example.org:9443"
        );
        assert_eq!(
            agent_url(&[], &[], "0.0.0.0:8443"),
            "https://localhost:8443"
        );
        assert_eq!(agent_url(&[], &host, "[::1]:8443"), "https://[::1]:8443");
        assert_eq!(
            agent_url(&["ev.example".into()], &host, "10.1.2.3:8443"),
            "https://ev.example:8443"
        );
        assert_eq!(
            agent_url(&[], &host, "10.1.2.3:8443"),
            "https://10.1.2.3:8443"
        );
    }
}
