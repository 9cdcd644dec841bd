//! `oidcd user ...`

use clap::Subcommand;
use serde_json::{Map, Value};

use super::{client::not_found, read_password, CliError};
use crate::app::Runtime;
use crate::config::ClaimKind;
use crate::oauth::scope::Catalog;
use crate::oidc::accounts::{self, NewUser};
use crate::store;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print it as JSON.
    Create(CreateArgs),
    /// List every user.
    List,
    /// Delete a user and everything issued for them.
    Delete {
        /// The user's username.
        username: String,
    },
    /// Remove every second factor (authenticator apps, recovery codes) of a user who lost
    /// them: they sign in with their password alone again.
    ResetFactors {
        /// The user's username.
        username: String,
    },
    /// Set a user's password (from --password or --password-stdin).
    SetPassword {
        /// The user's username.
        username: String,
        /// The new password (it shows in shell history and `ps`: prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The name the user signs in with (unique).
    #[arg(long)]
    username: String,
    /// The password (it shows in shell history and `ps`: prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Email address (the `email` claim).
    #[arg(long)]
    email: Option<String>,
    /// Mark the email address as verified.
    #[arg(long)]
    email_verified: bool,
    /// Full name.
    #[arg(long)]
    name: Option<String>,
    /// Given (first) name.
    #[arg(long)]
    given_name: Option<String>,
    /// Family (last) name.
    #[arg(long)]
    family_name: Option<String>,
    /// Phone number, E.164 recommended (`+15551234567`).
    #[arg(long)]
    phone_number: Option<String>,
    /// Any other standard or declared claim as NAME=VALUE (repeat for several). A declared
    /// array of strings (`groups`) takes one item per use, or a JSON array.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
}

fn claims_from(args: &CreateArgs, catalog: &Catalog) -> Result<Map<String, Value>, CliError> {
    let mut claims = Map::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(v) = value {
            claims.insert(name.to_owned(), Value::String(v.clone()));
        }
    };
    put("email", &args.email);
    put("name", &args.name);
    put("given_name", &args.given_name);
    put("family_name", &args.family_name);
    put("phone_number", &args.phone_number);
    if args.email_verified {
        claims.insert("email_verified".into(), Value::Bool(true));
    }
    for pair in &args.claims {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--claim `{pair}` is not NAME=VALUE")))?;
        let json = serde_json::from_str::<Value>(value).ok();
        match catalog.claim(name).map(|c| c.kind) {
            // One item per use, or the whole list as JSON.
            Some(ClaimKind::StringArray) => match json {
                Some(Value::Array(items)) => {
                    claims.insert(name.to_owned(), Value::Array(items));
                }
                _ => {
                    let item = Value::String(value.to_owned());
                    match claims.get_mut(name) {
                        Some(Value::Array(items)) => items.push(item),
                        _ => {
                            claims.insert(name.to_owned(), Value::Array(vec![item]));
                        }
                    }
                }
            },
            Some(ClaimKind::String) => {
                claims.insert(name.to_owned(), Value::String(value.to_owned()));
            }
            // Numbers, booleans and objects as JSON; what is not JSON is refused by its type.
            Some(_) => {
                let value = json.unwrap_or_else(|| Value::String(value.to_owned()));
                claims.insert(name.to_owned(), value);
            }
            // Standard claims: JSON values (true, {"street_address": ...}) are taken as such;
            // anything else is a string.
            None => {
                let value = json
                    .filter(|v| v.is_boolean() || v.is_object())
                    .unwrap_or_else(|| Value::String(value.to_owned()));
                claims.insert(name.to_owned(), value);
            }
        }
    }
    Ok(claims)
}

pub async fn run(rt: Runtime, cmd: UserCommand) -> Result<(), CliError> {
    let now = rt.clock.now();
    match cmd {
        UserCommand::Create(args) => {
            let claims = claims_from(&args, &rt.claims)?;
            let password = read_password(args.password, args.password_stdin)?;
            let new = NewUser {
                username: args.username,
                password,
                claims,
            };
            let user = accounts::create(&rt.db, &rt.passwords, &rt.claims, new, now).await?;
            // Dates as every other command prints them.
            let shown = serde_json::json!({
                "id": user.id,
                "username": user.username,
                "claims": user.claims,
                "disabled": user.disabled,
                "created_at": crate::clock::rfc3339(user.created_at),
                "updated_at": crate::clock::rfc3339(user.updated_at),
            });
            let text = serde_json::to_string_pretty(&shown)
                .map_err(|e| CliError::Usage(format!("cannot print JSON: {e}")))?;
            say!("{text}");
            Ok(())
        }
        UserCommand::List => {
            let mut after: Option<String> = None;
            say!("{:<24} {:<38} email", "username", "sub");
            loop {
                let page = store::users::list(
                    &rt.db,
                    store::users::UserOrder::Username,
                    after.as_deref(),
                    200,
                )
                .await?;
                for u in &page {
                    let email = u.claims.get("email").and_then(Value::as_str).unwrap_or("");
                    say!("{:<24} {:<38} {email}", u.username, u.id);
                }
                match page.last() {
                    Some(last) if page.len() == 200 => after = Some(last.username.clone()),
                    _ => break,
                }
            }
            Ok(())
        }
        UserCommand::Delete { username } => {
            store::users::delete_by_username(&rt.db, &accounts::canonical_username(&username))
                .await
                .map_err(|e| not_found(e, "user", &username))?;
            say!("deleted user {username}");
            Ok(())
        }
        UserCommand::ResetFactors { username } => {
            let user =
                store::users::find_by_username(&rt.db, &accounts::canonical_username(&username))
                    .await?
                    .ok_or_else(|| not_found(store::StoreError::NotFound, "user", &username))?;
            let by = format!(
                "the command line (OS user {})",
                std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
            );
            let metrics = crate::metrics::Metrics::default();
            let removed =
                crate::oidc::factors::reset(rt.provider(&metrics), &user.id, &by, now).await?;
            say!(
                "removed {removed} second factor(s) and the recovery codes of {username}, and \
                 signed out every session"
            );
            Ok(())
        }
        UserCommand::SetPassword {
            username,
            password,
            password_stdin,
        } => {
            let password = read_password(password, password_stdin)?;
            let revoke = rt.config.login.password_change_revokes_grants;
            let metrics = crate::metrics::Metrics::default();
            accounts::set_password(
                rt.provider(&metrics),
                &username,
                password,
                revoke,
                None,
                now,
            )
            .await
            .map_err(|e| match e {
                accounts::AccountError::Store(s) => not_found(s, "user", &username),
                other => other.into(),
            })?;
            say!("password changed for {username}");
            Ok(())
        }
    }
}
