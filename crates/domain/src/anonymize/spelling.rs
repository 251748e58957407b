//! Text as identifiers are matched in it: folded (compatibility caseless, Unicode D146),
//! without what cannot be seen, defanged spellings undone, and every character mapped back to
//! the bytes of the original it came from, so that a match is shown where it was written.

use std::ops::Range;

use caseless::Caseless;
use icu_properties::props::{
    DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup, Script,
};
use icu_properties::{CodePointMapData, CodePointSetData};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

/// Keys shorter than this (in characters) match only as whole words where words are spaced.
const SHORT: usize = 5;

/// The most separators (spaces, punctuation, symbols) a match may hold between two of its
/// letters: enough for `tokyo - water` or `ops [at] host`, too few to join words across a
/// sentence.
const MAX_GAP: usize = 3;

/// Defanged spellings, as folded text, and what they stand for.
const DEFANGS: &[(&str, &str)] = &[
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("<.>", "."),
    ("[dot]", "."),
    ("(dot)", "."),
    ("{dot}", "."),
    ("<dot>", "."),
    ("[@]", "@"),
    ("(@)", "@"),
    ("{@}", "@"),
    ("[at]", "@"),
    ("(at)", "@"),
    ("{at}", "@"),
    ("<at>", "@"),
    ("[:]", ":"),
    ("[::]", "::"),
    ("hxxp", "http"),
];

/// One character of the folded text and the bytes of the original it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unit {
    c: char,
    start: usize,
    end: usize,
}

/// A text spelled out for matching.
pub(crate) struct Spelling {
    units: Vec<Unit>,
    /// Every unit, for finding addresses; `plain_at[i]` is the unit of byte `i`.
    plain: String,
    plain_at: Vec<usize>,
    /// The letters, marks and digits only, for finding names; `key_at[i]` is the unit of byte `i`.
    key: String,
    key_at: Vec<usize>,
}

impl Spelling {
    /// Spells out `text`.
    pub(crate) fn new(text: &str) -> Spelling {
        let units = undefang(fold(text));
        let mut plain = String::with_capacity(units.len());
        let mut plain_at = Vec::with_capacity(units.len());
        let mut key = String::with_capacity(units.len());
        let mut key_at = Vec::with_capacity(units.len());
        let spread = spread_out(&units);
        for (i, u) in units.iter().enumerate() {
            if !spread[i] {
                plain.push(u.c);
                plain_at.extend(std::iter::repeat_n(i, u.c.len_utf8()));
            }
            if is_letter(u.c) {
                key.push(u.c);
                key_at.extend(std::iter::repeat_n(i, u.c.len_utf8()));
            }
        }
        Spelling {
            units,
            plain,
            plain_at,
            key,
            key_at,
        }
    }

    /// The letters, marks and digits of the text, folded: what a name is matched by.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Every unit of the text, folded, defanged spellings undone, without spaces inside what
    /// could be an address (`198.51 .100.23`): what addresses are read from.
    pub(crate) fn plain(&self) -> &str {
        &self.plain
    }

    /// The bytes of the original text that `range` of `plain()` came from.
    pub(crate) fn original_of_plain(&self, range: Range<usize>) -> Range<usize> {
        match (self.plain_at.get(range.start), range.end.checked_sub(1)) {
            (Some(&first), Some(last)) if range.start < range.end => {
                self.original(first, self.plain_at[last])
            }
            _ => 0..0,
        }
    }

    /// Where `needle` (another spelling's key) is written in this text, as byte ranges of the
    /// original: separators may stand between its letters, and a short needle must stand as a
    /// word of its own where the script spaces its words.
    pub(crate) fn find(&self, needle: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        if needle.is_empty() {
            return out;
        }
        let short = needle.chars().count() < SHORT;
        let mut from = 0;
        while let Some(at) = self.key.get(from..).and_then(|k| k.find(needle)) {
            let start = from + at;
            let end = start + needle.len();
            let (first, last) = (self.key_at[start], self.key_at[end - 1]);
            if self.tight(start, end) && (!short || self.whole_word(first, last)) {
                out.push(self.original(first, last));
                from = end;
            } else {
                from = start + self.key[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        out
    }

    /// Whether the key's bytes `start..end` have no more than `MAX_GAP` separators between two
    /// letters.
    fn tight(&self, start: usize, end: usize) -> bool {
        let mut previous: Option<usize> = None;
        for (i, _) in self.key[start..end].char_indices() {
            let unit = self.key_at[start + i];
            if previous.is_some_and(|p| unit - p - 1 > MAX_GAP) {
                return false;
            }
            previous = Some(unit);
        }
        true
    }

    /// Whether units `first..=last` are not glued to a word on either side.
    fn whole_word(&self, first: usize, last: usize) -> bool {
        let glued = |outside: Option<&Unit>, inside: &Unit| {
            outside.is_some_and(|o| is_spaced_letter(o.c) && is_spaced_letter(inside.c))
        };
        let before = first.checked_sub(1).and_then(|i| self.units.get(i));
        !glued(before, &self.units[first]) && !glued(self.units.get(last + 1), &self.units[last])
    }

    /// The bytes of the original text that units `first..=last` came from.
    fn original(&self, first: usize, last: usize) -> Range<usize> {
        let span = &self.units[first..=last];
        let start = span.iter().map(|u| u.start).min().unwrap_or(0);
        let end = span.iter().map(|u| u.end).max().unwrap_or(start);
        start..end
    }
}

/// Which units are spaces inside what could be an address: a run of spacing between digits,
/// dots or colons with a dot or colon on at least one side (`198.51 .100.23`,
/// `198 . 51 . 100 . 23`; not the space of `port 1 198.51.100.23`).
fn spread_out(units: &[Unit]) -> Vec<bool> {
    let address_char = |c: char| c.is_ascii_digit() || c == '.' || c == ':';
    let mut out = vec![false; units.len()];
    let mut i = 0;
    while i < units.len() {
        if !units[i].c.is_whitespace() {
            i += 1;
            continue;
        }
        let run = i;
        while i < units.len() && units[i].c.is_whitespace() {
            i += 1;
        }
        let before = run.checked_sub(1).map(|b| units[b].c);
        let after = units.get(i).map(|u| u.c);
        let separator = |c: Option<char>| matches!(c, Some('.' | ':'));
        if before.is_some_and(address_char)
            && after.is_some_and(address_char)
            && (separator(before) || separator(after))
        {
            out[run..i].iter_mut().for_each(|s| *s = true);
        }
    }
    out
}

/// Folds every character of `text` for compatibility caseless matching (NFKD of the full
/// case folding, twice, as Unicode's D146 says), dropping what cannot be seen (zero-width and
/// other format characters, soft hyphens) and Latin-style diacritics (so `Tōkyō` is `tokyo`).
fn fold(text: &str) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::with_capacity(text.len());
    for (start, c) in text.char_indices() {
        let end = start + c.len_utf8();
        if c.is_ascii() {
            units.push(Unit {
                c: c.to_ascii_lowercase(),
                start,
                end,
            });
            continue;
        }
        let before = units.len();
        let folded = std::iter::once(c)
            .nfd()
            .default_case_fold()
            .nfkd()
            .default_case_fold()
            .nfkd();
        for d in folded {
            if is_diacritic(d) || is_invisible(d) {
                continue;
            }
            // IDNA reads the ideographic full stop as a dot, and so may a reader of a domain.
            let d = if d == '\u{3002}' { '.' } else { d };
            units.push(Unit { c: d, start, end });
        }
        // A combining mark written on its own belongs to the character before it, so a match
        // ending there takes it along rather than cutting the character in two.
        if units.len() == before && is_mark(c) {
            let Some(&last) = units.last() else { continue };
            for u in units.iter_mut().rev().take_while(|u| u.start == last.start) {
                u.end = end;
            }
        }
    }
    reorder(&mut units);
    units
}

/// Puts each run of combining marks in canonical order, as normalization would.
fn reorder(units: &mut [Unit]) {
    let mut i = 0;
    while i < units.len() {
        if canonical_combining_class(units[i].c) == 0 {
            i += 1;
            continue;
        }
        let run = i;
        while i < units.len() && canonical_combining_class(units[i].c) != 0 {
            i += 1;
        }
        units[run..i].sort_by_key(|u| canonical_combining_class(u.c));
    }
}

/// Replaces defanged spellings (`[.]`, `[at]`, `hxxp`...) by what they stand for; a replacement
/// shorter than its spelling takes the whole spelling's place in the original.
fn undefang(units: Vec<Unit>) -> Vec<Unit> {
    let mut out = Vec::with_capacity(units.len());
    let mut i = 0;
    'units: while i < units.len() {
        if matches!(units[i].c, '[' | '(' | '{' | '<' | 'h') {
            for (spelling, meaning) in DEFANGS {
                let n = spelling.chars().count();
                let Some(span) = units.get(i..i + n) else {
                    continue;
                };
                if !span.iter().map(|u| u.c).eq(spelling.chars()) {
                    continue;
                }
                if meaning.chars().count() == n {
                    out.extend(
                        span.iter()
                            .zip(meaning.chars())
                            .map(|(u, c)| Unit { c, ..*u }),
                    );
                } else {
                    let start = span.iter().map(|u| u.start).min().unwrap_or(0);
                    let end = span.iter().map(|u| u.end).max().unwrap_or(start);
                    out.extend(meaning.chars().map(|c| Unit { c, start, end }));
                }
                i += n;
                continue 'units;
            }
        }
        out.push(units[i]);
        i += 1;
    }
    out
}

fn general_category(c: char) -> GeneralCategory {
    CodePointMapData::<GeneralCategory>::new().get(c)
}

/// Letters, marks and digits: what names are matched by; everything else separates.
fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    let gc = general_category(c);
    GeneralCategoryGroup::Letter.contains(gc)
        || GeneralCategoryGroup::Mark.contains(gc)
        || GeneralCategoryGroup::Number.contains(gc)
}

/// A letter of a script that spaces its words, where a short name must stand alone.
fn is_spaced_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    // The prolonged sound mark is written only inside Japanese words.
    if !is_letter(c) || c == '\u{30FC}' {
        return false;
    }
    let script = CodePointMapData::<Script>::new().get(c);
    ![
        Script::Han,
        Script::Hiragana,
        Script::Katakana,
        Script::Thai,
        Script::Lao,
        Script::Khmer,
        Script::Myanmar,
    ]
    .contains(&script)
}

/// Characters that are not drawn: zero-width spaces and joiners, word joiners, byte-order
/// marks, soft hyphens, variation selectors, tags.
fn is_invisible(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || general_category(c) == GeneralCategory::Format
}

/// The Combining Diacritical Marks blocks: accents, dots, rings over Latin, Greek, Cyrillic.
fn is_diacritic(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

fn is_mark(c: char) -> bool {
    GeneralCategoryGroup::Mark.contains(general_category(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        Spelling::new(s).key().to_owned()
    }

    #[test]
    fn keys_fold_case_width_accents_and_drop_what_separates() {
        assert_eq!(key("Tokyo Water"), "tokyowater");
        assert_eq!(key("ＴＯＫＹＯ－Ｗａｔｅｒ"), "tokyowater");
        assert_eq!(key("To\u{212A}yo\u{200B}Wa\u{00AD}ter"), "tokyowater");
        assert_eq!(key("Tōkyō Water"), "tokyowater");
        assert_eq!(key("STRASSE"), key("Straße"));
        assert_eq!(key("ﾄｰｷｮｰｶﾞｽ"), key("トーキョーガス"));
        assert_eq!(key("東京\u{3000}水道"), "東京水道");
    }

    #[test]
    fn plain_text_undoes_defanging_and_maps_back() {
        let text = "hxxps://198[.]51(.)100{.}23 ops[at]x";
        let s = Spelling::new(text);
        assert_eq!(s.plain(), "https://198.51.100.23 ops@x");
        let at = s.plain().find("100.23").expect("found");
        let r = s.original_of_plain(at..at + "100.23".len());
        assert_eq!(&text[r], "100{.}23");
    }

    #[test]
    fn spaces_inside_an_address_are_read_through() {
        for text in ["at 198.51 .100.23 today", "at 198 . 51 . 100 . 23 today"] {
            let s = Spelling::new(text);
            let at = s.plain().find("198.51.100.23").expect(text);
            let r = s.original_of_plain(at..at + "198.51.100.23".len());
            assert_eq!(text[r].replace(' ', ""), "198.51.100.23");
        }
        // Spaces between words and numbers stay.
        assert_eq!(Spelling::new("port 443 open").plain(), "port 443 open");
        assert_eq!(Spelling::new("1 198.51.100.23").plain(), "1 198.51.100.23");
    }

    #[test]
    fn a_decomposed_accent_stays_with_its_letter() {
        let text = "Cafe\u{0301} noir";
        let s = Spelling::new(text);
        let found = s.find(&key("Café"));
        assert_eq!(found.len(), 1);
        assert_eq!(&text[found[0].clone()], "Cafe\u{0301}");
    }
}
