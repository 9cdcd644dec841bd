//! `oidcd resource ...`: the APIs access tokens can be issued for (RFC 8707).

use clap::Subcommand;
use serde::Serialize;

use super::client::{not_found, print_json};
use super::CliError;
use crate::app::Runtime;
use crate::oauth::registration::{self, ResourceRegistration};
use crate::store::{self, resources::Resource};

#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register a resource and print it as JSON. Clients are then allowed it with
    /// `oidcd client create --resource URI` or the admin API.
    Add {
        /// The identifier: an absolute URI without a fragment (`https://api.example.com`).
        /// Clients send it as `resource`; tokens for it carry it as `aud`.
        identifier: String,
        /// What the consent page calls it; the identifier when left out.
        #[arg(long)]
        name: Option<String>,
        /// A scope a token for it may carry (repeat for several).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// List every resource.
    List,
    /// Delete a resource; clients lose it from their lists.
    Remove {
        /// The resource's identifier, as it was added.
        identifier: String,
    },
}

/// A resource as printed.
#[derive(Serialize)]
struct ResourceView<'a> {
    identifier: &'a str,
    name: &'a str,
    scope: String,
    created_at: String,
}

impl<'a> ResourceView<'a> {
    fn new(r: &'a Resource) -> Self {
        Self {
            identifier: &r.identifier,
            name: &r.name,
            scope: r.scopes.join(" "),
            created_at: crate::clock::rfc3339(r.created_at),
        }
    }
}

pub async fn run(rt: Runtime, cmd: ResourceCommand) -> Result<(), CliError> {
    match cmd {
        ResourceCommand::Add {
            identifier,
            name,
            scopes,
        } => {
            let reg = ResourceRegistration {
                identifier,
                name,
                scopes,
            };
            let registered = registration::register_resource(
                &rt.db,
                reg,
                rt.config.issuer.as_deref(),
                rt.clock.now(),
            )
            .await?;
            print_json(&ResourceView::new(&registered))
        }
        ResourceCommand::List => {
            let mut after: Option<String> = None;
            say!("{:<48} {:<24} scope", "identifier", "name");
            loop {
                let page = store::resources::list(&rt.db, after.as_deref(), 200).await?;
                for r in &page {
                    say!("{:<48} {:<24} {}", r.identifier, r.name, r.scopes.join(" "));
                }
                match page.last() {
                    Some(last) if page.len() == 200 => after = Some(last.identifier.clone()),
                    _ => break,
                }
            }
            Ok(())
        }
        ResourceCommand::Remove { identifier } => {
            let txn = rt.db.begin().await.map_err(store::StoreError::from)?;
            store::resources::delete(&txn, &identifier, rt.clock.now())
                .await
                .map_err(|e| not_found(e, "resource", &identifier))?;
            txn.commit().await.map_err(store::StoreError::from)?;
            say!("removed resource {identifier}");
            Ok(())
        }
    }
}
