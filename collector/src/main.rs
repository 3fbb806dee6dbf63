//! `evident-collector`: the command line. Each subcommand lives in its own
//! module under `cli/`; this file only parses arguments and maps results to
//! exit codes (0 ok, 1 findings or failed tests, 2 error).

use clap::{CommandFactory as _, Parser, Subcommand};
use std::process::ExitCode;

mod cli;

/// mimalloc instead of glibc's allocator: `serve` keeps caches whose size
/// grows with the fleet (evaluations, parsed contents, keys) and frees many
/// small values per request on several threads; with glibc, allocator
/// time per ingested run grew with the fleet (free-list walks in
/// `unlink_chunk`/`malloc_consolidate`: 21 % of `serve`'s CPU at 1,000
/// hosts, 30 % at 10,000; docs/benchmarks.md, session 10).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "evident-collector",
    version = env!("EVIDENT_LONG_VERSION"),
    about = "Evident collector: verifies, stores and evaluates signed evidence; policy tooling"
)]
struct Cli {
    /// Log format on stderr: text or json (default: `[log] format` in the
    /// data directory's config.toml for `serve`, else text).
    #[arg(long, global = true, env = "EVIDENT_LOG_FORMAT", value_enum)]
    log_format: Option<evident_collector::logging::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check and test TOML policies.
    #[command(subcommand)]
    Policy(cli::policy::PolicyCommand),
    /// List the 93 ISO/IEC 27001:2022 Annex A controls.
    Catalog(cli::catalog::CatalogArgs),
    /// Create a data directory: config, private CA and server certificate,
    /// admin token and a first enrollment token.
    Init(cli::server::InitArgs),
    /// The server certificate: `cert reissue` for other names, same CA.
    #[command(subcommand)]
    Cert(cli::server::CertCommand),
    /// Run the HTTPS service: enrollment, evidence ingest, query API, metrics.
    Serve(cli::server::ServeArgs),
    /// Manage enrollment tokens.
    #[command(subcommand)]
    Token(cli::server::TokenCommand),
    /// Manage enrolled agents.
    #[command(subcommand)]
    Agents(cli::server::AgentsCommand),
    /// Scoped API tokens: admin, operator, auditor, metrics.
    #[command(subcommand, name = "api-token")]
    ApiToken(cli::db::ApiTokenCommand),
    /// Check or back up the database.
    #[command(subcommand)]
    Db(cli::db::DbCommand),
    /// Drift, stale-evidence and integrity alerts: list, acknowledge, timelines.
    Alerts(cli::alerts::AlertsArgs),
    /// Export a signed evidence bundle (or OSCAL assessment results) for auditors.
    Export(cli::export::ExportArgs),
    /// The collector's bundle-signing key (`key show` prints it for auditors).
    #[command(subcommand)]
    Key(cli::key::KeyCommand),
    /// Retention now: prune unchanged runs past the configured window to
    /// chain stubs, and old events (`--dry-run`: only say what).
    Prune(cli::prune::PruneArgs),
    /// Verify an evidence bundle offline: signatures, digests, chains, re-evaluation.
    Verify(cli::verify::VerifyArgs),
    /// Review report per control and per host (Markdown, HTML, JSON, CSV).
    Report(cli::report::ReportArgs),
    /// Statement of Applicability: all 93 controls, applicability and implementation.
    Soa(cli::report::SoaArgs),
    /// ISMS documented information (clauses 4-10): present, expired, missing.
    Isms(cli::isms::IsmsArgs),
    /// Sign and store a manual attestation for a control no probe can see.
    Attest(cli::attest::AttestArgs),
    /// Manage the people who sign attestations.
    #[command(subcommand)]
    Attester(cli::attest::AttesterCommand),
    /// Validate the configuration file (`config check`).
    #[command(subcommand)]
    Config(cli::config::ConfigCommand),
    /// Vulnerability feed snapshots: import (offline), fetch, list.
    #[command(subcommand)]
    Feed(cli::feed::FeedCommand),
    /// Open CVEs per host and across the fleet, from the latest inventories
    /// and the feed snapshot in force (exit 1 when a fixable CVE is open).
    Vulns(cli::vulns::VulnsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::shell::CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand into --dir.
    Man(cli::shell::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format.unwrap_or_else(|| match &cli.command {
        // The service's own config may ask for JSON; a config that does not
        // load is reported by `serve` itself (once), so text here.
        Command::Serve(args) => evident_collector::config::Config::load(&args.dir.dir)
            .map(|c| c.log.format)
            .unwrap_or_default(),
        _ => Default::default(),
    });
    evident_collector::logging::init(format);
    let result = match cli.command {
        Command::Policy(cmd) => cli::policy::run(cmd),
        Command::Catalog(args) => cli::catalog::run(&args),
        Command::Init(args) => cli::server::init(args),
        Command::Cert(cmd) => cli::server::cert(cmd),
        Command::Serve(args) => cli::server::serve(args),
        Command::Token(cmd) => cli::server::token(cmd),
        Command::Agents(cmd) => cli::server::agents(cmd),
        Command::ApiToken(cmd) => cli::db::api_token(cmd),
        Command::Db(cmd) => cli::db::db(cmd),
        Command::Alerts(args) => cli::alerts::run(args),
        Command::Export(args) => cli::export::run(args),
        Command::Key(cmd) => cli::key::run(cmd),
        Command::Verify(args) => cli::verify::run(&args),
        Command::Prune(args) => cli::prune::run(&args),
        Command::Report(args) => cli::report::run_report(&args),
        Command::Soa(args) => cli::report::run_soa(&args),
        Command::Isms(args) => cli::isms::run_isms(&args),
        Command::Attest(args) => cli::attest::run(&args),
        Command::Attester(cmd) => cli::attest::attester(cmd),
        Command::Config(cmd) => cli::config::run(cmd),
        Command::Feed(cmd) => cli::feed::run(cmd),
        Command::Vulns(args) => cli::vulns::run(&args),
        Command::Completions(args) => cli::shell::completions(&args, Cli::command()),
        Command::Man(args) => cli::shell::man(&args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // The one place an error is shown, with its cause chain, each
            // cause once.
            eprintln!(
                "error: {}",
                evident_collector::logging::error_chain(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}
