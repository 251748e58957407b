//! Every way an IP address is written in folded text: dotted quads (zero-padded octets too)
//! wherever they stand (after `src:`, before `:443`, in brackets, inside IPv6), IPv6 in any of
//! its forms, and the IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// The longest text of an IPv6 address: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const LONGEST_V6: usize = 45;

/// Every address written in `text` (folded, so lower-case) with its byte range; a stretch
/// that reads in several ways (`c:2001:db8::5` after `src:`) gives each reading.
pub(crate) fn find(text: &str) -> Vec<(Range<usize>, IpAddr)> {
    let mut out = dotted_quads(text);
    v6(text, &mut out);
    out
}

/// The address itself and the other family's spelling of it, if it has one.
pub(crate) fn forms(ip: IpAddr) -> Vec<IpAddr> {
    match ip {
        IpAddr::V4(v4) => vec![ip, IpAddr::V6(v4.to_ipv6_mapped())],
        IpAddr::V6(v6) => {
            let mut out = vec![ip];
            out.extend(embedded_v4(v6).map(IpAddr::V4));
            out
        }
    }
}

/// The IPv4 address an IPv6 one carries: mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`),
/// NAT64's well-known prefix (`64:ff9b::/96`) or 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::from(u32::from(s[6]) << 16 | u32::from(s[7]));
    if let Some(v4) = v6.to_ipv4() {
        return Some(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from(u32::from(s[1]) << 16 | u32::from(s[2])));
    }
    None
}

/// Four numbers of at most 255 joined by dots, leading zeros allowed; in a longer chain
/// (`1.198.51.100.23`) every four in a row.
fn dotted_quads(text: &str) -> Vec<(Range<usize>, IpAddr)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    // The numbers of the current chain: where each is and its value as an octet.
    let mut chain: Vec<(usize, usize, Option<u8>)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let joined = chain
            .last()
            .is_some_and(|&(_, end, _)| end + 1 == start && b[end] == b'.');
        if !joined {
            quads(&chain, &mut out);
            chain.clear();
        }
        chain.push((start, i, octet(&text[start..i])));
    }
    quads(&chain, &mut out);
    out
}

fn quads(chain: &[(usize, usize, Option<u8>)], out: &mut Vec<(Range<usize>, IpAddr)>) {
    for w in chain.windows(4) {
        if let [
            (s, _, Some(a)),
            (_, _, Some(b)),
            (_, _, Some(c)),
            (_, e, Some(d)),
        ] = *w
        {
            out.push((s..e, IpAddr::V4(Ipv4Addr::new(a, b, c, d))));
        }
    }
}

/// A decimal octet, however many zeros pad it.
fn octet(digits: &str) -> Option<u8> {
    let significant = digits.trim_start_matches('0');
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if significant.is_empty() {
        return Some(0);
    }
    if significant.len() > 3 {
        return None;
    }
    significant.parse().ok()
}

/// IPv6 addresses in each stretch of hex digits, colons and dots: every text that parses
/// between two places where an address may begin or end (the stretch's ends, either side of a
/// colon or dot), since `::ffff:c633:6417:443` may be an address and a port.
fn v6(text: &str, out: &mut Vec<(Range<usize>, IpAddr)>) {
    let b = text.as_bytes();
    let is_v6 = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut i = 0;
    while i < b.len() {
        if !is_v6(b[i]) {
            i += 1;
            continue;
        }
        let run = i;
        while i < b.len() && is_v6(b[i]) {
            i += 1;
        }
        if b[run..i].iter().filter(|&&c| c == b':').count() < 2 {
            continue;
        }
        let mut cuts = vec![run, i];
        for (k, &c) in b[run..i].iter().enumerate() {
            if c == b':' || c == b'.' {
                cuts.extend([run + k, run + k + 1]);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for (k, &start) in cuts.iter().enumerate() {
            let found = cuts[k + 1..]
                .iter()
                .filter(|&&end| end - start <= LONGEST_V6)
                // A dotted tail belongs to the address; `::ffff:198` of `::ffff:198.51...` is none.
                .filter(|&&end| {
                    !(b.get(end) == Some(&b'.')
                        && b.get(end + 1).is_some_and(u8::is_ascii_hexdigit))
                })
                .filter_map(|&end| {
                    let t = &text[start..end];
                    let colons = t.bytes().filter(|&c| c == b':').count();
                    let a = (colons >= 2).then(|| parse_v6(t)).flatten()?;
                    Some((start..end, IpAddr::V6(a)))
                });
            out.extend(found);
        }
    }
}

/// An IPv6 address, its IPv4 tail zero-padded or not (`::ffff:198.051.100.023`).
fn parse_v6(t: &str) -> Option<Ipv6Addr> {
    let Some((head, quad)) = t.rsplit_once(':').filter(|(_, q)| q.contains('.')) else {
        return t.parse().ok();
    };
    let octets: Vec<u8> = quad.split('.').map(octet).collect::<Option<_>>()?;
    let [a, b, c, d] = octets[..] else {
        return None;
    };
    format!("{head}:{a}.{b}.{c}.{d}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        find(text).into_iter().map(|(r, _)| &text[r]).collect()
    }

    #[test]
    fn quads_are_read_whatever_surrounds_them() {
        assert_eq!(texts("src:198.51.100.23:443"), ["198.51.100.23"]);
        assert_eq!(
            find("198.051.100.023")[0].1,
            "198.51.100.23".parse::<IpAddr>().expect("ip")
        );
        assert!(texts("1198.51.100.23").is_empty());
        assert!(texts("version 1.2.3").is_empty());
    }

    #[test]
    fn ipv6_is_read_after_a_prefix_and_before_a_port() {
        let found = texts("src:2001:db8::5 [2001:db8::6]:443");
        assert!(found.contains(&"2001:db8::5"), "{found:?}");
        assert!(found.contains(&"2001:db8::6"), "{found:?}");
        let mapped: Vec<IpAddr> = find("::ffff:198.51.100.23:443")
            .into_iter()
            .flat_map(|(_, ip)| forms(ip))
            .collect();
        assert!(mapped.contains(&"198.51.100.23".parse().expect("ip")));
        let padded = texts("::ffff:198.051.100.023");
        assert!(padded.contains(&"::ffff:198.051.100.023"), "{padded:?}");
    }

    #[test]
    fn ipv6_carries_ipv4() {
        for v6 in [
            "::ffff:c633:6417",
            "::198.51.100.23",
            "64:ff9b::c633:6417",
            "2002:c633:6417::1",
        ] {
            let ip: Ipv6Addr = v6.parse().expect("ip");
            assert_eq!(
                embedded_v4(ip),
                Some(Ipv4Addr::new(198, 51, 100, 23)),
                "{v6}"
            );
        }
    }
}
