//! Token introspection (RFC 7662). Only authenticated clients may ask; a client learns about
//! tokens issued to itself, or about any token if it is allowed the `introspect` scope (a
//! resource server). Everything else is `{"active": false}`, with no hint why.

use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::client_auth::{self, Credentials};
use super::error::OAuthError;
use super::params::Params;
use super::subject;
use crate::clock::UnixTime;
use crate::crypto::KeyedHasher;
use crate::keys::KeySet;
use crate::store::clients::Client;
use crate::store::{self};
use crate::tokens::{AccessTokens, Rejected};

/// The scope that lets a client introspect tokens issued to other clients.
pub const INTROSPECT_ANY: &str = "introspect";

#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The audience: the issuer, or the resources the token is for (RFC 8707); a string, or
    /// an array of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// The DPoP key the token is bound to (RFC 9449 6.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf_jkt: Option<String>,
}

impl Introspection {
    fn inactive() -> Self {
        Self::default()
    }
}

fn may_see(asker: &Client, owner: &str) -> bool {
    asker.client_id == owner || asker.scopes.iter().any(|s| s == INTROSPECT_ANY)
}

pub async fn introspect(
    db: &impl ConnectionTrait,
    secrets: &KeyedHasher,
    keys: &KeySet,
    tokens: &AccessTokens,
    credentials: &Credentials,
    params: &Params,
    now: UnixTime,
) -> Result<Introspection, OAuthError> {
    params.reject_duplicates()?;
    let asker = client_auth::authenticate(db, secrets, credentials).await?;
    if asker.is_public() {
        return Err(OAuthError::invalid_client(
            "Introspection needs client authentication; public clients cannot introspect.",
        ));
    }
    let token = params.require("token")?;
    let refresh_first = params.get("token_type_hint") == Some("refresh_token");
    let result = if refresh_first {
        match refresh(db, secrets, &asker, token, now).await? {
            Some(found) => found,
            None => access(db, keys, tokens, &asker, token, now)
                .await?
                .unwrap_or_else(Introspection::inactive),
        }
    } else {
        match access(db, keys, tokens, &asker, token, now).await? {
            Some(found) => found,
            None => refresh(db, secrets, &asker, token, now)
                .await?
                .unwrap_or_else(Introspection::inactive),
        }
    };
    Ok(result)
}

/// `Some` when the token is one of our access tokens (active or not), `None` when it is not
/// an access token at all.
async fn access(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    tokens: &AccessTokens,
    asker: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Option<Introspection>, OAuthError> {
    // "Not a JWT of ours" is tried as a refresh token; "ours, but expired or otherwise
    // dead" is inactive.
    let claims = match tokens.check_any_audience(keys, token, now) {
        Ok(claims) => claims,
        Err(Rejected::NotOurs) => return Ok(None),
        Err(Rejected::Invalid | Rejected::Expired) => return Ok(Some(Introspection::inactive())),
    };
    if !may_see(asker, &claims.client_id) {
        return Ok(Some(Introspection::inactive()));
    }
    if store::revocations::is_token_dead(db, &claims.jti, claims.grant()).await? {
        return Ok(Some(Introspection::inactive()));
    }
    // A token for a user (it came from a grant) dies with the user's account. A pairwise
    // client's token names the user by its sector's `sub`: the grant says who they are.
    if let Some(grant_id) = &claims.grant_id {
        let active = store::users::is_active(db, &claims.subject).await?
            || match store::grants::get(db, grant_id).await? {
                Some(grant) => store::users::is_active(db, &grant.user_id).await?,
                None => false,
            };
        if !active {
            return Ok(Some(Introspection::inactive()));
        }
    }
    Ok(Some(Introspection {
        active: true,
        scope: Some(claims.scopes.join(" ")),
        client_id: Some(claims.client_id),
        sub: Some(claims.subject),
        exp: Some(claims.expires_at),
        iat: Some(claims.issued_at),
        token_type: Some(if claims.jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }),
        iss: Some(tokens.issuer().to_owned()),
        jti: Some(claims.jti),
        aud: Some(match claims.audience.as_slice() {
            [one] => serde_json::Value::from(one.as_str()),
            many => serde_json::Value::from(many.to_vec()),
        }),
        cnf_jkt: claims.jkt,
    }))
}

async fn refresh(
    db: &impl ConnectionTrait,
    secrets: &KeyedHasher,
    asker: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Option<Introspection>, OAuthError> {
    if token.len() > 256 {
        return Ok(None);
    }
    let Some((row, grant)) = store::grants::find_refresh(db, &secrets.hash(token)).await? else {
        return Ok(None);
    };
    let live = grant.revoked_at.is_none()
        && grant.expires_at > now
        && row.expires_at > now
        && row.generation == grant.refresh_generation;
    if !live
        || !may_see(asker, &grant.client_id)
        || !store::users::is_active(db, &grant.user_id).await?
    {
        return Ok(Some(Introspection::inactive()));
    }
    // The user as the grant's client knows them.
    let sub = match store::clients::get(db, &grant.client_id).await {
        Ok(client) => subject::of(secrets, &client, &grant.user_id),
        Err(store::StoreError::NotFound) => return Ok(Some(Introspection::inactive())),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(Introspection {
        active: true,
        scope: Some(grant.scope),
        client_id: Some(grant.client_id),
        sub: Some(sub),
        exp: Some(row.expires_at),
        iat: Some(row.created_at),
        token_type: Some("refresh_token"),
        iss: None,
        jti: None,
        aud: None,
        cnf_jkt: grant.dpop_jkt,
    }))
}
