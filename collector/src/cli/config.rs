//! `config check`: validate a collector configuration without starting
//! anything (unknown fields, bad values), naming file, line and field.

use anyhow::Result;
use clap::Subcommand;
use evident_collector::config::{Config, ConfigError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `config …`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration: prints `ok` (exit 0) or the error with
    /// file, line and field (exit 2).
    Check {
        /// Data directory whose config.toml to check.
        #[arg(long, default_value = Config::DEFAULT_DIR, env = "EVIDENT_DIR")]
        dir: PathBuf,
        /// Check this file instead of DIR/config.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Run `config …`.
pub fn run(cmd: ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Check { dir, config } = cmd;
    if config.is_none() {
        if let Err(e) = Config::require_initialised(&dir) {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    }
    let path = config.unwrap_or_else(|| dir.join(Config::FILE));
    if !path.is_file() {
        eprintln!("error: {}: no such file", path.display());
        return Ok(ExitCode::from(2));
    }
    match Config::load_file(&path) {
        Ok(_) => {
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {}", describe(&path, &e));
            Ok(ExitCode::from(2))
        }
    }
}

/// The error with its file and, for a value that parsed but is refused,
/// the line of the field it names (TOML errors carry their own line).
fn describe(path: &Path, e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid(message) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            match field_line(&text, message) {
                Some(line) => format!("{}:{line}: {message}", path.display()),
                None => format!("{}: {message}", path.display()),
            }
        }
        other => other.to_string(),
    }
}

/// The 1-based line that assigns the field a validation message starts
/// with (`max_batch must be ...` -> the `max_batch = ...` line).
fn field_line(text: &str, message: &str) -> Option<usize> {
    let field: String = message
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if field.is_empty() {
        return None;
    }
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(field.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_line_finds_the_assignment_of_the_named_field() {
        let text = "listen = \"0.0.0.0:8443\"\n\n  max_batch = 0\n";
        assert_eq!(
            field_line(text, "max_batch must be between 1 and 10000"),
            Some(3)
        );
        assert_eq!(field_line(text, "listen `x` is not ADDRESS:PORT"), Some(1));
        assert_eq!(field_line(text, "max_connections must be"), None);
        assert_eq!(field_line(text, "`weird` message"), None);
    }
}
