//! Tests of `crypto`.

use super::*;
use std::fs;
use std::path::Path;

fn fx(name: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/crypto")
            .join(name),
    )
    .unwrap()
}

fn put(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn ok(root: &Path) -> serde_json::Value {
    match collect(&HostRoot::offline(root)) {
        Outcome::Ok(v) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn crypttab_and_fstab() {
    let t = parse_crypttab(include_str!(
        "../../../tests/fixtures/crypto/crypttab.debian"
    ));
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].name, "sda3_crypt");
    assert_eq!(t[0].keyfile, "none");
    assert_eq!(t[0].options, vec!["luks", "discard"]);
    assert_eq!(t[1].keyfile, "/etc/keys/data.key");
    assert_eq!(
        t[2].options,
        vec!["swap", "cipher=aes-xts-plain64", "size=256"]
    );
    let f = parse_fstab(include_str!(
        "../../../tests/fixtures/crypto/fstab.debian-lvm-luks"
    ));
    assert_eq!(
        f.iter().find(|e| e.mount_point == "/").unwrap().device,
        "/dev/mapper/debian--vg-root"
    );
}

#[test]
fn lvm_names() {
    assert_eq!(
        lvm_vg_of("/dev/mapper/debian--vg-root").as_deref(),
        Some("debian-vg")
    );
    assert_eq!(lvm_vg_of("/dev/mapper/rhel-root").as_deref(), Some("rhel"));
    assert_eq!(lvm_vg_of("/dev/rhel/root").as_deref(), Some("rhel"));
    assert_eq!(lvm_vg_of("/dev/mapper/sda3_crypt"), None);
    assert_eq!(lvm_vg_of("/dev/disk/by-uuid/x"), None);
    assert_eq!(lvm_vg_of("UUID=abc"), None);
    assert_eq!(
        parse_lvm_backup_devices(include_str!(
            "../../../tests/fixtures/crypto/lvm-backup.debian-vg"
        )),
        vec!["/dev/mapper/sda3_crypt"]
    );
}

#[test]
fn debian_lvm_on_luks_image_is_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "/etc/crypttab", &fx("crypttab.debian"));
    put(r, "/etc/fstab", &fx("fstab.debian-lvm-luks"));
    put(r, "/etc/lvm/backup/debian-vg", &fx("lvm-backup.debian-vg"));
    put(r, "/etc/ssl/openssl.cnf", &fx("openssl.cnf.debian11"));
    let v = ok(r);
    assert_eq!(v["root_encrypted"], true);
    assert_eq!(v["root_encryption_basis"], "lvm-on-crypt");
    assert!(v["crypto_policy"].is_null());
    assert_eq!(v["openssl_cipher_string"], "DEFAULT@SECLEVEL=2");
    assert_eq!(v["openssl_seclevel"], 2);
    assert_eq!(v["openssl_min_protocol"], "TLSv1.2");
    assert_eq!(v["fstab_dm_mounts"].as_array().unwrap().len(), 3);
    assert!(v["dm_crypt_devices"].is_null());
    for f in SCHEMA.fields.iter().filter(|f| !f.path.contains('.')) {
        assert!(v.get(f.path).is_some(), "missing {}", f.path);
    }
}

#[test]
fn rhel_image_with_crypto_policies_and_no_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "/etc/fstab", &fx("fstab.rhel9"));
    put(
        r,
        "/etc/crypto-policies/config",
        &fx("crypto-policies-config"),
    );
    put(r, "/etc/pki/tls/openssl.cnf", &fx("openssl.cnf.rhel9"));
    put(
        r,
        "/etc/crypto-policies/back-ends/opensslcnf.config",
        &fx("opensslcnf.config.rhel9"),
    );
    let v = ok(r);
    assert_eq!(v["root_encrypted"], false);
    assert_eq!(v["root_encryption_basis"], "no-crypttab");
    assert_eq!(v["crypto_policy"], "DEFAULT:SHA1");
    assert_eq!(v["crypto_policy_base"], "DEFAULT");
    assert_eq!(v["openssl_min_protocol"], "TLSv1.2");
    assert_eq!(v["openssl_seclevel"], 2);
}

#[test]
fn offline_decisions() {
    let tab = parse_crypttab("luks-1 UUID=1 none discard\n");
    assert_eq!(
        root_encrypted_offline(Some("/dev/mapper/luks-1"), &tab, None),
        (Some(true), "crypttab-mapper")
    );
    assert_eq!(
        root_encrypted_offline(Some("UUID=abcd"), &tab, None),
        (None, "unknown")
    );
    assert_eq!(root_encrypted_offline(None, &tab, None), (None, "unknown"));
    let pvs = vec!["/dev/sda2".to_string()];
    assert_eq!(
        root_encrypted_offline(Some("/dev/mapper/rhel-root"), &tab, Some(&pvs)),
        (Some(false), "lvm-not-on-crypt")
    );
    let swap_only = parse_crypttab("cswap /dev/sda4 /dev/urandom swap\n");
    assert_eq!(
        root_encrypted_offline(Some("UUID=x"), &swap_only, None),
        (Some(false), "no-crypttab")
    );
}

#[test]
fn live_dm_tree() {
    let devs = vec![
        DmDevice {
            kernel_name: "dm-0".into(),
            name: "sda3_crypt".into(),
            uuid: "CRYPT-LUKS2-0f1e2d3c-sda3_crypt".into(),
            slaves: vec!["sda3".into()],
        },
        DmDevice {
            kernel_name: "dm-1".into(),
            name: "debian--vg-root".into(),
            uuid: "LVM-abc".into(),
            slaves: vec!["dm-0".into()],
        },
        DmDevice {
            kernel_name: "dm-2".into(),
            name: "plain-root".into(),
            uuid: "LVM-def".into(),
            slaves: vec!["sdb1".into(), "dm-2".into()],
        },
    ];
    assert_eq!(
        root_encrypted_live("/dev/mapper/debian--vg-root", &devs),
        Some(true)
    );
    assert_eq!(root_encrypted_live("/dev/dm-0", &devs), Some(true));
    assert_eq!(
        root_encrypted_live("/dev/mapper/plain-root", &devs),
        Some(false)
    );
    assert_eq!(root_encrypted_live("/dev/nvme0n1p2", &devs), Some(false));
    assert_eq!(root_encrypted_live("/dev/root", &devs), None);
    assert_eq!(root_encrypted_live("rpool/ROOT/debian", &devs), None);
    assert_eq!(root_encrypted_live("/dev/mapper/gone", &devs), None);
}

#[test]
fn policy_and_openssl_quirks() {
    assert_eq!(
        parse_crypto_policy("# comment\n\nLEGACY\n").as_deref(),
        Some("LEGACY")
    );
    assert_eq!(policy_base("future:ad-support"), "FUTURE");
    let d = parse_openssl_cnf("[system_default_sect]\nMinProtocol = TLSv1.2 # x\nCipherString = \"DEFAULT@SECLEVEL=1\"\r\n");
    assert_eq!(d.min_protocol.as_deref(), Some("TLSv1.2"));
    assert_eq!(seclevel(d.cipher_string.as_deref().unwrap()), Some(1));
    assert_eq!(seclevel("DEFAULT"), None);
    // Debian 12 ships no ssl_conf section at all: OpenSSL's built-in defaults apply.
    let deb12 = parse_openssl_cnf(include_str!(
        "../../../tests/fixtures/crypto/openssl.cnf.debian12"
    ));
    assert_eq!(deb12, OpensslDefaults::default());
}

#[test]
fn empty_root() {
    let dir = tempfile::tempdir().unwrap();
    let v = ok(dir.path());
    assert_eq!(v["crypttab_present"], false);
    assert!(v["root_encrypted"].is_null());
    assert_eq!(v["openssl_config_present"], false);
}

#[test]
fn fuzz_never_panics() {
    for s in [
        "",
        "a b",
        "/dev/mapper/- / x",
        "/dev/mapper/a-- / x",
        "[x",
        ".include",
        "@SECLEVEL=",
        "device = \"",
    ] {
        fuzz_parse(s);
    }
}
