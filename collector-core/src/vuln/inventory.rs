//! A host's package inventory as the `packages` probe reports it (schema
//! version 3): the OS release and, per installed package, its version,
//! architecture and source package name and version.

use super::index::Release;
use serde::{Deserialize, Serialize};

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryPackage {
    /// Binary package name.
    pub name: String,
    /// Installed version (dpkg `Version`, rpm `[epoch:]version-release`).
    pub version: String,
    /// Architecture (`amd64`, `x86_64`, `noarch`).
    #[serde(default)]
    pub arch: String,
    /// Source package name (dpkg `Source:`, rpm `SOURCERPM`; the binary's
    /// own name when absent).
    pub source: String,
    /// Source package version (the binary's version when absent).
    pub source_version: String,
}

/// The part of the `packages` probe data matching reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// `dpkg` or `rpm`.
    #[serde(default)]
    pub manager: String,
    /// Whether the inventory was read at all.
    #[serde(default)]
    pub inventory_collected: bool,
    /// os-release `ID`.
    #[serde(default)]
    pub os_id: String,
    /// os-release `VERSION_ID`.
    #[serde(default)]
    pub os_version_id: String,
    /// os-release `VERSION_CODENAME`.
    #[serde(default)]
    pub os_codename: String,
    /// Installed packages.
    #[serde(default)]
    pub inventory: Vec<InventoryPackage>,
    /// The running kernel release (`uname -r`), live hosts only.
    #[serde(default)]
    pub kernel_running: Option<String>,
}

impl Inventory {
    /// Read the `packages` probe's data; an error names what is missing.
    pub fn from_probe(data: &serde_json::Value) -> Result<Inventory, String> {
        Inventory::deserialize(data).map_err(|e| format!("packages data: {e}"))
    }

    /// The releases a feed may file this host under, most specific first
    /// (`debian:bookworm`, then `debian:12`).
    pub fn release_keys(&self) -> Vec<Release> {
        let mut out = Vec::new();
        if self.os_id.is_empty() {
            return out;
        }
        for name in [&self.os_codename, &self.os_version_id] {
            if !name.is_empty() {
                out.push(Release::new(&self.os_id, name));
            }
        }
        // `VERSION_ID` of RHEL clones is `9.4`; their feeds say `9`.
        if let Some((major, _)) = self.os_version_id.split_once('.') {
            if !matches!(self.os_id.as_str(), "ubuntu") && !major.is_empty() {
                out.push(Release::new(&self.os_id, major));
            }
        }
        out
    }

    /// How the host names itself in messages (`debian 12 (bookworm)`).
    pub fn describe(&self) -> String {
        let mut s = if self.os_id.is_empty() {
            "an unknown distribution".to_string()
        } else {
            self.os_id.clone()
        };
        if !self.os_version_id.is_empty() {
            s.push(' ');
            s.push_str(&self.os_version_id);
        }
        if !self.os_codename.is_empty() {
            s.push_str(&format!(" ({})", self.os_codename));
        }
        s
    }

    /// The installed package of the running kernel: dpkg
    /// `linux-image-<release>`, rpm `kernel-core`/`kernel` whose
    /// `version-release.arch` is the release.
    pub fn running_kernel(&self) -> Option<&InventoryPackage> {
        let running = self.kernel_running.as_deref()?;
        self.inventory.iter().find(|p| {
            if self.manager == "rpm" {
                let evr = p
                    .version
                    .split_once(':')
                    .map_or(p.version.as_str(), |(_, v)| v);
                matches!(p.name.as_str(), "kernel-core" | "kernel")
                    && format!("{evr}.{}", p.arch) == running
            } else {
                p.name
                    .strip_prefix("linux-image-")
                    .is_some_and(|r| r == running || r.strip_suffix("-unsigned") == Some(running))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_keys_and_running_kernel() {
        let inv = Inventory::from_probe(&serde_json::json!({
            "manager": "dpkg", "inventory_collected": true,
            "os_id": "debian", "os_version_id": "12", "os_codename": "bookworm",
            "kernel_running": "6.1.0-28-amd64",
            "inventory": [
                {"name": "linux-image-6.1.0-28-amd64", "version": "6.1.119-1", "arch": "amd64",
                 "source": "linux-signed-amd64", "source_version": "6.1.119+1"},
                {"name": "bash", "version": "5.2.15-2+b7", "arch": "amd64", "source": "bash", "source_version": "5.2.15-2"}
            ]
        }))
        .unwrap();
        assert_eq!(
            inv.release_keys(),
            [
                Release::new("debian", "bookworm"),
                Release::new("debian", "12")
            ]
        );
        assert_eq!(inv.running_kernel().unwrap().version, "6.1.119-1");
        assert_eq!(inv.describe(), "debian 12 (bookworm)");
        let rh = Inventory {
            manager: "rpm".into(),
            os_id: "almalinux".into(),
            os_version_id: "9.4".into(),
            kernel_running: Some("5.14.0-427.13.1.el9_4.x86_64".into()),
            inventory: vec![InventoryPackage {
                name: "kernel-core".into(),
                version: "5.14.0-427.13.1.el9_4".into(),
                arch: "x86_64".into(),
                source: "kernel".into(),
                source_version: "5.14.0-427.13.1.el9_4".into(),
            }],
            ..Inventory::default()
        };
        assert_eq!(rh.release_keys()[1], Release::new("almalinux", "9"));
        assert!(rh.running_kernel().is_some());
        assert!(Inventory::from_probe(&serde_json::json!({"inventory": 5})).is_err());
    }
}
