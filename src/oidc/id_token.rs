//! ID Tokens (OIDC Core 2, 3.1.3.6, 12.2).

use josekit::jwt::JwtPayload;
use serde_json::{json, Map, Value};

use crate::clock::UnixTime;
use crate::crypto;
use crate::keys::Signer;
use crate::oauth::error::OAuthError;

pub struct IdTokenClaims<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: UnixTime,
    pub session_id: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// Claims to include when no access token lets the client fetch them from userinfo.
    pub extra: Option<Map<String, Value>>,
}

/// OIDC Core 3.1.3.6: base64url of the left half of SHA-256 of the access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = crypto::sha256(access_token.as_bytes());
    crypto::b64url(digest.get(..16).unwrap_or_default())
}

pub fn issue(
    signer: &Signer,
    c: &IdTokenClaims<'_>,
    now: UnixTime,
    lifetime: i64,
) -> Result<String, OAuthError> {
    let mut p = JwtPayload::new();
    let mut set = |name: &str, value: Value| p.set_claim(name, Some(value));
    if let Some(extra) = &c.extra {
        for (k, v) in extra {
            set(k, v.clone())?;
        }
    }
    set("iss", json!(c.issuer))?;
    set("sub", json!(c.subject))?;
    set("aud", json!(c.client_id))?;
    set("azp", json!(c.client_id))?;
    set("iat", json!(now))?;
    set("exp", json!(now + lifetime))?;
    set("auth_time", json!(c.auth_time))?;
    if let Some(nonce) = c.nonce {
        set("nonce", json!(nonce))?;
    }
    if let Some(sid) = c.session_id {
        set("sid", json!(sid))?;
    }
    if let Some(at) = c.access_token {
        set("at_hash", json!(at_hash(at)))?;
    }
    Ok(signer.sign("JWT", &p)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3: the access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
