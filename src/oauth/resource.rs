//! Resource indicators (RFC 8707): a client names the APIs it wants a token for with
//! `resource`, at the authorization, device authorization and token endpoints. Each must be a
//! registered resource the client is allowed; the access token's `aud` is then those
//! resources (the issuer itself when none is named), and its scopes those of the grant that
//! the resources accept.
//!
//! The resources asked for at the authorization (or device authorization) endpoint are kept
//! with the code and the grant. At the token endpoint a client may name some of them to get
//! a token for just those (RFC 8707 section 2.2); naming none gets a token for all of them.

use sea_orm::ConnectionTrait;

use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::store::clients::Client;
use crate::store::resources::{self, Resource};

/// The longest resource identifier accepted.
pub const MAX_LEN: usize = 512;
/// The most resources one request may name.
pub const MAX_PER_REQUEST: usize = 10;

fn invalid_target(text: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, text)
}

/// RFC 8707 section 2: an absolute URI without a fragment (and, here, at most [`MAX_LEN`]
/// long, and only of the characters RFC 3986 allows in a URI: no whitespace, no control
/// characters, none of `"<>\^`{|}`).
pub fn is_identifier(value: &str) -> bool {
    value.len() <= MAX_LEN
        && !value.contains('#')
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b))
        && url::Url::parse(value).is_ok_and(|url| !url.cannot_be_a_base() || url.scheme() == "urn")
}

/// The `resource` parameters of a request, each checked for form, duplicates dropped.
pub fn requested(params: &Params) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for value in params.all("resource") {
        if !is_identifier(value) {
            return Err(invalid_target(
                "Each resource must be an absolute URI without a fragment (RFC 8707).",
            ));
        }
        if !out.iter().any(|r| r == value) {
            out.push(value.to_owned());
        }
    }
    if out.len() > MAX_PER_REQUEST {
        return Err(invalid_target(format!(
            "At most {MAX_PER_REQUEST} resources can be asked for at once."
        )));
    }
    Ok(out)
}

/// The registered resources `client` names in `requested`, each of which it must be allowed.
pub async fn allowed(
    db: &impl ConnectionTrait,
    client: &Client,
    requested: &[String],
) -> Result<Vec<Resource>, OAuthError> {
    if let Some(other) = requested.iter().find(|r| !client.resources.contains(r)) {
        return Err(invalid_target(format!(
            "This client may not ask for tokens for the resource `{other}`."
        )));
    }
    let found = resources::find_many(db, requested).await?;
    if let Some(unknown) = requested
        .iter()
        .find(|r| !found.iter().any(|f| &f.identifier == *r))
    {
        return Err(invalid_target(format!(
            "The resource `{unknown}` is not registered here."
        )));
    }
    Ok(found)
}

/// What an access token is issued for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The token's `aud`: empty for the issuer itself.
    pub audience: Vec<String>,
    /// The token's scopes.
    pub scopes: Vec<String>,
}

/// Where the resources a token request may name come from.
pub enum Granted<'a> {
    /// Those kept with the grant (asked for at the authorization or device authorization
    /// endpoint); naming none gets a token for all of them.
    Grant(&'a [String]),
    /// The client credentials grant: any the client is allowed; naming none gets a token
    /// for the issuer.
    Client,
}

/// The access token a token request gets: for the resources it names, or those of
/// [`Granted`] when it names none. Its scopes are those of `scopes` that one of the
/// resources accepts (`invalid_scope` when there are none). Without any resource, the token
/// is for the issuer with all of `scopes`, as before resource indicators.
pub async fn target(
    db: &impl ConnectionTrait,
    client: &Client,
    params: &Params,
    granted: Granted<'_>,
    scopes: &[String],
) -> Result<Target, OAuthError> {
    let mut audience = requested(params)?;
    if let Granted::Grant(granted) = granted {
        if let Some(other) = audience.iter().find(|r| !granted.contains(r)) {
            return Err(invalid_target(format!(
                "The resource `{other}` was not part of the authorization request."
            )));
        }
        if audience.is_empty() {
            audience = granted.to_vec();
        }
    }
    if audience.is_empty() {
        return Ok(Target {
            audience,
            scopes: scopes.to_vec(),
        });
    }
    let found = allowed(db, client, &audience).await?;
    let narrowed: Vec<String> = scopes
        .iter()
        .filter(|s| found.iter().any(|r| r.scopes.contains(s)))
        .cloned()
        .collect();
    // A token that can do nothing at the resource is no answer.
    if narrowed.is_empty() && !scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "None of the scopes of this request is one the resources named accept.",
        ));
    }
    Ok(Target {
        audience,
        scopes: narrowed,
    })
}

/// The identifiers as stored with codes and grants (a JSON array).
pub fn to_stored(identifiers: &[String]) -> String {
    serde_json::Value::from(identifiers.to_vec()).to_string()
}

/// The identifiers stored with a code or grant.
pub fn from_stored(text: &str) -> Result<Vec<String>, OAuthError> {
    crate::store::from_json_list("resources", text).map_err(OAuthError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_absolute_uris_without_fragments() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/v1/",
            "http://localhost:8080/mcp",
            "urn:example:files",
        ] {
            assert!(is_identifier(good), "{good}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_LEN));
        for bad in [
            "",
            "api.example.com",
            "/relative",
            "https://api.example.com/#frag",
            "https://api.example.com/ x",
            "https://api.example.com/\"quoted\"",
            "https://api.example.com/back\\slash",
            "mailto:x@example.com",
            long.as_str(),
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn requested_resources_are_checked_and_deduplicated() {
        let p = Params::parse(b"resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fa.example&resource=urn%3Ax%3Ay");
        assert_eq!(requested(&p).unwrap(), ["https://a.example", "urn:x:y"]);
        let bad = Params::parse(b"resource=https%3A%2F%2Fa.example%23f");
        assert_eq!(requested(&bad).unwrap_err().code, ErrorCode::InvalidTarget);
        let many = (0..=MAX_PER_REQUEST)
            .map(|n| format!("resource=https%3A%2F%2F{n}.example"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(requested(&Params::parse(many.as_bytes())).is_err());
    }
}
