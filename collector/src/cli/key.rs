//! `key show`: the collector's bundle-signing public key as PEM, its key id
//! on a comment line: saved to a file, it is what `verify --trust` takes.

use super::common::DirArg;
use anyhow::Result;
use clap::Subcommand;
use evident_collector::review;
use evident_core::bundle::trust::public_key_pem;
use std::process::ExitCode;

/// `key …`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Print the public key that signs this collector's bundles (PEM, key id
    /// on a comment line); give it to auditors out of band.
    Show {
        #[command(flatten)]
        dir: DirArg,
    },
}

/// `key …`.
pub fn run(cmd: KeyCommand) -> Result<ExitCode> {
    match cmd {
        KeyCommand::Show { dir } => {
            evident_collector::config::Config::require_initialised(&dir.dir)?;
            let path = dir.dir.join(review::COLLECTOR_KEY_FILE);
            if !path.is_file() {
                anyhow::bail!(
                    "{} does not exist: the data directory has no bundle-signing key",
                    path.display()
                );
            }
            let signer = review::collector_signer(&dir.dir)?;
            print!("{}", public_key_pem(&signer.verifying_key()));
            Ok(ExitCode::SUCCESS)
        }
    }
}
