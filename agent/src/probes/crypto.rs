//! Probe `crypto`: use of cryptography on the host — disk encryption
//! (dm-crypt/LUKS), the system-wide crypto policy, FIPS mode and the OpenSSL
//! system defaults for TLS.
//!
//! Sources:
//! - `/etc/crypttab` (name, device, key file *path* or `none` — never key
//!   material — and options), `/etc/fstab` (the root mount and mounts on
//!   `/dev/mapper/*`), `/etc/lvm/backup/<vg>` (which physical volumes an LVM
//!   volume group sits on, to see LVM-on-LUKS, the Debian and RHEL installer
//!   default for encrypted installs);
//! - live: `/proc/self/mounts` (root device) and `/sys/block/dm-*/dm/{name,uuid}`
//!   plus `slaves/` (a device-mapper device whose uuid starts with `CRYPT-` is
//!   dm-crypt; the root is encrypted when a dm-crypt device is under it);
//! - `/etc/crypto-policies/config` (RHEL 8+, Fedora: `DEFAULT`, `FUTURE`,
//!   `LEGACY`, `FIPS`, with `:SUBPOLICY` modifiers; Debian and Ubuntu have none);
//!   live `/proc/sys/crypto/fips_enabled`;
//! - OpenSSL's system default section (`openssl_conf` → `ssl_conf` →
//!   `system_default`) in `/etc/ssl/openssl.cnf` (Debian/Ubuntu) or
//!   `/etc/pki/tls/openssl.cnf` (RHEL), following one `.include` (RHEL points
//!   it at `/etc/crypto-policies/back-ends/opensslcnf.config`).
//!
//! Provider-side encryption (cloud volumes, self-encrypting drives) and ZFS
//! native encryption cannot be seen from files: `root_encrypted` is then `null`
//! or `false`, and `root_encryption_basis` says why.

use super::common::reader::read_quiet as read;
use super::Outcome;
use crate::hostroot::HostRoot;
use serde::Serialize;

/// The probe's schema: id, version, controls and every field (in core).
pub use evident_core::schema::probes::crypto::SCHEMA;

/// One line of `/etc/crypttab`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrypttabEntry {
    /// Mapped name.
    pub name: String,
    /// Underlying device.
    pub device: String,
    /// Key file path, `none` or `-`.
    pub keyfile: String,
    /// Options.
    pub options: Vec<String>,
}

/// One line of `/etc/fstab`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FstabEntry {
    /// Mount point.
    pub mount_point: String,
    /// Device.
    pub device: String,
    /// Filesystem type.
    pub fs_type: String,
}

/// A device-mapper device as /sys shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmDevice {
    /// Kernel name (`dm-0`).
    pub kernel_name: String,
    /// Mapped name (`sda3_crypt`, `debian--vg-root`).
    pub name: String,
    /// dm uuid (`CRYPT-LUKS2-…`, `LVM-…`).
    pub uuid: String,
    /// Devices under it (`dm-0`, `sda3`).
    pub slaves: Vec<String>,
}

/// OpenSSL system defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpensslDefaults {
    /// MinProtocol.
    pub min_protocol: Option<String>,
    /// CipherString.
    pub cipher_string: Option<String>,
    /// `.include` inside the system default section, to be read and parsed with [`parse_openssl_kv`].
    pub include: Option<String>,
}

/// The probe's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CryptoFacts {
    /// See [`SCHEMA`].
    pub crypttab_present: bool,
    /// See [`SCHEMA`].
    pub crypttab: Vec<CrypttabEntry>,
    /// See [`SCHEMA`].
    pub fstab_root_device: Option<String>,
    /// See [`SCHEMA`].
    pub fstab_dm_mounts: Vec<FstabEntry>,
    /// See [`SCHEMA`].
    pub runtime_collected: bool,
    /// See [`SCHEMA`].
    pub root_device: Option<String>,
    /// See [`SCHEMA`].
    pub dm_crypt_devices: Option<Vec<String>>,
    /// See [`SCHEMA`].
    pub root_encrypted: Option<bool>,
    /// See [`SCHEMA`].
    pub root_encryption_basis: String,
    /// See [`SCHEMA`].
    pub crypto_policy: Option<String>,
    /// See [`SCHEMA`].
    pub crypto_policy_base: Option<String>,
    /// See [`SCHEMA`].
    pub fips_enabled: Option<bool>,
    /// See [`SCHEMA`].
    pub openssl_config_present: bool,
    /// See [`SCHEMA`].
    pub openssl_min_protocol: Option<String>,
    /// See [`SCHEMA`].
    pub openssl_cipher_string: Option<String>,
    /// See [`SCHEMA`].
    pub openssl_seclevel: Option<i64>,
}

fn content_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Parse `/etc/crypttab`.
pub fn parse_crypttab(text: &str) -> Vec<CrypttabEntry> {
    content_lines(text)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?.to_string();
            let device = f.next()?.to_string();
            let keyfile = f.next().unwrap_or("none").to_string();
            let options = f
                .next()
                .map(|o| {
                    o.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Some(CrypttabEntry {
                name,
                device,
                keyfile,
                options,
            })
        })
        .collect()
}

/// Parse `/etc/fstab` (or `/proc/self/mounts`, same first three columns).
pub fn parse_fstab(text: &str) -> Vec<FstabEntry> {
    content_lines(text)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(FstabEntry {
                device: f.next()?.to_string(),
                mount_point: f.next()?.replace("\\040", " "),
                fs_type: f.next()?.to_string(),
            })
        })
        .collect()
}

/// The volume group of an LVM device path (`/dev/mapper/debian--vg-root` →
/// `debian-vg`, `/dev/rhel/root` → `rhel`); `None` for other devices.
pub fn lvm_vg_of(device: &str) -> Option<String> {
    if let Some(mapped) = device.strip_prefix("/dev/mapper/") {
        // A single `-` separates VG and LV; `--` is an escaped `-`.
        let bytes: Vec<char> = mapped.chars().collect();
        let mut vg = String::new();
        let mut i = 0;
        while let Some(&c) = bytes.get(i) {
            if c == '-' {
                if bytes.get(i + 1) == Some(&'-') {
                    vg.push('-');
                    i += 2;
                    continue;
                }
                return (!vg.is_empty()).then_some(vg);
            }
            vg.push(c);
            i += 1;
        }
        return None;
    }
    let rest = device.strip_prefix("/dev/")?;
    let (vg, lv) = rest.split_once('/')?;
    (!vg.is_empty() && !lv.is_empty() && !lv.contains('/') && !matches!(vg, "disk" | "md"))
        .then(|| vg.to_string())
}

/// The PV device hints (`device = "/dev/mapper/sda3_crypt"`) of an LVM metadata backup.
pub fn parse_lvm_backup_devices(text: &str) -> Vec<String> {
    content_lines(text)
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            if k.trim() != "device" {
                return None;
            }
            let v = v.trim().strip_prefix('"')?;
            v.split_once('"').map(|(d, _)| d.to_string())
        })
        .collect()
}

/// Decide offline whether `root_dev` is on dm-crypt, from crypttab names and
/// (for LVM roots) the PV hints of its volume group. Returns (value, basis).
pub fn root_encrypted_offline(
    root_dev: Option<&str>,
    crypttab: &[CrypttabEntry],
    vg_pvs: Option<&[String]>,
) -> (Option<bool>, &'static str) {
    let names: Vec<&str> = crypttab
        .iter()
        .filter(|e| !e.options.iter().any(|o| o == "swap"))
        .map(|e| e.name.as_str())
        .collect();
    let is_crypt = |dev: &str| {
        dev.strip_prefix("/dev/mapper/")
            .is_some_and(|n| names.contains(&n))
    };
    let Some(dev) = root_dev else {
        return (None, "unknown");
    };
    if is_crypt(dev) {
        return (Some(true), "crypttab-mapper");
    }
    if let Some(pvs) = vg_pvs.filter(|p| !p.is_empty()) {
        return if pvs.iter().all(|p| is_crypt(p)) {
            (Some(true), "lvm-on-crypt")
        } else {
            (Some(false), "lvm-not-on-crypt")
        };
    }
    if names.is_empty() {
        return (Some(false), "no-crypttab");
    }
    (None, "unknown")
}

/// Decide live whether `root_dev` is on dm-crypt by walking the device-mapper
/// tree. `None` when the device is not a block device we can follow.
pub fn root_encrypted_live(root_dev: &str, devices: &[DmDevice]) -> Option<bool> {
    let start = if let Some(name) = root_dev.strip_prefix("/dev/mapper/") {
        devices.iter().find(|d| d.name == name)?
    } else if let Some(k) = root_dev.strip_prefix("/dev/") {
        if !k.starts_with("dm-") {
            // A plain disk or partition (sda2, nvme0n1p2, vda1, md0).
            return (!k.contains('/') && k != "root").then_some(false);
        }
        devices.iter().find(|d| d.kernel_name == k)?
    } else {
        return None;
    };
    let mut stack = vec![start];
    let mut seen: Vec<&str> = Vec::new();
    while let Some(d) = stack.pop() {
        if d.uuid.starts_with("CRYPT-") {
            return Some(true);
        }
        if seen.contains(&d.kernel_name.as_str()) {
            continue;
        }
        seen.push(&d.kernel_name);
        for s in &d.slaves {
            if let Some(next) = devices.iter().find(|x| &x.kernel_name == s) {
                stack.push(next);
            }
        }
    }
    Some(false)
}

/// The policy in `/etc/crypto-policies/config`: first non-comment line.
pub fn parse_crypto_policy(text: &str) -> Option<String> {
    content_lines(text)
        .next()
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
}

/// `FUTURE:AD-SUPPORT` → `FUTURE`.
pub fn policy_base(policy: &str) -> String {
    policy
        .split_once(':')
        .map_or(policy, |(b, _)| b)
        .trim()
        .to_ascii_uppercase()
}

fn strip_cnf_comment(line: &str) -> &str {
    line.split_once('#').map_or(line, |(a, _)| a).trim()
}

/// Split openssl.cnf into `(section, key, value)` triples, `.include` kept as key `.include`.
fn cnf_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = "default".to_string();
    let mut out = Vec::new();
    for line in text.lines().map(strip_cnf_comment) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if let Some(rest) = line.strip_prefix(".include") {
            let path = rest.trim().trim_start_matches('=').trim();
            out.push((section.clone(), ".include".into(), path.to_string()));
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            out.push((section.clone(), k.trim().to_string(), v));
        }
    }
    out
}

/// Read MinProtocol / CipherString from flat `key = value` lines (a
/// crypto-policies back-end file, or one section), filling what is unset.
pub fn parse_openssl_kv(text: &str, out: &mut OpensslDefaults) {
    for line in text.lines().map(strip_cnf_comment) {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        apply_kv(out, k.trim(), v.trim());
    }
}

fn apply_kv(out: &mut OpensslDefaults, k: &str, v: &str) {
    match k {
        "MinProtocol" | "TLS.MinProtocol" => out.min_protocol = Some(v.to_string()),
        "CipherString" => out.cipher_string = Some(v.to_string()),
        _ => {}
    }
}

/// Parse openssl.cnf: follow `openssl_conf` → `ssl_conf` → `system_default`
/// (falling back to a section named `system_default_sect`) and read that section.
pub fn parse_openssl_cnf(text: &str) -> OpensslDefaults {
    let entries = cnf_entries(text);
    let get = |section: &str, key: &str| {
        entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.clone())
    };
    let target = get("default", "openssl_conf")
        .and_then(|init| get(&init, "ssl_conf"))
        .and_then(|ssl| get(&ssl, "system_default"))
        .unwrap_or_else(|| "system_default_sect".into());
    let mut out = OpensslDefaults::default();
    for (_, k, v) in entries.iter().filter(|(s, _, _)| *s == target) {
        if k == ".include" {
            out.include = Some(v.clone());
        } else {
            apply_kv(&mut out, k, v);
        }
    }
    out
}

/// `DEFAULT:@SECLEVEL=2` → 2.
pub fn seclevel(cipher_string: &str) -> Option<i64> {
    let (_, rest) = cipher_string.split_once("@SECLEVEL=")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Feed `input` to every parser (for cargo-fuzz); never panics.
pub fn fuzz_parse(input: &str) {
    let tab = parse_crypttab(input);
    let fstab = parse_fstab(input);
    let pvs = parse_lvm_backup_devices(input);
    for e in &fstab {
        let _ = lvm_vg_of(&e.device);
        let _ = root_encrypted_offline(Some(&e.device), &tab, Some(&pvs));
        let dm = DmDevice {
            kernel_name: "dm-0".into(),
            name: e.mount_point.clone(),
            uuid: e.fs_type.clone(),
            slaves: vec!["dm-0".into()],
        };
        let _ = root_encrypted_live(&e.device, &[dm]);
    }
    let _ = parse_crypto_policy(input).map(|p| policy_base(&p));
    let mut o = parse_openssl_cnf(input);
    parse_openssl_kv(input, &mut o);
    let _ = seclevel(input);
}

fn dm_devices(root: &HostRoot) -> Vec<DmDevice> {
    let names = root
        .read_dir("/sys/block")
        .ok()
        .flatten()
        .unwrap_or_default();
    names
        .into_iter()
        .filter(|n| n.starts_with("dm-"))
        .map(|k| {
            let base = format!("/sys/block/{k}");
            let trim = |s: Option<String>| s.map(|t| t.trim().to_string()).unwrap_or_default();
            DmDevice {
                name: trim(read(root, &format!("{base}/dm/name"))),
                uuid: trim(read(root, &format!("{base}/dm/uuid"))),
                slaves: root
                    .read_dir(&format!("{base}/slaves"))
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                kernel_name: k,
            }
        })
        .collect()
}

fn openssl_defaults(root: &HostRoot) -> (bool, OpensslDefaults) {
    let Some(text) =
        read(root, "/etc/ssl/openssl.cnf").or_else(|| read(root, "/etc/pki/tls/openssl.cnf"))
    else {
        return (false, OpensslDefaults::default());
    };
    let mut d = parse_openssl_cnf(&text);
    if let Some(inc) = d.include.clone() {
        if let Some(t) = read(root, &inc) {
            parse_openssl_kv(&t, &mut d);
        }
    }
    (true, d)
}

/// Collect under `root`. Always `Ok`: no crypttab / no policy is evidence too.
pub fn collect(root: &HostRoot) -> Outcome {
    let crypttab_text = read(root, "/etc/crypttab");
    let crypttab = crypttab_text
        .as_deref()
        .map(parse_crypttab)
        .unwrap_or_default();
    let fstab = read(root, "/etc/fstab")
        .as_deref()
        .map(parse_fstab)
        .unwrap_or_default();
    let fstab_root = fstab
        .iter()
        .rev()
        .find(|e| e.mount_point == "/")
        .map(|e| e.device.clone());
    let policy = read(root, "/etc/crypto-policies/config")
        .or_else(|| read(root, "/etc/crypto-policies/state/current"))
        .as_deref()
        .and_then(parse_crypto_policy);
    let (openssl_present, ossl) = openssl_defaults(root);
    let live = root.is_live();

    let (root_device, root_encrypted, basis, dm_crypt, fips) = if live {
        let mounts = read(root, &format!("{}/mounts", root.proc_self()))
            .as_deref()
            .map(parse_fstab)
            .unwrap_or_default();
        let dev = mounts
            .iter()
            .rev()
            .find(|e| e.mount_point == "/")
            .map(|e| e.device.clone());
        let devices = dm_devices(root);
        let enc = dev
            .as_deref()
            .and_then(|d| root_encrypted_live(d, &devices));
        let basis = match (
            enc,
            dev.as_deref()
                .is_some_and(|d| d.starts_with("/dev/mapper/") || d.starts_with("/dev/dm-")),
        ) {
            (None, _) => "unknown",
            (Some(_), true) => "live-dm-tree",
            (Some(_), false) => "live-not-dm",
        };
        let crypt: Vec<String> = devices
            .iter()
            .filter(|d| d.uuid.starts_with("CRYPT-"))
            .map(|d| d.name.clone())
            .collect();
        let fips = read(root, "/proc/sys/crypto/fips_enabled").map(|t| t.trim() == "1");
        (dev, enc, basis, Some(crypt), fips)
    } else {
        let pvs = fstab_root
            .as_deref()
            .and_then(lvm_vg_of)
            .and_then(|vg| read(root, &format!("/etc/lvm/backup/{vg}")))
            .map(|t| parse_lvm_backup_devices(&t));
        let (enc, basis) = root_encrypted_offline(fstab_root.as_deref(), &crypttab, pvs.as_deref());
        (fstab_root.clone(), enc, basis, None, None)
    };

    let facts = CryptoFacts {
        crypttab_present: crypttab_text.is_some(),
        crypttab,
        fstab_dm_mounts: fstab
            .into_iter()
            .filter(|e| e.device.starts_with("/dev/mapper/"))
            .collect(),
        fstab_root_device: fstab_root,
        runtime_collected: live,
        root_device,
        dm_crypt_devices: dm_crypt,
        root_encrypted,
        root_encryption_basis: basis.to_string(),
        crypto_policy_base: policy.as_deref().map(policy_base),
        crypto_policy: policy,
        fips_enabled: fips,
        openssl_config_present: openssl_present,
        openssl_seclevel: ossl.cipher_string.as_deref().and_then(seclevel),
        openssl_min_protocol: ossl.min_protocol,
        openssl_cipher_string: ossl.cipher_string,
    };
    Outcome::from_facts(&facts)
}

#[cfg(test)]
mod tests;
