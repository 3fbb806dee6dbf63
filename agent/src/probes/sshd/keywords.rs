//! The sshd keyword table: how each keyword is parsed, printed and
//! defaulted (OpenSSH 9.2p1 `servconf.c`), aliases and ignored keywords.

/// How a keyword's value is parsed and stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
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
pub(super) enum Alg {
    Cipher,
    Mac,
    Kex,
    Key,
    CaSig,
}

pub(super) const FLAG: &[(&str, &str)] = &[("yes", "yes"), ("no", "no")];
pub(super) const ADDRESS_FAMILY: &[(&str, &str)] =
    &[("inet", "inet"), ("inet6", "inet6"), ("any", "any")];
pub(super) const ROOT_LOGIN: &[(&str, &str)] = &[
    ("without-password", "without-password"),
    ("prohibit-password", "without-password"),
    ("forced-commands-only", "forced-commands-only"),
    ("yes", "yes"),
    ("no", "no"),
];
pub(super) const GATEWAY: &[(&str, &str)] = &[
    ("clientspecified", "clientspecified"),
    ("yes", "yes"),
    ("no", "no"),
];
pub(super) const COMPRESSION: &[(&str, &str)] = &[("yes", "yes"), ("delayed", "yes"), ("no", "no")];
pub(super) const FORWARDING: &[(&str, &str)] = &[
    ("yes", "yes"),
    ("all", "yes"),
    ("no", "no"),
    ("local", "local"),
    ("remote", "remote"),
];
pub(super) const TUNNEL: &[(&str, &str)] = &[
    ("yes", "yes"),
    ("point-to-point", "point-to-point"),
    ("ethernet", "ethernet"),
    ("no", "no"),
];
pub(super) const RHOSTS: &[(&str, &str)] =
    &[("yes", "yes"), ("no", "no"), ("shosts-only", "shosts-only")];
pub(super) const FINGERPRINT: &[(&str, &str)] = &[("md5", "MD5"), ("sha256", "SHA256")];
pub(super) const LOG_LEVEL: &[(&str, &str)] = &[
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
pub(super) const FACILITY: &[(&str, &str)] = &[
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
pub(super) struct Kw {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) in_match: bool,
    pub(super) print: Print,
    pub(super) default: Option<&'static str>,
}

pub(super) const fn kw(
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

pub(super) use Kind::*;
pub(super) use Print::{Commas as PC, Lines as PL, Never as PN, Single as PS, Words as PW};

pub(super) const DEF_CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
pub(super) const DEF_MACS: &str = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
pub(super) const DEF_KEX: &str = "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
pub(super) const DEF_CASIG: &str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
pub(super) const DEF_KEYALGS: &str = "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
pub(super) const DEF_GSSKEX: &str = "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-,gss-gex-sha1-";

pub(super) const ALL_CIPHERS: &str = "3des-cbc,aes128-cbc,aes192-cbc,aes256-cbc,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com";
pub(super) const ALL_MACS: &str = "hmac-sha1,hmac-sha1-96,hmac-sha2-256,hmac-sha2-512,hmac-md5,hmac-md5-96,umac-64@openssh.com,umac-128@openssh.com,hmac-sha1-etm@openssh.com,hmac-sha1-96-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-md5-etm@openssh.com,hmac-md5-96-etm@openssh.com,umac-64-etm@openssh.com,umac-128-etm@openssh.com";
pub(super) const ALL_KEX: &str = "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha1,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com";
pub(super) const ALL_KEYALGS: &str = "ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-dss-cert-v01@openssh.com,ssh-rsa,ssh-rsa-cert-v01@openssh.com,rsa-sha2-256,rsa-sha2-256-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-512-cert-v01@openssh.com";
pub(super) const ALL_CASIG: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-rsa,rsa-sha2-256,rsa-sha2-512";

/// Every keyword, in the order `sshd -T` prints them.
pub(super) static KEYWORDS: &[Kw] = &[
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
pub(super) static ALIASES: &[(&str, &str)] = &[
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
pub(super) static IGNORED: &[&str] = &[
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

pub(super) fn lookup(keyword: &str) -> Option<&'static Kw> {
    let lower = keyword.to_ascii_lowercase();
    let canonical = ALIASES
        .iter()
        .find(|(a, _)| *a == lower)
        .map_or(lower.as_str(), |(_, c)| c);
    KEYWORDS.iter().find(|k| k.name == canonical)
}
