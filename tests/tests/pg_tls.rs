//! PostgreSQL over TLS (issue #16): a throwaway PostgreSQL server in a
//! temporary directory, with a certificate this test makes (rcgen) and a
//! `pg_hba.conf` that accepts TLS connections only. The collector connects
//! with `sslmode=verify-full&sslrootcert=CA`, and is refused with a wrong CA
//! and with a host name the certificate does not carry; without TLS the
//! server refuses it (so the successful connection was encrypted).
//!
//! Needs the PostgreSQL server binaries (`/usr/lib/postgresql/*/bin`) and the
//! `postgres` system user (initdb refuses to run as root): the test fails,
//! never skips, without them. `.ci/run` has both (PostgreSQL is installed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The newest installed PostgreSQL's bin directory.
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (/usr/lib/postgresql) are needed")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().expect("no /usr/lib/postgresql/*/bin/initdb")
}

fn as_postgres(program: &Path, args: &[&str]) -> Output {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser (util-linux) is needed");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chown_postgres(path: &Path) {
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chown: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (certificate PEM, issuer) and a server certificate for `names`.
fn pki(names: &[&str]) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A running PostgreSQL, stopped on drop.
struct Pg {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start PostgreSQL with TLS on for `localhost` only, TLS connections only.
fn start_pg(server_cert: &str, server_key: &str) -> Pg {
    let bin = pg_bin();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let sock = dir.path().join("sock");
    std::fs::create_dir_all(&sock).unwrap();
    chown_postgres(dir.path());
    as_postgres(
        &bin.join("initdb"),
        &[
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "--no-instructions",
        ],
    );
    std::fs::write(data.join("server.crt"), server_cert).unwrap();
    std::fs::write(data.join("server.key"), server_key).unwrap();
    std::fs::set_permissions(
        data.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
    )
    .unwrap();
    chown_postgres(dir.path());
    let port = free_port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c fsync=off",
        sock.display()
    );
    let log = dir.path().join("pg.log");
    let started = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("pg_ctl"))
        .args(["start", "-w", "-t", "60", "-D"])
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-o", &opts])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "pg_ctl start: {}{}\n{}",
        String::from_utf8_lossy(&started.stdout),
        String::from_utf8_lossy(&started.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Pg {
        bin,
        data,
        port,
        _dir: dir,
    }
}

/// `evident-collector init` against `url`: (success, stderr).
fn init(url: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(evident_e2e::bin("evident-collector"))
        .args(["init", "--dir"])
        .arg(dir.path().join("data"))
        .args(["--database", url, "--san", "localhost"])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_collector_reaches_postgres_over_verified_tls_only() {
    // The server's certificate names `localhost` only: connecting to
    // 127.0.0.1 (the same server) is connecting by a name it lacks.
    let (ca, cert, key) = pki(&["localhost"]);
    let pg = start_pg(&cert, &key);
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let (other_ca, _, _) = pki(&["localhost"]);
    let other_ca_file = tmp.path().join("other-ca.pem");
    std::fs::write(&other_ca_file, &other_ca).unwrap();
    let url = |host: &str, query: &str| {
        format!("postgres://postgres@{host}:{}/postgres?{query}", pg.port)
    };

    // Verified: the right CA and a name the certificate carries.
    let (ok, out) = init(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", ca_file.display()),
    ));
    assert!(ok, "verify-full with the right CA must connect: {out}");

    // A CA that did not issue the server's certificate: refused.
    let (ok, out) = init(&url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other_ca_file.display()
        ),
    ));
    assert!(!ok, "a wrong CA must be refused");
    assert!(
        out.to_lowercase().contains("certificate") || out.contains("UnknownIssuer"),
        "{out}"
    );

    // A host name the certificate does not carry: refused by verify-full.
    let (ok, out) = init(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", ca_file.display()),
    ));
    assert!(!ok, "a name the certificate lacks must be refused");
    assert!(
        out.to_lowercase().contains("certificate") || out.contains("NotValidForName"),
        "{out}"
    );

    // No TLS: the server only accepts TLS (so the first connection was TLS).
    let (ok, out) = init(&url("localhost", "sslmode=disable"));
    assert!(!ok, "a plaintext connection must be refused: {out}");
    assert!(
        out.contains("no encryption") || out.contains("pg_hba"),
        "{out}"
    );
}
