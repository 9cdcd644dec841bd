//! Request parameters as name/value pairs, however they arrived (query string or form body).
//! RFC 6749 section 3.1 and 3.2: a parameter sent more than once is an error.

use super::error::OAuthError;

#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes (a query string or a body).
    pub fn parse(bytes: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 section 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The first parameter that appears more than once, if any.
    pub fn first_duplicate(&self) -> Option<&str> {
        self.0.iter().enumerate().find_map(|(i, (k, _))| {
            self.0
                .iter()
                .skip(i + 1)
                .any(|(other, _)| other == k)
                .then_some(k.as_str())
        })
    }

    /// Fails with `invalid_request` when a parameter is repeated.
    pub fn reject_duplicates(&self) -> Result<(), OAuthError> {
        match self.first_duplicate() {
            Some(name) => Err(OAuthError::invalid_request(format!(
                "The parameter `{name}` was sent more than once."
            ))),
            None => Ok(()),
        }
    }

    /// `get`, failing with `invalid_request` when absent.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("The parameter `{name}` is required."))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_finds_duplicates() {
        let p = Params::parse(b"a=1&b=%20x&a=2&c=");
        assert_eq!(p.get("b"), Some(" x"));
        assert_eq!(p.get("c"), None);
        assert_eq!(p.first_duplicate(), Some("a"));
        assert!(p.reject_duplicates().is_err());
        assert!(Params::parse(b"a=1&b=2").reject_duplicates().is_ok());
    }
}
