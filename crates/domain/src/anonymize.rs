//! Finding text that could identify an anonymous reporter before a secretariat relays it:
//! the organization's names, domains, e-mail addresses, host names and IP ranges.

mod addresses;
mod spelling;

use std::net::IpAddr;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use spelling::Spelling;

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
    /// Every kind, in order.
    pub const ALL: [IdentifierKind; 5] = [
        IdentifierKind::Name,
        IdentifierKind::Domain,
        IdentifierKind::Email,
        IdentifierKind::Hostname,
        IdentifierKind::IpRange,
    ];

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

/// Finds every place in `fields` that spells one of `identifiers`, as a reader would take it:
/// names, domains, addresses and host names in any case, width or Unicode form, with spaces,
/// punctuation or invisible characters inside and defanged (`[.]`, `[at]`); addresses in any
/// of their written forms (ports, prefixes, brackets, zero padding, inside IPv6) when they lie
/// in a registered range. Byte offsets are into the original text.
pub fn find_identifying(fields: &[(&str, &str)], identifiers: &[Identifier]) -> Vec<Flag> {
    // An identifier spelled with fewer than two letters would be found everywhere.
    let needles: Vec<(&Identifier, String)> = identifiers
        .iter()
        .filter(|i| i.kind != IdentifierKind::IpRange)
        .map(|i| (i, Spelling::new(&i.value).key().to_owned()))
        .filter(|(_, key)| key.chars().count() >= 2)
        .collect();
    let ranges: Vec<(&Identifier, IpRange)> = identifiers
        .iter()
        .filter(|i| i.kind == IdentifierKind::IpRange)
        .filter_map(|i| i.value.parse().ok().map(|r| (i, r)))
        .collect();
    let mut flags = Vec::new();
    for (field, text) in fields {
        let spelling = Spelling::new(text);
        let mut flag = |span: Range<usize>, id: &Identifier| {
            flags.push(Flag {
                field: (*field).to_owned(),
                start: span.start,
                end: span.end,
                text: text[span].to_owned(),
                kind: id.kind,
                identifier: id.value.clone(),
            })
        };
        for (id, needle) in &needles {
            for span in spelling.find(needle) {
                flag(span, id);
            }
        }
        if ranges.is_empty() {
            continue;
        }
        for (at, ip) in addresses::find(spelling.plain()) {
            let forms = addresses::forms(ip);
            for (id, range) in &ranges {
                if forms.iter().any(|f| range.contains(*f)) {
                    flag(spelling.original_of_plain(at.clone()), id);
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
            .iter()
            .rev()
            .take_while(|k| k.field == f.field)
            .any(|k| k.start <= f.start && f.end <= k.end);
        if !inside {
            kept.push(f);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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

    /// An operator's identifiers as it would register them.
    fn registered() -> Vec<Identifier> {
        vec![
            id(IdentifierKind::Name, "Tokyo Water"),
            id(IdentifierKind::Name, "東京水道"),
            id(IdentifierKind::Name, "トウキョウスイドウ"),
            id(IdentifierKind::Name, "Ålesund Société"),
            id(IdentifierKind::Domain, "tokyo-water.example"),
            id(IdentifierKind::Email, "ops@tokyo-water.example"),
            id(IdentifierKind::Hostname, "scada-01.tokyo-water.example"),
            id(IdentifierKind::IpRange, "198.51.100.0/24"),
            id(IdentifierKind::IpRange, "2001:db8:10::/48"),
        ]
    }

    /// The texts flagged in `text` for the registered identifiers, checking each flag's offsets.
    fn flagged(text: &str) -> Vec<String> {
        let flags = find_identifying(&[("description", text)], &registered());
        for f in &flags {
            assert_eq!(text.get(f.start..f.end), Some(f.text.as_str()), "{f:?}");
        }
        flags.into_iter().map(|f| f.text).collect()
    }

    #[test]
    fn addresses_are_found_with_ports_prefixes_padding_and_inside_ipv6() {
        for (text, found) in [
            ("seen 198.51.100.23:443 today", "198.51.100.23"),
            ("fw log src:198.51.100.23 dst:203.0.113.9", "198.51.100.23"),
            ("peer ::ffff:198.51.100.23 dropped", "::ffff:198.51.100.23"),
            ("peer [::ffff:198.51.100.23]:443", "::ffff:198.51.100.23"),
            ("peer ::ffff:c633:6417", "::ffff:c633:6417"),
            ("via 64:ff9b::198.51.100.23", "64:ff9b::198.51.100.23"),
            ("padded 198.051.100.023 here", "198.051.100.023"),
            ("ssh from src=2001:DB8:10::5 port 22", "2001:DB8:10::5"),
            (
                "[2001:0db8:0010:0000:0000:0000:0000:0005]:443",
                "2001:0db8:0010:0000:0000:0000:0000:0005",
            ),
        ] {
            assert_eq!(flagged(text), [found], "{text}");
        }
        assert!(flagged("seen 198.51.101.23:443 and 2001:db8:11::5").is_empty());
    }

    #[test]
    fn defanged_spellings_are_found() {
        for (text, found) in [
            ("ioc 198.51.100[.]23", "198.51.100[.]23"),
            ("ioc 198[.]51[.]100[.]23", "198[.]51[.]100[.]23"),
            ("ioc 198(.)51{.}100[dot]23", "198(.)51{.}100[dot]23"),
            (
                "hxxps://tokyo-water[.]example/login",
                "tokyo-water[.]example",
            ),
            ("see tokyo-water(.)example", "tokyo-water(.)example"),
            ("see tokyo-water{.}example", "tokyo-water{.}example"),
            ("see tokyo-water[dot]example", "tokyo-water[dot]example"),
            (
                "mail ops[@]tokyo-water.example",
                "ops[@]tokyo-water.example",
            ),
            (
                "mail ops[at]tokyo-water[.]example",
                "ops[at]tokyo-water[.]example",
            ),
            (
                "mail ops (at) tokyo-water (dot) example",
                "ops (at) tokyo-water (dot) example",
            ),
            ("ipv6 2001[:]db8[:]10[::]5", "2001[:]db8[:]10[::]5"),
        ] {
            assert_eq!(flagged(text), [found], "{text}");
        }
    }

    #[test]
    fn full_width_spellings_are_found() {
        assert_eq!(
            flagged("接続元 １９８．５１．１００．２３ から"),
            ["１９８．５１．１００．２３"]
        );
        assert_eq!(
            flagged("ＴＯＫＹＯ ＷＡＴＥＲ の設備"),
            ["ＴＯＫＹＯ ＷＡＴＥＲ"]
        );
        assert_eq!(
            flagged("ｔｏｋｙｏ－ｗａｔｅｒ．ｅｘａｍｐｌｅ"),
            ["ｔｏｋｙｏ－ｗａｔｅｒ．ｅｘａｍｐｌｅ"]
        );
        assert_eq!(flagged("ﾄｳｷｮｳｽｲﾄﾞｳの浄水場"), ["ﾄｳｷｮｳｽｲﾄﾞｳ"]);
        assert_eq!(flagged("tokyo-water。example"), ["tokyo-water。example"]);
    }

    #[test]
    fn invisible_and_unusual_spaces_are_seen_through() {
        for inside in [
            "\u{00A0}", "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}",
            "\u{3000}",
        ] {
            let name = format!("Tokyo{inside}Water");
            assert_eq!(
                flagged(&format!("at {name} plant")),
                [name.as_str()],
                "{inside:?}"
            );
            let name = format!("To{inside}kyo Wa{inside}ter");
            assert_eq!(
                flagged(&format!("at {name}.")),
                [name.as_str()],
                "{inside:?}"
            );
            let domain = format!("tokyo-water.{inside}example");
            assert_eq!(
                flagged(&format!("see {domain}")),
                [domain.as_str()],
                "{inside:?}"
            );
            let ja = format!("東京{inside}水道");
            assert_eq!(flagged(&format!("{ja}で障害")), [ja.as_str()], "{inside:?}");
        }
    }

    #[test]
    fn names_are_found_across_spaces_and_separators() {
        for name in [
            "東京 水道",
            "東京・水道",
            "Tokyo-Water",
            "TokyoWater",
            "Tokyo_Water",
            "Tokyo - Water",
            "T o k y o W a t e r",
            "Tōkyō Water",
            "alesund societe",
            "A\u{30A}lesund Socie\u{301}te\u{301}",
        ] {
            assert_eq!(flagged(&format!("({name})")), [name], "{name}");
        }
        // Too far apart to be one name.
        assert!(flagged("I left Tokyo.  --  Water was cut.").is_empty());
    }

    #[test]
    fn upper_case_is_found_next_to_characters_whose_lower_case_is_longer() {
        for odd in ["\u{212A}", "\u{0130}stanbul", "\u{212B}"] {
            let text = format!("{odd}: TOKYO WATER, OPS@TOKYO-WATER.EXAMPLE");
            assert_eq!(
                flagged(&text),
                ["TOKYO WATER", "OPS@TOKYO-WATER.EXAMPLE"],
                "{odd:?}"
            );
        }
        // The Kelvin sign and the Angstrom sign stand for K and Å inside a name too.
        assert_eq!(flagged("TO\u{212A}YO WATER"), ["TO\u{212A}YO WATER"]);
        assert_eq!(
            flagged("\u{212B}LESUND SOCIÉTÉ"),
            ["\u{212B}LESUND SOCIÉTÉ"]
        );
    }

    #[test]
    fn short_identifiers_are_found_as_words_only() {
        let tw = [id(IdentifierKind::Name, "TW")];
        let found = |text: &str| -> Vec<String> {
            find_identifying(&[("title", text)], &tw)
                .into_iter()
                .map(|f| f.text)
                .collect()
        };
        assert!(found("it was at work, a twin outage").is_empty());
        assert_eq!(found("TW's plant; t.w. again"), ["TW", "t.w"]);
        assert_eq!(found("東京のTWで"), ["TW"]);
    }

    /// Ways to write a character that a reader takes for it: case, width, compatibility and
    /// canonically equivalent forms.
    fn variants(c: char) -> Vec<String> {
        let wide = |c: char| char::from_u32(u32::from(c) + 0xFEE0).map(String::from);
        let mut out: Vec<String> = match c {
            'é' => vec!["é".into(), "É".into(), "e\u{301}".into(), "E\u{301}".into()],
            'Å' => vec!["Å".into(), "å".into(), "\u{212B}".into(), "A\u{30A}".into()],
            'k' | 'K' => vec![
                "k".into(),
                "K".into(),
                "\u{212A}".into(),
                "ｋ".into(),
                "Ｋ".into(),
            ],
            c if c.is_ascii_alphabetic() => {
                let (l, u) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
                [Some(l.into()), Some(u.into()), wide(l), wide(u)]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            c if c.is_ascii_digit() => [Some(c.into()), wide(c)].into_iter().flatten().collect(),
            '.' => [".", "[.]", "(.)", "{.}", "[dot]", "．", "。"]
                .map(String::from)
                .to_vec(),
            '@' => ["@", "[@]", "[at]", "(at)", "{at}", "＠"]
                .map(String::from)
                .to_vec(),
            ':' => [":", "：", "[:]"].map(String::from).to_vec(),
            '-' => ["-", "－"].map(String::from).to_vec(),
            'ト' => vec!["ト".into(), "ﾄ".into()],
            'ウ' => vec!["ウ".into(), "ｳ".into()],
            'キ' => vec!["キ".into(), "ｷ".into()],
            'ョ' => vec!["ョ".into(), "ｮ".into()],
            'ス' => vec!["ス".into(), "ｽ".into()],
            'イ' => vec!["イ".into(), "ｲ".into()],
            'ド' => vec!["ド".into(), "ﾄﾞ".into(), "ト\u{3099}".into()],
            c => vec![c.into()],
        };
        out.dedup();
        out
    }

    const INVISIBLE: [&str; 8] = [
        "\u{200B}",
        "\u{200C}",
        "\u{200D}",
        "\u{2060}",
        "\u{FEFF}",
        "\u{00AD}",
        "\u{FE0F}",
        "\u{E0020}",
    ];
    const SEPARATORS: [&str; 10] = [
        " ", "", "  ", "-", "_", "\u{3000}", "\u{A0}", " - ", "・", ".",
    ];

    /// One choice per character: its variant, an invisible character after it, a separator
    /// after it (names only).
    type Choices = Vec<(u8, Option<u8>, Option<u8>)>;

    fn choices() -> impl Strategy<Value = Choices> {
        proptest::collection::vec(any::<(u8, Option<u8>, Option<u8>)>(), 64)
    }

    /// `value` written with `choices`; separators go between letters only where `spaced`.
    fn spell(value: &str, choices: &Choices, spaced: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        for (i, (&c, &(variant, invisible, separator))) in
            chars.iter().zip(choices.iter().cycle()).enumerate()
        {
            if c == ' ' {
                out.push_str(SEPARATORS[usize::from(variant) % SEPARATORS.len()]);
                continue;
            }
            let v = variants(c);
            out.push_str(&v[usize::from(variant) % v.len()]);
            if i + 1 == chars.len() {
                break;
            }
            if let Some(n) = invisible {
                out.push_str(INVISIBLE[usize::from(n) % INVISIBLE.len()]);
            }
            if let Some(n) = separator.filter(|_| spaced && chars[i + 1] != ' ') {
                // One in four places gets a separator, so most names still read as words.
                if n % 4 == 0 {
                    out.push_str(SEPARATORS[usize::from(n / 4) % SEPARATORS.len()]);
                }
            }
        }
        out
    }

    /// An address in a registered range, written some way, with what may stand before and
    /// after it that is not part of it.
    fn address() -> impl Strategy<Value = (String, String, String)> {
        let v4 = (
            any::<u8>(),
            proptest::collection::vec(0usize..3, 4),
            0usize..6,
            0usize..7,
        );
        let v4 = v4.prop_map(|(host, pads, wrap, around)| {
            let octets = [198u8, 51, 100, host];
            let quad: Vec<String> = octets
                .iter()
                .zip(&pads)
                .map(|(o, p)| format!("{o:0width$}", width = o.to_string().len() + p))
                .collect();
            let quad = quad.join(".");
            let core = match wrap {
                0 | 1 => quad,
                2 => format!("::ffff:{quad}"),
                3 => format!("::{quad}"),
                4 => format!("64:ff9b::{quad}"),
                _ => format!("::ffff:{:x}:{:x}", 0xc633, 0x6400 | u16::from(host)),
            };
            let (before, after) = [
                ("", ""),
                ("src:", ""),
                ("", ":443"),
                ("[", "]:443"),
                ("(", ")"),
                ("dst=", ","),
                ("ip ", "/32"),
            ][around];
            (before.to_owned(), core, after.to_owned())
        });
        let v6 = (any::<u16>(), any::<u16>(), any::<bool>(), 0usize..5);
        let v6 = v6.prop_map(|(subnet, host, expanded, around)| {
            let ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x10, subnet, 0, 0, 0, host);
            let core = if expanded {
                ip.segments().map(|s| format!("{s:04x}")).join(":")
            } else {
                ip.to_string()
            };
            let (before, after) = [
                ("", ""),
                ("src:", ""),
                ("[", "]:443"),
                ("dst=", ","),
                ("", "/64"),
            ][around];
            (before.to_owned(), core, after.to_owned())
        });
        prop_oneof![v4, v6]
    }

    /// Surrounding text: ASCII, kana and kanji.
    const AROUND: &str = "[a-zA-Z0-9 ,;!?()\\-ぁ-ゖ亜-黑]{0,24}";

    proptest! {
        #[test]
        fn any_spelling_of_a_registered_name_is_flagged(
            which in 0usize..7,
            choices in choices(),
            before in AROUND,
            after in AROUND,
        ) {
            let ids = registered();
            let value = &ids[which].value;
            let spaced = ids[which].kind == IdentifierKind::Name;
            let core = spell(value, &choices, spaced);
            let text = format!("{before} {core} {after}");
            let (start, end) = (before.len() + 1, before.len() + 1 + core.len());
            let flags = find_identifying(&[("description", &text)], &ids);
            prop_assert!(
                flags.iter().any(|f| f.start <= start && end <= f.end && text[f.start..f.end] == f.text),
                "{value:?} written {core:?} in {text:?}: {flags:?}"
            );
        }

        #[test]
        fn any_spelling_of_an_address_in_range_is_flagged(
            (lead, core, trail) in address(),
            choices in choices(),
            before in AROUND,
            after in AROUND,
        ) {
            let core = spell(&core, &choices, false);
            let text = format!("{before} {lead}{core}{trail} {after}");
            let start = before.len() + 1 + lead.len();
            let end = start + core.len();
            let flags = find_identifying(&[("description", &text)], &registered());
            prop_assert!(
                flags.iter().any(|f| f.start <= start && end <= f.end && text[f.start..f.end] == f.text),
                "{core:?} in {text:?}: {flags:?}"
            );
        }

        #[test]
        fn text_without_the_identifiers_is_not_flagged(text in "[a-zA-Z0-9 ,.;:!?()@\\-ぁ-ゖァ-ヺ亜-黑東京水道]{0,200}") {
            // Identifiers of five letters or more, and the ranges.
            let ids: Vec<Identifier> = registered()
                .into_iter()
                .filter(|i| i.value.chars().count() >= 5 || i.kind == IdentifierKind::IpRange)
                .collect();
            let letters: String = text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
            prop_assume!(!letters.contains("東京水道") && !letters.contains("tokyowater"));
            let flags = find_identifying(&[("description", &text)], &ids);
            prop_assert!(flags.is_empty(), "{text:?}: {flags:?}");
        }

        #[test]
        fn short_identifiers_are_never_found_inside_a_word(words in proptest::collection::vec("[a-z]{1,8}", 1..40)) {
            let text = words.join(" ");
            let tw = [id(IdentifierKind::Name, "TW")];
            for f in find_identifying(&[("title", &text)], &tw) {
                let before = text[..f.start].chars().next_back();
                let after = text[f.end..].chars().next();
                prop_assert!(
                    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric),
                    "{f:?} in {text:?}"
                );
            }
        }
    }
}
