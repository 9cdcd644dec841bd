//! Request objects (RFC 9101, OIDC Core 6.1): an authorization request sent as a JWT signed
//! by the client, in the `request` parameter, at the authorization endpoint or pushed
//! (RFC 9126).
//!
//! Its signature is checked with the client's keys (`private_key_jwt` clients: RS256, PS256,
//! ES256) or its secret (`client_secret_jwt` clients: HS256). `alg: none` is never accepted.
//! Its `aud` must name the issuer; `iss`, when present, must be the client id, and so must
//! `client_id`; `exp`, when present, must not have passed and may be at most an hour away;
//! `nbf` and `iat` may not be in the future. Only the parameters inside it are used
//! (RFC 9101 section 5): those sent beside it are ignored but `client_id`.

use serde_json::Value;

use super::client_assertion::{self, Claims, Header, Refusal, Verifier};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::clock::UnixTime;
use crate::store::clients::{AuthMethod, Client};

/// `request_object_signing_alg_values_supported`.
pub const ALGS: [&str; 4] = ["RS256", "PS256", "ES256", "HS256"];

/// The `typ` RFC 9101 section 4 gives request objects; `JWT` (or none) is accepted too.
pub const TYP: &str = "oauth-authz-req+jwt";

/// The longest request object read, in bytes.
pub const MAX_LEN: usize = 16 * 1024;

/// The furthest `exp` accepted (FAPI's bound).
const MAX_LIFETIME: i64 = 3600;
/// Clock difference allowed for `nbf` and `iat`.
const LEEWAY: i64 = 60;

/// JWT claims that describe the object itself, not the request.
const ENVELOPE: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

fn invalid(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, description)
}

/// Checks `request` for `client` and returns the authorization request's parameters it
/// carries.
pub async fn open(
    verifier: &Verifier,
    client: &Client,
    request: &str,
    issuer: &str,
    now: UnixTime,
) -> Result<Params, OAuthError> {
    if request.len() > MAX_LEN {
        return Err(invalid(format!(
            "The request object is longer than {MAX_LEN} bytes."
        )));
    }
    let header = Header::read(request)
        .filter(|_| request.split('.').count() == 3)
        .ok_or_else(|| invalid("The request object is not a signed JWT."))?;
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case(TYP) && !t.eq_ignore_ascii_case("JWT"))
    {
        return Err(invalid(format!(
            "The request object's typ must be {TYP} (or JWT)."
        )));
    }
    let alg = header.alg.as_str();
    let claims = match alg {
        "HS256" if client.token_endpoint_auth_method == AuthMethod::ClientSecretJwt => {
            client_assertion::signed_with_secret(verifier, client, request, now)
        }
        "HS256" => {
            return Err(invalid(
                "Only client_secret_jwt clients may sign request objects with HS256.",
            ))
        }
        _ if client_assertion::KEY_ALGS.contains(&alg) => {
            client_assertion::signed_by_keys(verifier, client, request, alg, header.kid.as_deref())
                .await
        }
        _ => {
            return Err(invalid(format!(
                "Request objects must be signed with {}, not `{alg}`.",
                ALGS.join(", ")
            )))
        }
    }
    .map_err(|refusal| match refusal {
        Refusal::Forged => invalid("The request object's signature does not verify."),
        Refusal::Store(e) => e.into(),
        other => invalid(other.to_string()),
    })?;
    check_claims(&claims, &client.client_id, issuer, now)?;
    to_params(claims)
}

fn check_claims(
    claims: &Claims,
    client_id: &str,
    issuer: &str,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let text = |name: &str| claims.get(name).map(|v| v.as_str());
    for name in ["iss", "client_id"] {
        match text(name) {
            None => {}
            Some(Some(id)) if id == client_id => {}
            Some(_) => {
                return Err(invalid(format!(
                    "The request object's {name} must be the client id `{client_id}`."
                )))
            }
        }
    }
    let names_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !names_us {
        return Err(invalid(format!(
            "The request object's aud must name this server: {issuer}."
        )));
    }
    let time = |name: &str| -> Result<Option<i64>, OAuthError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                invalid(format!(
                    "The request object's {name} must be a number of seconds."
                ))
            }),
        }
    };
    if let Some(exp) = time("exp")? {
        if exp <= now {
            return Err(invalid("The request object has expired."));
        }
        if exp > now + MAX_LIFETIME {
            return Err(invalid(format!(
                "The request object's exp is too far ahead: at most {MAX_LIFETIME} seconds from now."
            )));
        }
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + LEEWAY) {
        return Err(invalid("The request object is not valid yet (nbf)."));
    }
    if time("iat")?.is_some_and(|iat| iat > now + LEEWAY) {
        return Err(invalid(
            "The request object was issued in the future (iat).",
        ));
    }
    Ok(())
}

/// The request's parameters as they would have come in a query string: strings as they are,
/// numbers and booleans as text, objects (`claims`) as JSON text, arrays as the parameter
/// repeated.
fn to_params(claims: Claims) -> Result<Params, OAuthError> {
    let mut pairs = Vec::with_capacity(claims.len());
    for (name, value) in claims {
        if ENVELOPE.contains(&name.as_str()) {
            continue;
        }
        if name == "request" || name == "request_uri" {
            return Err(invalid(format!("A request object cannot carry `{name}`.")));
        }
        let mut push = |value: Value| -> Result<(), OAuthError> {
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Object(_) => value.to_string(),
                Value::Null => return Ok(()),
                Value::Array(_) => {
                    return Err(invalid(format!(
                        "The request object's `{name}` nests arrays."
                    )))
                }
            };
            pairs.push((name.clone(), text));
            Ok(())
        };
        match value {
            Value::Array(items) => items.into_iter().try_for_each(&mut push)?,
            other => push(other)?,
        }
    }
    Ok(Params::from_pairs(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn parameters_come_out_as_a_query_string_would_carry_them() {
        let params = to_params(claims(json!({
            "iss": "c", "aud": "https://op", "exp": 5, "jti": "x",
            "client_id": "c", "max_age": 30, "claims": {"id_token": {"acr": null}},
            "resource": ["https://a", "https://b"], "ui_locales": null, "prompt": ["x", "y"]
        })))
        .unwrap();
        assert_eq!(params.get("client_id"), Some("c"));
        assert_eq!(params.get("max_age"), Some("30"));
        assert_eq!(params.get("claims"), Some(r#"{"id_token":{"acr":null}}"#));
        assert_eq!(
            params.all("resource").collect::<Vec<_>>(),
            ["https://a", "https://b"]
        );
        assert_eq!(params.first_duplicate(), Some("prompt"));
        assert_eq!(params.get("iss"), None);
        assert_eq!(params.get("ui_locales"), None);
        assert!(to_params(claims(json!({"request_uri": "urn:x"}))).is_err());
        assert!(to_params(claims(json!({"scope": [["a"]]}))).is_err());
    }

    #[test]
    fn claims_are_held_to_the_client_and_this_server() {
        let ok = |v: Value| check_claims(&claims(v), "c", "https://op", 1000);
        assert!(ok(json!({"aud": "https://op"})).is_ok());
        assert!(ok(
            json!({"aud": ["x", "https://op"], "iss": "c", "client_id": "c",
                          "exp": 1100, "nbf": 1000, "iat": 1000})
        )
        .is_ok());
        for bad in [
            json!({}),
            json!({"aud": "https://other"}),
            json!({"aud": "https://op", "iss": "d"}),
            json!({"aud": "https://op", "client_id": "d"}),
            json!({"aud": "https://op", "exp": 1000}),
            json!({"aud": "https://op", "exp": 1000 + MAX_LIFETIME + 1}),
            json!({"aud": "https://op", "exp": "1100"}),
            json!({"aud": "https://op", "nbf": 1000 + LEEWAY + 1}),
            json!({"aud": "https://op", "iat": 1000 + LEEWAY + 1}),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad}");
        }
    }
}
