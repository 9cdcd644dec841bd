//! Client authentication at the token endpoint (RFC 6749 section 2.3): client_secret_basic,
//! client_secret_post, or none for public clients. A client must use the method it was
//! registered with. Unknown clients and wrong secrets get the same answer.

use sea_orm::ConnectionTrait;

use super::error::OAuthError;
use crate::abuse::{self, Rule};
use crate::clock::UnixTime;
use crate::crypto::KeyedHasher;
use crate::store::clients::{AuthMethod, Client};
use crate::store::{self, StoreError};

/// What the client presented. `basic` comes from the Authorization header (already
/// form-decoded); the others from the body.
#[derive(Default)]
pub struct Credentials {
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The failure limits that hold this request back (the claimed client id, the client
    /// IP), checked in the same query that reads the client.
    pub limits: Vec<Rule>,
    /// When the request came (a previous secret is accepted until its overlap ends).
    pub now: UnixTime,
    /// What authentication found, for the caller that counts failures.
    pub outcome: std::sync::OnceLock<Outcome>,
}

/// How a client authentication ended, as the abuse policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Authenticated,
    /// A wrong or missing secret, or an unknown client: counts against the limits.
    Failed,
    /// Refused without counting: a secret sent for a public client proves nothing about
    /// guessing (there is nothing to guess), and a method other than the registered one is
    /// a configuration mistake.
    Mistaken,
    /// Held back by the limits; not counted again.
    Throttled,
}

impl Credentials {
    /// The authentication method the request used, for logs.
    pub fn method_tried(&self) -> &'static str {
        match (&self.basic, &self.client_secret) {
            (Some(_), _) => AuthMethod::ClientSecretBasic.as_str(),
            (None, Some(_)) => AuthMethod::ClientSecretPost.as_str(),
            (None, None) => AuthMethod::None.as_str(),
        }
    }

    /// The client id the request claims, however it was sent.
    pub fn claimed_id(&self) -> Option<&str> {
        self.basic
            .as_ref()
            .map(|(id, _)| id.as_str())
            .or(self.client_id.as_deref())
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("basic", &self.basic.as_ref().map(|(id, _)| id))
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `token_endpoint_auth_methods_supported`.
pub const METHODS: [AuthMethod; 3] = AuthMethod::ALL;

fn failed() -> OAuthError {
    OAuthError::invalid_client("Client authentication failed.")
}

const THROTTLED: &str = "Too many failed authentications for this client; retry later.";

const PUBLIC_WITH_SECRET: &str =
    "This is a public client: it has no secret. Send client_id alone, with no client_secret \
     and no Basic credentials.";

/// What a client registered for `method` must send.
fn how_to_authenticate(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::ClientSecretBasic => {
            "send its client_id and client_secret with HTTP Basic (the Authorization header)"
        }
        AuthMethod::ClientSecretPost => "send client_id and client_secret in the form body",
        AuthMethod::None => "send client_id in the form body and no secret",
    }
}

/// Authenticates the client, returning it with the method it used; `creds.outcome` says
/// how it ended.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    hasher: &KeyedHasher,
    creds: &Credentials,
) -> Result<Client, OAuthError> {
    let result = check(db, hasher, creds).await;
    let outcome = match &result {
        Ok(_) => Outcome::Authenticated,
        Err((outcome, _)) => *outcome,
    };
    // The first authentication of a request is the one that counts.
    let _ = creds.outcome.set(outcome);
    result.map_err(|(_, e)| e)
}

async fn check(
    db: &impl ConnectionTrait,
    hasher: &KeyedHasher,
    creds: &Credentials,
) -> Result<Client, (Outcome, OAuthError)> {
    let failed = || (Outcome::Failed, failed());
    let mistaken = |e: OAuthError| (Outcome::Mistaken, e);
    if creds.client_secret.is_some() && creds.basic.is_some() {
        return Err(mistaken(OAuthError::invalid_request(
            "Use one client authentication method, not several.",
        )));
    }
    let (client_id, secret, method) = match (&creds.basic, &creds.client_secret) {
        (Some((id, secret)), _) => {
            if creds
                .client_id
                .as_deref()
                .is_some_and(|body_id| body_id != id)
            {
                return Err(failed());
            }
            (
                id.as_str(),
                Some(secret.as_str()),
                AuthMethod::ClientSecretBasic,
            )
        }
        (None, Some(secret)) => {
            let id = creds.client_id.as_deref().ok_or_else(|| {
                mistaken(OAuthError::invalid_request(
                    "client_id is required with client_secret.",
                ))
            })?;
            (id, Some(secret.as_str()), AuthMethod::ClientSecretPost)
        }
        (None, None) => {
            let id = creds.client_id.as_deref().ok_or_else(|| {
                mistaken(OAuthError::invalid_client(
                    "No client authentication was included.",
                ))
            })?;
            (id, None, AuthMethod::None)
        }
    };

    let store_error = |e: StoreError| (Outcome::Mistaken, OAuthError::from(e));
    let found = if creds.limits.is_empty() {
        match store::clients::get(db, client_id).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(store_error(e)),
        }
    } else {
        let rules: Vec<(&str, i64, i64)> = creds.limits.iter().map(Rule::parts).collect();
        let throttled = || (Outcome::Throttled, OAuthError::invalid_client(THROTTLED));
        match store::clients::get_with_limits(db, client_id, &rules, creds.now)
            .await
            .map_err(store_error)?
        {
            Some((_, true)) => return Err(throttled()),
            Some((client, false)) => Some(client),
            None => match abuse::check(db, &creds.limits, creds.now)
                .await
                .map_err(store_error)?
            {
                abuse::Verdict::Refused(_) => return Err(throttled()),
                abuse::Verdict::Allowed => None,
            },
        }
    };
    let Some(client) = found else {
        // Spend the same work as a real check, so timing does not reveal which ids exist.
        if let Some(secret) = secret {
            let _ = hasher.verify(secret, "");
        }
        return Err(failed());
    };

    if client.is_public() && secret.is_some() {
        return Err(mistaken(OAuthError::invalid_client(PUBLIC_WITH_SECRET)));
    }
    if client.token_endpoint_auth_method != method {
        return Err(mistaken(OAuthError::invalid_client(format!(
            "This client is registered for {}: {}, not with {}.",
            client.token_endpoint_auth_method.as_str(),
            how_to_authenticate(client.token_endpoint_auth_method),
            method.as_str(),
        ))));
    }
    match (secret, &client.secret_hash) {
        (None, None) => Ok(client),
        (Some(secret), Some(hash)) if hasher.verify(secret, hash) => Ok(client),
        // The secret replaced by a rotation, during the overlap its rotation allowed.
        (Some(secret), Some(_))
            if client
                .previous_secret
                .as_ref()
                .is_some_and(|(hash, until)| creds.now < *until && hasher.verify(secret, hash)) =>
        {
            Ok(client)
        }
        _ => Err(failed()),
    }
}
