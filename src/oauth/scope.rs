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

/// The scope that lets a client call the admin API.
pub const ADMIN: &str = "admin";

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
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
