//! Probe `sshd`: the effective global OpenSSH server configuration, computed
//! from files exactly as `sshd -T` (without `-C`) computes it.
//!
//! Reads `/etc/ssh/sshd_config` and every file it pulls in with `Include`
//! (globs expanded in sorted order, paths relative to `/etc/ssh`, nested up to
//! sshd's depth limit of 16), on every distribution (Debian/Ubuntu drop-ins in
//! `/etc/ssh/sshd_config.d/`, RHEL 9 `50-redhat.conf` and crypto-policies
//! include, cloud-init `50-cloudimg-settings.conf`). Semantics follow
//! OpenSSH 9.2p1 (`servconf.c`, the version Debian 12 ships):
//!
//! - keywords are case-insensitive, `Keyword value`, `Keyword=value` and
//!   quoted values are accepted, `#` starts a comment;
//! - the first value of a keyword wins, except keywords that accumulate
//!   (`Port`, `ListenAddress`, `HostKey`, `HostCertificate`, `AllowUsers`,
//!   `DenyUsers`, `AllowGroups`, `DenyGroups`, `AcceptEnv`, `Subsystem`) and
//!   `MaxStartups`, which sshd overwrites (last value wins);
//! - deprecated aliases resolve to their keyword
//!   (`ChallengeResponseAuthentication` → `kbdinteractiveauthentication`,
//!   `PubkeyAcceptedKeyTypes` → `pubkeyacceptedalgorithms`, …);
//! - `Match` blocks do not apply to the global settings (they are reported
//!   apart), except `Match all`, which sshd applies like global settings;
//! - time values become seconds (`1m30s` → 90), algorithm lists are expanded
//!   (`+`, `-`, `^` and wildcards) against OpenSSH 9.2p1's defaults;
//! - every keyword left unset gets OpenSSH 9.2p1's compiled-in default
//!   (Debian build, `sshd -T -f /dev/null`).
//!
//! The probe runs no program; the integration test `tests/sshd_oracle.rs`
//! checks it against the real `sshd -T` on every fixture. Known deliberate
//! differences: `ListenAddress` host names are not resolved (numeric
//! addresses are printed as sshd prints them); comma-separated algorithm
//! lists and space-separated multi-value keywords are JSON lists.

mod algorithms;
mod effective;
mod include;
mod keywords;
mod lexer;
mod parser;
mod settings;

pub use include::{IncludeSource, MapSource};
pub use keywords::Print;
pub use lexer::convtime;
pub use parser::parse_sshd_config;

use include::ReaderSource;
use keywords::{KEYWORDS, PC, PL, PN, PS, PW};
use lexer::argv_split;
use std::cell::RefCell;

use super::common::presence::Packages;
use super::common::reader::Reader;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The main configuration file.
pub const MAIN_CONFIG: &str = "/etc/ssh/sshd_config";
/// Directory relative `Include` paths are resolved against (sshd's `SSHDIR`).
const SSHDIR: &str = "/etc/ssh";
/// sshd's `SERVCONF_MAX_DEPTH`.
const MAX_DEPTH: usize = 16;
/// Upper bound on files read, against pathological globs.
const MAX_FILES: usize = 256;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::sshd::SCHEMA;

/// One Match block.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MatchBlock {
    /// Criteria as written, tokens joined by one space.
    pub criteria: String,
    /// File holding the Match line.
    pub file: String,
    /// Keywords set within the block.
    pub settings: Map<String, Value>,
}

/// The probe's data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SshdFacts {
    /// Whether an OpenSSH server is on the root (see [`presence`]).
    pub installed: bool,
    /// What says so: `package`, `binary`, `config` or `absent`.
    pub installed_by: String,
    /// Effective global settings keyed by lowercase keyword.
    #[serde(flatten)]
    pub settings: Map<String, Value>,
    /// Match blocks in file order.
    pub match_blocks: Vec<MatchBlock>,
    /// Files read, in order.
    pub files: Vec<String>,
    /// Problems found.
    pub errors: Vec<String>,
}

/// Render a setting as the lines `sshd -T` prints for it (for comparisons).
pub fn sshd_t_lines(keyword: &str, value: &Value) -> Vec<String> {
    let print = KEYWORDS
        .iter()
        .find(|k| k.name == keyword)
        .map_or(PS, |k| k.print);
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (value, print) {
        (Value::Array(items), PL) => items
            .iter()
            .map(|i| format!("{keyword} {}", scalar(i)))
            .collect(),
        (Value::Array(items), PW) if !items.is_empty() => vec![format!(
            "{keyword} {}",
            items.iter().map(scalar).collect::<Vec<_>>().join(" ")
        )],
        (Value::Array(items), PC) if !items.is_empty() => vec![format!(
            "{keyword} {}",
            items.iter().map(scalar).collect::<Vec<_>>().join(",")
        )],
        (Value::Array(_), _) => Vec::new(),
        (v, _) => vec![format!("{keyword} {}", scalar(v))],
    }
}

/// Keywords the probe reports as global settings, in `sshd -T` order.
pub fn reported_keywords() -> impl Iterator<Item = &'static str> {
    KEYWORDS.iter().filter(|k| k.print != PN).map(|k| k.name)
}

/// The host keys sshd uses when no `HostKey` is configured.
pub const DEFAULT_HOST_KEYS: &[&str] = &[
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
];

/// Compare effective settings with `sshd -T` output, keyword by keyword, for
/// every keyword the probe reports. Returns one message per difference.
/// `listenaddress` is compared as a set (its order follows the resolver).
pub fn diff_with_sshd_t(settings: &Map<String, Value>, sshd_t: &str) -> Vec<String> {
    let mut by_kw: HashMap<&str, Vec<String>> = HashMap::new();
    for line in sshd_t.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        let kw = line.split(' ').next().unwrap_or_default();
        by_kw.entry(kw).or_default().push(line.to_string());
    }
    let mut diffs = Vec::new();
    for kw in reported_keywords() {
        let mine = settings
            .get(kw)
            .map(|v| sshd_t_lines(kw, v))
            .unwrap_or_default();
        let mut theirs = by_kw.get(kw).cloned().unwrap_or_default();
        let mut mine_cmp = mine.clone();
        if kw == "listenaddress" {
            mine_cmp.sort();
            theirs.sort();
        }
        if mine_cmp != theirs {
            diffs.push(format!("{kw}: probe {mine:?} != sshd -T {theirs:?}"));
        }
    }
    diffs
}

/// Where the sshd binary is installed by the distributions (and by hand).
const BINARIES: &[&str] = &["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"];

/// Whether an OpenSSH server is on the root, and what says so: dpkg lists
/// `openssh-server` as installed (`package`); an sshd binary exists
/// (`binary`, rpm hosts and builds from source); with no package database to
/// ask, its configuration exists (`config`). Otherwise it is `absent` — also
/// when only a configuration is left behind by `apt remove`, which dpkg
/// reports as `config-files`.
pub fn presence(r: &mut Reader<'_>) -> (bool, &'static str) {
    Packages::read(r, &["openssh-server"]).presence(r, "openssh-server", BINARIES, &[MAIN_CONFIG])
}

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    collect_with(&mut Reader::new(root))
}

/// Collect through `r` (tests simulate an unprivileged scan with
/// [`Reader::denying`]). A configuration file or directory refused for lack
/// of permission (CIS hardening makes `sshd_config` 0600) leaves sshd's
/// effective settings unknown: the probe then fails with a "run the scan as
/// root" reason, so every sshd rule reads `no-evidence`, never a pass or a
/// failure judged on OpenSSH's defaults.
pub fn collect_with(r: &mut Reader<'_>) -> Outcome {
    let (installed, by) = presence(r);
    let before = r.unreadable.len();
    let text = match r.read(MAIN_CONFIG) {
        Some(t) => t,
        None if r.is_denied(MAIN_CONFIG) => return denied(r),
        None => match r.unreadable.get(before) {
            Some(e) => return Outcome::Error(format!("cannot read sshd configuration: {e}")),
            None if installed => {
                return Outcome::Error(format!(
                    "sshd is installed ({by}) but {MAIN_CONFIG} is missing: sshd refuses to start without it"
                ))
            }
            // Absent: OpenSSH's defaults, which no rule judges (not applicable).
            None => String::new(),
        },
    };
    let mut facts = parse_sshd_config(MAIN_CONFIG, &text, &ReaderSource(RefCell::new(&mut *r)));
    if !r.denied.is_empty() {
        return denied(r);
    }
    facts.installed = installed;
    facts.installed_by = by.to_string();
    Outcome::from_facts(&facts)
}

/// The probe's failure when part of the configuration was refused.
fn denied(r: &Reader<'_>) -> Outcome {
    Outcome::Error(format!(
        "run the scan as root: {} could not be read (permission denied), so sshd's effective settings are unknown",
        r.denied.join(", ")
    ))
}

/// Fuzz entry point: parse arbitrary text as a configuration (no includes).
pub fn fuzz_parse(input: &str) {
    let src = MapSource(vec![(
        "/etc/ssh/sshd_config.d/a.conf".into(),
        input.to_string(),
    )]);
    let _ = parse_sshd_config(MAIN_CONFIG, input, &src);
    let _ = convtime(input);
    let _ = argv_split(input);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const FIXTURES: &[&str] = &[
        "algorithms",
        "aliases",
        "debian12-default",
        "debian12-dropins",
        "debian12-hardened",
        "listen-addresses",
        "listen-inet",
        "match-all",
        "match-blocks",
        "nested-includes",
        "quirks",
        "rhel9-default",
        "time-units",
        "ubuntu-cloudimg",
        "weak-legacy",
    ];

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sshd")
            .join(name)
    }

    fn facts(name: &str) -> Value {
        match collect(&HostRoot::offline(fixture(name))) {
            Outcome::Ok(v) => v,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn every_fixture_matches_the_recorded_sshd_t_output() {
        for name in FIXTURES {
            let v = facts(name);
            let golden = std::fs::read_to_string(fixture(name).join("sshd-T.txt")).unwrap();
            let diffs = diff_with_sshd_t(v.as_object().unwrap(), &golden);
            assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n"));
        }
    }

    #[test]
    fn every_documented_field_is_emitted() {
        let v = facts("debian12-default");
        for f in SCHEMA.fields {
            let top = f.path.split(['.', '[']).next().unwrap();
            if top.starts_with('<') {
                continue;
            }
            assert!(v.get(top).is_some(), "missing {top}");
        }
        for kw in reported_keywords() {
            assert!(v.get(kw).is_some(), "missing {kw}");
        }
    }

    #[test]
    fn debian_defaults_and_types() {
        let v = facts("debian12-default");
        assert_eq!(v["permitrootlogin"], "without-password");
        assert_eq!(v["kbdinteractiveauthentication"], "no");
        assert_eq!(v["passwordauthentication"], "yes");
        assert_eq!(v["x11forwarding"], "yes");
        assert_eq!(v["maxauthtries"], 6);
        assert_eq!(v["logingracetime"], 120);
        assert_eq!(v["port"], serde_json::json!([22]));
        assert_eq!(v["acceptenv"], serde_json::json!(["LANG", "LC_*"]));
        assert_eq!(
            v["subsystem"],
            serde_json::json!(["sftp /usr/lib/openssh/sftp-server"])
        );
        assert_eq!(v["allowusers"], serde_json::json!([]));
        assert_eq!(v["hostkey"].as_array().unwrap().len(), 3);
        assert!(v["ciphers"]
            .as_array()
            .unwrap()
            .contains(&Value::from("aes256-gcm@openssh.com")));
        assert_eq!(v["files"], serde_json::json!(["/etc/ssh/sshd_config"]));
        assert_eq!(v["errors"], serde_json::json!([]));
    }

    #[test]
    fn drop_ins_are_read_sorted_and_the_first_value_wins() {
        let v = facts("debian12-dropins");
        assert_eq!(
            v["files"],
            serde_json::json!([
                "/etc/ssh/sshd_config",
                "/etc/ssh/sshd_config.d/10-admin.conf",
                "/etc/ssh/sshd_config.d/50-cloud-init.conf"
            ])
        );
        assert_eq!(v["permitrootlogin"], "no"); // README and .hidden.conf ignored
        assert_eq!(v["passwordauthentication"], "yes");
        assert_eq!(v["x11forwarding"], "no"); // drop-in before the main file's yes
        assert_eq!(v["maxauthtries"], 3);
        assert_eq!(v["allowgroups"], serde_json::json!(["ssh-users", "sudo"]));
    }

    #[test]
    fn rhel_crypto_policy_include_and_aliases() {
        let v = facts("rhel9-default");
        assert_eq!(v["permitrootlogin"], "yes"); // 01-permitrootlogin.conf first
        assert_eq!(v["syslogfacility"], "AUTHPRIV");
        assert_eq!(v["kbdinteractiveauthentication"], "no");
        assert_eq!(v["ciphers"][0], "aes256-gcm@openssh.com");
        assert_eq!(v["pubkeyacceptedalgorithms"][0], "ecdsa-sha2-nistp256");
        assert_eq!(
            v["authorizedkeysfile"],
            serde_json::json!([".ssh/authorized_keys"])
        );
        assert_eq!(v["files"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn match_blocks_are_kept_apart() {
        let v = facts("match-blocks");
        assert_eq!(v["passwordauthentication"], "no");
        assert_eq!(v["permitrootlogin"], "no");
        assert_eq!(v["maxauthtries"], 3); // an included file starts outside Match
        assert_eq!(v["chrootdirectory"], "none");
        let blocks = v["match_blocks"].as_array().unwrap();
        let crit: Vec<&str> = blocks
            .iter()
            .map(|b| b["criteria"].as_str().unwrap())
            .collect();
        assert_eq!(
            crit,
            [
                "User admin",
                "Group sftponly",
                "User backup Address 10.20.0.0/16",
                "Address 192.168.10.*,!192.168.10.1"
            ]
        );
        assert_eq!(blocks[0]["file"], "/etc/ssh/sshd_config.d/20-admins.conf");
        assert_eq!(blocks[1]["settings"]["passwordauthentication"], "yes");
        assert_eq!(
            blocks[1]["settings"]["forcecommand"],
            "internal-sftp -u 0027"
        );
        assert_eq!(
            blocks[2]["settings"]["permitrootlogin"],
            "forced-commands-only"
        );
        // Settings included from inside a Match block belong to it.
        assert_eq!(
            blocks[2]["settings"]["authorizedkeysfile"],
            serde_json::json!(["/etc/ssh/backup_keys/%u"])
        );
        assert_eq!(blocks[3]["settings"]["clientaliveinterval"], 30);
        assert_eq!(v["errors"], serde_json::json!([]));
    }

    #[test]
    fn match_all_returns_to_global_settings() {
        let v = facts("match-all");
        assert_eq!(v["x11forwarding"], "no");
        assert_eq!(v["permitrootlogin"], "no");
        assert_eq!(v["maxauthtries"], 3);
        assert_eq!(v["match_blocks"][0]["settings"]["x11forwarding"], "yes");
        assert_eq!(v["match_blocks"][1]["criteria"], "all");
    }

    #[test]
    fn nested_and_relative_includes() {
        let v = facts("nested-includes");
        assert_eq!(v["port"], serde_json::json!([2201, 2202]));
        assert_eq!(v["permitrootlogin"], "no");
        assert_eq!(v["x11forwarding"], "no");
        assert_eq!(v["maxauthtries"], 2);
        assert_eq!(v["logingracetime"], 45);
        assert_eq!(
            v["hostkey"],
            serde_json::json!(["/etc/ssh/ssh_host_ed25519_key"])
        );
        let files: Vec<&str> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(
            files,
            [
                "/etc/ssh/sshd_config",
                "/etc/ssh/conf.d/a.conf",
                "/etc/ssh/conf.d/sub/01-first",
                "/etc/ssh/conf.d/b.conf",
                "/etc/ssh/extra/level1.conf",
                "/etc/ssh/extra/level2.conf",
                "/etc/ssh/extra/level3.conf"
            ]
        );
    }

    #[test]
    fn quirks_crlf_quotes_equals_case() {
        let v = facts("quirks");
        assert_eq!(v["port"], serde_json::json!([2222, 22]));
        assert_eq!(v["permitrootlogin"], "no");
        assert_eq!(v["passwordauthentication"], "no");
        assert_eq!(v["banner"], "/etc/ssh/banner text");
        assert_eq!(v["maxauthtries"], 4);
        assert_eq!(v["allowusers"][1], "bob");
        assert_eq!(v["loglevel"], "VERBOSE");
        assert_eq!(v["compression"], "yes");
        assert_eq!(v["setenv"], serde_json::json!(["TZ=UTC", "LANG=C.UTF-8"]));
        assert_eq!(v["versionaddendum"], "Managed host");
    }

    #[test]
    fn aliases_and_time_units() {
        let v = facts("aliases");
        assert_eq!(v["kbdinteractiveauthentication"], "no");
        assert_eq!(v["tcpkeepalive"], "no");
        assert_eq!(v["permitrootlogin"], "without-password");
        assert_eq!(
            v["pubkeyacceptedalgorithms"],
            serde_json::json!(["ssh-ed25519", "rsa-sha2-512"])
        );
        let t = facts("time-units");
        assert_eq!(t["logingracetime"], 90);
        assert_eq!(t["clientaliveinterval"], 7200);
        assert_eq!(t["unusedconnectiontimeout"], "777600");
        assert_eq!(t["maxstartups"], "30:50:30"); // last value wins, rate kept
        assert_eq!(convtime("1m30s"), Some(90));
        assert_eq!(convtime("2h"), Some(7200));
        assert_eq!(convtime("10"), Some(10));
        assert_eq!(convtime("m"), None);
        assert_eq!(convtime("5x"), None);
    }

    #[test]
    fn algorithm_modifiers() {
        let v = facts("algorithms");
        let c: Vec<&str> = v["ciphers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert!(!c.iter().any(|x| x.contains("cbc")));
        assert_eq!(v["macs"][0], "hmac-sha2-512-etm@openssh.com");
        assert!(v["pubkeyacceptedalgorithms"]
            .as_array()
            .unwrap()
            .contains(&Value::from("ssh-rsa")));
    }

    #[test]
    fn presence_asks_dpkg_then_the_binary_then_the_configuration() {
        use crate::probes::common::testutil::tree;
        const CONF: (&str, &str) = ("/etc/ssh/sshd_config", "PermitRootLogin yes\n");
        const STATUS: &str = "/var/lib/dpkg/status";
        let installed = |r: &tempfile::TempDir| match collect(&HostRoot::offline(r.path())) {
            Outcome::Ok(v) => (v["installed"].clone(), v["installed_by"].clone()),
            other => panic!("{other:?}"),
        };
        // `apt remove` leaves the configuration: dpkg says config-files → absent.
        let removed = tree(
            &[
                CONF,
                (
                    STATUS,
                    "Package: openssh-server\nStatus: deinstall ok config-files\n",
                ),
            ],
            &[],
        );
        assert_eq!(installed(&removed), (false.into(), "absent".into()));
        let pkg = tree(
            &[
                CONF,
                (
                    STATUS,
                    "Package: openssh-server\nStatus: install ok installed\n",
                ),
            ],
            &[],
        );
        assert_eq!(installed(&pkg), (true.into(), "package".into()));
        let built = tree(&[CONF, ("/usr/local/sbin/sshd", "ELF"), (STATUS, "")], &[]);
        assert_eq!(installed(&built), (true.into(), "binary".into()));
        // No package database to ask (a partial tree): the configuration is judged.
        let conf_only = tree(&[CONF], &[]);
        assert_eq!(installed(&conf_only), (true.into(), "config".into()));
        // rpm host without the binary: absent even with a configuration left.
        let rpm = tree(&[CONF, ("/var/lib/rpm/rpmdb.sqlite", "x")], &[]);
        assert_eq!(installed(&rpm), (false.into(), "absent".into()));
        // Installed but unconfigured: sshd will not start; no guess.
        let bare = tree(&[("/usr/sbin/sshd", "ELF")], &[]);
        assert!(matches!(
            collect(&HostRoot::offline(bare.path())),
            Outcome::Error(m) if m.contains("missing")
        ));
    }

    #[test]
    fn absent_sshd_is_not_installed_and_bad_input_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!("an absent sshd is a fact, not a failure");
        };
        assert_eq!(v["installed"], false);
        assert_eq!(v["installed_by"], "absent");
        // An include loop hits the depth limit and is reported.
        let ssh = dir.path().join("etc/ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(
            ssh.join("sshd_config"),
            "Include sshd_config\nBogusKeyword 1\nPort 99999\nMaxAuthTries x\nPermitRootLogin maybe\nMatch User a\nPort 2\nBanner \"unterminated\n",
        )
        .unwrap();
        let Outcome::Ok(v) = collect(&HostRoot::offline(dir.path())) else {
            panic!("expected data");
        };
        let errors = v["errors"].as_array().unwrap();
        assert!(errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("recursive")));
        assert!(errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("bad configuration option")));
        assert!(errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("not allowed within a Match")));
        assert_eq!(v["permitrootlogin"], "without-password");
        for s in [
            "",
            "\0",
            "Match",
            "Include",
            "Port=",
            "=x",
            "\"",
            "a \\",
            "Ciphers +",
            "ListenAddress [",
            "MaxStartups 1:2",
            "RekeyLimit 99999999999999999999G",
            "IPQoS 0x1ff",
        ] {
            fuzz_parse(s);
        }
    }
}
