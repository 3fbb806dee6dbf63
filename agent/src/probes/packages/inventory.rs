//! The vulnerability inventory (issue #18): per installed package its
//! version, architecture and source package name and version, the OS
//! release (os-release) and the running versus installed kernels.

use super::dpkg::DpkgInventory;
use super::rpm_header::RpmPackage;
use super::PackagesFacts;
use crate::hostroot::HostRoot;
pub use evident_core::vuln::InventoryPackage;

/// `ID`, `VERSION_ID` and `VERSION_CODENAME` of an os-release file.
pub fn parse_os_release(text: &str) -> (String, String, String) {
    let (mut id, mut version, mut codename) = (String::new(), String::new(), String::new());
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .unwrap_or(v)
            .to_string();
        match k.trim() {
            "ID" => id = v.to_ascii_lowercase(),
            "VERSION_ID" => version = v,
            "VERSION_CODENAME" => codename = v,
            _ => {}
        }
    }
    (id, version, codename)
}

/// dpkg's `Source:` field (`name` or `name (version)`) with the binary's
/// version: the source name and version (the binary's own when absent).
pub fn dpkg_source(name: &str, version: &str, source: &str) -> (String, String) {
    let source = source.trim();
    if source.is_empty() {
        return (name.to_string(), version.to_string());
    }
    match source.split_once('(') {
        Some((n, v)) => (
            n.trim().to_string(),
            v.trim_end().trim_end_matches(')').trim().to_string(),
        ),
        None => (source.to_string(), version.to_string()),
    }
}

/// The installed inventory of a dpkg database, sorted by name and architecture.
pub fn dpkg_inventory(inv: &DpkgInventory) -> Vec<InventoryPackage> {
    inv.installed
        .iter()
        .map(|((name, arch), version)| {
            let raw = inv
                .sources
                .get(&(name.clone(), arch.clone()))
                .map_or("", String::as_str);
            let (source, source_version) = dpkg_source(name, version, raw);
            InventoryPackage {
                name: name.clone(),
                version: version.clone(),
                arch: arch.clone(),
                source,
                source_version,
            }
        })
        .collect()
}

/// The name in an rpm `SOURCERPM` (`openssh-8.7p1-38.el9.src.rpm` → `openssh`).
pub fn source_rpm_name(source_rpm: &str) -> Option<&str> {
    let base = source_rpm
        .strip_suffix(".src.rpm")
        .or_else(|| source_rpm.strip_suffix(".nosrc.rpm"))?;
    let (nv, _release) = base.rsplit_once('-')?;
    let (name, _version) = nv.rsplit_once('-')?;
    (!name.is_empty()).then_some(name)
}

/// One rpm package as an inventory entry: the version is
/// `[epoch:]version-release` and the source version the same EVR (a
/// source rpm's file name carries no epoch).
pub fn rpm_inventory_package(p: &RpmPackage) -> InventoryPackage {
    let evr = match p.epoch {
        Some(e) if e > 0 => format!("{e}:{}-{}", p.version, p.release),
        _ => format!("{}-{}", p.version, p.release),
    };
    let source = p
        .source_rpm
        .as_deref()
        .and_then(source_rpm_name)
        .unwrap_or(&p.name)
        .to_string();
    InventoryPackage {
        name: p.name.clone(),
        version: evr.clone(),
        arch: p.arch.clone().unwrap_or_default(),
        source,
        source_version: evr,
    }
}

/// Installed kernel releases (as `uname -r` would print them when booted):
/// dpkg `linux-image-<release>` packages, rpm `kernel-core` (or `kernel`)
/// as `version-release.arch`. Sorted, without duplicates.
pub fn installed_kernels(manager: &str, inventory: &[InventoryPackage]) -> Vec<String> {
    let mut out: Vec<String> = inventory
        .iter()
        .filter_map(|p| {
            if manager == "rpm" {
                matches!(p.name.as_str(), "kernel-core" | "kernel").then(|| {
                    let evr = p
                        .version
                        .split_once(':')
                        .map_or(p.version.as_str(), |(_, v)| v);
                    format!("{evr}.{}", p.arch)
                })
            } else {
                let r = p.name.strip_prefix("linux-image-")?;
                let r = r.strip_suffix("-unsigned").unwrap_or(r);
                r.starts_with(|c: char| c.is_ascii_digit())
                    .then(|| r.to_string())
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Fill the OS release and kernel fields (the inventory itself is filled
/// by the dpkg or rpm collection). The running kernel is read from `/proc`
/// on a live root only.
pub(super) fn collect_os(root: &HostRoot, facts: &mut PackagesFacts) {
    let text = root
        .read_to_string("/etc/os-release")
        .ok()
        .flatten()
        .or_else(|| root.read_to_string("/usr/lib/os-release").ok().flatten());
    if let Some(t) = text {
        let (id, version, codename) = parse_os_release(&t);
        facts.os_id = id;
        facts.os_version_id = version;
        facts.os_codename = codename;
    }
    if root.is_live() {
        facts.kernel_running = root
            .read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .flatten()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
    }
    facts.kernel_installed = installed_kernels(&facts.manager, &facts.inventory);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_fields_of_both_managers() {
        assert_eq!(
            dpkg_source("bash", "5.2.15-2+b7", "bash (5.2.15-2)"),
            ("bash".to_string(), "5.2.15-2".to_string())
        );
        assert_eq!(
            dpkg_source("libssl3", "3.0.15-1~deb12u1", "openssl"),
            ("openssl".to_string(), "3.0.15-1~deb12u1".to_string())
        );
        assert_eq!(
            dpkg_source("zlib1g", "1:1.2.13.dfsg-1", ""),
            ("zlib1g".to_string(), "1:1.2.13.dfsg-1".to_string())
        );
        assert_eq!(
            source_rpm_name("openssh-8.7p1-38.el9.src.rpm"),
            Some("openssh")
        );
        assert_eq!(
            source_rpm_name("python3.11-libs-3.11.7-1.el9.nosrc.rpm"),
            Some("python3.11-libs")
        );
        assert_eq!(source_rpm_name("garbage"), None);
        assert_eq!(source_rpm_name("-1-2.src.rpm"), None);
    }

    #[test]
    fn os_release_and_kernels() {
        let (id, v, c) = parse_os_release(
            "NAME=\"Debian\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
        );
        assert_eq!(
            (id.as_str(), v.as_str(), c.as_str()),
            ("debian", "12", "bookworm")
        );
        let p = |name: &str, version: &str, arch: &str| InventoryPackage {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            source: String::new(),
            source_version: String::new(),
        };
        assert_eq!(
            installed_kernels(
                "dpkg",
                &[
                    p("linux-image-amd64", "6.1.119-1", "amd64"),
                    p("linux-image-6.1.0-28-amd64", "6.1.119-1", "amd64")
                ]
            ),
            ["6.1.0-28-amd64"]
        );
        assert_eq!(
            installed_kernels(
                "rpm",
                &[
                    p("kernel-core", "5.14.0-427.13.1.el9_4", "x86_64"),
                    p("kernel-tools", "1", "x86_64")
                ]
            ),
            ["5.14.0-427.13.1.el9_4.x86_64"]
        );
    }
}
