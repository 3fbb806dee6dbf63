//! Schema of the `crypto` probe (data for the agent's `probes/crypto`).

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The `crypto` probe.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "crypto",
    version: 1,
    description: "Disk encryption (dm-crypt/LUKS) and system crypto policy",
    controls: &["A.8.24"],
    fields: &[
        FieldSchema::new("crypttab_present", Bool, "Whether /etc/crypttab exists"),
        FieldSchema::new("crypttab", List(&Object), "Entries of /etc/crypttab"),
        FieldSchema::new("crypttab[].name", Str, "Mapped name (/dev/mapper/<name>)"),
        FieldSchema::new("crypttab[].device", Str, "Underlying device (`UUID=…`, `/dev/sda3`)"),
        FieldSchema::new("crypttab[].keyfile", Str, "Key file path, `none` (passphrase) or `-`; never its contents"),
        FieldSchema::new("crypttab[].options", List(&Str), "Options (`luks`, `discard`, `swap`, …)"),
        FieldSchema::new("fstab_root_device", Nullable(&Str), "Device of the `/` entry in /etc/fstab; null when none"),
        FieldSchema::new("fstab_dm_mounts", List(&Object), "fstab entries on /dev/mapper/* devices"),
        FieldSchema::new("fstab_dm_mounts[].mount_point", Str, "Mount point (`none` for swap)"),
        FieldSchema::new("fstab_dm_mounts[].device", Str, "/dev/mapper/… device"),
        FieldSchema::new("fstab_dm_mounts[].fs_type", Str, "Filesystem type"),
        FieldSchema::new("runtime_collected", Bool, "Whether live state (/proc, /sys) was read"),
        FieldSchema::new("root_device", Nullable(&Str), "Device mounted on `/` (live: /proc/self/mounts; else fstab); null when unknown"),
        FieldSchema::new("dm_crypt_devices", Nullable(&List(&Str)), "Names of active dm-crypt devices (dm uuid `CRYPT-…`); null unless live"),
        FieldSchema::new("root_encrypted", Nullable(&Bool), "Whether the root filesystem sits on dm-crypt; null when it cannot be told"),
        FieldSchema::new("root_encryption_basis", Str, "How `root_encrypted` was decided: `live-dm-tree`, `live-not-dm`, `crypttab-mapper`, `lvm-on-crypt`, `lvm-not-on-crypt`, `no-crypttab`, `unknown`"),
        FieldSchema::new("crypto_policy", Nullable(&Str), "System crypto policy from /etc/crypto-policies/config (`DEFAULT`, `FUTURE:AD-SUPPORT`); null where there is none (Debian, Ubuntu)"),
        FieldSchema::new("crypto_policy_base", Nullable(&Str), "The policy without sub-policies, uppercased (`DEFAULT`, `FUTURE`, `LEGACY`, `FIPS`); null with `crypto_policy`"),
        FieldSchema::new("fips_enabled", Nullable(&Bool), "Whether the kernel runs in FIPS mode (/proc/sys/crypto/fips_enabled); null unless live"),
        FieldSchema::new("openssl_config_present", Bool, "Whether the system openssl.cnf was found"),
        FieldSchema::new("openssl_min_protocol", Nullable(&Str), "MinProtocol (or TLS.MinProtocol) of OpenSSL's system default section (`TLSv1.2`); null when not set"),
        FieldSchema::new("openssl_cipher_string", Nullable(&Str), "CipherString of that section (`DEFAULT:@SECLEVEL=2`); null when not set"),
        FieldSchema::new("openssl_seclevel", Nullable(&Int), "The `@SECLEVEL=N` of the cipher string; null when not set"),
    ],
};
