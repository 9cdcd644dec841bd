//! Scopes (RFC 6749 section 3.3), and the claims each releases.

use crate::config::{ClaimKind, ClaimsConfig, ConfigError, CustomClaim};

/// Scopes an OpenID provider understands for users, with what each one lets a client see.
pub const USER_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// OIDC Core 5.4: the claims each scope releases.
pub const PROFILE: [&str; 14] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];
pub const EMAIL: [&str; 2] = ["email", "email_verified"];
pub const PHONE: [&str; 2] = ["phone_number", "phone_number_verified"];
pub const ADDRESS: [&str; 1] = ["address"];

pub fn released_by(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &PROFILE,
        "email" => &EMAIL,
        "phone" => &PHONE,
        "address" => &ADDRESS,
        _ => &[],
    }
}

/// Whether any of `scopes` releases `claim`.
pub fn release(scopes: &[String], claim: &str) -> bool {
    scopes.iter().any(|s| released_by(s).contains(&claim))
}

/// Claim names a declared claim may not take: the standard ones, and those our tokens,
/// introspection and logout tokens already give a meaning.
const RESERVED: [&str; 26] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
    "acr",
    "amr",
    "client_id",
    "scope",
    "cnf",
    "gid",
    "act",
    "may_act",
    "events",
    "typ",
    "active",
    "token_type",
    "username",
];

/// The scope and claim of the built-in `groups` (`claims.groups`).
pub const GROUPS: &str = "groups";

/// The scopes and claims this provider offers users' apps: the standard ones (OIDC Core 5.4)
/// and those the operator declares (`claims.*`), checked once at start-up.
#[derive(Clone, Debug)]
pub struct Catalog {
    declared: Vec<CustomClaim>,
    /// The standard scopes, then the declared claims' new ones.
    user_scopes: Vec<String>,
}

/// The standard scopes and claims alone.
impl Default for Catalog {
    fn default() -> Self {
        Self::of(Vec::new())
    }
}

fn bad_claim(message: String) -> ConfigError {
    ConfigError::invalid(crate::config::named("claims.custom"), message)
}

impl Catalog {
    /// The catalog of `config`, or what is wrong with a declaration.
    pub fn new(config: &ClaimsConfig) -> Result<Self, ConfigError> {
        let mut declared: Vec<CustomClaim> = Vec::new();
        for claim in &config.custom.0 {
            let name = &claim.name;
            let well_formed = (1..=100).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:/-".contains(&b));
            if !well_formed {
                return Err(bad_claim(format!(
                    "`{name}` is not a claim name: 1 to 100 letters, digits, or _ . : / -"
                )));
            }
            let standard = PROFILE
                .iter()
                .chain(&EMAIL)
                .chain(&PHONE)
                .chain(&ADDRESS)
                .chain(&RESERVED)
                .any(|n| n == name);
            if standard {
                return Err(bad_claim(format!(
                    "`{name}` is a standard or reserved claim and cannot be declared"
                )));
            }
            if config.groups && name == GROUPS {
                return Err(bad_claim(
                    "`groups` is built in: set claims.groups to false to declare it yourself"
                        .to_owned(),
                ));
            }
            if declared.iter().any(|d| &d.name == name) {
                return Err(bad_claim(format!("`{name}` is declared twice")));
            }
            if !is_scope_token(&claim.scope)
                || ["openid", "offline_access", ADMIN].contains(&claim.scope.as_str())
            {
                return Err(bad_claim(format!(
                    "`{name}`: `{}` cannot release claims (openid, offline_access and admin \
                     cannot; a scope is letters without spaces or quotes)",
                    claim.scope
                )));
            }
            let description = claim.description.trim();
            if description.is_empty()
                || description.chars().count() > 200
                || description.chars().any(char::is_control)
            {
                return Err(bad_claim(format!(
                    "`{name}`: the description must be 1 to 200 characters on one line"
                )));
            }
            declared.push(CustomClaim {
                description: description.to_owned(),
                ..claim.clone()
            });
        }
        if config.groups {
            declared.push(CustomClaim {
                name: GROUPS.to_owned(),
                kind: ClaimKind::StringArray,
                scope: GROUPS.to_owned(),
                description: "the groups you belong to".to_owned(),
                id_token: true,
                access_token: true,
                userinfo: true,
            });
        }
        Ok(Self::of(declared))
    }

    fn of(declared: Vec<CustomClaim>) -> Self {
        let mut user_scopes: Vec<String> = USER_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        for claim in &declared {
            if !user_scopes.contains(&claim.scope) {
                user_scopes.push(claim.scope.clone());
            }
        }
        Self {
            declared,
            user_scopes,
        }
    }

    /// The claims declared beyond the standard set, `groups` included when it is on.
    pub fn declared(&self) -> &[CustomClaim] {
        &self.declared
    }

    /// The declaration of `name`, if it is a declared claim.
    pub fn claim(&self, name: &str) -> Option<&CustomClaim> {
        self.declared.iter().find(|c| c.name == name)
    }

    /// Every scope a user's app may be granted: the standard ones, then the declared claims'
    /// new scopes.
    pub fn user_scopes(&self) -> &[String] {
        &self.user_scopes
    }

    /// Whether any of `scopes` releases `claim`, standard or declared.
    pub fn releases(&self, scopes: &[String], claim: &str) -> bool {
        release(scopes, claim)
            || self
                .claim(claim)
                .is_some_and(|c| contains(scopes, &c.scope))
    }

    /// The declared claims that `scopes` release.
    pub fn released<'a>(&'a self, scopes: &'a [String]) -> impl Iterator<Item = &'a CustomClaim> {
        self.declared
            .iter()
            .filter(move |c| contains(scopes, &c.scope))
    }

    /// What a scope lets the client do, in words, for the consent pages: the standard words,
    /// and the declared claims it releases in the operator's words.
    pub fn describe(&self, scope: &str) -> String {
        let words: Vec<&str> = self
            .declared
            .iter()
            .filter(|c| c.scope == scope)
            .map(|c| c.description.as_str())
            .collect();
        if words.is_empty() {
            return describe(scope);
        }
        let list = words.join(", ");
        if released_by(scope).is_empty() {
            format!("See {list}")
        } else {
            format!("{}; and {list}", describe(scope))
        }
    }
}

/// A user's value of a declared claim, when it has the declared type: a value set before the
/// declaration changed is left out rather than released as something else.
pub fn declared_value<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    claim: &CustomClaim,
) -> Option<&'a serde_json::Value> {
    claims.get(&claim.name).filter(|v| has_kind(claim.kind, v))
}

/// Whether `value` has the JSON type `kind` names.
pub fn has_kind(kind: ClaimKind, value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match kind {
        ClaimKind::String => value.is_string(),
        ClaimKind::Boolean => value.is_boolean(),
        ClaimKind::Integer => value.is_i64() || value.is_u64(),
        ClaimKind::Number => value.is_number(),
        ClaimKind::StringArray => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        ClaimKind::Object => value.is_object(),
    }
}

/// The scope that lets a client call the admin API.
pub const ADMIN: &str = "admin";

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Parses a `scope` parameter: scope tokens separated by spaces, duplicates dropped, order
/// kept.
pub fn parse(value: &str) -> Result<Vec<String>, super::error::OAuthError> {
    let mut scopes: Vec<String> = Vec::new();
    for token in value.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(super::error::OAuthError::invalid_scope(
                "The scope parameter is malformed.",
            ));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
}

/// A stored, space-separated scope as a list.
pub fn split(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// Checks scopes asked for on a user's behalf (authorization and device requests): each must
/// be allowed for the client, and `admin` never is: it is granted only through the client
/// credentials grant, to the admin client itself, so no user-bound token can carry it.
pub fn check_for_user(
    allowed: &[String],
    requested: &[String],
) -> Result<(), super::error::OAuthError> {
    if contains(requested, ADMIN) {
        return Err(super::error::OAuthError::invalid_scope(
            "The admin scope is granted only through the client credentials grant.",
        ));
    }
    match requested.iter().find(|s| !allowed.contains(s)) {
        Some(unknown) => Err(super::error::OAuthError::invalid_scope(format!(
            "The scope `{unknown}` is not allowed for this client."
        ))),
        None => Ok(()),
    }
}

pub fn contains(scopes: &[String], scope: &str) -> bool {
    scopes.iter().any(|s| s == scope)
}

/// What a scope lets the client do, in words, for the consent page.
pub fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (your account identifier)".into(),
        "profile" => "See your profile: name, nickname, picture, website, birthdate, locale".into(),
        "email" => "See your email address and whether it is verified".into(),
        "address" => "See your postal address".into(),
        "phone" => "See your phone number and whether it is verified".into(),
        "offline_access" => {
            "Stay signed in: keep access while you are away, until you revoke it".into()
        }
        other => format!("Access “{other}”"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CustomClaims;

    fn claim(name: &str, scope: &str, description: &str) -> CustomClaim {
        CustomClaim {
            name: name.into(),
            kind: ClaimKind::String,
            scope: scope.into(),
            description: description.into(),
            id_token: false,
            access_token: false,
            userinfo: true,
        }
    }

    fn catalog(claims: Vec<CustomClaim>, groups: bool) -> Result<Catalog, String> {
        Catalog::new(&ClaimsConfig {
            groups,
            custom: CustomClaims(claims),
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn declarations_are_checked_at_start_up() {
        for (bad, says) in [
            (claim("email", "org", "x"), "standard or reserved"),
            (claim("jti", "org", "x"), "standard or reserved"),
            (claim("groups", "org", "x"), "built in"),
            (claim("has space", "org", "x"), "not a claim name"),
            (claim("dept", "openid", "x"), "cannot release claims"),
            (
                claim("dept", "offline_access", "x"),
                "cannot release claims",
            ),
            (claim("dept", "admin", "x"), "cannot release claims"),
            (claim("dept", "a b", "x"), "cannot release claims"),
            (claim("dept", "org", " "), "description"),
            (claim("dept", "org", "two\nlines"), "description"),
        ] {
            let err = catalog(vec![bad.clone()], true).unwrap_err();
            assert!(
                err.starts_with("claims.custom (OIDCD_CUSTOM_CLAIMS): "),
                "{err}"
            );
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        let err = catalog(
            vec![claim("dept", "org", "x"), claim("dept", "hr", "y")],
            true,
        )
        .unwrap_err();
        assert!(err.contains("declared twice"), "{err}");
        // With the built-in one off, `groups` may be declared.
        assert!(catalog(vec![claim("groups", "teams", "your teams")], false).is_ok());
    }

    #[test]
    fn declared_claims_add_scopes_and_words() {
        let c = catalog(
            vec![
                claim("dept", "org", "your department"),
                claim("nickname2", "profile", "your other nickname"),
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            c.user_scopes(),
            [
                "openid",
                "profile",
                "email",
                "address",
                "phone",
                "offline_access",
                "org",
                "groups"
            ]
        );
        assert_eq!(c.describe("org"), "See your department");
        assert!(c.describe("profile").ends_with("; and your other nickname"));
        assert_eq!(c.describe("email"), describe("email"));
        assert!(c.releases(&["org".into()], "dept"));
        assert!(!c.releases(&["profile".into()], "dept"));
        assert!(c.releases(&["profile".into()], "name"));
        assert!(has_kind(ClaimKind::StringArray, &serde_json::json!([])));
        assert!(!has_kind(ClaimKind::Integer, &serde_json::json!(1.5)));
        assert!(has_kind(ClaimKind::Number, &serde_json::json!(1.5)));
    }

    #[test]
    fn scope_tokens_follow_the_rfc_grammar() {
        assert!(is_scope_token("openid"));
        assert!(is_scope_token("api:read"));
        for bad in ["", "a b", "quote\"", "back\\slash", "é"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
