//! Where outbound calls may go. An organization's admin chooses a webhook's address, and the
//! operator a federation partner's, so without a check ciphub could be made to call its own
//! host or the internal network (server-side request forgery). Unless the operator of the
//! instance allows private targets, webhooks and federations reach public addresses only: an
//! address literal is checked when the target is registered and when it is called, host names
//! are resolved by a resolver that drops addresses that are not public (so a name that later
//! points inside, DNS rebinding, is refused too), and redirects are checked like the first call.
//!
//! What is public is decided by the IANA special-purpose address registries, written below as
//! data, and by the IPv4 address an IPv6 address carries (NAT64, 6to4, Teredo and the rest),
//! which is checked too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// IPv4 ranges never called: (first address, prefix length, what it is). Every entry of the
/// IANA IPv4 Special-Purpose Address Registry that is not globally reachable, the anycast
/// service ranges (answered by the nearest server, which may be on the operator's own
/// network), multicast and the reserved rest. Every other IPv4 address is public.
#[rustfmt::skip]
const V4_REFUSED: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\""), // RFC 791 section 3.2
    (Ipv4Addr::new(0, 0, 0, 0), 32, "\"this host\""), // RFC 1122 section 3.2.1.3
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private use"), // RFC 1918
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared address space"), // RFC 6598
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"), // RFC 1122 section 3.2.1.3
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"), // RFC 3927
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private use"), // RFC 1918
    // RFC 6890 section 2.1. The whole block, with its anycast PCP (192.0.0.9, RFC 7723) and
    // TURN (192.0.0.10, RFC 8155) addresses.
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (Ipv4Addr::new(192, 0, 0, 0), 29, "IPv4 service continuity prefix"), // RFC 7335
    (Ipv4Addr::new(192, 0, 0, 8), 32, "IPv4 dummy address"), // RFC 7600
    // 192.0.0.170 and 192.0.0.171: RFC 8880, RFC 7050 section 2.2.
    (Ipv4Addr::new(192, 0, 0, 170), 31, "NAT64/DNS64 discovery"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation"), // RFC 5737 (TEST-NET-1)
    (Ipv4Addr::new(192, 31, 196, 0), 24, "AS112 anycast"), // RFC 7535
    (Ipv4Addr::new(192, 52, 193, 0), 24, "AMT relay anycast"), // RFC 7450
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast"), // RFC 7526 (deprecated), RFC 6751
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private use"), // RFC 1918
    (Ipv4Addr::new(192, 175, 48, 0), 24, "AS112 anycast"), // RFC 7534
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"), // RFC 2544
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation"), // RFC 5737 (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation"), // RFC 5737 (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"), // RFC 5771
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"), // RFC 1112 section 4
    (Ipv4Addr::new(255, 255, 255, 255), 32, "limited broadcast"), // RFC 8190, RFC 919 section 7
];

/// How an IPv6 range carries an IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Carries {
    /// No IPv4 address.
    Nothing,
    /// In its last 32 bits.
    Last32,
    /// RFC 6052's layout after a /48 prefix: bits 48 to 63, then 72 to 87.
    At48,
    /// 6to4: bits 16 to 47.
    SixToFour,
    /// Teredo: the server in bits 32 to 63, the client inverted in the last 32 bits.
    Teredo,
}

use Carries::{At48, Last32, Nothing, SixToFour, Teredo};

/// IPv6 ranges: (first address, prefix length, what it is, whether ciphub may call it, the
/// IPv4 address it carries); the longest prefix that matches decides. An address in none of
/// them is outside global unicast (2000::/3) and never called. Every entry of the IANA IPv6
/// Special-Purpose Address Registry that is not globally reachable, the anycast service ranges,
/// site-local and multicast; where a callable range carries an IPv4 address, that address must
/// be public too.
#[rustfmt::skip]
const V6_RANGES: &[(Ipv6Addr, u8, &str, bool, Carries)] = &[
    // RFC 4291 and the IANA IPv6 Address Space registry.
    (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3, "global unicast", true, Nothing),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, "unspecified", false, Nothing), // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, "loopback", false, Nothing), // RFC 4291
    // RFC 4291 section 2.5.5.1 (deprecated).
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, "IPv4-compatible", false, Last32),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, "IPv4-mapped", false, Last32), // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96, "IPv4-translated", false, Last32), // RFC 2765
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96, "NAT64", true, Last32), // RFC 6052
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "local-use NAT64", false, At48), // RFC 8215
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only", false, Nothing), // RFC 6666
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "dummy prefix", false, Nothing), // RFC 9780
    // RFC 2928. The whole block: its anycast PCP, TURN and DNS-SD SRP addresses (2001:1::1 to
    // 2001:1::3; RFC 7723, 8155, 9665), AMT (2001:3::/32, RFC 7450), AS112 (2001:4:112::/48,
    // RFC 7535), benchmarking (2001:2::/48, RFC 5180) and the ORCHID and DET identifiers
    // (2001:10::/28, 2001:20::/28, 2001:30::/28; RFC 4843, 7343, 9374), which are not
    // locators. Only Teredo is called.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "IETF protocol assignment", false, Nothing),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "Teredo", true, Teredo), // RFC 4380, 8190
    // RFC 3849.
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "documentation", false, Nothing),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4", true, SixToFour), // RFC 3056
    // RFC 7534.
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48, "AS112 anycast", false, Nothing),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "documentation", false, Nothing), // RFC 9637
    // RFC 9602.
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, "segment routing SIDs", false, Nothing),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique local", false, Nothing), // RFC 4193
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local", false, Nothing), // RFC 4291
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local", false, Nothing), // RFC 3879
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast", false, Nothing), // RFC 4291
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The most specific IPv6 range `ip` is in: (what it is, whether it may be called, what it
/// carries).
fn v6_range(ip: Ipv6Addr) -> Option<(&'static str, bool, Carries)> {
    V6_RANGES
        .iter()
        .filter(|(net, len, ..)| in_v6(ip, *net, *len))
        .max_by_key(|(_, len, ..)| *len)
        .map(|&(_, _, what, callable, carries)| (what, callable, carries))
}

/// The IPv4 addresses `ip` carries, by the embedding of the range it is in.
fn embedded_ipv4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let o = ip.octets();
    let v4 = |a: u8, b: u8, c: u8, d: u8| Ipv4Addr::new(a, b, c, d);
    match v6_range(ip).map_or(Nothing, |(.., carries)| carries) {
        Nothing => Vec::new(),
        Last32 => vec![v4(o[12], o[13], o[14], o[15])],
        At48 => vec![v4(o[6], o[7], o[9], o[10])],
        SixToFour => vec![v4(o[2], o[3], o[4], o[5])],
        Teredo => vec![
            v4(o[4], o[5], o[6], o[7]),
            v4(!o[12], !o[13], !o[14], !o[15]),
        ],
    }
}

/// Why `ip` is not a public address, or `None` when it is.
fn refusal(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => V4_REFUSED
            .iter()
            .filter(|(net, len, _)| in_v4(v4, *net, *len))
            .max_by_key(|(_, len, _)| *len)
            .map(|(_, _, what)| (*what).to_owned()),
        IpAddr::V6(v6) => {
            let Some((what, callable, _)) = v6_range(v6) else {
                return Some("outside global unicast (2000::/3)".to_owned());
            };
            if !callable {
                return Some(what.to_owned());
            }
            embedded_ipv4(v6).into_iter().find_map(|inner| {
                refusal(IpAddr::V4(inner))
                    .map(|why| format!("{what}, carrying {inner}, which is {why}"))
            })
        }
    }
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

/// Refuses a URL whose host is an address literal that is not public. The URL parser has
/// already read unusual spellings of an IPv4 address (`2130706433`, `0177.0.0.1`, `0x7f.1`) as
/// the address they mean, so they are checked here too.
pub fn check_literal(url: &reqwest::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let Ok(ip) = bare.parse::<IpAddr>() else {
        return Ok(());
    };
    match refusal(ip) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{ip} is not a public address ({why}); this server calls public addresses only"
        )),
    }
}

/// Follows up to 10 redirects, each to a URL that passes `check_literal`: the resolver sees
/// host names only, so a redirect to an address literal is checked here.
pub fn public_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("more than 10 redirects");
        }
        match check_literal(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(why) => attempt.error(format!("redirected: {why}")),
        }
    })
}

/// A resolver that keeps only public addresses.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_addresses_of_the_finding_are_not_public() {
        for a in [
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "fec0::1",
            "::ffff:0:7f00:1",
            "100::1",
            "192.0.0.1",
            "192.88.99.1",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn every_special_purpose_ipv4_range_is_refused() {
        // One address in each range of the IANA IPv4 Special-Purpose Address Registry that is
        // not globally reachable, each anycast service range, multicast and reserved.
        for a in [
            "0.1.2.3",
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.254",
            "192.0.0.1",
            "192.0.0.7",
            "192.0.0.8",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.0.170",
            "192.0.0.171",
            "192.0.0.255",
            "192.0.2.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.2",
            "192.168.1.1",
            "192.175.48.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.254",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn every_special_purpose_ipv6_range_is_refused() {
        // One address in each range of the IANA IPv6 Special-Purpose Address Registry that is
        // not globally reachable, each anycast service range, site-local, multicast, and
        // addresses outside global unicast (2000::/3).
        for a in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "::ffff:0:808:808",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff::1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::1",
            "2001:1::1",
            "2001:1::2",
            "2001:1::3",
            "2001:2::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:10::1",
            "2001:20::1",
            "2001:30::1",
            "2001:1ff::1",
            "2001:db8::1",
            "2620:4f:8000::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
            "fc00::1",
            "fd00::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
            "4000::1",
            "8000::1",
            "1::1",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn an_embedded_ipv4_address_is_checked_too() {
        // NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo (2001::/32, the client inverted in
        // the last 32 bits, the server in bits 32 to 63) reach the IPv4 address they carry.
        for a in [
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::c0a8:101",
            "2002:a00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c000:201::1",
            // Teredo: server 65.54.227.120, client 127.0.0.1.
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            // Teredo: server 65.54.227.120, client 192.0.2.45 (RFC 4380's example).
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            // Teredo: server 10.0.0.1, client 8.8.8.8.
            "2001:0:a00:1:8000:63bf:f7f7:f7f7",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
        for a in [
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ] {
            assert!(is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn embedded_addresses_are_found_where_each_embedding_puts_them() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().expect("ipv6");
        let v4 = |s: &str| s.parse::<Ipv4Addr>().expect("ipv4");
        for (outer, inner) in [
            ("::127.0.0.1", vec!["127.0.0.1"]),
            ("::ffff:10.1.2.3", vec!["10.1.2.3"]),
            ("::ffff:0:7f00:1", vec!["127.0.0.1"]),
            ("64:ff9b::a9fe:a9fe", vec!["169.254.169.254"]),
            // RFC 6052 after a /48: 192.0.2.33 around the reserved octet.
            ("64:ff9b:1:c000:2:2100::", vec!["192.0.2.33"]),
            ("2002:7f00:1::1", vec!["127.0.0.1"]),
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                vec!["65.54.227.120", "192.0.2.45"],
            ),
            ("2400:cb00::1", vec![]),
        ] {
            let want: Vec<Ipv4Addr> = inner.into_iter().map(v4).collect();
            assert_eq!(embedded_ipv4(v6(outer)), want, "{outer}");
        }
        assert_eq!(
            refusal(ip("2002:7f00:1::1")).as_deref(),
            Some("6to4, carrying 127.0.0.1, which is loopback")
        );
    }

    #[test]
    fn public_addresses_stay_public() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "203.104.128.1",
            "192.0.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "2400:cb00::1",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2a00:1450::1",
        ] {
            assert!(is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn literals_are_checked() {
        let u = |s: &str| reqwest::Url::parse(s).expect("url");
        assert!(check_literal(&u("http://127.0.0.1:8080/x")).is_err());
        assert!(check_literal(&u("http://[::1]/x")).is_err());
        assert!(check_literal(&u("http://[64:ff9b::7f00:1]/x")).is_err());
        assert!(check_literal(&u("https://hooks.example.org/x")).is_ok());
        assert!(check_literal(&u("https://8.8.8.8/x")).is_ok());
        assert!(check_literal(&u("https://[2400:cb00::1]/x")).is_ok());
    }

    #[test]
    fn unusual_spellings_of_an_address_are_caught() {
        // The WHATWG parser reads these hosts as IPv4 numbers and writes them dotted, so the
        // literal check sees the address the call would go to.
        for url in [
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://127.0.0.1./",
            "http://0177.0.0.01/",
            "http://017700000001/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        ] {
            let parsed = reqwest::Url::parse(url).expect("url");
            assert!(check_literal(&parsed).is_err(), "{url} read as {parsed}");
        }
        let parsed = reqwest::Url::parse("http://0x7f.1/").expect("url");
        assert_eq!(parsed.host_str(), Some("127.0.0.1"));
        let parsed = reqwest::Url::parse("http://2130706433/").expect("url");
        assert_eq!(parsed.host_str(), Some("127.0.0.1"));
    }
}
