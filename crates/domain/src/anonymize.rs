//! Finding text that could identify an anonymous reporter before a secretariat relays it:
//! the organization's names, domains, e-mail addresses, host names and IP ranges.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of identifier an organization has registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    Name,
    Domain,
    Email,
    Hostname,
    IpRange,
}

impl IdentifierKind {
    /// The kind's name as used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Name => "name",
            IdentifierKind::Domain => "domain",
            IdentifierKind::Email => "email",
            IdentifierKind::Hostname => "hostname",
            IdentifierKind::IpRange => "ip-range",
        }
    }
}

impl FromStr for IdentifierKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            IdentifierKind::Name,
            IdentifierKind::Domain,
            IdentifierKind::Email,
            IdentifierKind::Hostname,
            IdentifierKind::IpRange,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown identifier kind {s:?}; expected name, domain, email, hostname or ip-range"
            )
        })
    }
}

/// Something that identifies an organization.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identifier {
    pub kind: IdentifierKind,
    pub value: String,
}

/// A CIDR range, IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpRange { addr, prefix })
    }
}

impl IpRange {
    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let (net, width) = bits(self.addr);
        let (candidate, cwidth) = bits(ip);
        if width != cwidth {
            return false;
        }
        let host_bits = width - u32::from(self.prefix);
        if host_bits >= 128 {
            return true;
        }
        (net >> host_bits) == (candidate >> host_bits)
    }
}

/// Checks an identifier's value for its kind; returns it normalized.
pub fn check_identifier(kind: IdentifierKind, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.chars().count() < 2 {
        return Err(format!("identifier {v:?} is too short to search for"));
    }
    match kind {
        IdentifierKind::IpRange => v.parse::<IpRange>().map(|_| v.to_owned()),
        IdentifierKind::Email if !v.contains('@') => Err(format!("{v:?} is not an e-mail address")),
        IdentifierKind::Domain | IdentifierKind::Hostname if v.contains(char::is_whitespace) => {
            Err(format!("{v:?} is not a {}", kind.as_str()))
        }
        _ => Ok(v.to_owned()),
    }
}

/// A piece of text that may identify the reporter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Which field of the report: title, description...
    pub field: String,
    /// Byte offsets of the match in that field.
    pub start: usize,
    pub end: usize,
    /// The text found.
    pub text: String,
    /// The identifier it matches.
    pub kind: IdentifierKind,
    pub identifier: String,
}

/// Finds every place in `fields` that matches one of `identifiers`, case-insensitively for
/// names, domains, addresses and host names, and by containment for IP ranges.
pub fn find_identifying(fields: &[(&str, &str)], identifiers: &[Identifier]) -> Vec<Flag> {
    let mut flags = Vec::new();
    for (field, text) in fields {
        let lower = text.to_lowercase();
        // Lower-casing can change byte lengths; search the lower-cased text only when it did not.
        let haystack = if lower.len() == text.len() {
            lower.as_str()
        } else {
            text
        };
        for id in identifiers {
            if id.kind == IdentifierKind::IpRange {
                continue;
            }
            let needle = if haystack.len() == text.len() && lower.len() == text.len() {
                id.value.to_lowercase()
            } else {
                id.value.clone()
            };
            if needle.is_empty() {
                continue;
            }
            let mut from = 0;
            while let Some(pos) = haystack[from..].find(&needle) {
                let start = from + pos;
                let end = start + needle.len();
                flags.push(Flag {
                    field: (*field).to_owned(),
                    start,
                    end,
                    text: text[start..end].to_owned(),
                    kind: id.kind,
                    identifier: id.value.clone(),
                });
                from = end;
            }
        }
        let ranges: Vec<(&Identifier, IpRange)> = identifiers
            .iter()
            .filter(|i| i.kind == IdentifierKind::IpRange)
            .filter_map(|i| i.value.parse().ok().map(|r| (i, r)))
            .collect();
        if ranges.is_empty() {
            continue;
        }
        for (start, token) in ip_like_tokens(text) {
            let Ok(ip) = token.parse::<IpAddr>() else {
                continue;
            };
            for (id, range) in &ranges {
                if range.contains(ip) {
                    flags.push(Flag {
                        field: (*field).to_owned(),
                        start,
                        end: start + token.len(),
                        text: token.to_owned(),
                        kind: IdentifierKind::IpRange,
                        identifier: id.value.clone(),
                    });
                }
            }
        }
    }
    // Longest first at each place, then drop any flag inside one already kept.
    flags.sort_by(|a, b| {
        (&a.field, a.start, std::cmp::Reverse(a.end)).cmp(&(
            &b.field,
            b.start,
            std::cmp::Reverse(b.end),
        ))
    });
    let mut kept: Vec<Flag> = Vec::with_capacity(flags.len());
    for f in flags {
        let inside = kept
            .last()
            .is_some_and(|k| k.field == f.field && k.start <= f.start && f.end <= k.end);
        if !inside {
            kept.push(f);
        }
    }
    kept
}

/// Runs of characters that could form an IP address, with their byte offsets.
fn ip_like_tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let ip_char = c.is_ascii_hexdigit() || c == '.' || c == ':';
        match (ip_char, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, text[s..i].trim_end_matches(['.', ':'])));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text[s..].trim_end_matches(['.', ':'])));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: IdentifierKind, v: &str) -> Identifier {
        Identifier {
            kind,
            value: v.into(),
        }
    }

    #[test]
    fn names_domains_and_addresses_are_found_in_any_case() {
        let ids = [
            id(IdentifierKind::Name, "Tokyo Water"),
            id(IdentifierKind::Name, "東京水道"),
            id(IdentifierKind::Domain, "tokyo-water.example"),
            id(IdentifierKind::IpRange, "192.0.2.0/24"),
            id(IdentifierKind::IpRange, "2001:db8::/32"),
        ];
        let text = "Outage at TOKYO WATER; mail from ops@tokyo-water.example, scans from 192.0.2.77 and 198.51.100.1, also 2001:db8::5.";
        let flags = find_identifying(&[("description", text)], &ids);
        let found: Vec<&str> = flags.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(
            found,
            [
                "TOKYO WATER",
                "tokyo-water.example",
                "192.0.2.77",
                "2001:db8::5"
            ]
        );
        assert_eq!(&text[flags[0].start..flags[0].end], "TOKYO WATER");
        let ja = find_identifying(&[("title", "東京水道で障害")], &ids);
        assert_eq!(ja.len(), 1);
        assert_eq!(ja[0].text, "東京水道");
        assert!(find_identifying(&[("title", "a water utility had an outage")], &ids).is_empty());
    }

    #[test]
    fn ranges_parse_and_contain() {
        let r: IpRange = "10.1.0.0/16".parse().expect("range");
        assert!(r.contains("10.1.200.3".parse().expect("ip")));
        assert!(!r.contains("10.2.0.1".parse().expect("ip")));
        let all: IpRange = "0.0.0.0/0".parse().expect("range");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!(check_identifier(IdentifierKind::Email, "not-an-address").is_err());
        assert!(check_identifier(IdentifierKind::IpRange, "300.1.1.1").is_err());
    }
}
