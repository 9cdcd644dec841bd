use std::process::ExitCode;

use clap::Parser as _;
use oidcd::cli::{self, Cli};

/// mimalloc rather than the system allocator: a request allocates and frees dozens of small
/// buffers, often on another worker thread than the one that made them (tasks move between
/// workers), and glibc's arenas then contend on their locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`oidcd client list | head -1`): nothing more to say.
        Err(cli::CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Every error message already carries its cause.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
