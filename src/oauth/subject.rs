//! Subject identifiers (OIDC Core 8). A public client sees a user's id as `sub`. A pairwise
//! client sees one of its sector's own (8.1): a keyed hash of the sector and the user's id, so
//! the same user has the same `sub` at every client of one sector and unlinkable ones at
//! different sectors, and nobody without the server's key can compute or reverse it.
//!
//! A client's sector is fixed when it is registered: the host of its `sector_identifier_uri`
//! when it has one; otherwise the https (or http) host its redirect URIs share. A client
//! without such a redirect URI (a device; a native app, whose loopback host or private-use
//! scheme anyone can claim) is a sector of its own.

use url::Url;

use super::redirect;
use crate::crypto::{self, KeyedHasher};
use crate::store::clients::Client;

/// The `sub` `client` knows the user `user_id` by.
pub fn of(hasher: &KeyedHasher, client: &Client, user_id: &str) -> String {
    for_sector(hasher, client.pairwise_sector(), user_id)
}

/// The `sub` for `user_id` in `sector`, or the user's id without one.
pub fn for_sector(hasher: &KeyedHasher, sector: Option<&str>, user_id: &str) -> String {
    match sector {
        None => user_id.to_owned(),
        Some(sector) => {
            crypto::b64url(&hasher.mac(&[b"pairwise-sub", sector.as_bytes(), user_id.as_bytes()]))
        }
    }
}

/// The sector of a pairwise client (see the module's description), or why it has none: its
/// redirect URIs are on several hosts and it has no `sector_identifier_uri` to say which is
/// its sector.
pub fn sector_of(
    client_id: &str,
    redirect_uris: &[String],
    sector_identifier_uri: Option<&str>,
) -> Result<String, String> {
    if let Some(uri) = sector_identifier_uri {
        return Url::parse(uri)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
            .ok_or_else(|| format!("`{uri}` has no host"));
    }
    let own = || format!("client:{client_id}");
    let mut sector: Option<String> = None;
    for uri in redirect_uris {
        let Ok(url) = Url::parse(uri) else {
            return Err(format!("`{uri}` is not a URI"));
        };
        // Only an https or http host is a sector others cannot claim by saying so: a
        // private-use scheme (`com.example.app:/cb`, even with a host after `//`) is
        // whatever an app declares, and a loopback host is every native app's.
        let this = match (url.scheme(), url.host_str()) {
            ("https" | "http", Some(host)) if !redirect::is_loopback(&url) => {
                host.to_ascii_lowercase()
            }
            _ => own(),
        };
        match &sector {
            Some(seen) if *seen != this => {
                return Err(format!(
                    "the redirect URIs are on several hosts ({seen}, {this}): register a \
                     sector_identifier_uri, an https URL of a JSON array listing them all \
                     (OIDC Core 8.1)"
                ))
            }
            Some(_) => {}
            None => sector = Some(this),
        }
    }
    Ok(sector.unwrap_or_else(own))
}

/// The redirect URIs a `sector_identifier_uri` document lists: a JSON array of strings.
pub fn listed(document: &[u8]) -> Result<Vec<String>, String> {
    serde_json::from_slice::<Vec<String>>(document)
        .map_err(|e| format!("does not hold a JSON array of redirect URIs: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_sector_is_the_host_the_redirect_uris_share() {
        let sector = |list: &[&str], doc: Option<&str>| sector_of("app", &uris(list), doc);
        assert_eq!(
            sector(&["https://a.example/cb", "https://A.example/other"], None).unwrap(),
            "a.example"
        );
        assert!(sector(&["https://a.example/cb", "https://b.example/cb"], None).is_err());
        assert_eq!(
            sector(
                &["https://a.example/cb", "https://b.example/cb"],
                Some("https://sector.example/uris.json")
            )
            .unwrap(),
            "sector.example"
        );
        assert_eq!(sector(&[], None).unwrap(), "client:app");
        assert_eq!(
            sector(&["http://127.0.0.1/cb", "http://localhost:8080/cb"], None).unwrap(),
            "client:app"
        );
        assert_eq!(
            sector(&["com.example.app:/cb"], None).unwrap(),
            "client:app"
        );
        // A private-use scheme cannot claim a web host's sector.
        assert_eq!(
            sector(&["com.evil.app://victim.example/cb"], None).unwrap(),
            "client:app"
        );
        assert!(sector(&["com.example.app:/cb", "https://a.example/cb"], None).is_err());
    }

    #[test]
    fn pairwise_subjects_differ_by_sector_and_hide_the_user() {
        let hasher = KeyedHasher::new(b"test").unwrap();
        let a = for_sector(&hasher, Some("a.example"), "user-1");
        assert_eq!(a, for_sector(&hasher, Some("a.example"), "user-1"));
        assert_ne!(a, for_sector(&hasher, Some("b.example"), "user-1"));
        assert_ne!(a, for_sector(&hasher, Some("a.example"), "user-2"));
        assert!(!a.contains("user-1"));
        assert_eq!(for_sector(&hasher, None, "user-1"), "user-1");
    }
}
