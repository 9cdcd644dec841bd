//! `oidcd client ...`

use clap::Subcommand;
use serde::Serialize;

use super::CliError;
use crate::app::Runtime;
use crate::fetch::Fetcher;
use crate::oauth::registration::{self, ClientPages, ClientRegistration, SecretChoice};
use crate::store::clients::{Client, LogoutChannels};
use crate::store::{self};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client and print it as JSON, secret included (shown this once only).
    Create(Box<CreateArgs>),
    /// List every client.
    List,
    /// Print one client as JSON (never its secret).
    Show {
        /// A generated id may begin with `-`: it is taken as the id, not as an option.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Delete a client and everything issued to it.
    Delete {
        /// A generated id may begin with `-`: it is taken as the id, not as an option.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name shown to users on the consent page.
    #[arg(long)]
    name: String,
    /// Client id; random when left out.
    #[arg(long = "id", allow_hyphen_values = true)]
    client_id: Option<String>,
    /// A secret of at least 32 characters; one is generated when left out.
    #[arg(long, conflicts_with = "public")]
    secret: Option<String>,
    /// A public client (no secret; PKCE S256 required).
    #[arg(long)]
    public: bool,
    /// Redirect URI, exact match (repeat for several).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Where logout may send the user afterwards (repeat for several).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// authorization_code, refresh_token, client_credentials, device_code (repeat for
    /// several). Default: authorization_code and refresh_token.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// An allowed scope (repeat for several). Default for user-facing clients: openid
    /// profile email address phone offline_access.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// client_secret_basic (default), client_secret_post, client_secret_jwt,
    /// private_key_jwt (with --jwks or --jwks-uri), or none (public clients).
    #[arg(long = "auth-method", value_name = "METHOD")]
    auth_method: Option<String>,
    /// For private_key_jwt: the client's public keys, a JWK Set as JSON text or `@FILE`.
    #[arg(long, value_name = "JWKS", conflicts_with = "jwks_uri")]
    jwks: Option<String>,
    /// For private_key_jwt: the https URL the client publishes its public keys at.
    #[arg(long = "jwks-uri", value_name = "URL")]
    jwks_uri: Option<String>,
    /// An admin client: adds client_credentials and the admin scope.
    #[arg(long)]
    admin: bool,
    /// A browser origin (`https://app.example.com`) allowed to call the token, userinfo,
    /// revocation, introspection and device endpoints, beside the origins of the redirect
    /// URIs (repeat for several).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Authorization requests must first be pushed to /oauth/par (RFC 9126).
    #[arg(long = "require-par")]
    require_par: bool,
    /// Authorization requests must be signed request objects (RFC 9101); for
    /// private_key_jwt and client_secret_jwt clients.
    #[arg(long = "require-signed-requests")]
    require_signed_requests: bool,
    /// Token requests must carry a DPoP proof (RFC 9449): access tokens bound to a key.
    #[arg(long = "require-dpop")]
    require_dpop: bool,
    /// Only people who used a second factor (a one-time code) may sign in to the app.
    #[arg(long = "require-mfa")]
    require_mfa: bool,
    /// A registered resource (`oidcd resource add`) the client may ask tokens for with
    /// `resource` (RFC 8707; repeat for several).
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
    /// `public` (default: a user's sub is their id) or `pairwise` (a sub of the client's
    /// sector's own, OIDC Core 8); fixed once registered.
    #[arg(long = "subject-type", value_name = "TYPE")]
    subject_type: Option<String>,
    /// For a pairwise client with redirect URIs on several hosts: an https URL serving a JSON
    /// array that lists them all; its host is the sector.
    #[arg(long = "sector-identifier-uri", value_name = "URL")]
    sector_identifier_uri: Option<String>,
    /// The app's home page, linked from the consent page.
    #[arg(long = "client-uri", value_name = "URL")]
    client_uri: Option<String>,
    /// The app's logo (PNG, JPEG, GIF or WebP at an https URL): fetched now and shown on the
    /// consent page from this server.
    #[arg(long = "logo-uri", value_name = "URL")]
    logo_uri: Option<String>,
    /// The app's privacy policy, linked from the consent page.
    #[arg(long = "policy-uri", value_name = "URL")]
    policy_uri: Option<String>,
    /// The app's terms of service, linked from the consent page.
    #[arg(long = "tos-uri", value_name = "URL")]
    tos_uri: Option<String>,
    /// An e-mail address of someone responsible for the app (repeat for several).
    #[arg(long = "contact", value_name = "EMAIL")]
    contacts: Vec<String>,
    /// Where logout tokens are POSTed when a session the app took part in ends (OpenID
    /// Connect Back-Channel Logout 1.0).
    #[arg(long = "backchannel-logout-uri", value_name = "URL")]
    backchannel_logout_uri: Option<String>,
    /// The page loaded in a hidden iframe of the signed-out page (Front-Channel Logout 1.0).
    #[arg(long = "frontchannel-logout-uri", value_name = "URL")]
    frontchannel_logout_uri: Option<String>,
    /// Logout tokens and front-channel pages need the session id (`sid`; always sent).
    #[arg(long = "logout-session-required")]
    logout_session_required: bool,
}

/// A client as printed: RFC 7591 field names.
#[derive(Serialize)]
struct ClientView<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    client_name: &'a str,
    redirect_uris: &'a [String],
    post_logout_redirect_uris: &'a [String],
    grant_types: Vec<&'static str>,
    response_types: &'a [String],
    scope: String,
    token_endpoint_auth_method: &'static str,
    allowed_origins: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<&'a str>,
    require_pushed_authorization_requests: bool,
    require_signed_request_object: bool,
    dpop_bound_access_tokens: bool,
    require_mfa: bool,
    resources: &'a [String],
    subject_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sector_identifier_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tos_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    contacts: &'a [String],
    #[serde(flatten)]
    logout: &'a LogoutChannels,
    self_registered: bool,
    created_at: String,
}

impl<'a> ClientView<'a> {
    fn new(c: &'a Client, secret: Option<&'a str>) -> Self {
        Self {
            client_id: &c.client_id,
            client_secret: secret,
            client_name: &c.name,
            redirect_uris: &c.redirect_uris,
            post_logout_redirect_uris: &c.post_logout_redirect_uris,
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            response_types: &c.response_types,
            scope: c.scopes.join(" "),
            token_endpoint_auth_method: c.token_endpoint_auth_method.as_str(),
            allowed_origins: &c.allowed_origins,
            jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: c.jwks_uri.as_deref(),
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_signed_request_object: c.require_signed_request_object,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            require_mfa: c.require_mfa,
            resources: &c.resources,
            subject_type: c.subject_type.as_str(),
            sector_identifier_uri: c.sector_identifier_uri.as_deref(),
            client_uri: c.client_uri.as_deref(),
            logo_uri: c.logo_uri.as_deref(),
            policy_uri: c.policy_uri.as_deref(),
            tos_uri: c.tos_uri.as_deref(),
            contacts: &c.contacts,
            logout: &c.logout,
            self_registered: c.self_registered(),
            created_at: crate::clock::rfc3339(c.created_at),
        }
    }
}

/// `--jwks`: JSON text, or `@FILE` to read it from a file.
fn read_jwks(arg: String) -> Result<String, CliError> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("--jwks: cannot read {path}: {e}"))),
        None => Ok(arg),
    }
}

pub(super) fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Usage(format!("cannot print JSON: {e}")))?;
    say!("{text}");
    Ok(())
}

pub async fn run(rt: Runtime, cmd: ClientCommand) -> Result<(), CliError> {
    match cmd {
        ClientCommand::Create(args) => {
            let secret = match (args.secret, args.public) {
                (Some(s), _) => SecretChoice::Given(s),
                (None, true) => SecretChoice::Public,
                (None, false) => SecretChoice::Generate,
            };
            let reg = ClientRegistration {
                name: args.name,
                client_id: args.client_id,
                secret,
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                grant_types: args.grant_types,
                scopes: args.scopes,
                token_endpoint_auth_method: args.auth_method,
                admin: args.admin,
                allowed_origins: args.allowed_origins,
                jwks: args.jwks.map(read_jwks).transpose()?,
                jwks_uri: args.jwks_uri,
                require_pushed_authorization_requests: args.require_par,
                require_signed_request_object: args.require_signed_requests,
                dpop_bound_access_tokens: args.require_dpop,
                require_mfa: args.require_mfa,
                resources: args.resources,
                subject_type: args.subject_type,
                sector_identifier_uri: args.sector_identifier_uri,
                pages: ClientPages {
                    client_uri: args.client_uri,
                    logo_uri: args.logo_uri,
                    policy_uri: args.policy_uri,
                    tos_uri: args.tos_uri,
                },
                contacts: args.contacts,
                logout: LogoutChannels {
                    backchannel_logout_session_required: args.logout_session_required
                        && args.backchannel_logout_uri.is_some(),
                    backchannel_logout_uri: args.backchannel_logout_uri,
                    frontchannel_logout_session_required: args.logout_session_required
                        && args.frontchannel_logout_uri.is_some(),
                    frontchannel_logout_uri: args.frontchannel_logout_uri,
                },
            };
            let fetcher = Fetcher::new(&rt.config.fetch)
                .map_err(|e| CliError::Usage(format!("cannot fetch: {e}")))?;
            let keeper = registration::Keeper {
                hasher: &rt.secrets,
                kek: rt.keys.kek(),
                allow_loopback: rt.config.fetch.allow_loopback,
                fetcher: &fetcher,
                user_scopes: rt.claims.user_scopes(),
            };
            let registered = registration::register(&rt.db, reg, keeper, rt.clock.now()).await?;
            print_json(&ClientView::new(
                &registered.client,
                registered.secret.as_deref(),
            ))
        }
        ClientCommand::List => {
            let mut after: Option<String> = None;
            say!(
                "{:<32} {:<24} {:<20} grant types",
                "client id",
                "name",
                "auth method"
            );
            loop {
                let page = store::clients::list(&rt.db, after.as_deref(), 200).await?;
                for c in &page {
                    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                    say!(
                        "{:<32} {:<24} {:<20} {}",
                        c.client_id,
                        c.name,
                        c.token_endpoint_auth_method.as_str(),
                        grants.join(" ")
                    );
                }
                match page.last() {
                    Some(last) if page.len() == 200 => after = Some(last.client_id.clone()),
                    _ => break,
                }
            }
            Ok(())
        }
        ClientCommand::Show { client_id } => {
            let client = store::clients::get(&rt.db, &client_id)
                .await
                .map_err(|e| not_found(e, "client", &client_id))?;
            print_json(&ClientView::new(&client, None))
        }
        ClientCommand::Delete { client_id } => {
            store::clients::delete(&rt.db, &client_id)
                .await
                .map_err(|e| not_found(e, "client", &client_id))?;
            say!("deleted client {client_id}");
            Ok(())
        }
    }
}

pub(super) fn not_found(e: store::StoreError, what: &str, id: &str) -> CliError {
    match e {
        store::StoreError::NotFound => CliError::Usage(format!("no {what} `{id}`")),
        other => other.into(),
    }
}
