//! The address a request comes from, for rate limits, sessions and the audit log.
//!
//! The TCP peer is the answer unless it is one of `trusted_proxies`
//! (`GATEHOUSE_TRUSTED_PROXIES`, a list of CIDR blocks). Only then is the forwarding
//! header believed — one header, `X-Forwarded-For` or RFC 7239 `Forwarded`
//! (`GATEHOUSE_FORWARDED_HEADER`), never both — and read from the right: each trusted
//! proxy appends the address it received the request from, so the first address from
//! the right that is not a trusted proxy is the client. What a client writes into the
//! header itself stands further left and is never read. A hop that cannot be read
//! gives the nearest trusted hop: a mangled chain cannot let anyone choose an address.
//!
//! A leaf: it knows `http` headers and nothing of the application.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::http::header::HeaderMap;

/// One CIDR block, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4 peers on a dual-stack socket arrive as `::ffff:a.b.c.d`; they are IPv4 here.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?,
        );
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has a prefix length outside 0–{max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose forwarding headers are believed. Empty by default: then no
/// header is, and every address is the TCP peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma- or space-separated list of CIDR blocks.
    fn from_str(s: &str) -> Result<TrustedProxies, String> {
        s.split([',', ' '])
            .filter(|part| !part.trim().is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Cidr::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// The one header a trusted proxy's word is read from. Only one: a proxy appends to
/// the header it knows and passes the other through untouched, so believing both would
/// let a client write its own address into the other one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx's `$proxy_add_x_forwarded_for`).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the first
/// address from the right of the forwarding chain in `header` that is not a trusted
/// proxy. The chain is read one hop at a time from the right and never further than
/// that address, so nothing a client wrote (further left) is ever parsed. A hop that
/// cannot be read stops the walk at the nearest trusted hop: garbage cannot move the
/// answer anywhere but towards the server.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    header: ForwardedHeader,
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let values: Vec<&[u8]> = headers
        .get_all(header.name())
        .map(|v| v.as_bytes())
        .collect();
    // The nearest trusted hop so far, starting with the peer itself.
    let mut nearest = peer;
    for value in values.into_iter().rev() {
        for element in value.rsplit(|b| *b == b',') {
            let hop = std::str::from_utf8(element)
                .ok()
                .and_then(|e| match header {
                    ForwardedHeader::XForwardedFor => parse_node(e.trim()),
                    ForwardedHeader::Forwarded => forwarded_for(e),
                });
            let Some(hop) = hop.map(canonical) else {
                return nearest;
            };
            if !trusted.contains(hop) {
                return hop;
            }
            nearest = hop;
        }
    }
    nearest
}

/// The `for=` of one `Forwarded` element: `for=192.0.2.60;proto=http`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
    })?;
    parse_node(value.trim_matches('"'))
}

/// A key for rate limits: the address, or for IPv6 its /64 — one subscriber line
/// usually holds a whole /64, and counting each of its addresses apart would give a
/// guesser 2^64 fresh starts.
pub fn limit_key(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(canonical) {
        Ok(IpAddr::V6(v6)) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(bits))
        }
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_match() {
        let t: TrustedProxies = "10.0.0.0/8, 192.168.1.7 ::1,2001:db8::/32".parse().unwrap();
        assert!(t.contains(ip("10.200.3.4")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(
            t.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped peers are IPv4"
        );
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x", "/8"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const FWD: ForwardedHeader = ForwardedHeader::Forwarded;

    #[test]
    fn headers_count_only_from_trusted_peers() {
        let none = TrustedProxies::default();
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &none, XFF), ip("127.0.0.1"));
        let t: TrustedProxies = "127.0.0.0/8,10.0.0.0/8".parse().unwrap();
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t, XFF), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &t, XFF),
            ip("198.51.100.1")
        );
        // No header from a trusted peer: the peer.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &t, XFF),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn the_chain_is_read_from_the_right() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // The client wrote 6.6.6.6 itself; the edge proxy appended the real 203.0.113.9,
        // an inner proxy appended the edge's 10.0.0.5.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.5")]);
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, XFF), ip("203.0.113.9"));
        // Repeated headers join in order.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, XFF), ip("203.0.113.9"));
        // Everything trusted: the furthest hop.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, XFF), ip("10.1.1.1"));
        // Garbage the client wrote on the left is never reached.
        let h = headers(&[("x-forwarded-for", "garbage, unknown, 198.51.100.8")]);
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, XFF), ip("198.51.100.8"));
    }

    #[test]
    fn only_the_chosen_header_counts() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // A proxy that appends to X-Forwarded-For passes a client's own Forwarded
        // through: with X-Forwarded-For chosen, that Forwarded is nothing.
        let h = headers(&[
            ("forwarded", "for=203.0.113.5"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, XFF), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, FWD), ip("203.0.113.5"));
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            client_ip(ip("10.0.0.6"), &h, &t, FWD),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "For=192.0.2.60:8080")]);
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, FWD), ip("192.0.2.60"));
    }

    #[test]
    fn an_unreadable_hop_gives_the_nearest_trusted_one() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        for junk in ["unknown", "for=_hidden", "proto=https", "for=\"[::1\""] {
            let h = headers(&[("forwarded", junk)]);
            assert_eq!(
                client_ip(ip("10.0.0.6"), &h, &t, FWD),
                ip("10.0.0.6"),
                "{junk}"
            );
        }
        let h = headers(&[("x-forwarded-for", "1.2.3.4, not-an-ip, 10.0.0.9")]);
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, XFF), ip("10.0.0.9"));
        // Bytes that are not text are a hop that cannot be read, not a reason to look
        // at another header.
        let mut h = HeaderMap::new();
        h.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_bytes(b"1.2.3.4, \x80").unwrap(),
        );
        h.append(
            HeaderName::from_static("forwarded"),
            HeaderValue::from_static("for=203.0.113.77"),
        );
        assert_eq!(client_ip(ip("10.0.0.6"), &h, &t, XFF), ip("10.0.0.6"));
    }

    #[test]
    fn ipv6_callers_are_limited_by_their_64() {
        assert_eq!(limit_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key("2001:db8:1:2:ffff::1"),
            limit_key("2001:db8:1:2::9")
        );
        assert_eq!(limit_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(limit_key("::ffff:203.0.113.9"), "203.0.113.9");
    }
}
