//! Scopes (RFC 6749 section 3.3).

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

    #[test]
    fn scope_tokens_follow_the_rfc_grammar() {
        assert!(is_scope_token("openid"));
        assert!(is_scope_token("api:read"));
        for bad in ["", "a b", "quote\"", "back\\slash", "é"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
