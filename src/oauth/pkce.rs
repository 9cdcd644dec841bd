//! Proof Key for Code Exchange (RFC 7636).

use super::error::OAuthError;
use crate::crypto;

/// `code_challenge_methods_supported`.
pub const METHODS: [&str; 2] = ["S256", "plain"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }

    /// RFC 7636 4.3: absent means `plain`.
    pub fn parse(value: Option<&str>) -> Result<Self, OAuthError> {
        match value {
            None | Some("plain") => Ok(Self::Plain),
            Some("S256") => Ok(Self::S256),
            Some(other) => Err(OAuthError::invalid_request(format!(
                "code_challenge_method `{other}` is not supported (use S256)."
            ))),
        }
    }
}

/// RFC 7636 4.1: 43 to 128 characters from the unreserved set. Challenges obey the same
/// shape (an S256 challenge is 43 base64url characters).
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 4.6, compared in constant time.
pub fn verify(method: Method, challenge: &str, verifier: &str) -> bool {
    match method {
        Method::S256 => {
            let computed = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
            crypto::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
        }
        Method::Plain => crypto::constant_time_eq(verifier.as_bytes(), challenge.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(Method::S256, challenge, verifier));
        assert!(!verify(Method::S256, challenge, "x"));
        assert!(verify(Method::Plain, verifier, verifier));
        assert!(is_well_formed(verifier));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed(&format!("{}+", "a".repeat(43))));
    }
}
