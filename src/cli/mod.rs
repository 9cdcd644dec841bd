//! The command line. Every command reads the same configuration as `serve` and works on the
//! same database, through the same store and key functions the server uses.

/// `println!` that ends the command, rather than panicking, when stdout is closed
/// (`oidcd client list | head -1`): the write error returns from the enclosing function, and
/// `main` ends quietly on a broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            return Err($crate::cli::CliError::from(e));
        }
    }};
}

mod client;
mod initial_access_token;
mod keys;
mod resource;
mod trial;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::{Application, Runtime, StartupError};
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::db;
use crate::keys::KeyError;
use crate::oauth::registration::RegistrationError;
use crate::oidc::accounts::AccountError;
use crate::store::StoreError;

#[derive(Debug, Parser)]
#[command(
    name = "oidcd",
    version,
    about = "An OpenID Connect provider",
    after_help = crate::config::settings_help()
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, short, global = true, env = "OIDCD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider (the default when no command is given).
    Serve,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Manage clients (relying parties).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage the resources (APIs) access tokens can be issued for (RFC 8707).
    #[command(subcommand)]
    Resource(resource::ResourceCommand),
    /// Mint, list and revoke the tokens that let apps register themselves (RFC 7591), when
    /// `registration.mode` is `initial_access_token`.
    #[command(subcommand)]
    InitialAccessToken(initial_access_token::InitialAccessTokenCommand),
    /// Inspect and rotate the signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Print the OpenAPI document of the JSON endpoints (as committed in openapi/openapi.json).
    Openapi,
    /// Sign in through the provider as a native app would: a loopback listener, the
    /// authorization URL to open, the code exchanged with PKCE, the ID token verified, the
    /// userinfo claims printed.
    Try(trial::TryArgs),
}

/// Environment variables the command line itself reads.
pub const CLI_VARIABLES: &[&str] = &["OIDCD_CONFIG", "OIDCD_TRY_SECRET"];

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The process environment as (name, value) pairs; a non-UTF-8 `OIDCD_*` value is an error.
pub fn environment() -> Result<Vec<(String, String)>, CliError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((name, value)),
            Err(_) if name.starts_with(crate::config::ENV_PREFIX) => {
                return Err(CliError::Usage(format!("{name} is not valid UTF-8")));
            }
            Err(_) => {}
        }
    }
    Ok(vars)
}

/// Loads the configuration, sets up logging and runs the command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    if matches!(cli.command, Some(Command::Openapi)) {
        // Needs no configuration, database or keys.
        say!("{}", crate::server::openapi::spec());
        return Ok(());
    }
    let env = environment()?;
    let config = Config::load(cli.config.as_deref(), &env, CLI_VARIABLES)?;
    // `oidcd try` is a client: the provider's own log lines (and its listener's) would only
    // get in the way of what it prints.
    let log = match cli.command {
        Some(Command::Try(_)) => "warn",
        _ => config.log.as_str(),
    };
    crate::telemetry::init(log, config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            db::open(&config.database_url, db::Access::Create)
                .await
                .map_err(StartupError::from)?;
            say!(
                "database schema is up to date ({})",
                config.database_url.redacted()
            );
            Ok(())
        }
        Command::Client(cmd) => client::run(open(config).await?, cmd).await,
        Command::User(cmd) => user::run(open(config).await?, cmd).await,
        Command::Resource(cmd) => resource::run(open(config).await?, cmd).await,
        Command::InitialAccessToken(cmd) => {
            initial_access_token::run(open(config).await?, cmd).await
        }
        Command::Keys(cmd) => keys::run(open(config).await?, cmd).await,
        Command::Try(args) => trial::run(&config, args).await,
        Command::Openapi => Ok(()),
    }
}

/// Opens the server's database for an administrative command, which never creates one.
async fn open(config: Config) -> Result<Runtime, CliError> {
    Ok(Runtime::open(config, Clock::System, db::Access::Existing).await?)
}

async fn serve(config: Config) -> Result<(), CliError> {
    let database = config.database_url.redacted();
    let runtime = Runtime::open(config, Clock::System, db::Access::Create).await?;
    let app = Application::from_runtime(runtime).await?;
    let keys = app.state().keys.current();
    let published: Vec<String> = keys
        .published()
        .iter()
        .map(|k| format!("{} ({})", k.kid, k.state.as_str()))
        .collect();
    say!("oidcd is serving {}", app.issuer());
    say!(
        "  discovery: {}/.well-known/openid-configuration",
        app.issuer()
    );
    say!("  database:  {database}");
    say!("  keys:      {}", published.join(", "));
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Reads a password from `--password` or, with `--password-stdin`, the first line of stdin.
fn read_password(flag: Option<String>, stdin: bool) -> Result<String, CliError> {
    match (flag, stdin) {
        (Some(p), false) => Ok(p),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Ok(line.trim_end_matches(['\n', '\r']).to_owned())
        }
        _ => Err(CliError::Usage(
            "give exactly one of --password or --password-stdin".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_setting() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        let settings = crate::config::settings_help();
        assert!(
            help.contains(&settings),
            "--help ends with\n{settings}\n\n{help}"
        );
        for setting in crate::config::SETTINGS {
            assert!(
                settings.contains(setting.key),
                "--help lists {}",
                setting.key
            );
            assert!(
                settings.contains(setting.env),
                "--help lists {}",
                setting.env
            );
        }
    }
}
