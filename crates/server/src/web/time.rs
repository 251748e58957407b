//! Times as a user reads them: in the user's time zone (their own setting, else the
//! instance's), to the minute with the zone's abbreviation, with how long ago (or how soon)
//! when that is within a week, and the exact time with the zone's name on hover. Forms take
//! times in the same zone.

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;

use super::Ctx;
use super::i18n::Lang;

/// A time zone by its IANA name (`Asia/Tokyo`), or why not.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("{name:?} is not a time zone name of the IANA database, such as Asia/Tokyo or UTC")
    })
}

/// Every zone name, for the pickers.
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `t` in `tz` to the minute, as the page's language writes a date.
pub fn local(t: DateTime<Utc>, tz: Tz, lang: Lang) -> String {
    let t = t.with_timezone(&tz);
    match lang {
        Lang::Ja => t.format("%Y年%-m月%-d日 %H:%M %Z").to_string(),
        Lang::En => t.format("%Y-%m-%d %H:%M %Z").to_string(),
    }
}

/// How long before (or after) `now` `t` is, in words, when within a week.
fn relative(t: DateTime<Utc>, now: DateTime<Utc>, ctx: &Ctx) -> Option<String> {
    let secs = (now - t).num_seconds();
    let (past, secs) = (secs >= 0, secs.unsigned_abs());
    if secs < 60 {
        return Some(ctx.t("time-now"));
    }
    let (unit, n) = match secs {
        s if s < 3_600 => ("minute", s / 60),
        s if s < 86_400 => ("hour", s / 3_600),
        s if s < 7 * 86_400 => ("day", s / 86_400),
        _ => return None,
    };
    let key = format!(
        "time-{unit}{}-{}",
        if n == 1 { "" } else { "s" },
        if past { "ago" } else { "ahead" }
    );
    Some(ctx.t1(&key, "n", n))
}

impl Ctx {
    /// A stored time (RFC 3339) as HTML: a `<time>` element in the user's zone. Text that is
    /// not a time is shown as it is.
    pub fn time(&self, rfc3339: &str) -> String {
        let Ok(t) = DateTime::parse_from_rfc3339(rfc3339) else {
            return escape(rfc3339);
        };
        let t = t.with_timezone(&Utc);
        let exact = t.with_timezone(&self.tz).format("%Y-%m-%d %H:%M:%S %Z");
        let mut shown = local(t, self.tz, self.lang);
        if let Some(r) = relative(t, self.now, self) {
            shown.push_str(" · ");
            shown.push_str(&r);
        }
        format!(
            "<time datetime=\"{}\" title=\"{} ({})\">{}</time>",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            exact,
            self.tz.name(),
            escape(&shown)
        )
    }

    /// A dashboard line's note as HTML: a time in the user's zone, an organization by its
    /// name, or the text as it is.
    pub fn note(&self, text: &str) -> String {
        if DateTime::parse_from_rfc3339(text).is_ok() {
            self.time(text)
        } else {
            escape(&self.org(text))
        }
    }

    /// A time as HTML, as `time` shows a stored one.
    pub fn time_at(&self, t: &DateTime<Utc>) -> String {
        self.time(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }

    /// A time as plain text in the user's zone, to the second (for CSV).
    pub fn exact_time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    /// An optional stored time as HTML (nothing when there is none).
    pub fn time_opt(&self, rfc3339: &Option<String>) -> String {
        rfc3339.as_deref().map(|t| self.time(t)).unwrap_or_default()
    }

    /// A severity level as an HTML badge in its schema's colour (text in black or white,
    /// whichever reads better on it), marked when the level is an emergency.
    pub fn severity(&self, s: &crate::api::reports::SeverityJson) -> String {
        let name = self.level(&s.schema, s.level, &s.name_en);
        // Only a plain #rrggbb colour goes into the style.
        let colour = Some(s.colour.as_str()).filter(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|h| h.is_ascii_hexdigit())
        });
        let style = colour.map_or_else(String::new, |c| {
            let text = if reads_better_in_black(c) {
                "#000"
            } else {
                "#fff"
            };
            format!(" style=\"background:{c};color:{text}\"")
        });
        let emergency = if s.emergency {
            format!(
                " <strong class=\"emergency\">⚠ {}</strong>",
                escape(&self.t("severity-emergency"))
            )
        } else {
            String::new()
        };
        format!(
            "<span class=\"sev\"{style}>{}</span>{emergency}",
            escape(&name)
        )
    }

    /// The user's time zone's name, for labels of time inputs.
    pub fn zone(&self) -> &'static str {
        self.tz.name()
    }
}

/// Whether black text contrasts more than white on the colour `#rrggbb`, by WCAG 2's
/// relative luminance (a rough brightness puts white on orange, which few can read).
fn reads_better_in_black(colour: &str) -> bool {
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&colour[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // Contrast with black (l + 0.05) / 0.05 against white's 1.05 / (l + 0.05).
    (l + 0.05) * (l + 0.05) > 0.05 * 1.05
}

/// `t` as a `datetime-local` input's value in `tz`.
pub fn input_value(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// A `datetime-local` input's value (`YYYY-MM-DDTHH:MM`, seconds optional) read in `tz`, as
/// RFC 3339 in UTC; empty stays empty, and a value with a zone of its own is taken as it is.
/// A local time that the zone skips (a clock change) is refused; one it has twice is taken
/// the first time.
pub fn from_input(value: &str, tz: Tz) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || DateTime::parse_from_rfc3339(value).is_ok() {
        return Ok(value.to_owned());
    }
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("{value:?} is not a date and time (YYYY-MM-DDTHH:MM)"))?;
    let t = tz.from_local_datetime(&naive).earliest().ok_or_else(|| {
        format!(
            "{value} does not exist in {} (the clocks change)",
            tz.name()
        )
    })?;
    Ok(t.with_timezone(&Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_shows_in_its_colour_and_says_emergency() {
        let ctx = super::super::anonymous_ctx(Lang::En);
        let mut s = crate::api::reports::SeverityJson {
            schema: "seed-draft".into(),
            level: 5,
            name_en: "Critical".into(),
            colour: "#000000".into(),
            emergency: true,
            score: None,
        };
        let html = ctx.severity(&s);
        assert!(html.contains("background:#000000;color:#fff"), "{html}");
        assert!(html.contains("Emergency"), "{html}");
        s.colour = "#f9a825".into();
        s.emergency = false;
        let html = ctx.severity(&s);
        assert!(html.contains("background:#f9a825;color:#000"), "{html}");
        assert!(!html.contains("Emergency"));
        // Orange is too light for white text (3.1:1); black reads at 6.8:1.
        s.colour = "#ef6c00".into();
        assert!(ctx.severity(&s).contains("color:#000"));
        s.colour = "#2e7d32".into();
        assert!(ctx.severity(&s).contains("color:#fff"));
        // Anything but #rrggbb stays out of the style.
        s.colour = "red;background-image:url(x)".into();
        assert!(!ctx.severity(&s).contains("style"));
    }

    #[test]
    fn local_inputs_are_read_in_the_users_zone() {
        let tokyo = parse_zone("Asia/Tokyo").expect("zone");
        assert_eq!(
            from_input("2026-04-01T09:30", tokyo).as_deref(),
            Ok("2026-04-01T00:30:00Z")
        );
        assert_eq!(
            from_input("2026-04-01T09:30:15", chrono_tz::UTC).as_deref(),
            Ok("2026-04-01T09:30:15Z")
        );
        assert_eq!(from_input("", tokyo).as_deref(), Ok(""));
        assert_eq!(
            from_input("2026-04-01T00:30:00Z", tokyo).as_deref(),
            Ok("2026-04-01T00:30:00Z")
        );
        assert!(from_input("yesterday", tokyo).is_err());
        // 02:30 does not happen in New York on the day the clocks go forward.
        let ny = parse_zone("America/New_York").expect("zone");
        assert!(from_input("2026-03-08T02:30", ny).is_err());
        assert!(parse_zone("Mars/Olympus").is_err());
        let t = DateTime::parse_from_rfc3339("2026-04-01T00:30:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(input_value(t, tokyo), "2026-04-01T09:30");
        assert_eq!(local(t, tokyo, Lang::En), "2026-04-01 09:30 JST");
        assert_eq!(local(t, tokyo, Lang::Ja), "2026年4月1日 09:30 JST");
    }
}
