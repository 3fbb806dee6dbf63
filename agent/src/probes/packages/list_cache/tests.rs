//! The apt list cache: same facts cached or not, every change seen, bad
//! caches ignored and rewritten.

use super::super::apt_lists::Candidates;
use super::super::dpkg::parse_dpkg_status;
use super::*;
use crate::probes::packages::collect;
use crate::probes::Outcome;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, UNIX_EPOCH};

const SECURITY: &str =
    "var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages";
const UPDATES: &str =
    "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/packages")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The probe's data, serialized (the bytes evidence would hash).
fn facts(root: &HostRoot) -> String {
    match collect(root) {
        Outcome::Ok(v) => serde_json::to_string(&v).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn cached(root: &Path, cache: &Path) -> HostRoot {
    HostRoot::offline(root).with_cache_dir(Some(cache.to_path_buf()))
}

/// One pass over the lists as the probe makes it (all lists of the
/// fixtures are referenced), with the cache's statistics.
fn pass(root: &HostRoot, settle_ns: Option<i128>) -> (Candidates, CacheStats) {
    let status = root
        .read_to_string("/var/lib/dpkg/status")
        .unwrap()
        .unwrap();
    let inv = parse_dpkg_status(&status);
    let mut cache = ListCache::open(root.cache_dir().unwrap(), root, &inv);
    if let Some(s) = settle_ns {
        cache.settle_ns = s;
    }
    let mut cand = Candidates::default();
    for p in root.glob("/var/lib/apt/lists/*_Packages").unwrap() {
        if p.contains("backports") {
            continue;
        }
        let newest = read_list(root, &p, &inv, Some(&mut cache)).unwrap();
        cand.merge(&newest, p.contains("security"));
    }
    (cand, cache.save())
}

fn cache_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// Rewrite the cache file's JSON with `edit` and a correct digest line.
fn forge(file: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let bytes = fs::read(file).unwrap();
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&bytes[nl + 1..]).unwrap();
    edit(&mut v);
    let body = serde_json::to_vec(&v).unwrap();
    let mut out = format!("sha256:{}\n", sha256_hex(&body)).into_bytes();
    out.extend_from_slice(&body);
    fs::write(file, out).unwrap();
}

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
fn cached_runs_read_no_list_and_give_byte_identical_facts() {
    for name in ["debian12", "debian12-weak"] {
        let root = fixture(name);
        let cache = tempfile::tempdir().unwrap();
        let uncached = facts(&HostRoot::offline(&root));
        let cold = facts(&cached(&root, cache.path()));
        let file = cache_file(cache.path());
        let written = fs::read(&file).unwrap();
        let warm = facts(&cached(&root, cache.path()));
        assert_eq!(cold, uncached, "{name}");
        assert_eq!(warm, uncached, "{name}");
        // The warm run read no list and did not rewrite the cache.
        let (_, stats) = pass(&cached(&root, cache.path()), None);
        assert_eq!(
            stats,
            CacheStats {
                hits: 3,
                misses: 0,
                discarded: false,
                written: false
            },
            "{name}"
        );
        assert_eq!(fs::read(&file).unwrap(), written);
    }
}

#[test]
fn replaced_touched_lists_installed_set_and_sources_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    copy_dir(&fixture("debian12-weak"), &root);
    let before = facts(&cached(&root, cache.path()));
    assert_eq!(pass(&cached(&root, cache.path()), None).1.hits, 3);
    let check = |what: &str| -> String {
        let got = facts(&cached(&root, cache.path()));
        assert_eq!(got, facts(&HostRoot::offline(&root)), "{what}");
        got
    };

    // A list replaced (apt renames a new file over the old one): tzdata no
    // longer has a security update.
    let sec = root.join(SECURITY);
    let text = fs::read_to_string(&sec).unwrap();
    let kept: Vec<&str> = text
        .split("\n\n")
        .filter(|p| !p.starts_with("Package: tzdata\n"))
        .collect();
    assert!(kept.len() < text.split("\n\n").count());
    replace(&sec, &kept.join("\n\n"));
    let after = check("replaced list");
    assert_ne!(after, before);
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert!(!v["pending_security_update_names"]
        .as_array()
        .unwrap()
        .contains(&"tzdata".into()));
    assert_eq!(
        pass(&cached(&root, cache.path()), None).1,
        CacheStats {
            hits: 3,
            ..CacheStats::default()
        }
    );

    // A list edited in place to the same size and touched (same inode):
    // openssh-client gets a newer version.
    let upd = root.join(UPDATES);
    let text = fs::read_to_string(&upd).unwrap();
    let newer = text.replace("Version: 1:9.2p1-2+deb12u7", "Version: 1:9.9p1-2+deb12u7");
    assert_eq!((newer.len(), newer != text), (text.len(), true));
    fs::write(&upd, newer).unwrap();
    fs::File::options()
        .write(true)
        .open(&upd)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .unwrap();
    let edited = check("edited list");
    assert_ne!(edited, after);
    let v: serde_json::Value = serde_json::from_str(&edited).unwrap();
    assert!(v["pending_update_names"]
        .as_array()
        .unwrap()
        .contains(&"openssh-client".into()));
    // Only touched: read again (the facts differ only in
    // `lists_refreshed`, the newest list's mtime).
    fs::File::options()
        .write(true)
        .open(&upd)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1_800_000_100))
        .unwrap();
    let (_, stats) = pass(&cached(&root, cache.path()), None);
    assert_eq!((stats.hits, stats.misses, stats.written), (2, 1, true));
    let touched = check("touched list");
    assert_eq!(
        touched.replace("2027-01-15T08:01:40Z", "2027-01-15T08:00:00Z"),
        edited
    );

    // A package installed whose candidate is in an unchanged list.
    let status = root.join("var/lib/dpkg/status");
    let mut text = fs::read_to_string(&status).unwrap();
    text.push_str("\nPackage: apt-listchanges\nStatus: install ok installed\nArchitecture: all\nVersion: 3.20\n");
    fs::write(&status, text).unwrap();
    let installed = check("installed set");
    let v: serde_json::Value = serde_json::from_str(&installed).unwrap();
    assert!(v["pending_update_names"]
        .as_array()
        .unwrap()
        .contains(&"apt-listchanges".into()));
    // The whole cache was for another installed set.
    fs::File::options()
        .append(true)
        .open(&status)
        .unwrap()
        .write_all(
            b"\nPackage: sudo\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n",
        )
        .unwrap();
    let (_, stats) = pass(&cached(&root, cache.path()), None);
    assert!(
        stats.discarded && stats.written && stats.misses == 3,
        "{stats:?}"
    );

    // The security source removed: its list is no longer counted.
    fs::write(
        root.join("etc/apt/sources.list.d/debian.sources"),
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
    )
    .unwrap();
    let sources = check("sources");
    let v: serde_json::Value = serde_json::from_str(&sources).unwrap();
    assert_eq!(v["pending_security_updates"], 0);
    assert_eq!(v["security_source_configured"], false);
}

#[test]
fn corrupt_foreign_and_inconsistent_caches_are_ignored_and_rewritten() {
    let root = fixture("debian12-weak");
    let want = facts(&HostRoot::offline(&root));
    let cache = tempfile::tempdir().unwrap();
    facts(&cached(&root, cache.path()));
    let file = cache_file(cache.path());
    let good = fs::read(&file).unwrap();
    let ignored = |what: &str| {
        assert_eq!(facts(&cached(&root, cache.path())), want, "{what}");
        // The run rewrote it: the next one uses it whole.
        assert_eq!(fs::read(&file).unwrap(), good, "{what}");
        let (_, stats) = pass(&cached(&root, cache.path()), None);
        assert_eq!((stats.hits, stats.discarded), (3, false), "{what}");
    };
    let flip = |b: &mut Vec<u8>| {
        let last = b.len() - 3;
        b[last] ^= 0x01;
    };

    fs::write(&file, b"\x00\xffnot a cache").unwrap();
    ignored("garbage");
    fs::write(&file, b"").unwrap();
    ignored("empty");
    let mut bytes = good.clone();
    flip(&mut bytes);
    fs::write(&file, &bytes).unwrap();
    ignored("flipped byte");
    fs::write(&file, &good[..good.len() / 2]).unwrap();
    ignored("truncated");
    for (what, edit) in [
        ("other root", ("root", serde_json::json!("/elsewhere"))),
        (
            "other installed set",
            ("installed", serde_json::json!("00")),
        ),
        ("other format", ("format", serde_json::json!(2))),
    ] {
        fs::write(&file, &good).unwrap();
        forge(&file, |v| v[edit.0] = edit.1);
        ignored(what);
    }
    // A version for a package that is not installed, or a malformed one.
    for bad in [
        serde_json::json!(["nosuchpkg", "amd64", "1.0"]),
        serde_json::json!(["bash", "amd64", "9 9"]),
        serde_json::json!(["bash", "amd64", ""]),
    ] {
        fs::write(&file, &good).unwrap();
        forge(&file, |v| {
            v["lists"][0]["newest"]
                .as_array_mut()
                .unwrap()
                .push(bad.clone());
        });
        ignored(&bad.to_string());
    }
    // A list not under the lists directory.
    fs::write(&file, &good).unwrap();
    forge(&file, |v| v["lists"][0]["path"] = "/etc/shadow".into());
    assert_eq!(facts(&cached(&root, cache.path())), want);

    // A consistent cache is used as it is (which is why it lives in the
    // agent's own directory, mode 0700): a forged newer version shows.
    fs::write(&file, &good).unwrap();
    forge(&file, |v| {
        for l in v["lists"].as_array_mut().unwrap() {
            for e in l["newest"].as_array_mut().unwrap() {
                if e[0] == "zlib1g" {
                    e[2] = "99:1".into();
                }
            }
        }
    });
    let pending = |facts: &str| -> bool {
        let v: serde_json::Value = serde_json::from_str(facts).unwrap();
        v["pending_update_names"]
            .as_array()
            .unwrap()
            .contains(&"zlib1g".into())
    };
    assert!(!pending(&want));
    assert!(pending(&facts(&cached(&root, cache.path()))));
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

#[test]
fn recent_lists_are_read_again_and_the_directory_is_private() {
    let root = fixture("debian12");
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("evident-agent");
    let r = cached(&root, &dir);
    // Every list is "too recent": read, nothing kept.
    let (_, stats) = pass(&r, Some(i128::MAX / 2));
    assert_eq!((stats.misses, stats.written), (3, true));
    let (_, stats) = pass(&r, Some(i128::MAX / 2));
    assert_eq!((stats.hits, stats.misses), (0, 3));
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Settled: kept.
    pass(&r, None);
    assert_eq!(pass(&r, None).1.hits, 3);
}

#[test]
fn a_cache_directory_inside_a_scanned_image_is_refused() {
    let img = tempfile::tempdir().unwrap();
    let inside = img.path().join("var/cache/evident");
    assert_eq!(
        HostRoot::new(img.path())
            .with_cache_dir(Some(inside.clone()))
            .cache_dir(),
        None
    );
    assert_eq!(
        HostRoot::offline(img.path())
            .with_cache_dir(Some(img.path().to_path_buf()))
            .cache_dir(),
        None
    );
    assert_eq!(
        HostRoot::host_mode(img.path())
            .with_cache_dir(Some(inside))
            .cache_dir(),
        None
    );
    let outside = tempfile::tempdir().unwrap();
    assert_eq!(
        HostRoot::new(img.path())
            .with_cache_dir(Some(outside.path().to_path_buf()))
            .cache_dir(),
        Some(outside.path())
    );
    // The live root's own state directory is fine.
    assert!(HostRoot::new("/")
        .with_cache_dir(Some("/var/lib/evident-agent/cache".into()))
        .cache_dir()
        .is_some());
}
