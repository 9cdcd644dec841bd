//! Redirect URIs: what may be registered (RFC 6749 section 3.1.2, RFC 8252, RFC 9700
//! section 4.1). At the authorization endpoint they are compared by exact string match.

use url::Url;

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
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
