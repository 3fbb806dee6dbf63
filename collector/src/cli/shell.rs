//! `completions` and `man`: shell completion scripts (clap_complete) and man
//! pages (clap_mangen) generated from the clap definition itself, so they can
//! never drift from the real options. The agent has the same two commands.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write one page per (visible) subcommand into this directory
    /// (`evident-collector.1`, `evident-collector-serve.1`, ...) instead of
    /// printing the top-level page to standard output.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Print the completion script for `args.shell` to standard output.
pub fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("writing the completion script")?;
    Ok(ExitCode::SUCCESS)
}

/// Print the man page, or write every page into `args.dir`.
pub fn man(args: &ManArgs, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("rendering the man page")?;
            std::io::stdout()
                .write_all(&out)
                .context("writing the man page")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
