//! The `claims` request parameter (OIDC Core 5.5) and the authentication context: `acr`,
//! `amr` and `acr_values` (OIDC Core 2, 3.1.2.1, 5.5.1.1).
//!
//! A client may ask for individual claims in the ID token (`id_token` member) or at userinfo
//! (`userinfo` member). Which claims it gets is still decided by the scopes the person
//! consented to: a requested claim that no granted scope releases is left out, as the
//! consent page never showed it. What the parameter adds is where a claim goes: profile,
//! email, phone and address claims asked for in `id_token` are put in the ID token itself.
//!
//! `acr_values` is a wish: a level the person can reach is asked for (a second factor for
//! someone who has one), else it is answered with the level reached. `acr` asked for as an
//! essential claim must be reached: a session below it is stepped up, and values that name
//! none of our levels are refused with `access_denied` (5.5.1.1: a failed authentication).
//! The levels are `auth_context`'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth_context::{Level, ACR_VALUES};
use super::error::OAuthError;

/// The most claims one member may ask for.
const MAX_CLAIMS: usize = 64;

/// One requested claim (OIDC Core 5.5.1): `null`, or how it is wanted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Wanted {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// The parsed `claims` parameter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id_token: BTreeMap<String, Wanted>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub userinfo: BTreeMap<String, Wanted>,
}

fn malformed(why: &str) -> OAuthError {
    OAuthError::invalid_request(format!("The claims parameter {why}."))
}

impl ClaimsRequest {
    /// Parses the parameter's JSON. Members other than `id_token` and `userinfo` are ignored
    /// (5.5: the OP may ignore what it does not understand).
    pub fn parse(text: &str) -> Result<Self, OAuthError> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| malformed("is not valid JSON"))?;
        let object = value
            .as_object()
            .ok_or_else(|| malformed("must be a JSON object"))?;
        let mut request = Self::default();
        for (name, target) in [
            ("id_token", &mut request.id_token),
            ("userinfo", &mut request.userinfo),
        ] {
            let Some(member) = object.get(name) else {
                continue;
            };
            let member = member
                .as_object()
                .ok_or_else(|| malformed(&format!("member `{name}` must be an object")))?;
            if member.len() > MAX_CLAIMS {
                return Err(malformed(&format!(
                    "member `{name}` asks for more than {MAX_CLAIMS} claims"
                )));
            }
            for (claim, how) in member {
                let wanted = match how {
                    Value::Null => Wanted::default(),
                    Value::Object(_) => serde_json::from_value(how.clone()).map_err(|_| {
                        malformed(&format!(
                            "asks for `{claim}` in a form other than null or an object with \
                             essential (a boolean), value or values (an array)"
                        ))
                    })?,
                    _ => {
                        return Err(malformed(&format!(
                            "asks for `{claim}` with something other than null or an object"
                        )))
                    }
                };
                target.insert(claim.clone(), wanted);
            }
        }
        Ok(request)
    }

    /// The claims asked for in the ID token, beside those every ID token has.
    pub fn id_token_names(&self) -> Vec<String> {
        self.id_token.keys().cloned().collect()
    }
}

/// The level the request demands: `acr` asked for as an essential claim (in either member)
/// must be reached, at the lowest of the levels its values name (any, when it names none).
/// Values naming none of ours cannot be met. `acr_values` alone is voluntary.
pub fn essential_level(claims: Option<&ClaimsRequest>) -> Result<Option<Level>, OAuthError> {
    let Some(claims) = claims else {
        return Ok(None);
    };
    let mut demanded = None;
    for wanted in [claims.id_token.get("acr"), claims.userinfo.get("acr")]
        .into_iter()
        .flatten()
        .filter(|w| w.essential)
    {
        let allowed: Vec<&Value> = wanted
            .value
            .iter()
            .chain(wanted.values.iter().flatten())
            .collect();
        if allowed.is_empty() {
            continue;
        }
        let Some(level) = allowed
            .iter()
            .filter_map(|v| v.as_str().and_then(Level::from_acr))
            .min()
        else {
            return Err(OAuthError::new(
                super::error::ErrorCode::AccessDenied,
                format!(
                    "The essential acr asked for cannot be reached here; this provider supports {}.",
                    ACR_VALUES.join(", ")
                ),
            ));
        };
        demanded = demanded.max(Some(level));
    }
    Ok(demanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_and_malformed_ones_refused() {
        let r = ClaimsRequest::parse(
            r#"{"id_token":{"email":{"essential":true},"name":null},"userinfo":{"phone_number":null},"other":1}"#,
        )
        .unwrap();
        assert_eq!(r.id_token_names(), vec!["email", "name"]);
        assert!(r.id_token["email"].essential);
        assert!(r.userinfo.contains_key("phone_number"));
        for bad in [
            "nope",
            "[]",
            r#"{"id_token":"email"}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":{"essential":"yes"}}}"#,
            r#"{"userinfo":{"acr":{"values":"x"}}}"#,
        ] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_essential_acr_must_name_a_level_of_ours() {
        let ask = |json: &str| essential_level(Some(&ClaimsRequest::parse(json).unwrap()));
        assert!(
            ask(r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:mfa"]}}}"#).is_err()
        );
        assert_eq!(
            ask(r#"{"id_token":{"acr":{"essential":true,"value":"urn:oidcd:acr:password"}}}"#)
                .unwrap(),
            Some(Level::Password)
        );
        assert_eq!(
            ask(
                r#"{"userinfo":{"acr":{"essential":true,"values":["urn:x","urn:oidcd:acr:mfa"]}}}"#
            )
            .unwrap(),
            Some(Level::Mfa)
        );
        assert_eq!(
            ask(r#"{"id_token":{"acr":{"values":["urn:example:mfa"]}}}"#).unwrap(),
            None
        );
        assert_eq!(
            ask(r#"{"id_token":{"acr":{"essential":true}}}"#).unwrap(),
            None
        );
        assert_eq!(essential_level(None).unwrap(), None);
    }
}
