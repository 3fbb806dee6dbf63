//! The fleet model shared by `ingest` and `populate`: many hosts, each with
//! its own key, host facts and package inventory, collecting on a schedule
//! (`collected_at` advances by the interval every run, so a history spans
//! days), chained per host like the real agent (sequence + previous digest).
//!
//! Churn follows the real probes: the `packages` blob changes when a host
//! installs updates (every `churn_every` runs, staggered across hosts); it
//! reports the update times as timestamps (no ages), so it does not change
//! from one day to the next on its own. Every
//! other probe's output comes from real probe code over a fixture root and
//! does not change between runs.

use chrono::{DateTime, Duration as Days, Utc};
use evident_agent::probes::packages::{InventoryPackage, PackagesFacts};
use evident_core::evidence::{
    AgentInfo, Content, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule, Statement,
    PAYLOAD_TYPE,
};
use evident_core::{sha256_digest, Digest, Signer};
use evident_e2e::{collect, fixture_root};
use std::collections::BTreeMap;

/// What every host shares: the probe entries and blobs of a template host.
pub struct Template {
    /// Probe entries (host and packages are replaced per host).
    pub probes: Vec<ProbeEntry>,
    /// The shared blobs (everything but host and packages).
    pub blobs: BTreeMap<Digest, Vec<u8>>,
    /// The template's `host` probe data.
    host_data: serde_json::Value,
    /// Installed package names of the fleet's image.
    packages: Vec<String>,
}

/// How the fleet behaves.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Schedule interval, seconds (collected_at step).
    pub interval_s: u64,
    /// A host installs updates every this many runs (0: never).
    pub churn_every: u64,
    /// Collection time of run 0.
    pub start: DateTime<Utc>,
    /// Hosts share one package inventory per image (`hosts` images: all distinct).
    pub images: usize,
    /// Sign predicate v2 (unchanged runs compact) instead of v1.
    pub v2: bool,
}

const WORDS: &[&str] = &[
    "ssl",
    "curl",
    "xml2",
    "systemd",
    "gnutls",
    "krb5",
    "pam",
    "zstd",
    "lzma",
    "glib",
    "dbus",
    "python3",
    "perl",
    "ncurses",
    "readline",
    "sqlite3",
    "expat",
    "ffi",
    "gmp",
    "idn2",
    "nettle",
    "p11-kit",
    "tasn1",
    "unistring",
    "bsd",
    "cap2",
    "selinux",
    "audit",
    "acl",
    "attr",
];
const PREFIXES: &[&str] = &["lib", "", "python3-", "fonts-", "gir1.2-"];

/// The installed inventory at update `epoch` (what the real probe reports
/// for vulnerability matching: name, version, architecture, source package
/// and version; ~95 B of JSON a package): package `i` was pending at the
/// epochs `e` with `(7 i + e) % 97 == 0` (see `packages_blob`) and each
/// such update installed since bumped its Debian revision (`+deb12uN`), so
/// an update changes a few packages, as a weekly security update does.
fn inventory(t: &Template, image: usize, epoch: u64) -> Vec<InventoryPackage> {
    let mut inv: Vec<InventoryPackage> = t
        .packages
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let r = (97 - (i as u64 * 7) % 97) % 97;
            let upgrades = if epoch > r {
                (epoch - 1 - r) / 97 + 1
            } else {
                0
            };
            let mut version = format!("{}.{}.{}-{}", i % 7 + 1, i % 13, i % 5, i % 4 + 1);
            if upgrades > 0 {
                version.push_str(&format!("+deb12u{upgrades}"));
            }
            let stem = &t.packages[i - i % 3];
            let source = PREFIXES
                .iter()
                .filter(|p| !p.is_empty())
                .find_map(|p| stem.strip_prefix(p))
                .unwrap_or(stem)
                .to_string();
            let arch = if name.starts_with("fonts-") || name.starts_with("python3-") {
                "all"
            } else {
                "amd64"
            };
            InventoryPackage {
                name: name.clone(),
                version: version.clone(),
                arch: arch.into(),
                source,
                source_version: version,
            }
        })
        .collect();
    inv.push(InventoryPackage {
        name: format!("app-image-{image}"),
        version: "1.0-1".into(),
        arch: "amd64".into(),
        source: format!("app-image-{image}"),
        source_version: "1.0-1".into(),
    });
    inv.sort_by(|a, b| a.name.cmp(&b.name));
    inv
}

impl Template {
    /// Collect the template with the real probes over a fixture root, with
    /// an image of `packages` installed packages.
    pub fn new(packages: usize) -> Template {
        let root = fixture_root("fleet-template");
        let run = collect(root.path());
        let host_digest = run
            .probes
            .iter()
            .find(|p| p.id == "host")
            .and_then(|p| p.digest);
        let host_data = host_digest
            .and_then(|d| run.blobs.get(&d))
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(serde_json::Value::Null);
        let mut blobs = run.blobs;
        if let Some(d) = host_digest {
            blobs.remove(&d);
        }
        let names = (0..packages)
            .map(|i| {
                let p = PREFIXES[i % PREFIXES.len()];
                let w = WORDS[(i / PREFIXES.len()) % WORDS.len()];
                format!("{p}{w}{}", i / (PREFIXES.len() * WORDS.len()))
            })
            .collect();
        // Durations as measured vary from one process to the next: fixed
        // plausible ones instead, so a fleet (and a populated store) is
        // the same every time.
        let probes = run
            .probes
            .into_iter()
            .enumerate()
            .map(|(i, p)| ProbeEntry {
                duration_us: 1_000 + 337 * i as u64,
                ..p
            })
            .collect();
        Template {
            probes,
            blobs,
            host_data,
            packages: names,
        }
    }
}

/// One host of the fleet.
pub struct Host {
    /// Index in the fleet.
    pub index: usize,
    /// Its key.
    pub signer: Signer,
    /// Host name.
    pub hostname: String,
    /// Agent id given at enrollment.
    pub agent_id: String,
    /// Next run number (0-based); sequence is run + 1.
    pub run: u64,
    /// Digest of the previous envelope.
    pub previous: Option<Digest>,
    host_blob: Digest,
    facts: HostFacts,
    /// Update epoch of the last packages blob, and its digest.
    packages: Option<(u64, Digest)>,
    /// Content digest of the previous run (v2).
    content: Option<Digest>,
}

/// One signed run of one host.
pub struct SignedRun {
    /// The exact envelope bytes.
    pub envelope: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
    /// The statement signed.
    pub statement: Statement,
    /// Blobs the collector does not have from this host's previous run.
    pub new_blobs: Vec<(Digest, Vec<u8>)>,
    /// A full v2 run's content blob (the collector derives it at ingest).
    pub content: Option<(Digest, Vec<u8>)>,
    /// Signed as an unchanged v2 run.
    pub unchanged: bool,
}

impl Host {
    /// Host `index` (its key is derived from the index: the same fleet every time).
    pub fn new(index: usize) -> Host {
        let seed: [u8; 32] = sha256_digest(format!("evident-fleet-bench {index}").as_bytes()).0;
        Host {
            index,
            signer: Signer::from_seed(&seed),
            hostname: format!("fleet-{index:06}"),
            agent_id: String::new(),
            run: 0,
            previous: None,
            host_blob: Digest([0; 32]),
            facts: HostFacts::default(),
            packages: None,
            content: None,
        }
    }

    fn host_blob(&self, t: &Template) -> Vec<u8> {
        let mut data = t.host_data.clone();
        if let Some(obj) = data.as_object_mut() {
            obj.insert("hostname".into(), self.hostname.clone().into());
            obj.insert(
                "machine_id".into(),
                hex::encode(&sha256_digest(self.hostname.as_bytes()).0[..16]).into(),
            );
        }
        serde_json::to_vec(&data).unwrap_or_default()
    }

    fn packages_blob(&self, t: &Template, spec: &Spec, epoch: u64, last: DateTime<Utc>) -> Vec<u8> {
        let image = self.index % spec.images.max(1);
        let mut names = t.packages.clone();
        names.push(format!("app-image-{image}"));
        names.sort();
        let pending: Vec<String> = t
            .packages
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as u64 * 7 + epoch).is_multiple_of(97))
            .map(|(_, n)| n.clone())
            .collect();
        let security: Vec<String> = pending.iter().step_by(3).cloned().collect();
        let facts = PackagesFacts {
            inventory: inventory(t, image, epoch),
            manager: "dpkg".into(),
            inventory_collected: true,
            installed_count: names.len(),
            installed_names: names,
            updates_collected: true,
            package_list_count: 6,
            pending_updates: pending.len(),
            pending_update_names: pending,
            pending_security_updates: security.len(),
            pending_security_update_names: security,
            last_update: Some(last.to_rfc3339()),
            last_update_source: "apt-history".into(),
            lists_refreshed: Some(last.to_rfc3339()),
            reboot_required_collected: true,
            auto_updates_tool: "unattended-upgrades".into(),
            auto_updates_installed: true,
            unattended_upgrades_enabled: true,
            ..PackagesFacts::default()
        };
        serde_json::to_vec(&facts).unwrap_or_default()
    }

    /// Collection time of run `run`.
    pub fn collected_at(spec: &Spec, run: u64) -> DateTime<Utc> {
        spec.start + Days::seconds(i64::try_from(run * spec.interval_s).unwrap_or(i64::MAX))
    }

    /// (update epoch, time of the last update) at `run`. Updates are
    /// installed every `churn_every` runs, staggered by host.
    fn package_state(&self, spec: &Spec, run: u64) -> (u64, DateTime<Utc>) {
        let every = spec.churn_every;
        let offset = (self.index as u64).checked_rem(every).unwrap_or(0);
        let epoch = (run + offset).checked_div(every).unwrap_or(0);
        let epoch_run = (epoch * every).saturating_sub(offset);
        let last = Host::collected_at(spec, epoch_run) - Days::hours(1);
        (epoch, last)
    }

    /// The host's own blobs (host, packages) as of its last signed run.
    pub fn current_blobs(&self, t: &Template, spec: &Spec) -> Vec<(Digest, Vec<u8>)> {
        let host = self.host_blob(t);
        let (epoch, last) = self.package_state(spec, self.run.saturating_sub(1));
        let packages = self.packages_blob(t, spec, epoch, last);
        vec![
            (sha256_digest(&host), host),
            (sha256_digest(&packages), packages),
        ]
    }

    /// Sign this host's next run.
    pub fn next(&mut self, t: &Template, spec: &Spec) -> SignedRun {
        let run = self.run;
        let at = Host::collected_at(spec, run);
        let mut new_blobs = Vec::new();
        if run == 0 {
            let b = self.host_blob(t);
            self.host_blob = sha256_digest(&b);
            self.facts = serde_json::from_slice(&b)
                .map(|v: serde_json::Value| HostFacts::from_host_probe(&v))
                .unwrap_or_default();
            new_blobs.push((self.host_blob, b));
            new_blobs.extend(t.blobs.iter().map(|(d, b)| (*d, b.clone())));
        }
        let (epoch, last) = self.package_state(spec, run);
        let pkg = match self.packages {
            Some((key, d)) if key == epoch => d,
            _ => {
                let b = self.packages_blob(t, spec, epoch, last);
                let d = sha256_digest(&b);
                self.packages = Some((epoch, d));
                new_blobs.push((d, b));
                d
            }
        };
        let probes = t
            .probes
            .iter()
            .map(|p| match p.id.as_str() {
                "host" => ProbeEntry {
                    digest: Some(self.host_blob),
                    ..p.clone()
                },
                "packages" => ProbeEntry {
                    status: ProbeStatus::Ok,
                    digest: Some(pkg),
                    reason: None,
                    ..p.clone()
                },
                _ => p.clone(),
            })
            .collect();
        let new = if spec.v2 {
            Statement::new_v2
        } else {
            Statement::new
        };
        let statement = new(Predicate {
            agent: AgentInfo {
                id: self.agent_id.clone(),
                version: "0.1.0-bench".into(),
            },
            host: self.facts.clone(),
            sequence: run + 1,
            previous: self.previous,
            gap: None,
            collected_at: at,
            schedule: Schedule {
                cron: "0 0 * * * *".into(),
                interval_seconds: spec.interval_s,
            },
            probes,
        });
        let (payload, content, unchanged) = if spec.v2 {
            let bytes = Content::of(&statement.predicate).to_bytes();
            let d = sha256_digest(&bytes);
            if self.content == Some(d) {
                (statement.to_unchanged_bytes(), None, true)
            } else {
                self.content = Some(d);
                (statement.to_bytes(), Some((d, bytes)), false)
            }
        } else {
            (statement.to_bytes(), None, false)
        };
        let envelope = self.signer.sign_envelope(PAYLOAD_TYPE, payload).to_json();
        let digest = sha256_digest(&envelope);
        self.previous = Some(digest);
        self.run += 1;
        SignedRun {
            envelope,
            digest,
            statement,
            new_blobs,
            content,
            unchanged,
        }
    }
}
