//! MISP attribute types and their STIX 2.1 forms: which types become an indicator pattern (and
//! which pattern, both ways), a rule in another pattern language, a vulnerability, a note, an
//! external reference, or nothing.

/// Where an attribute sits: the MISP object holding it (its name) and its relation there. The
/// STIX path of a value can depend on it (a pe-section's size is the section's, not the file's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Place<'a> {
    pub object: Option<&'a str>,
    pub relation: Option<&'a str>,
}

/// The STIX form an attribute takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Form {
    /// An indicator with this STIX pattern.
    Pattern(String),
    /// An indicator whose pattern is the value itself, in this pattern language.
    Rule(&'static str),
    /// A vulnerability object named by the value.
    Vulnerability,
    /// A note whose content is the value: text that describes rather than observes.
    Note,
    /// An external reference of the report (or of the MISP object's grouping).
    Link,
    /// No STIX form: left out, for this reason.
    None(String),
}

/// Types whose value is a description rather than an observable: they become notes.
const NOTE_TYPES: [&str; 6] = ["text", "comment", "other", "datetime", "float", "counter"];

/// Types whose value is a rule in another pattern language, and the STIX `pattern_type`.
const RULE_TYPES: [(&str, &str); 4] = [
    ("yara", "yara"),
    ("snort", "snort"),
    ("sigma", "sigma"),
    ("suricata", "suricata"),
];

/// A pattern's literal: a quoted string or a bare number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    Text(String),
    Number(String),
}

impl Literal {
    fn value(&self) -> &str {
        match self {
            Literal::Text(s) | Literal::Number(s) => s,
        }
    }
}

/// One comparison `path = literal` of a pattern.
type Comparison = (String, Literal);

/// The STIX form of a MISP attribute of type `kind` with `value` at `place`; `Err` (the reason)
/// when the value does not fit its type (a composite type without its `|`).
pub(crate) fn form_for(kind: &str, value: &str, place: Place<'_>) -> Result<Form, String> {
    if let Some((_, language)) = RULE_TYPES.iter().find(|(k, _)| *k == kind) {
        return Ok(Form::Rule(language));
    }
    match kind {
        "link" => return Ok(Form::Link),
        "vulnerability" => return Ok(Form::Vulnerability),
        _ => {}
    }
    let parts = match comparisons(kind, value, place) {
        Err(reason) if reason == LEAVE_SECTION_HASH => return Ok(Form::None(reason)),
        other => other?,
    };
    match parts {
        Some(parts) => Ok(Form::Pattern(render(&parts))),
        // A descriptive value whose type has no path here is kept as a note.
        None if NOTE_TYPES.contains(&kind) => Ok(Form::Note),
        None if value.trim().is_empty() => Err("is empty".into()),
        None => Ok(Form::None(format!("no STIX pattern for type {kind}"))),
    }
}

/// The pattern language of a rule type, for reading a rule indicator back.
pub(crate) fn rule_kind(pattern_type: &str) -> Option<&'static str> {
    RULE_TYPES
        .iter()
        .find(|(_, l)| *l == pattern_type)
        .map(|(k, _)| *k)
}

/// The STIX name of a hash for a MISP hash type (STIX's hash-algorithm vocabulary).
fn hash_name(kind: &str) -> Option<&'static str> {
    match kind {
        "md5" => Some("MD5"),
        "sha1" => Some("SHA-1"),
        "sha256" => Some("SHA-256"),
        "sha512" => Some("SHA-512"),
        "sha3-256" => Some("SHA3-256"),
        "sha3-512" => Some("SHA3-512"),
        "ssdeep" => Some("SSDEEP"),
        "tlsh" => Some("TLSH"),
        _ => None,
    }
}

/// The MISP hash type of a STIX hash name.
fn hash_kind(name: &str) -> Option<&'static str> {
    match name.to_ascii_uppercase().replace('-', "").as_str() {
        "MD5" => Some("md5"),
        "SHA1" => Some("sha1"),
        "SHA256" => Some("sha256"),
        "SHA512" => Some("sha512"),
        "SHA3256" => Some("sha3-256"),
        "SHA3512" => Some("sha3-512"),
        "SSDEEP" => Some("ssdeep"),
        "TLSH" => Some("tlsh"),
        _ => None,
    }
}

const PE: &str = "file:extensions.'windows-pebinary-ext'";

/// Why a PE section's hash is left out.
const LEAVE_SECTION_HASH: &str = "no STIX pattern accepted for a PE section's hash";

/// A whole number or a decimal, as STIX pattern literals write them.
fn number(value: &str) -> Option<Literal> {
    let v = value.trim();
    let (whole, fraction) = v.split_once('.').unwrap_or((v, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (v == value && digits(whole) && digits(fraction)).then(|| Literal::Number(value.to_owned()))
}

fn text(value: &str) -> Literal {
    Literal::Text(value.to_owned())
}

/// The comparisons of the pattern for an attribute; `Ok(None)` when the type has none here.
fn comparisons(
    kind: &str,
    value: &str,
    place: Place<'_>,
) -> Result<Option<Vec<Comparison>>, String> {
    let one = |path: &str, lit: Literal| Ok(Some(vec![(path.to_owned(), lit)]));
    let addr = |v: &str| {
        if v.contains(':') {
            "ipv6-addr:value"
        } else {
            "ipv4-addr:value"
        }
    };
    // Values inside a pe-section describe the section, not the file.
    if place.object == Some("pe-section") {
        let section = format!("{PE}.sections[*]");
        // STIX 2.1 gives a section `hashes`, but the pattern checker TAXII intake uses (rstix)
        // refuses that path, so a section's hash is left out rather than sent as the file's.
        if hash_name(kind).is_some() {
            return Err(LEAVE_SECTION_HASH.into());
        }
        match (kind, place.relation) {
            ("text", Some("name")) => return one(&format!("{section}.name"), text(value)),
            ("size-in-bytes", _) => {
                return Ok(number(value).map(|n| vec![(format!("{section}.size"), n)]));
            }
            ("float", Some("entropy")) => {
                return Ok(number(value).map(|n| vec![(format!("{section}.entropy"), n)]));
            }
            _ => {}
        }
    }
    if let Some(hash) = kind.strip_prefix("filename|") {
        let Some(hash) = hash_name(hash) else {
            return Ok(None);
        };
        let (name, digest) = split(kind, value)?;
        return Ok(Some(vec![
            ("file:name".into(), text(name)),
            (format!("file:hashes.'{hash}'"), text(digest)),
        ]));
    }
    if value.trim().is_empty() {
        return Ok(None);
    }
    match kind {
        "ip-src" | "ip-dst" => one(addr(value), text(value)),
        "domain" | "hostname" => one("domain-name:value", text(value)),
        "url" | "uri" => one("url:value", text(value)),
        "filename" | "attachment" => one("file:name", text(value)),
        "email-src" | "email-dst" | "email" => one("email-addr:value", text(value)),
        "email-subject" => one("email-message:subject", text(value)),
        "email-attachment" => one(
            "email-message:body_multipart[*].body_raw_ref.name",
            text(value),
        ),
        "mac-address" => one("mac-addr:value", text(value)),
        "mutex" => one("mutex:name", text(value)),
        "mime-type" => one("file:mime_type", text(value)),
        "imphash" => one(&format!("{PE}.imphash"), text(value)),
        "regkey" => one("windows-registry-key:key", text(value)),
        "regkey|value" => {
            let (key, data) = split(kind, value)?;
            Ok(Some(vec![
                ("windows-registry-key:key".into(), text(key)),
                ("windows-registry-key:values[*].data".into(), text(data)),
            ]))
        }
        "malware-sample" => {
            let (name, digest) = split(kind, value)?;
            Ok(Some(vec![
                ("file:name".into(), text(name)),
                ("file:hashes.'MD5'".into(), text(digest)),
            ]))
        }
        "domain|ip" => {
            let (domain, ip) = split(kind, value)?;
            Ok(Some(vec![
                ("domain-name:value".into(), text(domain)),
                ("domain-name:resolves_to_refs[*].value".into(), text(ip)),
            ]))
        }
        "ip-src|port" | "ip-dst|port" => {
            let (ip, port) = split(kind, value)?;
            let side = if kind == "ip-src|port" { "src" } else { "dst" };
            let Some(port) = number(port).filter(|_| !port.contains('.')) else {
                return Ok(None);
            };
            Ok(Some(vec![
                (format!("network-traffic:{side}_ref.value"), text(ip)),
                (format!("network-traffic:{side}_port"), port),
            ]))
        }
        "port" => {
            let side = if place.relation == Some("src-port") {
                "src"
            } else {
                "dst"
            };
            Ok(number(value)
                .filter(|_| !value.contains('.'))
                .map(|n| vec![(format!("network-traffic:{side}_port"), n)]))
        }
        "size-in-bytes" => Ok(number(value)
            .filter(|_| !value.contains('.'))
            .map(|n| vec![("file:size".into(), n)])),
        "counter" if place.object == Some("pe") && place.relation == Some("number-sections") => {
            Ok(number(value)
                .filter(|_| !value.contains('.'))
                .map(|n| vec![(format!("{PE}.number_of_sections"), n)]))
        }
        // A malformed ssdeep would make the indicator invalid STIX.
        "ssdeep" if !is_ssdeep(value) => Ok(None),
        _ => match hash_name(kind) {
            Some(hash) => one(&format!("file:hashes.'{hash}'"), text(value)),
            None => Ok(None),
        },
    }
}

/// Whether `value` has the form of an ssdeep hash: `blocksize:hash:hash`, in base64.
fn is_ssdeep(value: &str) -> bool {
    let mut parts = value.split(':');
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(size), Some(a), Some(b), None)
            if !size.is_empty() && size.bytes().all(|c| c.is_ascii_digit()) && b64(a) && b64(b)
    )
}

/// A composite value `a|b`, split at its first `|`.
fn split<'v>(kind: &str, value: &'v str) -> Result<(&'v str, &'v str), String> {
    let (first, _) = kind.split_once('|').unwrap_or((kind, ""));
    value
        .split_once('|')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("a {kind} value must be '{first}|...'"))
}

/// The pattern of one observation made of `parts`, joined by AND.
fn render(parts: &[Comparison]) -> String {
    let inner: Vec<String> = parts
        .iter()
        .map(|(path, lit)| match lit {
            Literal::Text(s) => format!("{path} = '{}'", escape(s)),
            Literal::Number(n) => format!("{path} = {n}"),
        })
        .collect();
    format!("[{}]", inner.join(" AND "))
}

/// A value as the inside of a STIX pattern string literal.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The MISP (type, value) of a pattern this module writes. `hint` is the type the indicator
/// says it came from (its `name`, `<type>: <value>`): the pattern that type and the values
/// found would give must be the pattern itself. Without a hint, or when it does not fit, the
/// simple forms are read with their default types.
pub(crate) fn attribute_from_pattern(
    pattern: &str,
    hint: Option<&str>,
    place: Place<'_>,
) -> Option<(String, String)> {
    let found = parse_simple_pattern(pattern)?;
    if let Some(kind) = hint {
        let value = found
            .iter()
            .map(|(_, l)| l.value())
            .collect::<Vec<_>>()
            .join("|");
        if let Ok(Some(again)) = comparisons(kind, &value, place)
            && again == found
        {
            return Some((kind.to_owned(), value));
        }
    }
    match found.as_slice() {
        [(path, Literal::Text(value))] => {
            let kind = match path.as_str() {
                "ipv4-addr:value" | "ipv6-addr:value" => "ip-dst",
                "domain-name:value" => "domain",
                "email-addr:value" => "email-src",
                "url:value" => "url",
                "file:name" => "filename",
                other => hash_kind(other.strip_prefix("file:hashes.")?.trim_matches('\''))?,
            };
            Some((kind.to_owned(), value.clone()))
        }
        [(a, Literal::Text(av)), (b, Literal::Text(bv))] => {
            let ((_, file), (hash, digest)) = if a == "file:name" {
                ((a, av), (b, bv))
            } else if b == "file:name" {
                ((b, bv), (a, av))
            } else {
                return None;
            };
            let kind = hash_kind(hash.strip_prefix("file:hashes.")?.trim_matches('\''))?;
            Some((format!("filename|{kind}"), format!("{file}|{digest}")))
        }
        _ => None,
    }
}

/// The comparisons of a pattern of one observation, `[p = 'v' AND p = 7 ...]`, with no other
/// operator, qualifier or observation; `None` for anything else.
fn parse_simple_pattern(pattern: &str) -> Option<Vec<Comparison>> {
    let mut rest = pattern.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    loop {
        let (path, after) = split_path(rest)?;
        let (lit, after) = parse_literal(after.trim_start())?;
        out.push((path, lit));
        let after = after.trim_start();
        if after.is_empty() {
            return Some(out);
        }
        let after = after.strip_prefix("AND")?;
        if !after.starts_with(char::is_whitespace) {
            return None;
        }
        rest = after;
    }
}

/// The object path before ` = `, which may hold quoted keys (`hashes.'SHA-256'`).
fn split_path(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '=' if !quoted => {
                let path = s[..i].trim();
                if path.is_empty() || path.contains(char::is_whitespace) {
                    return None;
                }
                return Some((path.to_owned(), &s[i + 1..]));
            }
            '!' | '<' | '>' if !quoted => return None,
            _ => {}
        }
    }
    None
}

/// A literal at the start of `s` (a single-quoted string, unescaped, or a number) and what
/// follows it.
fn parse_literal(s: &str) -> Option<(Literal, &str)> {
    let Some(body) = s.strip_prefix('\'') else {
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let n = number(&s[..end])?;
        return Some((n, &s[end..]));
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '\'' => return Some((Literal::Text(out), &body[i + 1..])),
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(kind: &str, value: &str, place: Place<'_>) -> String {
        match form_for(kind, value, place) {
            Ok(Form::Pattern(p)) => p,
            other => panic!("{kind}: {other:?}"),
        }
    }

    #[test]
    fn every_pattern_type_reads_back_with_its_hint() {
        let section = Place {
            object: Some("pe-section"),
            relation: Some("entropy"),
        };
        let pe = Place {
            object: Some("pe"),
            relation: Some("number-sections"),
        };
        let src = Place {
            object: Some("ip-port"),
            relation: Some("src-port"),
        };
        let cases: [(&str, &str, Place<'_>, &str); 12] = [
            (
                "port",
                "443",
                Place::default(),
                "[network-traffic:dst_port = 443]",
            ),
            ("port", "8080", src, "[network-traffic:src_port = 8080]"),
            (
                "ip-dst|port",
                "10.10.30.110|1992",
                Place::default(),
                "[network-traffic:dst_ref.value = '10.10.30.110' AND network-traffic:dst_port = 1992]",
            ),
            (
                "size-in-bytes",
                "30720",
                Place::default(),
                "[file:size = 30720]",
            ),
            (
                "float",
                "7.9821",
                section,
                "[file:extensions.'windows-pebinary-ext'.sections[*].entropy = 7.9821]",
            ),
            (
                "counter",
                "4",
                pe,
                "[file:extensions.'windows-pebinary-ext'.number_of_sections = 4]",
            ),
            (
                "regkey",
                r"HKLM\Software\Run",
                Place::default(),
                r"[windows-registry-key:key = 'HKLM\\Software\\Run']",
            ),
            (
                "regkey|value",
                r"Run|%TEMP%\x",
                Place::default(),
                r"[windows-registry-key:key = 'Run' AND windows-registry-key:values[*].data = '%TEMP%\\x']",
            ),
            (
                "ssdeep",
                "3:a:b",
                Place::default(),
                "[file:hashes.'SSDEEP' = '3:a:b']",
            ),
            (
                "malware-sample",
                "a.exe|2f70",
                Place::default(),
                "[file:name = 'a.exe' AND file:hashes.'MD5' = '2f70']",
            ),
            (
                "email-attachment",
                "brochure .rar",
                Place::default(),
                "[email-message:body_multipart[*].body_raw_ref.name = 'brochure .rar']",
            ),
            (
                "imphash",
                "ab12",
                Place::default(),
                "[file:extensions.'windows-pebinary-ext'.imphash = 'ab12']",
            ),
        ];
        for (kind, value, place, expected) in cases {
            let p = pattern(kind, value, place);
            assert_eq!(p, expected, "{kind}");
            rstix::Pattern::parse(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(
                attribute_from_pattern(&p, Some(kind), place),
                Some((kind.to_owned(), value.to_owned())),
                "{p}"
            );
        }
    }

    #[test]
    fn descriptions_become_notes_and_unknown_types_are_named() {
        assert_eq!(form_for("text", "hi", Place::default()), Ok(Form::Note));
        assert_eq!(form_for("float", "7.1", Place::default()), Ok(Form::Note));
        assert_eq!(
            form_for("link", "https://x", Place::default()),
            Ok(Form::Link)
        );
        assert_eq!(
            form_for("yara", "rule x {}", Place::default()),
            Ok(Form::Rule("yara"))
        );
        assert_eq!(
            form_for("vulnerability", "CVE-2015-1770", Place::default()),
            Ok(Form::Vulnerability)
        );
        assert_eq!(
            form_for("btc", "1Abc", Place::default()),
            Ok(Form::None("no STIX pattern for type btc".into()))
        );
        assert!(matches!(
            form_for("port", "https", Place::default()),
            Ok(Form::None(_))
        ));
        assert!(form_for("filename|md5", "x", Place::default()).is_err());
    }

    #[test]
    fn only_simple_patterns_are_read_back() {
        for pattern in [
            "[ipv4-addr:value != '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '1.2.3.5']",
            "[ipv4-addr:value = '1.2.3.4'] AND [url:value = 'x']",
            "[url:value MATCHES 'a=b']",
            "[file:name = 'a' AND file:name = 'b']",
            "[process:name = 'x']",
            "[url:value = 'unterminated]",
        ] {
            assert_eq!(
                attribute_from_pattern(pattern, None, Place::default()),
                None,
                "{pattern}"
            );
        }
        assert_eq!(
            attribute_from_pattern(
                "[file:hashes.'SHA-1' = 'aa' AND file:name = 'b c']",
                None,
                Place::default()
            ),
            Some(("filename|sha1".into(), "b c|aa".into()))
        );
        assert_eq!(
            attribute_from_pattern(
                "[domain-name:value = 'h.example']",
                Some("hostname"),
                Place::default()
            ),
            Some(("hostname".into(), "h.example".into()))
        );
    }

    proptest! {
        #[test]
        fn any_value_survives_a_pattern(value in "\\PC{1,40}", kind in "(url|filename|ip-src|domain|email-dst|sha512)") {
            prop_assume!(!value.trim().is_empty());
            let Ok(Form::Pattern(pattern)) = form_for(&kind, &value, Place::default()) else {
                panic!("{kind} has a pattern");
            };
            let back = attribute_from_pattern(&pattern, Some(&kind), Place::default());
            prop_assert_eq!(back, Some((kind, value)));
        }
    }
}
