//! `attest` (sign and store a manual attestation) and `attester …`
//! (key generation and registration of the people who sign them).

use super::common::{open_store, runtime, DirArg};
use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Subcommand};
use evident_collector::store::{AttesterRecord, NewAttestation};
use evident_core::attestation::{self, Attestation, Attester, EvidenceDoc, ATTESTATION_TYPE};
use evident_core::dsse::{key_id, parse_public_key};
use evident_core::{sha256_digest, Catalog, Signer};
use std::path::PathBuf;
use std::process::ExitCode;

/// `attest`.
#[derive(Args, Debug)]
pub struct AttestArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Annex A control (e.g. A.6.3), or an ISMS documented-information
    /// item by clause (e.g. 9.2; the list: `evident-collector isms`), which
    /// needs --evidence.
    #[arg(long)]
    pub control: String,
    /// What you attest, in a sentence.
    #[arg(long)]
    pub statement: String,
    /// A supporting document (stored by digest; repeatable).
    #[arg(long = "evidence")]
    pub evidence: Vec<PathBuf>,
    /// Your private key (from `evident-collector attester keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Last day the attestation counts (YYYY-MM-DD).
    #[arg(long)]
    pub expires: String,
}

/// `attester …`.
#[derive(Subcommand, Debug)]
pub enum AttesterCommand {
    /// Generate a personal Ed25519 key (file mode 0600); prints the public key.
    Keygen {
        /// Where to write the private key.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Register a person's public key (fingerprint) with the collector.
    Add {
        #[command(flatten)]
        dir: DirArg,
        /// Name, e.g. an e-mail address.
        #[arg(long)]
        name: String,
        /// The public key: standard base64 of 32 bytes (as `keygen` prints).
        #[arg(long = "public-key")]
        public_key: String,
    },
    /// Revoke an attester key (its fingerprint): attestations signed with it
    /// from now on are refused, and bundles record the revocation.
    Revoke {
        #[command(flatten)]
        dir: DirArg,
        /// The fingerprint (key id) `attester list` shows.
        key_id: String,
    },
    /// List registered attesters.
    List {
        #[command(flatten)]
        dir: DirArg,
    },
}

fn read_key(path: &std::path::Path) -> Result<Signer> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
        anyhow::anyhow!("{}: not a key written by `attester keygen`", path.display())
    })?;
    Ok(Signer::from_seed(&seed))
}

/// `attest`.
pub fn run(args: &AttestArgs) -> Result<ExitCode> {
    let signer = read_key(&args.key)?;
    let expires = chrono::NaiveDate::parse_from_str(&args.expires, "%Y-%m-%d")
        .with_context(|| format!("--expires `{}` is not YYYY-MM-DD", args.expires))?;
    let now = chrono::Utc::now();
    let mut docs = Vec::new();
    let mut blobs = Vec::new();
    for p in &args.evidence {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let d = sha256_digest(&bytes);
        docs.push(EvidenceDoc {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: d,
            size: bytes.len() as u64,
        });
        blobs.push((d, bytes));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let (_, store) = open_store(&args.dir).await?;
        let Some(who) = store
            .attesters()
            .await?
            .into_iter()
            .find(|a| a.key_id == signer.key_id())
        else {
            store.close().await;
            bail!(
                "key {} is not registered: ask the collector operator to run `evident-collector attester add --name NAME --public-key {}`",
                signer.key_id(),
                B64.encode(signer.verifying_key().as_bytes())
            );
        };
        if let Some(t) = who.revoked_at {
            store.close().await;
            bail!(
                "attester key {} was revoked at {}: it can no longer sign attestations",
                who.key_id,
                chrono::DateTime::from_timestamp_millis(t)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            );
        }
        let att = Attestation {
            type_: ATTESTATION_TYPE.into(),
            control: args.control.clone(),
            statement: args.statement.clone(),
            attester: Attester {
                name: who.name.clone(),
                key_id: who.key_id.clone(),
            },
            signed_at: now,
            expires,
            evidence: docs,
        };
        att.validate(Catalog::annex_a())?;
        let envelope = att.sign(&signer);
        attestation::verify(&envelope, &signer.verifying_key(), Catalog::annex_a())?;
        let digest = sha256_digest(&envelope);
        store
            .add_attestation(
                &NewAttestation {
                    digest,
                    control: att.control.clone(),
                    attester_key_id: who.key_id.clone(),
                    expires: expires.to_string(),
                    created_at: now.timestamp_millis(),
                    envelope,
                },
                &blobs,
            )
            .await?;
        store.close().await;
        println!(
            "attestation {digest} for {} by {} stored (counts until {expires})",
            att.control, who.name
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `attester …`.
pub fn attester(cmd: AttesterCommand) -> Result<ExitCode> {
    match cmd {
        AttesterCommand::Keygen { output } => {
            if output.exists() {
                bail!("{} exists; refusing to overwrite a key", output.display());
            }
            use rand_core::RngCore as _;
            let mut seed = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut seed);
            evident_collector::server::write_private(
                &output,
                format!("{}\n", hex::encode(seed)).as_bytes(),
            )?;
            let s = Signer::from_seed(&seed);
            println!("public key:  {}", B64.encode(s.verifying_key().as_bytes()));
            println!("fingerprint: {}", s.key_id());
            Ok(ExitCode::SUCCESS)
        }
        AttesterCommand::Add {
            dir,
            name,
            public_key,
        } => {
            let bytes = B64
                .decode(public_key.trim().as_bytes())
                .context("--public-key is not standard base64")?;
            let key = parse_public_key(&bytes)?;
            if name.trim().is_empty() {
                bail!("--name is empty");
            }
            let rt = runtime()?;
            rt.block_on(async {
                let (_, store) = open_store(&dir).await?;
                store
                    .add_attester(&AttesterRecord {
                        key_id: key_id(&key),
                        name: name.clone(),
                        public_key: bytes,
                        registered_at: chrono::Utc::now().timestamp_millis(),
                        revoked_at: None,
                    })
                    .await?;
                store.close().await;
                println!(
                    "attester {name} registered with fingerprint {}",
                    key_id(&key)
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        AttesterCommand::Revoke { dir, key_id } => {
            let rt = runtime()?;
            rt.block_on(async {
                let (_, store) = open_store(&dir).await?;
                let now = chrono::Utc::now().timestamp_millis();
                let found = store.revoke_attester(key_id.trim(), now).await?;
                store.close().await;
                if !found {
                    bail!("no registered attester with fingerprint {key_id}");
                }
                println!(
                    "attester {key_id} revoked: attestations it signs from now on are refused and fail verify"
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        AttesterCommand::List { dir } => {
            let rt = runtime()?;
            rt.block_on(async {
                let (_, store) = open_store(&dir).await?;
                println!("{:<64} name", "fingerprint");
                for a in store.attesters().await? {
                    match a.revoked_at {
                        None => println!("{:<64} {}", a.key_id, a.name),
                        Some(t) => println!(
                            "{:<64} {} (revoked {})",
                            a.key_id,
                            a.name,
                            chrono::DateTime::from_timestamp_millis(t)
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_default()
                        ),
                    }
                }
                store.close().await;
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}
