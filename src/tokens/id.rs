//! ID Tokens (OIDC Core 2, 3.1.3.6, 12.2).

use crate::clock::UnixTime;
use crate::crypto;
use crate::keys::Signer;

pub struct IdTokenClaims<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: UnixTime,
    pub session_id: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The authentication context class reached, and the methods used (RFC 8176).
    pub acr: &'a str,
    pub amr: &'a [&'a str],
    /// Claims about the user asked for in the ID token (the `claims` parameter), already
    /// limited to what the granted scopes release.
    pub extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// The claims of an ID Token, in the order they are written.
#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    iat: UnixTime,
    exp: UnixTime,
    auth_time: UnixTime,
    acr: &'a str,
    amr: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
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
) -> Result<String, super::IssueError> {
    let claims = Claims {
        iss: c.issuer,
        sub: c.subject,
        aud: c.client_id,
        azp: c.client_id,
        iat: now,
        exp: now + lifetime,
        auth_time: c.auth_time,
        acr: c.acr,
        amr: c.amr,
        nonce: c.nonce,
        sid: c.session_id,
        at_hash: c.access_token.map(at_hash),
        extra: c.extra,
    };
    Ok(signer.sign("JWT", &claims)?)
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
