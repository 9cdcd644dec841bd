//! Client assertions (RFC 7523 sections 2.2 and 3, RFC 7521 section 4.2, OIDC Core 9): a
//! client authenticates with a JWT signed by one of its private keys (`private_key_jwt`) or
//! with its secret (`client_secret_jwt`).
//!
//! The assertion must say `iss` = `sub` = the client id, name this server (the issuer, the
//! token endpoint or the endpoint it was sent to) in `aud`, carry an `exp` that has not passed
//! and is not further away than `client_auth.assertion_max_lifetime`, and a `jti` that was
//! never accepted before (in the database, so across instances).

use std::sync::Arc;

use josekit::jws::JwsVerifier;
use josekit::jwt;
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

/// A JWT's claims, read as plain JSON (so that a claim of the wrong type is named).
pub(super) type Claims = Map<String, Value>;

use super::client_keys::{JwksCache, KeysError};
use crate::clock::UnixTime;
use crate::crypto::KeyedHasher;
use crate::keys::KeyCache;
use crate::store::clients::{AuthMethod, Client};
use crate::store::{self, StoreError};

/// `client_assertion_type` (RFC 7523 section 2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The signing algorithms accepted for `private_key_jwt`.
pub const KEY_ALGS: [&str; 3] = ["RS256", "PS256", "ES256"];
/// The signing algorithm accepted for `client_secret_jwt`.
pub const SECRET_ALGS: [&str; 1] = ["HS256"];

/// The longest assertion read, in bytes.
const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// The longest `jti` kept.
const MAX_JTI_LEN: usize = 256;
/// Clock difference allowed between client and server for `nbf` and `iat`.
const LEEWAY: i64 = 60;

/// What checking an assertion needs from the server.
#[derive(Clone)]
pub struct Verifier {
    /// The audiences accepted: the issuer, the token endpoint and the endpoint the assertion
    /// was sent to.
    pub audiences: Vec<String>,
    pub max_lifetime: i64,
    pub jwks: Arc<JwksCache>,
    /// Holds the key-encryption key that unwraps `client_secret_jwt` secrets.
    pub keys: Arc<KeyCache>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

/// Why an assertion was refused. `Forged` counts against the failure limits; the others are
/// mistakes of a client that holds its key.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Malformed(String),
    #[error("The client assertion's signature does not verify with the client's keys.")]
    Forged,
    #[error("{0}")]
    Claims(String),
    #[error("This client assertion was used before; sign a new one with a fresh jti.")]
    Replayed,
    #[error("{0}")]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The client id an assertion claims (its `sub`, which must equal `iss`), read before the
/// signature is checked, to find the client whose keys check it.
pub fn claimed_client(assertion: &str) -> Result<String, Refusal> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(Refusal::Malformed(format!(
            "The client assertion is longer than {MAX_ASSERTION_LEN} bytes."
        )));
    }
    let payload = assertion
        .split('.')
        .nth(1)
        .filter(|_| assertion.split('.').count() == 3)
        .ok_or_else(|| Refusal::Malformed("The client assertion is not a signed JWT.".into()))?;
    let bytes = crate::crypto::b64url_decode(payload).ok_or_else(|| {
        Refusal::Malformed("The client assertion's payload is not base64url.".into())
    })?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| Refusal::Malformed("The client assertion's payload is not JSON.".into()))?;
    claims
        .get("sub")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Refusal::Malformed("The client assertion has no sub (the client id).".into())
        })
}

/// Checks `assertion` for `client`: signature, claims, and that its `jti` is new (recorded
/// in `db` until the assertion expires).
pub async fn verify(
    db: &impl ConnectionTrait,
    hasher: &KeyedHasher,
    verifier: &Verifier,
    client: &Client,
    assertion: &str,
    now: UnixTime,
) -> Result<(), Refusal> {
    let header = Header::read(assertion)
        .ok_or_else(|| Refusal::Malformed("The client assertion's header is not valid.".into()))?;
    let alg = header.alg.as_str();
    let payload = match client.token_endpoint_auth_method {
        AuthMethod::PrivateKeyJwt => {
            if !KEY_ALGS.contains(&alg) {
                return Err(Refusal::Malformed(format!(
                    "A private_key_jwt assertion must be signed with {}, not `{alg}`.",
                    KEY_ALGS.join(", ")
                )));
            }
            signed_by_keys(verifier, client, assertion, alg, header.kid.as_deref()).await?
        }
        AuthMethod::ClientSecretJwt => {
            if !SECRET_ALGS.contains(&alg) {
                return Err(Refusal::Malformed(format!(
                    "A client_secret_jwt assertion must be signed with {}, not `{alg}`.",
                    SECRET_ALGS.join(", ")
                )));
            }
            signed_with_secret(verifier, client, assertion, now)?
        }
        _ => {
            return Err(Refusal::Claims(
                "This client does not authenticate with a client assertion.".into(),
            ))
        }
    };
    let exp = check_claims(verifier, client, &payload, now)?;
    let jti = payload
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or_else(|| {
            Refusal::Claims(format!(
                "The client assertion needs a jti of 1 to {MAX_JTI_LEN} characters."
            ))
        })?;
    let jti_hash = hasher.hash(&format!("{}\u{0}{jti}", client.client_id));
    if !store::assertions::first_use(db, jti_hash, exp).await? {
        return Err(Refusal::Replayed);
    }
    Ok(())
}

/// A JWT's protected header: what picks the key that checks it.
pub(super) struct Header {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

impl Header {
    pub(super) fn read(token: &str) -> Option<Self> {
        let header = jwt::decode_header(token).ok()?;
        let text = |name: &str| {
            header
                .claim(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Some(Self {
            alg: text("alg").unwrap_or_default(),
            kid: text("kid"),
            typ: text("typ"),
        })
    }
}

/// The claims of `token` when it is signed with `alg` (one of [`KEY_ALGS`]) by one of the
/// client's keys (inline, or fetched from its `jwks_uri`).
pub(super) async fn signed_by_keys(
    verifier: &Verifier,
    client: &Client,
    assertion: &str,
    alg: &str,
    kid: Option<&str>,
) -> Result<Claims, Refusal> {
    let keys = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => Arc::new(
            super::client_keys::stored_set(jwks)
                .map_err(|why| Refusal::Keys(KeysError::Invalid(why)))?,
        ),
        (None, Some(uri)) => verifier.jwks.keys(uri, kid).await?,
        (None, None) => {
            return Err(Refusal::Claims(
                "This client has no keys registered (jwks or jwks_uri).".into(),
            ))
        }
    };
    let candidates = keys.iter().filter(|k| {
        kid.is_none_or(|kid| k.key_id() == Some(kid))
            && k.algorithm().is_none_or(|a| a == alg)
            && match alg {
                "ES256" => k.key_type() == "EC",
                _ => k.key_type() == "RSA",
            }
    });
    let mut any = false;
    for key in candidates {
        any = true;
        let verified = match alg {
            "RS256" => josekit::jws::RS256
                .verifier_from_jwk(key)
                .ok()
                .and_then(|v| decode(assertion, &v)),
            "PS256" => josekit::jws::PS256
                .verifier_from_jwk(key)
                .ok()
                .and_then(|v| decode(assertion, &v)),
            _ => josekit::jws::ES256
                .verifier_from_jwk(key)
                .ok()
                .and_then(|v| decode(assertion, &v)),
        };
        if let Some(payload) = verified {
            return Ok(payload);
        }
    }
    if !any {
        return Err(Refusal::Claims(match kid {
            Some(kid) => format!("The client has no {alg} key with kid `{kid}`."),
            None => format!("The client has no key for {alg}."),
        }));
    }
    Err(Refusal::Forged)
}

/// The claims of `token` when it is signed with HS256 by the client's secret (or, during a
/// rotation's overlap, the one it replaced).
pub(super) fn signed_with_secret(
    verifier: &Verifier,
    client: &Client,
    assertion: &str,
    now: UnixTime,
) -> Result<Claims, Refusal> {
    let kek = verifier.keys.kek();
    let previous = client
        .previous_secret
        .as_ref()
        .filter(|(_, until)| now < *until)
        .and(client.previous_secret_wrapped.as_ref());
    for wrapped in client.secret_wrapped.iter().chain(previous) {
        let Ok(secret) = kek.unwrap(wrapped) else {
            tracing::error!(client_id = %client.client_id, "a client secret does not unwrap with this key-encryption key");
            continue;
        };
        let verified = josekit::jws::HS256
            .verifier_from_bytes(&secret)
            .ok()
            .and_then(|v| decode(assertion, &v));
        if let Some(payload) = verified {
            return Ok(payload);
        }
    }
    Err(Refusal::Forged)
}

/// The claims, when the signature verifies with `verifier`. A payload that verifies but is
/// not a JSON object is treated as not verifying.
fn decode(assertion: &str, verifier: &dyn JwsVerifier) -> Option<Claims> {
    let (payload, _) = josekit::jws::deserialize_compact(assertion, verifier).ok()?;
    serde_json::from_slice(&payload).ok()
}

/// `iss`, `sub`, `aud`, `exp`, `nbf` and `iat`; returns `exp`.
fn check_claims(
    verifier: &Verifier,
    client: &Client,
    payload: &Claims,
    now: UnixTime,
) -> Result<UnixTime, Refusal> {
    let claims = |text: String| Err(Refusal::Claims(text));
    let id = client.client_id.as_str();
    let text = |name: &str| payload.get(name).and_then(Value::as_str);
    if text("iss") != Some(id) || text("sub") != Some(id) {
        return claims(format!(
            "The client assertion's iss and sub must both be the client id `{id}`."
        ));
    }
    // RFC 7519 4.1.3: a string or an array of strings.
    let audiences: Vec<&str> = match payload.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences
        .iter()
        .any(|a| verifier.audiences.iter().any(|ours| ours == a))
    {
        return claims(format!(
            "The client assertion's aud must name this server: {}.",
            verifier.audiences.join(" or ")
        ));
    }
    let time = |name: &str| -> Result<Option<i64>, Refusal> {
        match payload.get(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                Refusal::Claims(format!(
                    "The client assertion's {name} must be a number of seconds."
                ))
            }),
        }
    };
    let Some(exp) = time("exp")? else {
        return claims("The client assertion needs an exp.".into());
    };
    if exp <= now {
        return claims("The client assertion has expired.".into());
    }
    if exp > now + verifier.max_lifetime {
        return claims(format!(
            "The client assertion's exp is too far ahead: at most {} seconds from now.",
            verifier.max_lifetime
        ));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + LEEWAY) {
        return claims("The client assertion is not valid yet (nbf).".into());
    }
    if time("iat")?.is_some_and(|iat| iat > now + LEEWAY) {
        return claims("The client assertion was issued in the future (iat).".into());
    }
    Ok(exp)
}
