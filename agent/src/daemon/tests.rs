//! Tests of `daemon`.

use super::*;

#[test]
fn outcomes_survive_the_exit_code() {
    for o in [
        Outcome::Done,
        Outcome::Retry,
        Outcome::More,
        Outcome::Stopped,
        Outcome::EnrollRetry,
        Outcome::EnrollRefused,
        Outcome::Failed,
    ] {
        assert_eq!(Outcome::from_code(Some(i32::from(o.code()))), o);
    }
    // Killed by a signal, or an error exit of the binary (2), or anything else.
    assert_eq!(Outcome::from_code(None), Outcome::Failed);
    assert_eq!(Outcome::from_code(Some(1)), Outcome::Failed);
}

#[test]
fn the_probe_cache_keeps_only_entries_whose_blob_matches() {
    let dir = tempfile::tempdir().unwrap();
    let blob = br#"{"permitrootlogin":"no"}"#;
    let entry = |digest| ProbeEntry {
        id: "sshd".into(),
        version: 1,
        status: ProbeStatus::Ok,
        duration_us: 10,
        digest,
        reason: None,
    };
    let good = CachedFile {
        entry: entry(Some(sha256_digest(blob))),
        blob: Some(String::from_utf8(blob.to_vec()).unwrap()),
    };
    let tampered = CachedFile {
        entry: entry(Some(sha256_digest(b"other"))),
        blob: Some("{}".into()),
    };
    let failed = CachedFile {
        entry: ProbeEntry {
            status: ProbeStatus::Error,
            reason: Some("boom".into()),
            ..entry(None)
        },
        blob: None,
    };
    let files: BTreeMap<&str, CachedFile> =
        [("sshd", good), ("time", tampered), ("mac", failed)].into();
    std::fs::write(
        dir.path().join(PROBE_CACHE_FILE),
        serde_json::to_vec(&files).unwrap(),
    )
    .unwrap();
    let cache = load_probe_cache(dir.path());
    assert_eq!(cache.keys().collect::<Vec<_>>(), ["mac", "sshd"]);
    assert_eq!(cache["sshd"].blob.as_deref(), Some(&blob[..]));
    // Garbage: an empty cache, not an error.
    std::fs::write(dir.path().join(PROBE_CACHE_FILE), b"{not json").unwrap();
    assert!(load_probe_cache(dir.path()).is_empty());
}

#[test]
fn a_full_disk_is_recognised_through_the_error_chain() {
    let full = DaemonError::StateDir {
        path: "/var/lib/evident-agent".into(),
        source: std::io::Error::from_raw_os_error(28),
    };
    assert!(is_disk_full(&full));
    let denied = DaemonError::StateDir {
        path: "/var/lib/evident-agent".into(),
        source: std::io::Error::from_raw_os_error(13),
    };
    assert!(!is_disk_full(&denied));
    assert_eq!(
        Outcome::from_code(Some(Outcome::DiskFull.code().into())),
        Outcome::DiskFull
    );
}
