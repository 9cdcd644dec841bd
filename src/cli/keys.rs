//! `oidcd keys ...`

use clap::Subcommand;

use super::CliError;
use crate::app::Runtime;
use crate::clock::rfc3339;
use crate::keys::{rotation, KeyError};
use crate::store;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys with their state and dates.
    List,
    /// Rotate now: next -> active, active -> retired, a new next key.
    Rotate {
        /// Rotate even if the next key was published too recently for caching relying
        /// parties to know it.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(rt: Runtime, cmd: KeysCommand) -> Result<(), CliError> {
    let now = rt.clock.now();
    match cmd {
        KeysCommand::List => {
            let date = |t: Option<i64>| t.map(rfc3339).unwrap_or_else(|| "-".into());
            say!(
                "{:<44} {:<8} {:<21} {:<21} {:<21} published until",
                "kid",
                "state",
                "created",
                "activated",
                "retired"
            );
            for k in store::keys::list(&rt.db).await? {
                say!(
                    "{:<44} {:<8} {:<21} {:<21} {:<21} {}",
                    k.kid,
                    k.state.as_str(),
                    rfc3339(k.created_at),
                    date(k.activated_at),
                    date(k.retired_at),
                    date(k.published_until),
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { force } => {
            let r = rotation::rotate(
                &rt.db,
                rt.keys.kek(),
                &rt.config.keys,
                &rt.config.lifetimes,
                now,
                force,
            )
            .await
            .map_err(|e| match e {
                e @ KeyError::TooSoon { .. } => {
                    CliError::Usage(format!("{e} To rotate anyway: oidcd keys rotate --force"))
                }
                e => e.into(),
            })?;
            say!("activated {}", r.activated);
            say!("retired   {}", r.retired);
            say!("next      {}", r.next);
            if r.removed > 0 {
                say!("removed {} expired key(s)", r.removed);
            }
            say!(
                "running instances pick this up within {}s",
                rt.config.keys.cache_ttl.0
            );
            Ok(())
        }
    }
}
