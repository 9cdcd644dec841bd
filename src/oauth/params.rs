//! Request parameters as name/value pairs, however they arrived (query string or form body).
//! RFC 6749 section 3.1 and 3.2: a parameter sent more than once is an error, except those
//! made to be repeated (`resource`, RFC 8707 section 2).

use super::error::OAuthError;

/// More parameters than any request of the protocol needs (the authorization request has
/// about fifteen); a request with more is refused before anything looks at them.
pub const MAX_PARAMS: usize = 100;

/// The parameters that may be sent more than once: read them with [`Params::all`].
pub const REPEATABLE: [&str; 1] = ["resource"];

#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes (a query string or a body). Stops
    /// after [`MAX_PARAMS`] + 1 pairs: [`Params::reject_duplicates`] then refuses the request.
    pub fn parse(bytes: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(bytes)
                .take(MAX_PARAMS + 1)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Parameters from name/value pairs already decoded (a request object's claims).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Every pair, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the request carried more than [`MAX_PARAMS`] parameters.
    pub fn too_many(&self) -> bool {
        self.0.len() > MAX_PARAMS
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 section 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of a [`REPEATABLE`] parameter, in the order received.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The first parameter seen a second time, if any (one pass over the pairs); the
    /// [`REPEATABLE`] ones are not counted.
    pub fn first_duplicate(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::with_capacity(self.0.len());
        self.0
            .iter()
            .filter(|(k, _)| !REPEATABLE.contains(&k.as_str()))
            .find(|(k, _)| !seen.insert(k.as_str()))
            .map(|(k, _)| k.as_str())
    }

    /// Fails with `invalid_request` when there are too many parameters or one is repeated.
    pub fn reject_duplicates(&self) -> Result<(), OAuthError> {
        if self.too_many() {
            return Err(too_many());
        }
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

/// The refusal of a request with more than [`MAX_PARAMS`] parameters.
pub fn too_many() -> OAuthError {
    OAuthError::invalid_request(format!(
        "Too many parameters: at most {MAX_PARAMS} are accepted."
    ))
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
        let repeated = Params::parse(b"resource=x&a=1&resource=&resource=y");
        assert!(repeated.reject_duplicates().is_ok());
        assert_eq!(repeated.all("resource").collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(
            Params::parse(b"a=1&b=2&b=3&a=4").first_duplicate(),
            Some("b")
        );
    }

    #[test]
    fn more_than_the_cap_is_refused() {
        let body = (0..=MAX_PARAMS)
            .map(|n| format!("p{n}=1"))
            .collect::<Vec<_>>()
            .join("&");
        let p = Params::parse(body.as_bytes());
        assert!(p.too_many());
        assert!(p.reject_duplicates().is_err());
        let body = (0..MAX_PARAMS)
            .map(|n| format!("p{n}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(Params::parse(body.as_bytes()).reject_duplicates().is_ok());
    }
}
