//! Redirect URIs: what may be registered (RFC 6749 section 3.1.2, RFC 8252, RFC 9700
//! section 4.1). At the authorization endpoint they are compared by exact string match, but
//! for the port of loopback IP literals (RFC 8252 7.3).

use url::Url;

/// `localhost` or a loopback IP literal.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a `redirect_uri` sent to the authorization endpoint matches a registered one:
/// character for character (RFC 9700 4.1.3), except that for a registered `http` URI on a
/// loopback IP literal (`127.0.0.1`, `[::1]`) the port may differ, since a native app's
/// loopback listener gets whatever port is free (RFC 8252 7.3). `localhost` is not such a
/// literal (RFC 8252 8.3) and matches exactly.
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (
        loopback_literal_without_port(registered),
        loopback_literal_without_port(requested),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// For an `http` URI on a loopback IP literal: its text without the port, so that scheme,
/// host, path and query must still match as written. `None` for any other URI.
fn loopback_literal_without_port(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    let literal = url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        };
    let rest = uri.strip_prefix("http://").filter(|_| literal)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    Some(format!("http://{host}{tail}"))
}

/// Checks a redirect URI offered for registration: absolute, no fragment, no user info;
/// https, http on a loopback host, or a private-use scheme for native apps (RFC 8252 7.1).
/// Schemes that run code or read local files are refused.
pub fn validate_for_registration(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("`{uri}` has a fragment (RFC 6749 3.1.2)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{uri}` carries user information"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            if is_loopback(&url) {
                Ok(())
            } else {
                Err(format!(
                    "`{uri}` uses plain http on a host that is not loopback"
                ))
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            Err(format!(
                "`{uri}` uses a scheme that cannot be a redirect target"
            ))
        }
        // A private-use scheme in reverse-domain form, e.g. com.example.app:/callback.
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "`{uri}`: scheme `{scheme}` is neither https, loopback http, nor a reverse-domain \
             private-use scheme"
        )),
    }
}

/// The kinds of redirect URI registration accepts, which a registration policy may narrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// An https URL: a web app, or an app claiming an https link.
    Https,
    /// http on a loopback host: a native app's local listener (RFC 8252 7.3).
    Loopback,
    /// A reverse-domain private-use scheme: a native app (RFC 8252 7.1).
    PrivateUse,
}

impl RedirectKind {
    pub const ALL: [RedirectKind; 3] = [Self::Https, Self::Loopback, Self::PrivateUse];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Loopback => "loopback",
            Self::PrivateUse => "private_use",
        }
    }

    /// The kind of a redirect URI that [`validate_for_registration`] accepts; `None` for
    /// one it refuses.
    pub fn of(uri: &str) -> Option<Self> {
        validate_for_registration(uri).ok()?;
        let url = Url::parse(uri).ok()?;
        Some(match url.scheme() {
            "https" => Self::Https,
            "http" => Self::Loopback,
            _ => Self::PrivateUse,
        })
    }
}

impl std::str::FromStr for RedirectKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not https, loopback or private_use"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_kinds_are_told_apart() {
        assert_eq!(
            RedirectKind::of("https://app.example.com/cb"),
            Some(RedirectKind::Https)
        );
        assert_eq!(
            RedirectKind::of("http://127.0.0.1:9/cb"),
            Some(RedirectKind::Loopback)
        );
        assert_eq!(
            RedirectKind::of("com.example.app:/cb"),
            Some(RedirectKind::PrivateUse)
        );
        assert_eq!(RedirectKind::of("http://app.example.com/cb"), None);
        assert_eq!(RedirectKind::of("javascript:alert(1)"), None);
    }

    #[test]
    fn registration_accepts_safe_uris_only() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(validate_for_registration(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/relative",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://user:pw@app.example.com/cb",
            "custom:/cb",
        ] {
            assert!(validate_for_registration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_ip_literals_match_on_any_port_and_nothing_else_does() {
        for (registered, requested) in [
            ("http://127.0.0.1:9999/cb", "http://127.0.0.1:54321/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:54321/cb"),
            ("http://[::1]/cb?x=1", "http://[::1]:8080/cb?x=1"),
            ("https://app.example.com/cb", "https://app.example.com/cb"),
            (
                "com.example.app:/oauth2redirect",
                "com.example.app:/oauth2redirect",
            ),
        ] {
            assert!(matches(registered, requested), "{registered} {requested}");
        }
        for (registered, requested) in [
            // Only the port may differ.
            ("http://127.0.0.1:9999/cb", "http://127.0.0.1:9999/cb/"),
            ("http://127.0.0.1:9999/cb", "http://127.0.0.1:9999/CB"),
            ("http://127.0.0.1:9999/cb", "http://127.0.0.2:9999/cb"),
            ("http://127.0.0.1/cb", "http://[::1]/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:1/cb?x"),
            // localhost is a name, not a literal (RFC 8252 8.3); https is not a loopback
            // listener.
            ("http://localhost:9999/cb", "http://localhost:1234/cb"),
            ("https://127.0.0.1:9999/cb", "https://127.0.0.1:1234/cb"),
            (
                "https://app.example.com/cb",
                "https://app.example.com:444/cb",
            ),
            ("http://127.0.0.1/cb", "http://127.0.0.1@evil.example/cb"),
        ] {
            assert!(!matches(registered, requested), "{registered} {requested}");
        }
    }
}

/// How the authorization response travels back (OAuth 2.0 Multiple Response Types 2.1,
/// Form Post Response Mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl ResponseMode {
    /// `response_modes_supported`.
    pub const SUPPORTED: [&'static str; 2] = ["query", "form_post"];

    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("query") => Some(Self::Query),
            Some("form_post") => Some(Self::FormPost),
            Some(_) => None,
        }
    }
}

/// An authorization response (success or error) addressed to a validated redirect URI.
#[derive(Clone, Debug)]
pub struct AuthResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl AuthResponse {
    /// RFC 6749 4.1.2 plus `iss` (RFC 9207).
    pub fn code(
        redirect_uri: &str,
        mode: ResponseMode,
        code: String,
        state: Option<&str>,
        issuer: &str,
    ) -> Self {
        let mut params = vec![("code", code)];
        if let Some(state) = state {
            params.push(("state", state.to_owned()));
        }
        params.push(("iss", issuer.to_owned()));
        Self {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            params,
        }
    }

    /// RFC 6749 4.1.2.1 plus `iss` (RFC 9207).
    pub fn error(
        redirect_uri: &str,
        mode: ResponseMode,
        error: &super::error::OAuthError,
        state: Option<&str>,
        issuer: &str,
    ) -> Self {
        let mut params = vec![
            ("error", error.code.as_str().to_owned()),
            ("error_description", error.description.to_string()),
        ];
        if let Some(state) = state {
            params.push(("state", state.to_owned()));
        }
        params.push(("iss", issuer.to_owned()));
        Self {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            params,
        }
    }

    /// The redirect URI with the parameters added to its query (keeping any query it had,
    /// RFC 6749 3.1.2).
    pub fn location(&self) -> String {
        match Url::parse(&self.redirect_uri) {
            Ok(mut url) => {
                {
                    let mut pairs = url.query_pairs_mut();
                    for (k, v) in &self.params {
                        pairs.append_pair(k, v);
                    }
                }
                url.to_string()
            }
            // Registered URIs are validated absolute URLs; this cannot happen.
            Err(_) => self.redirect_uri.clone(),
        }
    }
}
