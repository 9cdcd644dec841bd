//! RP-Initiated Logout 1.0: validating the request. The session itself is ended by the web
//! layer, which owns the cookie.

use sea_orm::ConnectionTrait;
use serde_json::Value;
use url::Url;

use crate::keys::KeySet;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::store::clients::Client;
use crate::store::{self, StoreError};

/// A validated logout request.
#[derive(Debug, Default)]
pub struct LogoutRequest {
    pub client: Option<Client>,
    /// Where to send the user afterwards (registered, with `state` added), if anywhere.
    pub redirect: Option<String>,
    /// The `sid` of the session the ID token hint was issued in.
    pub hint_sid: Option<String>,
}

/// Checks `id_token_hint` (signed by any published key, issued by us; expiry does not
/// matter, RP-Initiated Logout 1.0 section 2), `client_id` and `post_logout_redirect_uri`
/// (registered for that client, exact match; for a client that registered itself, only
/// followed with an `id_token_hint`).
pub async fn validate(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    issuer: &str,
    params: &Params,
) -> Result<LogoutRequest, OAuthError> {
    params.reject_duplicates()?;
    let mut hint_sid = None;
    let mut hint_client = None;
    if let Some(hint) = params.get("id_token_hint") {
        let bad = || {
            OAuthError::invalid_request("id_token_hint is not an ID token issued by this provider.")
        };
        if hint.len() > 8192 {
            return Err(bad());
        }
        let (payload, _) = keys.verifiers().verify(hint).map_err(|_| bad())?;
        let claims = payload.claims_set();
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(bad());
        }
        hint_client = Some(
            claims
                .get("aud")
                .and_then(|a| a.as_str().or_else(|| a.get(0).and_then(Value::as_str)))
                .ok_or_else(bad)?
                .to_owned(),
        );
        hint_sid = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
    }
    let client_id = match (params.get("client_id"), hint_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(OAuthError::invalid_request(
                "client_id does not match the audience of id_token_hint.",
            ))
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    let client = match client_id {
        None => None,
        Some(id) => match store::clients::get(db, &id).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound) => {
                return Err(OAuthError::invalid_request(
                    "The application is not registered with this provider.",
                ))
            }
            Err(e) => return Err(e.into()),
        },
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = client.as_ref().ok_or_else(|| {
                OAuthError::invalid_request(
                    "post_logout_redirect_uri needs client_id or id_token_hint to identify the application.",
                )
            })?;
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri is not registered for this application.",
                ));
            }
            let mut url = Url::parse(uri).map_err(|_| {
                OAuthError::invalid_request("post_logout_redirect_uri is not a URL.")
            })?;
            if let Some(state) = params.get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            // An app that registered itself chose its URIs with nobody vetting them: without
            // an ID token it was issued, a link naming it would make this an open redirector
            // (RP-Initiated Logout 1.0 section 3). The person is signed out and stays here.
            let vouched = !client.self_registered() || hint_client.is_some();
            vouched.then(|| url.to_string())
        }
    };
    Ok(LogoutRequest {
        client,
        redirect,
        hint_sid,
    })
}
