//! The token endpoint's grants. Each takes the authenticated client and the request
//! parameters and returns the token response or a protocol error.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::auth_context::Amr;
use super::dpop::Checker;
use super::error::OAuthError;
use super::resource::{self, Granted, Target};
use super::scope::{self, Catalog};
use super::subject;
use crate::clock::UnixTime;
use crate::config::{CustomClaim, Lifetimes};
use crate::crypto::{self, KeyedHasher};
use crate::db::Db;
use crate::keys::KeySet;
use crate::metrics::Metrics;
use crate::store::clients::{Client, GrantType};
use crate::store::grants::{GrantRow, RefreshRow};
use crate::tokens::id::{self as id_token, IdTokenClaims};
use crate::tokens::{access as access_token, AccessGrant};

/// What every grant needs from the server.
#[derive(Clone)]
pub struct TokenContext<'a> {
    pub db: &'a Db,
    pub secrets: &'a KeyedHasher,
    pub keys: Arc<KeySet>,
    pub issuer: &'a str,
    pub lifetimes: &'a Lifetimes,
    pub metrics: &'a Metrics,
    /// The declared claims, some of which go into the tokens.
    pub claims: &'a Catalog,
    pub now: UnixTime,
    /// The request's DPoP proof and what checks it; `None` when DPoP is off.
    pub dpop: Option<DpopRequest<'a>>,
    /// The key the request's DPoP proof proved (set by the token endpoint once checked): the
    /// tokens issued are bound to it.
    pub jkt: Option<String>,
}

/// A token request's `DPoP` header, and what checks it.
#[derive(Clone)]
pub struct DpopRequest<'a> {
    pub proof: Option<&'a str>,
    pub checker: Checker<'a>,
    /// The token endpoint's URL, which the proof's `htu` must name.
    pub htu: String,
}

impl TokenContext<'_> {
    /// `token_type`: DPoP for a token bound to a key (RFC 9449 5).
    fn token_type(&self) -> &'static str {
        if self.jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}

/// RFC 6749 5.1 (and OIDC Core 3.1.3.3 for `id_token`).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The user-facing part of a grant, as the tokens describe it.
pub(crate) struct UserGrant<'a> {
    pub grant_id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub auth_time: UnixTime,
    /// How the person signed in, as stored.
    pub amr: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub nonce: Option<&'a str>,
    /// The claims asked for in the ID token, a JSON list (the `claims` parameter).
    pub id_token_claims: Option<&'a str>,
    /// The resources asked for at the authorization or device authorization endpoint
    /// (RFC 8707), as stored (a JSON array).
    pub resources: &'a str,
    /// The client's sector when it is a pairwise client (OIDC Core 8.1).
    pub sector: Option<&'a str>,
}

/// The claims about the user that go into the tokens, beside those every token has.
#[derive(Default)]
pub(crate) struct UserClaims {
    /// Those asked for in the ID token (the `claims` parameter) and the declared ones meant
    /// for it, that the granted scopes release.
    pub id_token: serde_json::Map<String, serde_json::Value>,
    /// The declared ones meant for access tokens that the token's scopes release.
    pub access_token: serde_json::Map<String, serde_json::Value>,
}

/// The user's claims for the tokens of `grant`, the access token's for `target`; the user is
/// read only when some are due.
pub(crate) async fn user_claims(
    db: &impl ConnectionTrait,
    catalog: &Catalog,
    grant: &UserGrant<'_>,
    target: &Target,
) -> Result<UserClaims, OAuthError> {
    let mut out = UserClaims::default();
    let asked: Vec<String> = grant
        .id_token_claims
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let openid = scope::contains(grant.scopes, "openid");
    let for_id_token: Vec<&str> = asked
        .iter()
        .map(String::as_str)
        .filter(|name| catalog.releases(grant.scopes, name))
        .chain(
            catalog
                .released(grant.scopes)
                .filter(|c| c.id_token)
                .map(|c| c.name.as_str()),
        )
        .filter(|_| openid)
        .collect();
    let for_access_token: Vec<&CustomClaim> = catalog
        .released(&target.scopes)
        .filter(|c| c.access_token)
        .collect();
    if for_id_token.is_empty() && for_access_token.is_empty() {
        return Ok(out);
    }
    let user = crate::store::users::get(db, grant.user_id).await?;
    for name in for_id_token {
        let value = match (name, catalog.claim(name)) {
            ("updated_at", _) => Some(serde_json::json!(user.updated_at)),
            (_, Some(declared)) => scope::declared_value(&user.claims, declared).cloned(),
            (_, None) => user.claims.get(name).cloned(),
        };
        if let Some(value) = value {
            out.id_token.insert(name.to_owned(), value);
        }
    }
    for claim in for_access_token {
        if let Some(value) = scope::declared_value(&user.claims, claim) {
            out.access_token.insert(claim.name.clone(), value.clone());
        }
    }
    Ok(out)
}

/// Records a new grant inside `txn` and, when `offline_access` was granted to a client that
/// may refresh, the first refresh token of its family, which it returns.
pub(crate) async fn record_grant(
    ctx: &TokenContext<'_>,
    txn: &impl ConnectionTrait,
    client: &Client,
    grant: &UserGrant<'_>,
) -> Result<Option<String>, OAuthError> {
    let now = ctx.now;
    // A code or device code issued before the user was disabled yields nothing after.
    if !crate::store::users::is_active(txn, grant.user_id).await? {
        return Err(OAuthError::invalid_grant(
            "The user this grant is for can no longer sign in.",
        ));
    }
    let wants_refresh = crate::oauth::scope::contains(grant.scopes, "offline_access")
        && client.allows_grant(GrantType::RefreshToken);
    let absolute = now + ctx.lifetimes.refresh_token_absolute.as_i64();
    crate::store::grants::insert(
        txn,
        &GrantRow {
            id: grant.grant_id.to_owned(),
            client_id: grant.client_id.to_owned(),
            user_id: grant.user_id.to_owned(),
            scope: crate::oauth::scope::join(grant.scopes),
            auth_time: grant.auth_time,
            amr: grant.amr.map(str::to_owned),
            session_id: grant.session_id.map(str::to_owned),
            refresh_generation: 0,
            rotated_at: None,
            created_at: now,
            last_used_at: now,
            // Without a refresh token the grant only has to outlive its access token, and the
            // browser session it was made in: the end of that session must still find it, to
            // tell the app (back-channel and front-channel logout).
            expires_at: if wants_refresh {
                absolute
            } else if grant.session_id.is_some() {
                now + ctx
                    .lifetimes
                    .longest_signed()
                    .as_i64()
                    .max(ctx.lifetimes.session.as_i64())
            } else {
                now + ctx.lifetimes.longest_signed().as_i64()
            },
            revoked_at: None,
            id_token_claims: grant.id_token_claims.map(str::to_owned),
            // RFC 9449 5: a public client's refresh tokens are bound to the key too (a
            // confidential client's are bound to its authentication already).
            dpop_jkt: ctx.jkt.clone().filter(|_| client.is_public()),
            resources: grant.resources.to_owned(),
            access_revoked_at: None,
        },
    )
    .await?;
    if !wants_refresh {
        return Ok(None);
    }
    let token = crypto::random_token()?;
    crate::store::grants::insert_refresh(
        txn,
        &RefreshRow {
            token_hash: ctx.secrets.hash(&token),
            grant_id: grant.grant_id.to_owned(),
            generation: 0,
            created_at: now,
            expires_at: (now + ctx.lifetimes.refresh_token_idle.as_i64()).min(absolute),
        },
    )
    .await?;
    Ok(Some(token))
}

/// Signs the access token for `target` (its audience and scopes), and the id_token when
/// `openid` is among the grant's scopes.
pub(crate) fn user_tokens(
    ctx: &TokenContext<'_>,
    grant: &UserGrant<'_>,
    target: &Target,
    claims: &UserClaims,
    refresh_token: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let scope = crate::oauth::scope::join(&target.scopes);
    // The user as this client knows them, in both tokens.
    let subject = subject::for_sector(ctx.secrets, grant.sector, grant.user_id);
    let signer = ctx.keys.signer();
    let access = access_token::issue(
        signer,
        ctx.issuer,
        &AccessGrant {
            subject: &subject,
            client_id: grant.client_id,
            scope: &scope,
            grant_id: Some(grant.grant_id),
            auth_time: Some(grant.auth_time),
            jkt: ctx.jkt.as_deref(),
            audience: &target.audience,
            extra: Some(&claims.access_token),
        },
        ctx.now,
        ctx.lifetimes.access_token.as_i64(),
    )?;
    let amr = Amr::from_stored(grant.amr);
    let methods: Vec<&str> = amr.methods().iter().map(String::as_str).collect();
    let id_token = if crate::oauth::scope::contains(grant.scopes, "openid") {
        Some(id_token::issue(
            signer,
            &IdTokenClaims {
                issuer: ctx.issuer,
                subject: &subject,
                client_id: grant.client_id,
                nonce: grant.nonce,
                auth_time: grant.auth_time,
                session_id: grant.session_id,
                access_token: Some(&access.token),
                acr: amr.level().acr(),
                amr: &methods,
                extra: &claims.id_token,
            },
            ctx.now,
            ctx.lifetimes.id_token.as_i64(),
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: access.token,
        token_type: ctx.token_type(),
        expires_in: ctx.lifetimes.access_token.as_i64(),
        scope,
        id_token,
        refresh_token,
    })
}

/// The access token a request on `grant` gets (RFC 8707): its `resource` parameters against
/// the resources of the grant, and the scopes those accept.
pub(crate) async fn user_target(
    db: &impl ConnectionTrait,
    client: &Client,
    params: &crate::oauth::params::Params,
    grant: &UserGrant<'_>,
) -> Result<Target, OAuthError> {
    let granted = resource::from_stored(grant.resources)?;
    resource::target(db, client, params, Granted::Grant(&granted), grant.scopes).await
}

/// The refresh token that follows `token` in its family: derived with a keyed hash, so a
/// retry within the grace window gets the same one without it being stored in clear.
pub(crate) fn successor(secrets: &KeyedHasher, token: &str) -> String {
    crypto::b64url(&secrets.mac(&[b"refresh-successor", token.as_bytes()]))
}
