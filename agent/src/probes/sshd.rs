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

use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// How a keyword's value is parsed and stored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `yes` / `no`.
    Flag,
    /// A fixed set of words, mapped to the spelling `sshd -T` prints.
    Multi(&'static [(&'static str, &'static str)]),
    /// A non-negative integer.
    Int,
    /// A time interval, stored in seconds.
    Time,
    /// A time interval or `none`, printed as seconds or `none`.
    TimeOrNone,
    /// The first argument, verbatim.
    Str,
    /// The rest of the line, verbatim.
    Rest,
    /// An octal mask, printed `0` + octal digits.
    Octal,
    /// All arguments of the first line, as a list.
    LineList,
    /// Every argument of every line, appended.
    Accum,
    /// `SetEnv`: first line, duplicates by name dropped.
    SetEnv,
    /// `Subsystem name command args`.
    Subsystem,
    /// `Port`, accumulating.
    Port,
    /// `ListenAddress`, accumulating.
    Listen,
    /// `MaxStartups`, last value wins.
    MaxStartups,
    /// `PerSourceMaxStartups`: number or none.
    PerSourceMax,
    /// `PerSourceNetBlockSize v4[:v6]`.
    NetBlock,
    /// `RekeyLimit bytes [time]`.
    Rekey,
    /// `IPQoS interactive [bulk]`.
    IpQos,
    /// `PubkeyAuthOptions`.
    PubkeyOpts,
    /// An algorithm list of the given class.
    Alg(Alg),
    /// A comma list taken as is (`GSSAPIKexAlgorithms`).
    Commas,
    /// `PermitUserEnvironment yes|no|patterns`.
    UserEnv,
    /// Accepted by the parser but refused on this platform.
    Unsupported,
}

/// Algorithm classes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Alg {
    Cipher,
    Mac,
    Kex,
    Key,
    CaSig,
}

const FLAG: &[(&str, &str)] = &[("yes", "yes"), ("no", "no")];
const ADDRESS_FAMILY: &[(&str, &str)] = &[("inet", "inet"), ("inet6", "inet6"), ("any", "any")];
const ROOT_LOGIN: &[(&str, &str)] = &[
    ("without-password", "without-password"),
    ("prohibit-password", "without-password"),
    ("forced-commands-only", "forced-commands-only"),
    ("yes", "yes"),
    ("no", "no"),
];
const GATEWAY: &[(&str, &str)] = &[
    ("clientspecified", "clientspecified"),
    ("yes", "yes"),
    ("no", "no"),
];
const COMPRESSION: &[(&str, &str)] = &[("yes", "yes"), ("delayed", "yes"), ("no", "no")];
const FORWARDING: &[(&str, &str)] = &[
    ("yes", "yes"),
    ("all", "yes"),
    ("no", "no"),
    ("local", "local"),
    ("remote", "remote"),
];
const TUNNEL: &[(&str, &str)] = &[
    ("yes", "yes"),
    ("point-to-point", "point-to-point"),
    ("ethernet", "ethernet"),
    ("no", "no"),
];
const RHOSTS: &[(&str, &str)] = &[("yes", "yes"), ("no", "no"), ("shosts-only", "shosts-only")];
const FINGERPRINT: &[(&str, &str)] = &[("md5", "MD5"), ("sha256", "SHA256")];
const LOG_LEVEL: &[(&str, &str)] = &[
    ("quiet", "SILENT"),
    ("silent", "SILENT"),
    ("fatal", "FATAL"),
    ("error", "ERROR"),
    ("info", "INFO"),
    ("verbose", "VERBOSE"),
    ("debug", "DEBUG"),
    ("debug1", "DEBUG"),
    ("debug2", "DEBUG2"),
    ("debug3", "DEBUG3"),
];
const FACILITY: &[(&str, &str)] = &[
    ("daemon", "DAEMON"),
    ("user", "USER"),
    ("auth", "AUTH"),
    ("authpriv", "AUTHPRIV"),
    ("local0", "LOCAL0"),
    ("local1", "LOCAL1"),
    ("local2", "LOCAL2"),
    ("local3", "LOCAL3"),
    ("local4", "LOCAL4"),
    ("local5", "LOCAL5"),
    ("local6", "LOCAL6"),
    ("local7", "LOCAL7"),
];

/// How `sshd -T` prints a keyword (used to compare with it and for defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Print {
    /// One line, one value.
    Single,
    /// One line per list element.
    Lines,
    /// One line, elements joined by spaces.
    Words,
    /// One line, elements joined by commas.
    Commas,
    /// Not printed by `sshd -T`.
    Never,
}

/// One keyword: canonical name, kind, allowed in Match, how sshd -T prints it,
/// and the default as sshd -T prints it (`None`: printed only when set).
struct Kw {
    name: &'static str,
    kind: Kind,
    in_match: bool,
    print: Print,
    default: Option<&'static str>,
}

const fn kw(
    name: &'static str,
    kind: Kind,
    in_match: bool,
    print: Print,
    default: Option<&'static str>,
) -> Kw {
    Kw {
        name,
        kind,
        in_match,
        print,
        default,
    }
}

use Kind::*;
use Print::{Commas as PC, Lines as PL, Never as PN, Single as PS, Words as PW};

const DEF_CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
const DEF_MACS: &str = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
const DEF_KEX: &str = "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
const DEF_CASIG: &str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
const DEF_KEYALGS: &str = "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
const DEF_GSSKEX: &str = "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-,gss-gex-sha1-";

const ALL_CIPHERS: &str = "3des-cbc,aes128-cbc,aes192-cbc,aes256-cbc,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com";
const ALL_MACS: &str = "hmac-sha1,hmac-sha1-96,hmac-sha2-256,hmac-sha2-512,hmac-md5,hmac-md5-96,umac-64@openssh.com,umac-128@openssh.com,hmac-sha1-etm@openssh.com,hmac-sha1-96-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-md5-etm@openssh.com,hmac-md5-96-etm@openssh.com,umac-64-etm@openssh.com,umac-128-etm@openssh.com";
const ALL_KEX: &str = "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha1,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com";
const ALL_KEYALGS: &str = "ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-dss-cert-v01@openssh.com,ssh-rsa,ssh-rsa-cert-v01@openssh.com,rsa-sha2-256,rsa-sha2-256-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-512-cert-v01@openssh.com";
const ALL_CASIG: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-rsa,rsa-sha2-256,rsa-sha2-512";

/// Every keyword, in the order `sshd -T` prints them.
static KEYWORDS: &[Kw] = &[
    kw("port", Port, false, PL, Some("22")),
    kw(
        "addressfamily",
        Multi(ADDRESS_FAMILY),
        false,
        PS,
        Some("any"),
    ),
    kw("listenaddress", Listen, false, PL, None),
    kw("usepam", Flag, false, PS, Some("no")),
    kw("logingracetime", Time, false, PS, Some("120")),
    kw("x11displayoffset", Int, true, PS, Some("10")),
    kw("maxauthtries", Int, true, PS, Some("6")),
    kw("maxsessions", Int, true, PS, Some("10")),
    kw("clientaliveinterval", Time, true, PS, Some("0")),
    kw("clientalivecountmax", Int, true, PS, Some("3")),
    kw("requiredrsasize", Int, true, PS, Some("1024")),
    kw("streamlocalbindmask", Octal, true, PS, Some("0177")),
    kw(
        "unusedconnectiontimeout",
        TimeOrNone,
        true,
        PS,
        Some("none"),
    ),
    kw(
        "permitrootlogin",
        Multi(ROOT_LOGIN),
        true,
        PS,
        Some("without-password"),
    ),
    kw("ignorerhosts", Multi(RHOSTS), true, PS, Some("yes")),
    kw("ignoreuserknownhosts", Flag, false, PS, Some("no")),
    kw("hostbasedauthentication", Flag, true, PS, Some("no")),
    kw(
        "hostbasedusesnamefrompacketonly",
        Flag,
        true,
        PS,
        Some("no"),
    ),
    kw("pubkeyauthentication", Flag, true, PS, Some("yes")),
    kw("kerberosauthentication", Flag, true, PS, Some("no")),
    kw("kerberosorlocalpasswd", Flag, false, PS, Some("yes")),
    kw("kerberosticketcleanup", Flag, false, PS, Some("yes")),
    kw("gssapiauthentication", Flag, true, PS, Some("no")),
    kw("gssapicleanupcredentials", Flag, false, PS, Some("yes")),
    kw("gssapikeyexchange", Flag, false, PS, Some("no")),
    kw("gssapistrictacceptorcheck", Flag, false, PS, Some("yes")),
    kw("gssapistorecredentialsonrekey", Flag, false, PS, Some("no")),
    kw("gssapikexalgorithms", Commas, false, PC, Some(DEF_GSSKEX)),
    kw("passwordauthentication", Flag, true, PS, Some("yes")),
    kw("kbdinteractiveauthentication", Flag, true, PS, Some("yes")),
    kw("printmotd", Flag, false, PS, Some("yes")),
    kw("printlastlog", Flag, false, PS, Some("yes")),
    kw("x11forwarding", Flag, true, PS, Some("no")),
    kw("x11uselocalhost", Flag, true, PS, Some("yes")),
    kw("permittty", Flag, true, PS, Some("yes")),
    kw("permituserrc", Flag, true, PS, Some("yes")),
    kw("strictmodes", Flag, false, PS, Some("yes")),
    kw("tcpkeepalive", Flag, false, PS, Some("yes")),
    kw("permitemptypasswords", Flag, true, PS, Some("no")),
    kw("compression", Multi(COMPRESSION), false, PS, Some("yes")),
    kw("gatewayports", Multi(GATEWAY), true, PS, Some("no")),
    kw("usedns", Flag, false, PS, Some("no")),
    kw(
        "allowtcpforwarding",
        Multi(FORWARDING),
        true,
        PS,
        Some("yes"),
    ),
    kw("allowagentforwarding", Flag, true, PS, Some("yes")),
    kw("disableforwarding", Flag, true, PS, Some("no")),
    kw(
        "allowstreamlocalforwarding",
        Multi(FORWARDING),
        true,
        PS,
        Some("yes"),
    ),
    kw("streamlocalbindunlink", Flag, true, PS, Some("no")),
    kw(
        "fingerprinthash",
        Multi(FINGERPRINT),
        false,
        PS,
        Some("SHA256"),
    ),
    kw("exposeauthinfo", Flag, true, PS, Some("no")),
    kw("pidfile", Str, false, PS, Some("/run/sshd.pid")),
    kw("modulifile", Str, false, PS, Some("/etc/ssh/moduli")),
    kw("xauthlocation", Str, false, PS, Some("/usr/bin/xauth")),
    kw("ciphers", Alg(Alg::Cipher), false, PC, Some(DEF_CIPHERS)),
    kw("macs", Alg(Alg::Mac), false, PC, Some(DEF_MACS)),
    kw("banner", Str, true, PS, Some("none")),
    kw("forcecommand", Rest, true, PS, Some("none")),
    kw("chrootdirectory", Str, true, PS, Some("none")),
    kw("trustedusercakeys", Str, true, PS, Some("none")),
    kw("revokedkeys", Str, true, PS, Some("none")),
    kw("securitykeyprovider", Str, false, PS, Some("internal")),
    kw("authorizedprincipalsfile", Str, true, PS, Some("none")),
    kw("versionaddendum", Rest, false, PS, Some("none")),
    kw("authorizedkeyscommand", Rest, true, PS, Some("none")),
    kw("authorizedkeyscommanduser", Str, true, PS, Some("none")),
    kw("authorizedprincipalscommand", Rest, true, PS, Some("none")),
    kw(
        "authorizedprincipalscommanduser",
        Str,
        true,
        PS,
        Some("none"),
    ),
    kw("hostkeyagent", Str, false, PS, Some("none")),
    kw("kexalgorithms", Alg(Alg::Kex), false, PC, Some(DEF_KEX)),
    kw(
        "casignaturealgorithms",
        Alg(Alg::CaSig),
        true,
        PC,
        Some(DEF_CASIG),
    ),
    kw(
        "hostbasedacceptedalgorithms",
        Alg(Alg::Key),
        true,
        PC,
        Some(DEF_KEYALGS),
    ),
    kw(
        "hostkeyalgorithms",
        Alg(Alg::Key),
        false,
        PC,
        Some(DEF_KEYALGS),
    ),
    kw(
        "pubkeyacceptedalgorithms",
        Alg(Alg::Key),
        true,
        PC,
        Some(DEF_KEYALGS),
    ),
    kw("loglevel", Multi(LOG_LEVEL), true, PS, Some("INFO")),
    kw("syslogfacility", Multi(FACILITY), false, PS, Some("AUTH")),
    kw(
        "authorizedkeysfile",
        LineList,
        true,
        PW,
        Some(".ssh/authorized_keys .ssh/authorized_keys2"),
    ),
    kw(
        "hostkey",
        Accum,
        false,
        PL,
        Some("/etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_ecdsa_key /etc/ssh/ssh_host_ed25519_key"),
    ),
    kw("hostcertificate", Accum, false, PL, None),
    kw("allowusers", Accum, true, PL, None),
    kw("denyusers", Accum, true, PL, None),
    kw("allowgroups", Accum, true, PL, None),
    kw("denygroups", Accum, true, PL, None),
    kw("acceptenv", Accum, true, PL, None),
    kw("setenv", SetEnv, true, PL, None),
    kw("authenticationmethods", LineList, true, PW, Some("any")),
    kw("logverbose", LineList, true, PW, None),
    kw("channeltimeout", LineList, true, PW, None),
    kw("subsystem", Subsystem, false, PL, None),
    kw("maxstartups", MaxStartups, false, PS, Some("10:30:100")),
    kw(
        "persourcemaxstartups",
        PerSourceMax,
        false,
        PS,
        Some("none"),
    ),
    kw("persourcenetblocksize", NetBlock, false, PS, Some("32:128")),
    kw("permittunnel", Multi(TUNNEL), true, PS, Some("no")),
    kw("ipqos", IpQos, true, PS, Some("lowdelay throughput")),
    kw("rekeylimit", Rekey, true, PS, Some("0 0")),
    kw("permitopen", LineList, true, PW, Some("any")),
    kw("permitlisten", LineList, true, PW, Some("any")),
    kw("permituserenvironment", UserEnv, false, PS, Some("no")),
    kw("pubkeyauthoptions", PubkeyOpts, true, PS, Some("none")),
    // Accepted but never printed.
    kw("debianbanner", Flag, false, PN, None),
    kw("rdomain", Unsupported, true, PN, None),
    kw("kerberosgetafstoken", Unsupported, false, PN, None),
    kw("gssapienablek5users", Flag, true, PN, None),
];

/// Aliases and obsolete spellings → canonical keyword (or `Ignore`d names).
static ALIASES: &[(&str, &str)] = &[
    (
        "challengeresponseauthentication",
        "kbdinteractiveauthentication",
    ),
    ("skeyauthentication", "kbdinteractiveauthentication"),
    ("pubkeyacceptedkeytypes", "pubkeyacceptedalgorithms"),
    ("hostbasedacceptedkeytypes", "hostbasedacceptedalgorithms"),
    ("dsaauthentication", "pubkeyauthentication"),
    ("keepalive", "tcpkeepalive"),
    ("hostdsakey", "hostkey"),
];

/// Keywords sshd accepts and ignores (deprecated or unsupported), with a note.
static IGNORED: &[&str] = &[
    "protocol",
    "serverkeybits",
    "keyregenerationinterval",
    "rsaauthentication",
    "rhostsrsaauthentication",
    "uselogin",
    "useprivilegeseparation",
    "pamauthenticationviakbdint",
    "verifyreversemapping",
    "reversemappingcheck",
    "authorizedkeysfile2",
    "kerberostgtpassing",
    "afstokenpassing",
    "gssapiusesessioncredcache",
    "showpatchlevel",
    "useroaming",
];

fn lookup(keyword: &str) -> Option<&'static Kw> {
    let lower = keyword.to_ascii_lowercase();
    let canonical = ALIASES
        .iter()
        .find(|(a, _)| *a == lower)
        .map_or(lower.as_str(), |(_, c)| c);
    KEYWORDS.iter().find(|k| k.name == canonical)
}

/// A stored value.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Num(i64),
    List(Vec<String>),
    Ports(Vec<i64>),
}

impl Val {
    fn to_json(&self) -> Value {
        match self {
            Val::Str(s) => Value::String(s.clone()),
            Val::Num(n) => Value::from(*n),
            Val::List(l) => Value::from(l.clone()),
            Val::Ports(p) => Value::from(p.clone()),
        }
    }
}

/// Settings of one scope (global, or one Match block).
#[derive(Debug, Default, Clone)]
struct Scope {
    vals: HashMap<&'static str, Val>,
    /// Order keywords were first set (for Match block output).
    order: Vec<&'static str>,
    /// Queued ListenAddress entries: (address, port or 0).
    listen: Vec<(String, u16)>,
    /// MaxStartups begin, rate, full (-1 = unset).
    maxstartups: (i64, i64, i64),
    /// RekeyLimit bytes and interval, set independently.
    rekey: (Option<u64>, Option<i64>),
}

impl Scope {
    fn new() -> Scope {
        Scope {
            maxstartups: (-1, -1, -1),
            ..Scope::default()
        }
    }

    fn is_set(&self, name: &'static str) -> bool {
        self.vals.contains_key(name)
    }

    fn set_first(&mut self, name: &'static str, v: Val) {
        if !self.vals.contains_key(name) {
            self.vals.insert(name, v);
            self.order.push(name);
        }
    }

    fn append(&mut self, name: &'static str, items: Vec<String>) {
        if !self.vals.contains_key(name) {
            self.order.push(name);
        }
        match self
            .vals
            .entry(name)
            .or_insert_with(|| Val::List(Vec::new()))
        {
            Val::List(l) => l.extend(items),
            other => *other = Val::List(items),
        }
    }
}

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

/// Where the parser gets included files from.
pub trait IncludeSource {
    /// Sorted host paths matching a glob (only existing entries).
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String>;
    /// Contents of a file.
    fn read(&self, path: &str) -> Result<String, String>;
}

/// Include source over a fixed map of files (for tests and fuzzing).
#[derive(Debug, Default)]
pub struct MapSource(pub Vec<(String, String)>);

impl IncludeSource for MapSource {
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        let pat = glob::Pattern::new(pattern).map_err(|e| e.to_string())?;
        let opts = glob_opts();
        let mut out: Vec<String> = self
            .0
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| pat.matches_with(p, opts))
            .collect();
        out.sort();
        Ok(out)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| format!("{path}: not found"))
    }
}

fn glob_opts() -> glob::MatchOptions {
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    }
}

/// Include source reading through a [`HostRoot`].
struct RootSource<'a>(&'a HostRoot);

impl IncludeSource for RootSource<'_> {
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        root_glob(self.0, pattern)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        match self.0.read_to_string(path) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(format!("{path}: not found")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// glob(3) over a host root: wildcards allowed in any component, results sorted.
fn root_glob(root: &HostRoot, pattern: &str) -> Result<Vec<String>, String> {
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut current: Vec<String> = vec![String::new()];
    let last = comps.len().saturating_sub(1);
    for (i, comp) in comps.iter().enumerate() {
        let mut next = Vec::new();
        let wild = comp.contains(['*', '?', '[']);
        for base in &current {
            if !wild {
                let p = format!("{base}/{comp}");
                if i < last || root.exists(&p) {
                    next.push(p);
                }
                continue;
            }
            let Ok(m) = glob::Pattern::new(comp) else {
                continue;
            };
            let dir = if base.is_empty() { "/" } else { base.as_str() };
            let names = root.read_dir(dir).map_err(|e| e.to_string())?;
            for n in names.unwrap_or_default() {
                if m.matches_with(&n, glob_opts()) {
                    next.push(format!("{base}/{n}"));
                }
            }
        }
        current = next;
        if current.len() > MAX_FILES {
            return Err(format!("{pattern}: too many matches"));
        }
    }
    current.retain(|p| !p.is_empty() && root.exists(p));
    current.sort();
    Ok(current)
}

/// Parser state.
struct Parser<'a> {
    src: &'a dyn IncludeSource,
    global: Scope,
    blocks: Vec<(MatchBlock, Scope)>,
    files: Vec<String>,
    errors: Vec<String>,
}

/// Where settings currently go.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Global,
    Block(usize),
    /// Inside an inactive block included from an inactive context.
    Block2(usize),
}

impl Parser<'_> {
    fn err(&mut self, file: &str, line: usize, msg: impl std::fmt::Display) {
        if self.errors.len() < 100 {
            self.errors.push(format!("{file}:{line}: {msg}"));
        }
    }

    fn parse_file(&mut self, path: &str, text: &str, target: &mut Target, depth: usize) {
        if depth > MAX_DEPTH {
            self.err(path, 0, "too many recursive configuration includes");
            return;
        }
        if self.files.len() >= MAX_FILES {
            self.err(path, 0, "too many configuration files");
            return;
        }
        self.files.push(path.to_string());
        for (i, raw) in text.split('\n').enumerate() {
            self.parse_line(path, i + 1, raw, target, depth);
        }
    }

    fn parse_line(&mut self, file: &str, ln: usize, raw: &str, target: &mut Target, depth: usize) {
        let line = raw
            .trim_start_matches([' ', '\t', '\r'])
            .trim_end_matches([' ', '\t', '\r', '\n', '\x0c']);
        let Some((keyword, rest)) = split_keyword(line) else {
            return;
        };
        if keyword.is_empty() || keyword.starts_with('#') {
            return;
        }
        if rest.is_empty() {
            self.err(file, ln, format!("no argument after keyword \"{keyword}\""));
            return;
        }
        let lower = keyword.to_ascii_lowercase();
        if lower == "match" {
            self.start_match(file, ln, rest, target);
            return;
        }
        let args = match argv_split(rest) {
            Some(a) => a,
            None => {
                self.err(file, ln, "invalid quotes");
                return;
            }
        };
        if lower == "include" {
            self.include(file, ln, &args, target, depth);
            return;
        }
        if IGNORED.contains(&lower.as_str()) {
            self.err(file, ln, format!("deprecated option {keyword} ignored"));
            return;
        }
        let Some(k) = lookup(&lower) else {
            self.err(file, ln, format!("bad configuration option: {keyword}"));
            return;
        };
        let scope = match *target {
            Target::Global => None,
            Target::Block(i) | Target::Block2(i) => {
                if !k.in_match {
                    self.err(
                        file,
                        ln,
                        format!("directive '{keyword}' is not allowed within a Match block"),
                    );
                    return;
                }
                Some(i)
            }
        };
        let scope = match scope {
            None => &mut self.global,
            Some(i) => match self.blocks.get_mut(i) {
                Some((_, s)) => s,
                None => return,
            },
        };
        if let Err(e) = apply(scope, k, &args, rest) {
            self.err(file, ln, format!("{keyword}: {e}"));
        }
    }

    fn start_match(&mut self, file: &str, ln: usize, rest: &str, target: &mut Target) {
        let mut words: Vec<&str> = Vec::new();
        for w in rest.split([' ', '\t']).filter(|w| !w.is_empty()) {
            if w.starts_with('#') {
                break;
            }
            words.push(w);
        }
        let criteria = words.join(" ");
        let inactive_ctx = matches!(*target, Target::Block2(_));
        if words.len() == 1
            && words.first().is_some_and(|w| w.eq_ignore_ascii_case("all"))
            && !inactive_ctx
        {
            *target = Target::Global;
            // Recorded too, so readers see the block exists.
            self.blocks.push((
                MatchBlock {
                    criteria,
                    file: file.to_string(),
                    settings: Map::new(),
                },
                Scope::new(),
            ));
            return;
        }
        if words.is_empty()
            || (words.len() % 2 == 1 && !words.iter().any(|w| w.eq_ignore_ascii_case("all")))
        {
            self.err(file, ln, "bad Match condition");
        }
        self.blocks.push((
            MatchBlock {
                criteria,
                file: file.to_string(),
                settings: Map::new(),
            },
            Scope::new(),
        ));
        let idx = self.blocks.len().saturating_sub(1);
        *target = if inactive_ctx {
            Target::Block2(idx)
        } else {
            Target::Block(idx)
        };
    }

    fn include(
        &mut self,
        file: &str,
        ln: usize,
        args: &[String],
        target: &mut Target,
        depth: usize,
    ) {
        if args.is_empty() {
            self.err(file, ln, "Include missing filename argument");
        }
        for a in args {
            if a.is_empty() {
                self.err(file, ln, "Include: empty argument");
                continue;
            }
            let pattern = if a.starts_with('/') || a.starts_with('~') {
                a.clone()
            } else {
                format!("{SSHDIR}/{a}")
            };
            let paths = match self.src.glob(&pattern) {
                Ok(p) => p,
                Err(e) => {
                    self.err(file, ln, format!("include \"{pattern}\" glob failed: {e}"));
                    continue;
                }
            };
            let saved = *target;
            for p in paths {
                let text = match self.src.read(&p) {
                    Ok(t) => t,
                    Err(e) => {
                        self.err(file, ln, format!("cannot read included file: {e}"));
                        continue;
                    }
                };
                // An included file starts active unless included from a Match block.
                let mut t = match saved {
                    Target::Global => Target::Global,
                    Target::Block(i) | Target::Block2(i) => Target::Block2(i),
                };
                self.parse_file(&p, &text, &mut t, depth + 1);
                *target = saved;
            }
        }
    }
}

/// Split the keyword from the rest like sshd's `strdelim` (whitespace, one `=`).
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() {
        return None;
    }
    let end = line
        .find([' ', '\t', '\r', '\n', '"', '='])
        .unwrap_or(line.len());
    let (keyword, after) = line.split_at(end);
    if after.starts_with('"') {
        // A quoted keyword: never a valid keyword; treat the quote as separator.
        return Some((keyword, after.trim_start_matches('"')));
    }
    let ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut rest = after;
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(ws);
    } else {
        rest = rest.trim_start_matches(ws);
        if let Some(r) = rest.strip_prefix('=') {
            rest = r.trim_start_matches(ws);
        }
    }
    Some((keyword, rest))
}

/// sshd's `argv_split(…, terminate_on_comment=1)`. `None` on an unclosed quote.
fn argv_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        match chars.peek() {
            None => return Some(out),
            Some('#') => return Some(out),
            Some(_) => {}
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.peek().copied() {
                    Some(n)
                        if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') =>
                    {
                        arg.push(n);
                        chars.next();
                    }
                    _ => arg.push(c),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
        }
        if quote.is_some() {
            return None;
        }
        out.push(arg);
    }
}

/// OpenSSH's `convtime`: `90`, `1m30s`, `2h` → seconds.
pub fn convtime(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            if chars.peek().is_none() {
                total = total.checked_add(num.parse::<i64>().ok()?)?;
                num.clear();
            }
            continue;
        }
        let mult: i64 = match c {
            's' | 'S' => 1,
            'm' | 'M' => 60,
            'h' | 'H' => 3600,
            'd' | 'D' => 86400,
            'w' | 'W' => 604_800,
            _ => return None,
        };
        if num.is_empty() {
            return None;
        }
        let n: i64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(mult)?)?;
        num.clear();
    }
    if total > i64::from(i32::MAX) {
        return None;
    }
    Some(total)
}

fn first(args: &[String]) -> Result<&str, String> {
    args.first()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "missing argument".to_string())
}

fn extra(args: &[String], n: usize) -> Result<(), String> {
    if args.len() > n {
        Err("garbage at end of line".into())
    } else {
        Ok(())
    }
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && *n <= i64::from(i32::MAX))
        .ok_or_else(|| format!("invalid integer value {s}"))
}

/// Apply one keyword line to a scope.
fn apply(scope: &mut Scope, k: &Kw, args: &[String], rest: &str) -> Result<(), String> {
    let name = k.name;
    match k.kind {
        Flag => {
            let a = first(args)?;
            let v = multi(FLAG, a)?;
            scope.set_first(name, Val::Str(v.into()));
            extra(args, 1)
        }
        Multi(table) => {
            let a = first(args)?;
            let v = multi(table, a)?;
            scope.set_first(name, Val::Str(v.into()));
            extra(args, 1)
        }
        Int => {
            let n = parse_int(first(args)?)?;
            scope.set_first(name, Val::Num(n));
            extra(args, 1)
        }
        Time => {
            let a = first(args)?;
            let n = convtime(a).ok_or_else(|| format!("invalid time value {a}"))?;
            scope.set_first(name, Val::Num(n));
            extra(args, 1)
        }
        TimeOrNone => {
            let a = first(args)?;
            let v = if a.eq_ignore_ascii_case("none") {
                "none".to_string()
            } else {
                convtime(a)
                    .ok_or_else(|| format!("invalid time value {a}"))?
                    .to_string()
            };
            scope.set_first(name, Val::Str(v));
            extra(args, 1)
        }
        Str => {
            let a = first(args)?;
            scope.set_first(name, Val::Str(a.to_string()));
            extra(args, 1)
        }
        Rest => {
            first(args)?;
            scope.set_first(name, Val::Str(rest.to_string()));
            Ok(())
        }
        Octal => {
            let a = first(args)?;
            let n = u32::from_str_radix(a, 8)
                .ok()
                .filter(|n| *n <= 0o777)
                .ok_or_else(|| format!("bad mask {a}"))?;
            scope.set_first(name, Val::Str(format!("0{n:o}")));
            extra(args, 1)
        }
        LineList => {
            first(args)?;
            let mut list = args.to_vec();
            if name == "permitlisten" {
                for e in &mut list {
                    if !e.contains(':') && e != "any" && e != "none" {
                        *e = format!("*:{e}");
                    }
                }
            }
            scope.set_first(name, Val::List(list));
            Ok(())
        }
        Accum => {
            first(args)?;
            if name == "acceptenv" && args.iter().any(|a| a.contains('=')) {
                return Err("invalid environment name".into());
            }
            scope.append(name, args.to_vec());
            Ok(())
        }
        SetEnv => {
            first(args)?;
            if args.iter().any(|a| !a.contains('=')) {
                return Err("invalid environment".into());
            }
            if !scope.is_set(name) {
                let mut list: Vec<String> = Vec::new();
                for a in args {
                    let n = a.split('=').next().unwrap_or_default();
                    if !list.iter().any(|e| e.split('=').next() == Some(n)) {
                        list.push(a.clone());
                    }
                }
                scope.set_first(name, Val::List(list));
            }
            Ok(())
        }
        Subsystem => {
            let sname = first(args)?;
            let cmd = args.get(1).filter(|c| !c.is_empty());
            let Some(_) = cmd else {
                return Err("missing subsystem command".into());
            };
            if let Some(Val::List(l)) = scope.vals.get(name) {
                if l.iter().any(|e| e.split(' ').next() == Some(sname)) {
                    return Err(format!("subsystem '{sname}' already defined"));
                }
            }
            scope.append(name, vec![args.join(" ")]);
            Ok(())
        }
        Port => {
            let a = first(args)?;
            let p = a
                .parse::<i64>()
                .ok()
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| format!("bad port number {a}"))?;
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
            }
            match scope
                .vals
                .entry(name)
                .or_insert_with(|| Val::Ports(Vec::new()))
            {
                Val::Ports(v) => v.push(p),
                other => *other = Val::Ports(vec![p]),
            }
            extra(args, 1)
        }
        Listen => {
            let a = first(args)?;
            let (addr, port) = parse_listen(a)?;
            if let Some(r) = args.get(1) {
                if r != "rdomain" || args.get(2).is_none() {
                    return Err("bad ListenAddress syntax".into());
                }
            }
            scope.listen.push((addr, port));
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
                scope.vals.insert(name, Val::List(Vec::new()));
            }
            Ok(())
        }
        MaxStartups => {
            let a = first(args)?;
            let parts: Vec<&str> = a.split(':').collect();
            let nums: Vec<i64> = parts.iter().filter_map(|p| p.parse().ok()).collect();
            match nums.as_slice() {
                [b, r, f] if parts.len() == 3 && b <= f && (1..=100).contains(r) && *b > 0 => {
                    scope.maxstartups = (*b, *r, *f);
                }
                [b] if parts.len() == 1 && *b > 0 => {
                    scope.maxstartups = (*b, scope.maxstartups.1, *b);
                }
                _ => return Err(format!("bad MaxStartups spec {a}")),
            }
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
            }
            let (b, r, f) = scope.maxstartups;
            let r = if r < 0 { 30 } else { r };
            scope.vals.insert(name, Val::Str(format!("{b}:{r}:{f}")));
            extra(args, 1)
        }
        PerSourceMax => {
            let a = first(args)?;
            let v = if a == "none" {
                "none".to_string()
            } else {
                parse_int(a)?.to_string()
            };
            scope.set_first(name, Val::Str(v));
            extra(args, 1)
        }
        NetBlock => {
            let a = first(args)?;
            let (v4, v6) = match a.split_once(':') {
                Some((x, y)) => (x, y),
                None => (a, "0"),
            };
            let v4n: i64 = v4.parse().map_err(|_| format!("bad netblock {a}"))?;
            let v6n: i64 = v6.parse().map_err(|_| format!("bad netblock {a}"))?;
            if !(0..=32).contains(&v4n) || !(0..=128).contains(&v6n) {
                return Err(format!("bad netblock {a}"));
            }
            scope.set_first(name, Val::Str(format!("{v4n}:{v6n}")));
            extra(args, 1)
        }
        Rekey => {
            let a = first(args)?;
            let bytes = if a == "default" {
                0
            } else {
                scan_scaled(a).ok_or_else(|| format!("bad RekeyLimit {a}"))?
            };
            if scope.rekey.0.is_none() {
                scope.rekey.0 = Some(bytes);
            }
            if let Some(t) = args.get(1) {
                let secs = if t == "none" || t == "default" {
                    0
                } else {
                    convtime(t).ok_or_else(|| format!("bad RekeyLimit time {t}"))?
                };
                if scope.rekey.1.is_none() {
                    scope.rekey.1 = Some(secs);
                }
            }
            let v = format!(
                "{} {}",
                scope.rekey.0.unwrap_or(0),
                scope.rekey.1.unwrap_or(0)
            );
            if !scope.vals.contains_key(name) {
                scope.order.push(name);
            }
            scope.vals.insert(name, Val::Str(v));
            extra(args, 2)
        }
        IpQos => {
            let a = first(args)?;
            let q1 = ipqos(a).ok_or_else(|| format!("bad IPQoS value {a}"))?;
            let q2 = match args.get(1) {
                Some(b) => ipqos(b).ok_or_else(|| format!("bad IPQoS value {b}"))?,
                None => q1.clone(),
            };
            scope.set_first(name, Val::Str(format!("{q1} {q2}")));
            extra(args, 2)
        }
        PubkeyOpts => {
            let (mut touch, mut verify) = (false, false);
            for a in args {
                match a.as_str() {
                    "none" => {}
                    "touch-required" => touch = true,
                    "verify-required" => verify = true,
                    other => return Err(format!("unsupported option {other}")),
                }
            }
            let mut v = Vec::new();
            if touch {
                v.push("touch-required");
            }
            if verify {
                v.push("verify-required");
            }
            let s = if v.is_empty() {
                "none".to_string()
            } else {
                v.join(" ")
            };
            scope.set_first(name, Val::Str(s));
            Ok(())
        }
        Alg(class) => {
            let a = first(args)?;
            validate_algs(class, a)?;
            scope.set_first(name, Val::Str(a.to_string()));
            extra(args, 1)
        }
        Commas => {
            let a = first(args)?;
            scope.set_first(name, Val::List(split_commas(a)));
            extra(args, 1)
        }
        UserEnv => {
            let a = first(args)?;
            let v = match a.to_ascii_lowercase().as_str() {
                "yes" => "yes".to_string(),
                "no" => "no".to_string(),
                _ => a.to_string(),
            };
            scope.set_first(name, Val::Str(v));
            extra(args, 1)
        }
        Unsupported => Err(format!("setting {name} not supported on this platform")),
    }
}

fn multi(table: &[(&str, &'static str)], a: &str) -> Result<&'static str, String> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(a))
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("unsupported option \"{a}\""))
}

fn split_commas(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// `scan_scaled`: `1G` → 1073741824 (powers of 1024).
fn scan_scaled(s: &str) -> Option<u64> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'P' => 1 << 50,
                'E' => 1 << 60,
                _ => return None,
            };
            (s.get(..i)?, m)
        }
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

const IPQOS: &[(&str, u32)] = &[
    ("af11", 0x28),
    ("af12", 0x30),
    ("af13", 0x38),
    ("af21", 0x48),
    ("af22", 0x50),
    ("af23", 0x58),
    ("af31", 0x68),
    ("af32", 0x70),
    ("af33", 0x78),
    ("af41", 0x88),
    ("af42", 0x90),
    ("af43", 0x98),
    ("cs0", 0x00),
    ("cs1", 0x20),
    ("cs2", 0x40),
    ("cs3", 0x60),
    ("cs4", 0x80),
    ("cs5", 0xa0),
    ("cs6", 0xc0),
    ("cs7", 0xe0),
    ("ef", 0xb8),
    ("le", 0x01),
    ("lowdelay", 0x10),
    ("throughput", 0x08),
    ("reliability", 0x04),
];

fn ipqos(s: &str) -> Option<String> {
    if s.eq_ignore_ascii_case("none") {
        return Some("none".into());
    }
    if let Some((n, _)) = IPQOS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some((*n).to_string());
    }
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(s.get(1..)?, 8).ok()?
    } else {
        s.parse().ok()?
    };
    if v > 255 {
        return None;
    }
    Some(
        IPQOS
            .iter()
            .find(|(_, x)| *x == v)
            .map_or_else(|| format!("0x{v:02x}"), |(n, _)| (*n).to_string()),
    )
}

fn all_list(class: Alg) -> &'static str {
    match class {
        Alg::Cipher => ALL_CIPHERS,
        Alg::Mac => ALL_MACS,
        Alg::Kex => ALL_KEX,
        Alg::Key => ALL_KEYALGS,
        Alg::CaSig => ALL_CASIG,
    }
}

fn validate_algs(class: Alg, spec: &str) -> Result<(), String> {
    if spec.starts_with('-') {
        return Ok(());
    }
    let body = spec
        .strip_prefix('+')
        .or_else(|| spec.strip_prefix('^'))
        .unwrap_or(spec);
    let wild_ok = matches!(class, Alg::Key | Alg::CaSig);
    let all: Vec<&str> = all_list(class).split(',').collect();
    for name in body.split(',') {
        let ok = if wild_ok && name.contains(['*', '?']) {
            true
        } else {
            all.contains(&name)
        };
        if !ok || name.is_empty() {
            return Err(format!("bad algorithm name \"{name}\""));
        }
    }
    Ok(())
}

/// OpenSSH `match_pattern`: `*` and `?` wildcards.
fn wildmatch(s: &[u8], p: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(b'*'), _) => {
            let rest = p.get(1..).unwrap_or_default();
            (0..=s.len()).any(|i| wildmatch(s.get(i..).unwrap_or_default(), rest))
        }
        (Some(_), None) => false,
        (Some(b'?'), Some(_)) => wildmatch(
            s.get(1..).unwrap_or_default(),
            p.get(1..).unwrap_or_default(),
        ),
        (Some(pc), Some(sc)) => {
            pc == sc
                && wildmatch(
                    s.get(1..).unwrap_or_default(),
                    p.get(1..).unwrap_or_default(),
                )
        }
    }
}

fn match_list(name: &str, patterns: &str) -> bool {
    patterns
        .split(',')
        .any(|p| wildmatch(name.as_bytes(), p.as_bytes()))
}

fn names_cat(a: &mut Vec<String>, b: &[String]) {
    for n in b {
        if !a.contains(n) {
            a.push(n.clone());
        }
    }
}

/// `kex_assemble_names`: apply `+`, `-`, `^` to the default and expand wildcards.
fn assemble(spec: Option<&str>, def: &str, all: &str) -> Vec<String> {
    let defl = split_commas(def);
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return defl;
    };
    let list: Vec<String> = if let Some(rm) = spec.strip_prefix('-') {
        return defl.into_iter().filter(|n| !match_list(n, rm)).collect();
    } else if let Some(add) = spec.strip_prefix('+') {
        let mut l = defl;
        names_cat(&mut l, &split_commas(add));
        l
    } else if let Some(pre) = spec.strip_prefix('^') {
        let mut l = split_commas(pre);
        names_cat(&mut l, &defl);
        l
    } else {
        split_commas(spec)
    };
    let alll = split_commas(all);
    let mut out: Vec<String> = Vec::new();
    for pat in &list {
        let matching: Vec<String> = alll
            .iter()
            .filter(|a| wildmatch(a.as_bytes(), pat.as_bytes()))
            .cloned()
            .collect();
        names_cat(&mut out, &matching);
    }
    out
}

/// Parse a ListenAddress argument into (address, port; 0 = every Port).
fn parse_listen(a: &str) -> Result<(String, u16), String> {
    let colons = a.matches(':').count();
    if !a.contains('[') && colons >= 2 {
        return Ok((a.to_string(), 0));
    }
    let (host, port) = if let Some(r) = a.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or("bad address:port usage")?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err("bad address:port usage".into()),
        }
    } else {
        match a.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("bad port number {p}"))?,
        None => 0,
    };
    Ok((host.to_string(), port))
}

/// Format one address the way sshd -T prints it.
fn fmt_listen(host: &str, port: u16) -> String {
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return format!("[{v6}]:{port}");
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return format!("{v4}:{port}");
    }
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// sshd's listen address list: each (address, port) group prepended in turn.
fn listen_addresses(queued: &[(String, u16)], ports: &[i64], family: &str) -> Vec<String> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut add = |host: Option<&str>, port: u16| {
        let g = match host {
            None => match family {
                "inet" => vec![format!("0.0.0.0:{port}")],
                "inet6" => vec![format!("[::]:{port}")],
                _ => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
            },
            Some(h) => vec![fmt_listen(h, port)],
        };
        groups.push(g);
    };
    let ports: Vec<u16> = ports
        .iter()
        .filter_map(|p| u16::try_from(*p).ok())
        .collect();
    if queued.is_empty() {
        for p in &ports {
            add(None, *p);
        }
    } else {
        for (h, p) in queued {
            if *p > 0 {
                add(Some(h), *p);
            } else {
                for port in &ports {
                    add(Some(h), *port);
                }
            }
        }
    }
    groups.into_iter().rev().flatten().collect()
}

/// Turn a printed default into a value of the keyword's type.
fn default_val(k: &Kw, def: &str) -> Val {
    match (k.kind, k.print) {
        (Port, _) => Val::Ports(def.split(' ').filter_map(|p| p.parse().ok()).collect()),
        (Int | Time, _) => Val::Num(def.parse().unwrap_or(0)),
        (_, PC) => Val::List(split_commas(def)),
        (_, PW | PL) => Val::List(def.split(' ').map(str::to_string).collect()),
        _ => Val::Str(def.to_string()),
    }
}

/// Compute the effective global settings (with defaults) of a scope.
fn finalize_global(scope: &Scope) -> Map<String, Value> {
    let mut out = Map::new();
    for k in KEYWORDS {
        if k.print == PN {
            continue;
        }
        let v = match k.kind {
            Alg(class) => {
                let spec = match scope.vals.get(k.name) {
                    Some(Val::Str(s)) => Some(s.as_str()),
                    _ => None,
                };
                Val::List(assemble(spec, k.default.unwrap_or(""), all_list(class)))
            }
            Listen => {
                let ports = match scope.vals.get("port") {
                    Some(Val::Ports(p)) => p.clone(),
                    _ => vec![22],
                };
                let fam = match scope.vals.get("addressfamily") {
                    Some(Val::Str(s)) => s.as_str(),
                    _ => "any",
                };
                Val::List(listen_addresses(&scope.listen, &ports, fam))
            }
            _ => match (scope.vals.get(k.name), k.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => default_val(k, d),
                (None, None) => Val::List(Vec::new()),
            },
        };
        out.insert(k.name.to_string(), v.to_json());
    }
    out
}

/// Settings set in a Match block, in the order first set.
fn finalize_block(scope: &Scope) -> Map<String, Value> {
    let mut out = Map::new();
    for name in &scope.order {
        let Some(v) = scope.vals.get(name) else {
            continue;
        };
        let v = match (lookup(name).map(|k| k.kind), v) {
            (Some(Alg(_)), Val::Str(s)) => Val::List(split_commas(s)),
            _ => v.clone(),
        };
        out.insert((*name).to_string(), v.to_json());
    }
    out
}

/// Parse a configuration: the main file's text plus a source for included files.
pub fn parse_sshd_config(main_path: &str, text: &str, includes: &dyn IncludeSource) -> SshdFacts {
    let mut p = Parser {
        src: includes,
        global: Scope::new(),
        blocks: Vec::new(),
        files: Vec::new(),
        errors: Vec::new(),
    };
    let mut target = Target::Global;
    p.parse_file(main_path, text, &mut target, 0);
    let settings = finalize_global(&p.global);
    let match_blocks = p
        .blocks
        .into_iter()
        .map(|(mut b, s)| {
            b.settings = finalize_block(&s);
            b
        })
        .collect();
    SshdFacts {
        settings,
        match_blocks,
        files: p.files,
        errors: p.errors,
    }
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

/// Collect under `root`.
pub fn collect(root: &HostRoot) -> Outcome {
    let text = match root.read_to_string(MAIN_CONFIG) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Outcome::Unsupported(format!(
                "openssh-server is not installed ({MAIN_CONFIG} not found)"
            ))
        }
        Err(e) => return Outcome::Error(format!("cannot read sshd configuration: {e}")),
    };
    let facts = parse_sshd_config(MAIN_CONFIG, &text, &RootSource(root));
    Outcome::from_facts(&facts)
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
    fn missing_config_is_unsupported_and_bad_input_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(&HostRoot::offline(dir.path())),
            Outcome::Unsupported(_)
        ));
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

    #[test]
    fn argv_split_follows_sshd() {
        assert_eq!(
            argv_split(r#"a "b c" 'd' e\ f # g"#).unwrap(),
            ["a", "b c", "d", "e f"]
        );
        assert!(argv_split("\"open").is_none());
        assert_eq!(split_keyword("Port=22"), Some(("Port", "22")));
        assert_eq!(split_keyword("Port = 22"), Some(("Port", "22")));
    }
}
