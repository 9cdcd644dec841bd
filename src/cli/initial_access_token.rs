//! `oidcd initial-access-token ...`: what lets apps register themselves while
//! `registration.mode` is `initial_access_token` (RFC 7591 section 3).

use clap::Subcommand;
use serde::Serialize;

use super::client::{not_found, print_json};
use super::CliError;
use crate::admin::initial_access_tokens::{DEFAULT_LIFETIME, DEFAULT_USES};
use crate::app::Runtime;
use crate::config::Seconds;
use crate::oauth::dynamic;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum InitialAccessTokenCommand {
    /// Mint a token and print it as JSON (the token is shown this once). An app sends it as
    /// `Authorization: Bearer <token>` to /oauth/register.
    Create {
        /// Registrations it allows (1 to 10000).
        #[arg(long, default_value_t = DEFAULT_USES)]
        uses: i64,
        /// How long it lasts (seconds, or 90s, 10m, 12h, 30d; at most a year).
        #[arg(long = "expires-in", value_name = "DURATION", default_value_t = Seconds(DEFAULT_LIFETIME.unsigned_abs()))]
        expires_in: Seconds,
        /// What it is for, shown when tokens are listed.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List the tokens that have not expired.
    List,
    /// Revoke a token: it registers nothing more (apps it registered stay).
    Revoke {
        /// The token's id, as `create` or `list` printed it.
        id: String,
    },
}

#[derive(Serialize)]
struct Minted<'a> {
    id: &'a str,
    token: &'a str,
    note: &'a str,
    uses_left: i64,
    expires_at: String,
}

pub async fn run(rt: Runtime, cmd: InitialAccessTokenCommand) -> Result<(), CliError> {
    match cmd {
        InitialAccessTokenCommand::Create {
            uses,
            expires_in,
            note,
        } => {
            let (row, token) =
                dynamic::mint(&rt.secrets, note, uses, expires_in.as_i64(), rt.clock.now())?;
            store::initial_access_tokens::insert(&rt.db, &row).await?;
            print_json(&Minted {
                id: &row.id,
                token: &token,
                note: &row.note,
                uses_left: row.uses_left,
                expires_at: crate::clock::rfc3339(row.expires_at),
            })
        }
        InitialAccessTokenCommand::List => {
            let now = rt.clock.now();
            let mut after: Option<String> = None;
            say!("{:<14} {:>9} {:<22} note", "id", "uses left", "expires at");
            loop {
                let page =
                    store::initial_access_tokens::list(&rt.db, after.as_deref(), 200).await?;
                for t in page.iter().filter(|t| t.expires_at > now) {
                    say!(
                        "{:<14} {:>9} {:<22} {}",
                        t.id,
                        t.uses_left,
                        crate::clock::rfc3339(t.expires_at),
                        t.note
                    );
                }
                match page.last() {
                    Some(last) if page.len() == 200 => after = Some(last.id.clone()),
                    _ => break,
                }
            }
            Ok(())
        }
        InitialAccessTokenCommand::Revoke { id } => {
            store::initial_access_tokens::delete(&rt.db, &id)
                .await
                .map_err(|e| not_found(e, "initial access token", &id))?;
            say!("revoked initial access token {id}");
            Ok(())
        }
    }
}
