//! Client authentication (RFC 6749 section 2.3, OIDC Core 9) at every endpoint that
//! authenticates clients: client_secret_basic, client_secret_post, a client assertion
//! (client_secret_jwt, private_key_jwt; see [`super::client_assertion`]), or none for public
//! clients. A client must use the method it was registered with. Unknown clients and wrong
//! secrets get the same answer.

use sea_orm::ConnectionTrait;

use super::client_assertion::{self, Refusal, Verifier};
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
    /// `client_assertion_type` and `client_assertion` (RFC 7521 section 4.2).
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
    /// What checks assertions; `None` when they are not accepted (`client_auth.jwt` off).
    pub verifier: Option<Verifier>,
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
        match (&self.basic, &self.client_secret, &self.assertion) {
            (Some(_), _, _) => AuthMethod::ClientSecretBasic.as_str(),
            (None, Some(_), _) => AuthMethod::ClientSecretPost.as_str(),
            (None, None, Some(_)) => "client_assertion",
            (None, None, None) => AuthMethod::None.as_str(),
        }
    }

    /// The client id the request claims, however it was sent (for an assertion without
    /// `client_id`, the assertion's unverified `sub`: the limits need a name before the
    /// signature is checked).
    pub fn claimed_id(&self) -> Option<String> {
        self.basic
            .as_ref()
            .map(|(id, _)| id.clone())
            .or(self.client_id.clone())
            .or_else(|| {
                self.assertion
                    .as_deref()
                    .and_then(|a| client_assertion::claimed_client(a).ok())
            })
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

/// `token_endpoint_auth_methods_supported`: every method, or those without assertions when
/// `jwt` (`client_auth.jwt`) is off.
pub fn methods(jwt: bool) -> Vec<AuthMethod> {
    AuthMethod::ALL
        .into_iter()
        .filter(|m| jwt || !m.uses_assertion())
        .collect()
}

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
        AuthMethod::ClientSecretJwt => {
            "send client_assertion_type and a client_assertion signed with HS256 and its secret"
        }
        AuthMethod::PrivateKeyJwt => {
            "send client_assertion_type and a client_assertion signed with one of its keys"
        }
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
    let several = || {
        mistaken(OAuthError::invalid_request(
            "Use one client authentication method, not several.",
        ))
    };
    if creds.client_secret.is_some() && creds.basic.is_some() {
        return Err(several());
    }
    if let Some(assertion) = &creds.assertion {
        if creds.client_secret.is_some() || creds.basic.is_some() {
            return Err(several());
        }
        return check_assertion(db, hasher, creds, assertion).await;
    }
    if creds.assertion_type.is_some() {
        return Err(mistaken(OAuthError::invalid_request(
            "client_assertion_type was sent without a client_assertion.",
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

    let Some(client) = find(db, creds, client_id).await? else {
        // Spend the same work as a real check, so timing does not reveal which ids exist.
        if let Some(secret) = secret {
            let _ = hasher.verify(secret, "");
        }
        return Err(failed());
    };

    if client.is_public() && secret.is_some() {
        return Err(mistaken(OAuthError::invalid_client(PUBLIC_WITH_SECRET)));
    }
    registered_for(&client, method)?;
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

/// A client must use the method it was registered for.
fn registered_for(client: &Client, method: AuthMethod) -> Result<(), (Outcome, OAuthError)> {
    if client.token_endpoint_auth_method == method
        || (method.uses_assertion() && client.token_endpoint_auth_method.uses_assertion())
    {
        return Ok(());
    }
    Err((
        Outcome::Mistaken,
        OAuthError::invalid_client(format!(
            "This client is registered for {}: {}, not with {}.",
            client.token_endpoint_auth_method.as_str(),
            how_to_authenticate(client.token_endpoint_auth_method),
            if method.uses_assertion() {
                "a client assertion"
            } else {
                method.as_str()
            },
        )),
    ))
}

/// The client, held back by the limits when there are any; `None` when there is no such
/// client.
async fn find(
    db: &impl ConnectionTrait,
    creds: &Credentials,
    client_id: &str,
) -> Result<Option<Client>, (Outcome, OAuthError)> {
    let store_error = |e: StoreError| (Outcome::Mistaken, OAuthError::from(e));
    if creds.limits.is_empty() {
        return match store::clients::get(db, client_id).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(store_error(e)),
        };
    }
    let rules: Vec<(&str, i64, i64)> = creds.limits.iter().map(Rule::parts).collect();
    let throttled = || (Outcome::Throttled, OAuthError::invalid_client(THROTTLED));
    match store::clients::get_with_limits(db, client_id, &rules, creds.now)
        .await
        .map_err(store_error)?
    {
        Some((_, true)) => Err(throttled()),
        Some((client, false)) => Ok(Some(client)),
        None => match abuse::check(db, &creds.limits, creds.now)
            .await
            .map_err(store_error)?
        {
            abuse::Verdict::Refused(_) => Err(throttled()),
            abuse::Verdict::Allowed => Ok(None),
        },
    }
}

/// `client_secret_jwt` and `private_key_jwt`: the assertion names the client and proves it.
async fn check_assertion(
    db: &impl ConnectionTrait,
    hasher: &KeyedHasher,
    creds: &Credentials,
    assertion: &str,
) -> Result<Client, (Outcome, OAuthError)> {
    let mistaken = |text: String| (Outcome::Mistaken, OAuthError::invalid_client(text));
    let Some(verifier) = &creds.verifier else {
        return Err(mistaken(
            "This server does not accept client assertions (private_key_jwt, \
             client_secret_jwt)."
                .into(),
        ));
    };
    if creds.assertion_type.as_deref() != Some(client_assertion::ASSERTION_TYPE) {
        return Err((
            Outcome::Mistaken,
            OAuthError::invalid_request(format!(
                "client_assertion_type must be {}.",
                client_assertion::ASSERTION_TYPE
            )),
        ));
    }
    let client_id =
        client_assertion::claimed_client(assertion).map_err(|e| mistaken(e.to_string()))?;
    if creds.client_id.as_deref().is_some_and(|id| id != client_id) {
        return Err((Outcome::Failed, failed()));
    }
    let Some(client) = find(db, creds, &client_id).await? else {
        return Err((Outcome::Failed, failed()));
    };
    registered_for(&client, AuthMethod::PrivateKeyJwt)?;
    match client_assertion::verify(db, hasher, verifier, &client, assertion, creds.now).await {
        Ok(()) => Ok(client),
        Err(e @ (Refusal::Forged | Refusal::Replayed)) => {
            Err((Outcome::Failed, OAuthError::invalid_client(e.to_string())))
        }
        Err(Refusal::Store(e)) => Err((Outcome::Mistaken, OAuthError::from(e))),
        Err(e) => Err(mistaken(e.to_string())),
    }
}
