//! The pages' words, in English and Japanese, from Fluent message files (`locales/*.ftl`).
//! Every user-facing string of the pages comes from here; TLP labels never do (they are never
//! translated).

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language of the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    /// The language's tag, as in `<html lang>` and the stored preference.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// The language of a stored preference or an `Accept-Language` header; Japanese when
    /// it comes first, English otherwise.
    pub fn from_tag(tag: &str) -> Self {
        if tag.trim_start().to_ascii_lowercase().starts_with("ja") {
            Lang::Ja
        } else {
            Lang::En
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::Ja,
            Lang::Ja => Lang::En,
        }
    }
}

const EN: &str = include_str!("../../locales/en.ftl");
const JA: &str = include_str!("../../locales/ja.ftl");

struct Bundles {
    en: FluentBundle<FluentResource>,
    ja: FluentBundle<FluentResource>,
}

fn bundle(tag: &str, text: &str) -> FluentBundle<FluentResource> {
    #[allow(clippy::expect_used)] // The files are compiled in and checked by a test.
    let langid = tag.parse().expect("language tag");
    let mut b = FluentBundle::new_concurrent(vec![langid]);
    // No Unicode isolation marks around arguments: pages are plain HTML.
    b.set_use_isolating(false);
    #[allow(clippy::expect_used)]
    let resource = FluentResource::try_new(text.to_owned()).expect("valid Fluent file");
    #[allow(clippy::expect_used)]
    b.add_resource(resource).expect("no duplicate messages");
    b
}

fn bundles() -> &'static Bundles {
    static B: OnceLock<Bundles> = OnceLock::new();
    B.get_or_init(|| Bundles {
        en: bundle("en", EN),
        ja: bundle("ja", JA),
    })
}

/// The message `key` in `lang` with `args`; the key itself when there is no such message.
pub fn t_args(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let b = match lang {
        Lang::En => &bundles().en,
        Lang::Ja => &bundles().ja,
    };
    let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
        return key.to_owned();
    };
    let mut fargs = FluentArgs::new();
    for (k, v) in args {
        fargs.set(*k, FluentValue::from(v.clone()));
    }
    let mut errors = Vec::new();
    b.format_pattern(pattern, Some(&fargs), &mut errors)
        .into_owned()
}

/// The message `key` in `lang`.
pub fn t(lang: Lang, key: &str) -> String {
    t_args(lang, key, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        let mut k: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && l.contains(" = "))
            .filter_map(|l| l.split(" = ").next())
            .map(str::to_owned)
            .collect();
        k.sort();
        k
    }

    #[test]
    fn both_languages_have_every_message() {
        assert_eq!(keys(EN), keys(JA));
        for key in keys(EN) {
            assert_ne!(t(Lang::En, &key), key, "{key} is missing in English");
            assert_ne!(t(Lang::Ja, &key), key, "{key} is missing in Japanese");
        }
    }

    #[test]
    fn arguments_are_filled_in() {
        let s = t_args(Lang::Ja, "compose-will-reach", &[("count", "12".into())]);
        assert_eq!(s, "この注意喚起は 12 組織に届きます：");
        assert_eq!(Lang::from_tag("ja-JP,en;q=0.5"), Lang::Ja);
        assert_eq!(Lang::from_tag("en-US"), Lang::En);
    }
}
