use std::process::ExitCode;

use clap::Parser as _;
use oidcd::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Every error message already carries its cause.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
