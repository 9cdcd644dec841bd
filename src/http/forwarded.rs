//! The client's address behind reverse proxies. The TCP peer is the client unless it is a
//! trusted proxy; then the address is read from the one header the operator named
//! (`X-Forwarded-For`, or `Forwarded` per RFC 7239), walking from the right past every
//! trusted hop. The first hop that is not trusted is the client: anything left of it was
//! written by that client and proves nothing.

use std::net::IpAddr;

use poem::http::HeaderMap;

use crate::config::{ForwardedHeader, TrustedProxies};

/// The client's address, put on each request by the observing middleware.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub IpAddr);

/// The client's address for a request from `peer`.
pub fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    header: ForwardedHeader,
) -> IpAddr {
    let mut address = peer.to_canonical();
    if trusted.is_empty() || !trusted.contains(address) {
        return address;
    }
    let hops = match header {
        ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
        ForwardedHeader::Forwarded => forwarded_for(headers),
    };
    for hop in hops.iter().rev() {
        if !trusted.contains(address) {
            break;
        }
        match hop {
            // `unknown`, an obfuscated name or garbage: the last trusted hop is as far as
            // anything is known.
            None => break,
            Some(ip) => address = ip.to_canonical(),
        }
    }
    address
}

/// Every `X-Forwarded-For` hop, left to right, across repeated header lines.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| {
            let text = value.to_str().unwrap_or("");
            text.split(',')
                .map(|hop| parse_node(hop.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `for=` node of every `Forwarded` element (RFC 7239 4), left to right. An element
/// without `for=` counts as an unknown hop.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|value| {
            let text = value.to_str().unwrap_or("");
            text.split(',')
                .map(|element| {
                    element.split(';').find_map(|pair| {
                        let (name, value) = pair.split_once('=')?;
                        name.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| parse_node(value.trim().trim_matches('"')))
                    })?
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, or a bare
/// IPv6 address (X-Forwarded-For). `unknown` and obfuscated identifiers are `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse().ok();
    }
    let (ip, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(s: &str) -> TrustedProxies {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let xff = ForwardedHeader::XForwardedFor;
        assert_eq!(
            client_address(ip("198.51.100.7"), &h, &TrustedProxies::default(), xff),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("198.51.100.7"), &h, &trusted("10.0.0.0/8"), xff),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_walk_stops_at_the_first_hop_that_is_not_trusted() {
        let t = trusted("10.0.0.0/8, 192.168.1.1");
        let xff = ForwardedHeader::XForwardedFor;
        // The client spoofed the leftmost entry; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(
            client_address(ip("192.168.1.1"), &h, &t, xff),
            ip("203.0.113.9")
        );
        // Repeated header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &t, xff),
            ip("203.0.113.9")
        );
        // Every hop trusted: the leftmost is as far as it goes.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &t, xff), ip("10.9.9.9"));
        // Garbage stops the walk at the last trusted hop.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, nonsense")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &t, xff), ip("10.0.0.1"));
        // No header: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &t, xff),
            ip("10.0.0.1")
        );
        // IPv4 peers seen through an IPv6 socket are matched as IPv4.
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_address(ip("::ffff:10.0.0.1"), &h, &t, xff),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_elements_are_read_per_rfc_7239() {
        let t = trusted("10.0.0.0/8");
        let fwd = ForwardedHeader::Forwarded;
        let h = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.2:80;by=10.0.0.3",
        )]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &t, fwd),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.2")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &t, fwd), ip("10.0.0.2"));
        // Only the named header counts.
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &t, fwd), ip("10.0.0.1"));
    }

    #[test]
    fn settings_parse_addresses_and_ranges() {
        assert!("10.0.0.0/8,::1, 192.0.2.1"
            .parse::<TrustedProxies>()
            .is_ok());
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.internal".parse::<TrustedProxies>().is_err());
    }
}
