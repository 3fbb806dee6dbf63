#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One data directory (issue #16): every command that opens one refuses a
//! directory `init` did not make — one line, exit 2 — and creates nothing in
//! it; `init --if-missing` is idempotent; `init --san` and `cert reissue`
//! make certificates for the names asked, from one CA; the agent
//! configuration `init` writes names a host the certificate carries.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_evident-collector");

fn run(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("EVIDENT_DIR")
        .env_remove("EVIDENT_DATABASE_URL")
        .env_remove("EVIDENT_LISTEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn commands_refuse_a_directory_init_did_not_make_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = tmp.path().join("missing");
    let bundle = tmp.path().join("x.bundle");
    let bundle = bundle.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["serve"],
        vec!["alerts", "--open"],
        vec!["report", "--format", "html"],
        vec!["export", "-o", bundle],
        vec!["soa"],
        vec!["key", "show"],
        vec!["agents", "list"],
        vec!["token", "create"],
        vec!["token", "list"],
        vec!["api-token", "list"],
        vec!["prune", "--dry-run"],
        vec!["db", "check"],
        vec!["isms"],
        vec!["config", "check"],
        vec!["cert", "reissue"],
    ];
    for dir in [&empty, &missing] {
        let d = dir.to_str().unwrap();
        for args in &commands {
            // Through --dir and through EVIDENT_DIR alike.
            let mut with_flag = args.clone();
            with_flag.extend(["--dir", d]);
            for (argv, env) in [
                (with_flag, vec![]),
                (args.clone(), vec![("EVIDENT_DIR", dir.as_path())]),
            ] {
                let (code, stdout, stderr) = run(&argv, &env);
                assert_eq!(code, 2, "{argv:?}: exit {code}\n{stdout}{stderr}");
                let expected = format!(
                    "error: not an Evident data directory: {d} (run `evident-collector init --dir {d}`)\n"
                );
                assert_eq!(stderr, expected, "{argv:?}: printed once, nothing else");
            }
        }
    }
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing created"
    );
    assert!(!missing.exists(), "nothing created");
    assert!(!Path::new(bundle).exists(), "no bundle exported");
}

#[test]
fn the_default_data_directory_is_var_lib_evident() {
    let (_, help, _) = run(&["serve", "--help"], &[]);
    assert!(help.contains("[default: /var/lib/evident]"), "{help}");
    assert!(help.contains("[env: EVIDENT_DIR"), "{help}");
}

/// Whether `openssl verify` finds `cert` issued by the CA in `ca`.
fn chains_to(ca: &Path, cert: &Path) -> bool {
    Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(ca)
        .arg(cert)
        .output()
        .expect("openssl")
        .status
        .success()
}

fn sans(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(cert)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn init_names_the_certificate_reissues_it_from_the_same_ca_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let (code, out, err) = run(
        &[
            "init",
            "--dir",
            d,
            "--listen",
            "0.0.0.0:9443",
            "--san",
            "ev.example.org",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let names = sans(&dir.join("server.pem"));
    for name in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "DNS:ev.example.org",
    ] {
        assert!(names.contains(name), "{names}");
    }
    assert!(!names.contains("0.0.0.0"), "{names}");
    // The agents' Ed25519 certificate: the same names, configured.
    assert_eq!(sans(&dir.join("server-ed25519.pem")), names);
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        config.contains("tls_cert_ed25519 = \"server-ed25519.pem\"")
            && config.contains("tls_key_ed25519 = \"server-ed25519.key\""),
        "{config}"
    );
    let agent = std::fs::read_to_string(dir.join("agent.toml")).unwrap();
    assert!(
        agent.contains("collector = \"https://ev.example.org:9443\""),
        "{agent}"
    );
    assert!(!agent.contains("0.0.0.0"), "{agent}");

    // Idempotent for units and containers; without the flag, refused.
    let key = std::fs::read(dir.join("ca.key")).unwrap();
    let (code, out, err) = run(&["init", "--if-missing", "--dir", d], &[]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.contains("initialised already"), "{out}");
    let (code, _, err) = run(&["init", "--dir", d], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("ca.key")).unwrap(),
        key,
        "the CA is kept"
    );

    // A specific listen address is a name; reissue keeps the CA.
    let (code, out, err) = run(
        &[
            "cert",
            "reissue",
            "--dir",
            d,
            "--san",
            "collector.example.net",
            "--san",
            "10.9.8.7",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let names = sans(&dir.join("server.pem"));
    assert!(names.contains("DNS:collector.example.net"), "{names}");
    assert!(names.contains("IP Address:10.9.8.7"), "{names}");
    assert!(!names.contains("ev.example.org"), "{names}");
    assert!(
        chains_to(&dir.join("ca.pem"), &dir.join("server.pem")),
        "the reissued certificate chains to the same CA"
    );
    assert!(out.contains("server-ed25519.pem"), "{out}");
    assert_eq!(sans(&dir.join("server-ed25519.pem")), names);
    assert!(
        chains_to(&dir.join("ca.pem"), &dir.join("server-ed25519.pem")),
        "the reissued Ed25519 certificate chains to the same CA"
    );
    assert_eq!(std::fs::read(dir.join("ca.key")).unwrap(), key);
}

#[test]
fn init_with_a_specific_listen_address_points_agents_at_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let (code, out, err) = run(&["init", "--dir", d, "--listen", "127.0.0.1:9555"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let agent = std::fs::read_to_string(dir.join("agent.toml")).unwrap();
    assert!(
        agent.contains("collector = \"https://127.0.0.1:9555\""),
        "{agent}"
    );
}
