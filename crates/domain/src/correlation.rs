//! Correlation: the observables (addresses, domains, URLs, hashes, e-mail addresses, CVE ids,
//! ATT&CK technique ids) found in reports, alerts and STIX objects, written one way so that
//! the same value in two items links them, and the warning lists that keep noise out.
//!
//! Who sees which linked items is the policy's (`policy::correlation`); this module only finds
//! and normalizes values.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use crate::anonymize::{Identifier, IdentifierKind, IpRange};

/// The longest value kept: longer ones (huge URLs) are rare and would bloat the index.
pub const MAX_VALUE_LEN: usize = 1_000;

/// What kind of value an observable is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Cve,
    Attack,
}

impl Kind {
    /// Every kind, in the order they are listed.
    pub const ALL: [Kind; 10] = [
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Domain,
        Kind::Url,
        Kind::Email,
        Kind::Md5,
        Kind::Sha1,
        Kind::Sha256,
        Kind::Cve,
        Kind::Attack,
    ];

    /// The kind's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ipv4 => "ipv4-addr",
            Kind::Ipv6 => "ipv6-addr",
            Kind::Domain => "domain-name",
            Kind::Url => "url",
            Kind::Email => "email-addr",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Cve => "cve",
            Kind::Attack => "attack-technique",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One normalized value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Observable {
    pub kind: Kind,
    pub value: String,
}

impl Observable {
    /// Reads one value of any kind, written as a person or a tool would write it (defanged
    /// `hxxp://example[.]com` included), normalized; `None` when it is no observable.
    pub fn parse(token: &str) -> Option<Observable> {
        classify(&undefang(token))
    }
}

/// Every observable in free text (titles, descriptions, stage summaries, alert bodies).
pub fn from_text(text: &str, out: &mut BTreeSet<Observable>) {
    for token in
        text.split(|c: char| c.is_whitespace() || "\"'<>(){},;|`「」『』（）、。".contains(c))
    {
        if let Some(o) = Observable::parse(token) {
            add(o, out);
        }
    }
}

/// Adds `o`, and for a URL its host too, so a URL in one item links a bare domain in another.
fn add(o: Observable, out: &mut BTreeSet<Observable>) {
    if o.kind == Kind::Url
        && let Some(host) = classify(&host_of(&o))
    {
        out.insert(host);
    }
    out.insert(o);
}

/// Properties of STIX objects that never hold an observable worth linking: ids, references,
/// times, vocabularies, and the links of external references (to MITRE, NVD and the like,
/// which every object cites).
const STIX_SKIPPED: [&str; 14] = [
    "id",
    "type",
    "spec_version",
    "created",
    "modified",
    "valid_from",
    "valid_until",
    "published",
    "first_seen",
    "last_seen",
    "pattern_type",
    "lang",
    "url",
    "source_name",
];

/// Every observable in a STIX object: literals of its pattern, values of observables, names and
/// external ids (CVE, ATT&CK), and text.
pub fn from_stix(object: &Value, out: &mut BTreeSet<Observable>) {
    walk_stix(object, out);
}

fn walk_stix(v: &Value, out: &mut BTreeSet<Observable>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if STIX_SKIPPED.contains(&k.as_str())
                    || k.ends_with("_ref")
                    || k.ends_with("_refs")
                    || k.starts_with("x_")
                {
                    continue;
                }
                if k == "pattern" {
                    if let Some(p) = v.as_str() {
                        pattern_literals(p, out);
                    }
                    continue;
                }
                walk_stix(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk_stix(i, out)),
        Value::String(s) => {
            // A whole property that is one value (an observable's `value`, a hash) is read as
            // it is; longer text is split into words.
            if let Some(o) = Observable::parse(s) {
                add(o, out);
            } else {
                from_text(s, out);
            }
        }
        _ => {}
    }
}

/// The quoted literals of a STIX pattern (`[ipv4-addr:value = '198.51.100.7']`).
fn pattern_literals(pattern: &str, out: &mut BTreeSet<Observable>) {
    let mut rest = pattern;
    while let Some(start) = rest.find('\'') {
        let after = &rest[start + 1..];
        // A literal ends at the next quote not escaped with a backslash.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        let literal = after[..end].replace("\\'", "'").replace("\\\\", "\\");
        if let Some(o) = Observable::parse(&literal) {
            add(o, out);
        }
        rest = &after[end + 1..];
    }
}

/// Undoes the usual ways of defanging: `hxxp`, `[.]`, `(.)`, `[dot]`, `[@]`, `[:]`.
fn undefang(token: &str) -> String {
    let mut t = token
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[dot]", ".")
        .replace("[@]", "@")
        .replace("[at]", "@")
        .replace("[:]", ":")
        .replace("[://]", "://");
    for (from, to) in [("hxxps://", "https://"), ("hxxp://", "http://")] {
        if let Some(head) = t.get(..from.len())
            && head.eq_ignore_ascii_case(from)
        {
            t = format!("{to}{}", &t[from.len()..]);
        }
    }
    t
}

/// Punctuation that ends a sentence or wraps a value, never part of it.
const TRIM: &[char] = &[
    '.', ',', ';', ':', '!', '?', ')', '(', '[', ']', '>', '<', '"', '\'',
];

fn classify(raw: &str) -> Option<Observable> {
    let t = raw.trim_matches(TRIM);
    if t.len() < 4 || t.len() > MAX_VALUE_LEN {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let found = |kind, value: String| Some(Observable { kind, value });
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return url(t).and_then(|u| found(Kind::Url, u));
    }
    if let Ok(ip) = t.parse::<Ipv4Addr>() {
        return found(Kind::Ipv4, ip.to_string());
    }
    if t.contains(':')
        && let Ok(ip) = t.parse::<Ipv6Addr>()
    {
        return found(Kind::Ipv6, ip.to_string());
    }
    if let Some(cve) = lower.strip_prefix("cve-") {
        let mut parts = cve.split('-');
        let (Some(year), Some(n), None) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        return (year.len() == 4
            && n.len() >= 4
            && year.bytes().all(|b| b.is_ascii_digit())
            && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| Observable {
            kind: Kind::Cve,
            value: t.to_ascii_uppercase(),
        });
    }
    if attack_technique(t) {
        return found(Kind::Attack, t.to_owned());
    }
    if t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return match t.len() {
            32 => found(Kind::Md5, lower),
            40 => found(Kind::Sha1, lower),
            64 => found(Kind::Sha256, lower),
            _ => None,
        };
    }
    if let Some((local, domain)) = lower.split_once('@') {
        return (!local.is_empty()
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
            && is_domain(domain))
        .then(|| Observable {
            kind: Kind::Email,
            value: lower.clone(),
        });
    }
    let host = lower.trim_end_matches('.');
    if is_domain(host) {
        return found(Kind::Domain, host.to_owned());
    }
    None
}

/// `T1059` or `T1059.001`, as MITRE writes them.
fn attack_technique(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
}

/// File extensions that look like top-level domains in text (`dropper.exe`, `invoice.pdf`).
const FILE_EXTENSIONS: [&str; 40] = [
    "exe", "dll", "sys", "bat", "cmd", "ps1", "vbs", "js", "jar", "zip", "rar", "7z", "gz", "tar",
    "pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "txt", "log", "csv", "png",
    "jpg", "gif", "htm", "html", "php", "json", "xml", "py", "sh", "bin", "dat", "tmp", "lnk",
];

/// A host name of at least two labels whose last is letters (a top-level domain), not a file
/// name.
fn is_domain(host: &str) -> bool {
    if host.len() > 253 || !host.contains('.') {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let Some(tld) = labels.last() else {
        return false;
    };
    if tld.len() < 2
        || !tld.bytes().all(|b| b.is_ascii_alphabetic())
        || FILE_EXTENSIONS.contains(tld)
    {
        return false;
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// A URL with its scheme and host in lower case (paths keep their case: they differ).
fn url(t: &str) -> Option<String> {
    let (scheme, rest) = t.split_once("://")?;
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_ascii_lowercase();
    let bare = host.split(':').next().unwrap_or("");
    let ok = is_domain(bare.trim_end_matches('.'))
        || bare.parse::<Ipv4Addr>().is_ok()
        || host.starts_with('[');
    ok.then(|| format!("{}://{host}{path}", scheme.to_ascii_lowercase()))
}

/// What a warning list says of a value that is not worth linking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Documentation and example ranges and names (RFC 5737, RFC 3849, RFC 2606, RFC 6761).
    Documentation,
    /// Private, loopback, link-local and other addresses that are not one place on the
    /// internet.
    NotGlobal,
    /// A well-known public resolver or service everybody talks to.
    WellKnown,
    /// The hash of an empty file.
    EmptyFile,
    /// One of the reporting organization's own registered identifiers: its own domain or
    /// addresses link nothing, and linking them would say who reported.
    OwnIdentifier,
}

/// Public resolvers every network talks to.
const RESOLVERS: [&str; 12] = [
    "8.8.8.8",
    "8.8.4.4",
    "1.1.1.1",
    "1.0.0.1",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
];

/// Domains everybody names without it linking anything.
const WELL_KNOWN_DOMAINS: [&str; 12] = [
    "google.com",
    "microsoft.com",
    "windowsupdate.com",
    "apple.com",
    "mitre.org",
    "attack.mitre.org",
    "cve.mitre.org",
    "nvd.nist.gov",
    "nisc.go.jp",
    "jpcert.or.jp",
    "ipa.go.jp",
    "github.com",
];

/// Hashes of the empty file.
const EMPTY_FILE: [&str; 3] = [
    "d41d8cd98f00b204e9800998ecf8427e",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
];

/// The warning lists for one reporting organization: the fixed lists, and its own identifiers.
#[derive(Clone, Debug, Default)]
pub struct WarningLists {
    own_domains: Vec<String>,
    own_ranges: Vec<IpRange>,
}

impl WarningLists {
    /// The lists for an organization with these registered identifiers.
    pub fn for_organization(identifiers: &[Identifier]) -> Self {
        let mut lists = WarningLists::default();
        for i in identifiers {
            match i.kind {
                IdentifierKind::Domain | IdentifierKind::Hostname => {
                    lists.own_domains.push(i.value.to_ascii_lowercase())
                }
                IdentifierKind::Email => {
                    if let Some((_, d)) = i.value.split_once('@') {
                        lists.own_domains.push(d.to_ascii_lowercase());
                    }
                }
                IdentifierKind::IpRange => {
                    if let Ok(r) = i.value.parse::<IpRange>() {
                        lists.own_ranges.push(r);
                    }
                }
                IdentifierKind::Name => {}
            }
        }
        lists
    }

    /// Why `o` is noise, if it is.
    pub fn noise(&self, o: &Observable) -> Option<Noise> {
        match o.kind {
            Kind::Ipv4 | Kind::Ipv6 => {
                let ip: IpAddr = o.value.parse().ok()?;
                if documentation_ip(ip) {
                    return Some(Noise::Documentation);
                }
                if !global_ip(ip) {
                    return Some(Noise::NotGlobal);
                }
                if RESOLVERS.contains(&o.value.as_str()) {
                    return Some(Noise::WellKnown);
                }
                self.own_ranges
                    .iter()
                    .any(|r| r.contains(ip))
                    .then_some(Noise::OwnIdentifier)
            }
            Kind::Domain | Kind::Email | Kind::Url => {
                let host = host_of(o);
                if documentation_domain(&host) {
                    return Some(Noise::Documentation);
                }
                if let Ok(ip) = host.parse::<IpAddr>() {
                    return self.noise(&Observable {
                        kind: if ip.is_ipv4() { Kind::Ipv4 } else { Kind::Ipv6 },
                        value: ip.to_string(),
                    });
                }
                if o.kind == Kind::Domain && WELL_KNOWN_DOMAINS.contains(&host.as_str()) {
                    return Some(Noise::WellKnown);
                }
                self.own_domains
                    .iter()
                    .any(|d| within(&host, d))
                    .then_some(Noise::OwnIdentifier)
            }
            Kind::Md5 | Kind::Sha1 | Kind::Sha256 => EMPTY_FILE
                .contains(&o.value.as_str())
                .then_some(Noise::EmptyFile),
            Kind::Cve | Kind::Attack => None,
        }
    }

    /// `found` without the noise.
    pub fn keep(&self, found: BTreeSet<Observable>) -> BTreeSet<Observable> {
        found
            .into_iter()
            .filter(|o| self.noise(o).is_none())
            .collect()
    }
}

/// The host a domain, e-mail address or URL names.
fn host_of(o: &Observable) -> String {
    match o.kind {
        Kind::Email => o.value.rsplit_once('@').map_or("", |(_, d)| d).to_owned(),
        Kind::Url => {
            let rest = o.value.split_once("://").map_or("", |(_, r)| r);
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if let Some(v6) = host.strip_prefix('[') {
                return v6.split(']').next().unwrap_or("").to_owned();
            }
            host.split(':')
                .next()
                .unwrap_or("")
                .trim_end_matches('.')
                .to_owned()
        }
        _ => o.value.clone(),
    }
}

/// `host` is `domain` or one of its subdomains.
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

fn documentation_domain(host: &str) -> bool {
    [
        "example.com",
        "example.net",
        "example.org",
        "example",
        "test",
        "invalid",
        "localhost",
        "local",
    ]
    .iter()
    .any(|d| within(host, d))
}

fn documentation_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[0] == 0x2001 && s[1] == 0x0db8
        }
    }
}

fn global_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(text: &str) -> Vec<(Kind, String)> {
        let mut out = BTreeSet::new();
        from_text(text, &mut out);
        out.into_iter().map(|o| (o.kind, o.value)).collect()
    }

    #[test]
    fn text_gives_every_kind_normalized() {
        let got = found(
            "Beacons to 45.77.10.2 and hxxps://Evil-Update[.]Net/Path?q=1, mail from \
             Ops@Evil-Update.NET (CVE-2024-3400, T1059.001). Dropper dropper.exe with \
             SHA256 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B856 \
             and 2001:DB9::1; see 「evil-update.net」。",
        );
        assert_eq!(
            got,
            [
                (Kind::Ipv4, "45.77.10.2".into()),
                (Kind::Ipv6, "2001:db9::1".into()),
                (Kind::Domain, "evil-update.net".into()),
                (Kind::Url, "https://evil-update.net/Path?q=1".into()),
                (Kind::Email, "ops@evil-update.net".into()),
                (
                    Kind::Sha256,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b856".into()
                ),
                (Kind::Cve, "CVE-2024-3400".into()),
                (Kind::Attack, "T1059.001".into()),
            ]
        );
    }

    proptest::proptest! {
        /// Any text at all is read without a panic, and what it finds reads back as itself.
        #[test]
        fn any_text_is_read(text in "\\PC{0,80}", prefix in "(hxxp://|hxxps://|ゴ|)") {
            let mut out = BTreeSet::new();
            from_text(&format!("{prefix}{text}"), &mut out);
            for o in out {
                proptest::prop_assert_eq!(Observable::parse(&o.value), Some(o.clone()));
            }
        }
    }

    #[test]
    fn words_and_file_names_are_not_observables() {
        assert!(
            found("The plant stopped at 10.5 hours; see report.pdf and v1.2 notes.").is_empty()
        );
        assert!(found("T10 CVE-24-1 abcdef 1.2.3").is_empty());
    }

    #[test]
    fn stix_patterns_observables_and_references_are_read() {
        let mut out = BTreeSet::new();
        from_stix(
            &json!({
                "type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "pattern": "[ipv4-addr:value = '45.77.10.2'] OR [file:hashes.'SHA-256' = 'aa0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550']",
                "description": "C2 at evil-update.net",
                "created_by_ref": "identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            }),
            &mut out,
        );
        from_stix(
            &json!({"type": "attack-pattern", "name": "Command and Scripting Interpreter",
                "external_references": [{"source_name": "mitre-attack", "external_id": "T1059",
                    "url": "https://attack.mitre.org/techniques/T1059"}]}),
            &mut out,
        );
        let kinds: Vec<Kind> = out.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Ipv4, Kind::Domain, Kind::Sha256, Kind::Attack]
        );
    }

    #[test]
    fn warning_lists_keep_noise_out() {
        let own = WarningLists::for_organization(&[
            Identifier {
                kind: IdentifierKind::Domain,
                value: "tokyo-water.example.jp".into(),
            },
            Identifier {
                kind: IdentifierKind::IpRange,
                value: "133.1.0.0/16".into(),
            },
        ]);
        let noise = |text: &str| {
            let mut out = BTreeSet::new();
            from_text(text, &mut out);
            out.iter().map(|o| own.noise(o)).collect::<Vec<_>>()
        };
        assert_eq!(noise("203.0.113.9"), [Some(Noise::Documentation)]);
        assert_eq!(
            noise("https://www.example.com/x"),
            [Some(Noise::Documentation), Some(Noise::Documentation)]
        );
        assert_eq!(noise("10.1.2.3"), [Some(Noise::NotGlobal)]);
        assert_eq!(noise("8.8.8.8"), [Some(Noise::WellKnown)]);
        assert_eq!(
            noise("mail.tokyo-water.example.jp"),
            [Some(Noise::OwnIdentifier)]
        );
        assert_eq!(noise("133.1.7.7"), [Some(Noise::OwnIdentifier)]);
        assert_eq!(
            noise("d41d8cd98f00b204e9800998ecf8427e"),
            [Some(Noise::EmptyFile)]
        );
        assert_eq!(noise("45.77.10.2"), [None]);
    }
}
