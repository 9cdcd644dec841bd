//! Fetching documents that clients name by URL (a `jwks_uri`), with limits, since the URL
//! is chosen by whoever registered the client and the server fetches it from inside the
//! network (server-side request forgery):
//! - https only; plain http only to a loopback address, and only when `fetch.allow_loopback`
//!   is on (development);
//! - every address a name resolves to must be a public one, checked for the first request and
//!   for every redirect (the resolver refuses the rest, so a name that later resolves to an
//!   internal address is refused too); loopback passes only with `fetch.allow_loopback`;
//! - at most three redirects, a timeout for the whole fetch, and a cap on the body's size;
//! - no proxy from the environment (it would resolve the names instead).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::config::FetchConfig;

const MAX_REDIRECTS: usize = 3;

/// Why a fetch failed, in words for the client's or operator's error message.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Refused(String),
    #[error("the fetch failed: {0}")]
    Failed(String),
    #[error("the answer was {0}, not 200")]
    Status(u16),
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
}

/// Outbound HTTP with the limits above. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// The same without redirects, for documents that must come from the URL named.
    direct: reqwest::Client,
    allow_loopback: bool,
    max_bytes: usize,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("allow_loopback", &self.allow_loopback)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Whether `ip` is an address on the public internet: not loopback, private, link-local,
/// shared (CGNAT), documentation, benchmarking, multicast, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64
                || first == 0x0100 // discard-only
                || v6.segments()[..6] == [0; 6]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether the fetcher may connect to `ip`.
fn allowed_address(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && is_loopback(ip))
}

/// Whether `host` names the loopback interface (`localhost` or a loopback address).
fn loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    }
}

/// Checks a URL before it is fetched (or followed): the scheme, and the host when it is an
/// address. Used at registration too, so a client is refused before anything is fetched.
pub fn check_url(url: &Url, allow_loopback: bool) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    let loopback = loopback_host(url);
    match url.scheme() {
        "https" => {}
        "http" if loopback && allow_loopback => {}
        "http" if loopback => {
            return Err(
                "plain http is allowed on loopback only with fetch.allow_loopback (development)"
                    .into(),
            )
        }
        _ => return Err("must be an https URL".into()),
    }
    let address = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err("must name a host".into()),
    };
    if let Some(ip) = address {
        if !allowed_address(ip, allow_loopback) {
            return Err(format!("{ip} is not a public address"));
        }
    }
    if loopback && !allow_loopback {
        return Err("names the loopback interface".into());
    }
    Ok(())
}

/// Resolves names with the system resolver and keeps only the addresses the fetcher may
/// connect to; a name left with none fails to resolve.
struct PublicOnly {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed_address(a.ip(), allow_loopback))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

impl Fetcher {
    pub fn new(config: &FetchConfig) -> Result<Self, FetchError> {
        let allow_loopback = config.allow_loopback;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match check_url(attempt.url(), allow_loopback) {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let to = attempt.url().to_string();
                    attempt.error(format!("a redirect to {to}: {why}"))
                }
            }
        });
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .redirect(redirects)
                .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
                .no_proxy()
                .timeout(Duration::from_secs(config.timeout.0.max(1)))
                .user_agent(concat!("oidcd/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| FetchError::Failed(e.to_string()))
        };
        let client = build(redirects)?;
        let direct = build(reqwest::redirect::Policy::none())?;
        Ok(Self {
            client,
            direct,
            allow_loopback,
            max_bytes: config.max_bytes,
        })
    }

    pub fn allow_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// GETs a JSON document: the body, at most `fetch.max_bytes` of it.
    pub async fn get_json(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.get(url, "application/json").await
    }

    /// GETs an image (a client's logo): the body, at most `fetch.max_bytes` of it. What it
    /// is, is [`image_type`]'s to say from its first bytes.
    pub async fn get_image(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.get(url, "image/png, image/jpeg, image/gif, image/webp")
            .await
    }

    async fn get(&self, url: &str, accept: &'static str) -> Result<Vec<u8>, FetchError> {
        match self.fetch(url, accept, None).await?.body {
            Some(body) => Ok(body),
            None => Err(FetchError::Status(304)),
        }
    }

    /// GETs a document that is cached by its HTTP caching headers (a client's metadata
    /// document), from the URL itself (a redirect is refused: whoever controls where it
    /// points would speak for the URL): with `etag`, revalidated with `If-None-Match`, and
    /// then `body` is `None` when it did not change (304).
    pub async fn get_cached_json(
        &self,
        url: &str,
        etag: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        self.fetch_with(&self.direct, url, "application/json", etag)
            .await
    }

    /// POSTs a form (a back-channel logout token) to the URL itself, without following a
    /// redirect, under the same rules as a fetch; the answer's status. The body of the
    /// answer is not read.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::Refused(format!("{url}: {e}")))?;
        check_url(&parsed, self.allow_loopback)
            .map_err(|why| FetchError::Refused(format!("{url} {why}")))?;
        let response = self
            .direct
            .post(parsed)
            .form(form)
            .send()
            .await
            .map_err(|e| FetchError::Failed(describe(&e)))?;
        Ok(response.status().as_u16())
    }

    async fn fetch(
        &self,
        url: &str,
        accept: &'static str,
        etag: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        self.fetch_with(&self.client, url, accept, etag).await
    }

    async fn fetch_with(
        &self,
        client: &reqwest::Client,
        url: &str,
        accept: &'static str,
        etag: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::Refused(format!("{url}: {e}")))?;
        check_url(&parsed, self.allow_loopback)
            .map_err(|why| FetchError::Refused(format!("{url} {why}")))?;
        let mut request = client.get(parsed).header(reqwest::header::ACCEPT, accept);
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::Failed(describe(&e)))?;
        let headers = response.headers();
        let fresh_for = fresh_for(headers);
        let new_etag = headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 200)
            .map(str::to_owned);
        if etag.is_some() && response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched {
                body: None,
                fresh_for,
                etag: new_etag.or_else(|| etag.map(str::to_owned)),
            });
        }
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Failed(describe(&e)))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body: Some(body),
            fresh_for,
            etag: new_etag,
        })
    }
}

/// A fetched document and what its HTTP caching headers say.
#[derive(Debug)]
pub struct Fetched {
    /// `None` when a revalidation found it unchanged (304).
    pub body: Option<Vec<u8>>,
    /// How many seconds it stays fresh (RFC 9111 4.2.1): `Some(0)` for `no-store`,
    /// `no-cache` or an `Expires` in the past; `None` when the headers do not say.
    pub fresh_for: Option<u64>,
    /// Its entity tag, to revalidate it with.
    pub etag: Option<String>,
}

/// The freshness lifetime a response's headers give it (RFC 9111 4.2.1): `Cache-Control`'s
/// `no-store` and `no-cache` (none), else its `max-age`, else `Expires` less `Date`. A
/// shared cache's `s-maxage` is not this cache's.
pub fn fresh_for(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let directives: Vec<String> = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    if directives
        .iter()
        .any(|d| d == "no-store" || d == "no-cache" || d.starts_with("no-cache="))
    {
        return Some(0);
    }
    if let Some(age) = directives.iter().find_map(|d| d.strip_prefix("max-age=")) {
        // A malformed max-age is stale (RFC 9111 4.2.1).
        return Some(age.trim_matches('"').parse().unwrap_or(0));
    }
    let date = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(httpdate::parse_http_date)
    };
    match (date(reqwest::header::EXPIRES)?, date(reqwest::header::DATE)) {
        // An invalid date, "0" included, means already expired (RFC 9111 5.3).
        (Err(_), _) => Some(0),
        (Ok(expires), Some(Ok(date))) => Some(
            expires
                .duration_since(date)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        ),
        // Without the server's Date, Expires cannot be read against its clock.
        (Ok(_), _) => None,
    }
}

/// The type of a raster image from its first bytes: PNG, JPEG, GIF or WebP. Anything else
/// (SVG above all, which can carry script) is not served as a logo, whatever the server
/// that sent it called it.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else {
        None
    }
}

/// reqwest's error with its causes, which say what actually went wrong.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!is_public(ip), "{private} is not public");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn only_raster_images_are_logos() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a..."), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        for other in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..],
            b"<html>",
            b"RIFF\0\0\0\0WAVE",
            b"",
        ] {
            assert_eq!(image_type(other), None);
        }
    }

    #[test]
    fn freshness_comes_from_the_caching_headers() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let of = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_static(value));
            }
            fresh_for(&headers)
        };
        assert_eq!(of(&[]), None);
        assert_eq!(of(&[("cache-control", "public, max-age=600")]), Some(600));
        assert_eq!(of(&[("cache-control", "Max-Age=\"60\"")]), Some(60));
        assert_eq!(of(&[("cache-control", "max-age=600, no-cache")]), Some(0));
        assert_eq!(of(&[("cache-control", "no-store")]), Some(0));
        assert_eq!(of(&[("cache-control", "max-age=soon")]), Some(0));
        assert_eq!(of(&[("cache-control", "s-maxage=600")]), None);
        assert_eq!(
            of(&[
                ("date", "Thu, 03 Dec 2026 10:00:00 GMT"),
                ("expires", "Thu, 03 Dec 2026 11:00:00 GMT")
            ]),
            Some(3600)
        );
        assert_eq!(
            of(&[
                ("date", "Thu, 03 Dec 2026 10:00:00 GMT"),
                ("expires", "Thu, 03 Dec 2026 11:00:00 GMT"),
                ("cache-control", "max-age=5")
            ]),
            Some(5)
        );
        assert_eq!(of(&[("expires", "0")]), Some(0));
    }

    #[test]
    fn urls_are_https_to_public_hosts() {
        let check = |url: &str, loopback: bool| check_url(&Url::parse(url).unwrap(), loopback);
        assert!(check("https://app.example.com/jwks.json", false).is_ok());
        assert!(check("http://app.example.com/jwks.json", true).is_err());
        assert!(check("https://10.0.0.1/jwks.json", false).is_err());
        assert!(check("https://169.254.169.254/latest", true).is_err());
        assert!(check("http://127.0.0.1:9000/jwks", false).is_err());
        assert!(check("http://127.0.0.1:9000/jwks", true).is_ok());
        assert!(check("http://localhost:9000/jwks", true).is_ok());
        assert!(check("https://localhost/jwks", false).is_err());
        assert!(check("https://user:pw@app.example.com/jwks", false).is_err());
        assert!(check("ftp://app.example.com/jwks", false).is_err());
    }
}
