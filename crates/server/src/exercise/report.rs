//! The after-action report and improvement plan of a run, in English or Japanese: what
//! happened (objectives, timeline), the scores (overall, per team with a chart, per
//! expectation), strengths and areas to improve, the lessons learned, and the corrective
//! actions with their owners and due dates. As an HTML page (`templates/web/exercise_report.html`)
//! and as a PDF drawn with krilla in a Japanese font the machine has (Debian's
//! `fonts-ipafont-gothic` or `fonts-noto-cjk`, or the file `pdf_font` names).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use askama::Template;
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

use crate::web::i18n::{Lang, t};

/// Where Debian's Japanese fonts are, in the order tried.
pub const FONT_CANDIDATES: [(&str, u32); 4] = [
    ("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf", 0),
    ("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf", 0),
];

/// One row of the timeline.
#[derive(Clone, Debug)]
pub struct TimelineRow {
    /// Exercise time, h:mm.
    pub at: String,
    pub title: String,
    pub kind: String,
    pub sent: bool,
}

/// One team's points.
#[derive(Clone, Debug)]
pub struct TeamRow {
    pub name: String,
    pub earned: u32,
    pub possible: u32,
}

impl TeamRow {
    /// The share earned, 0 to 100.
    pub fn percent(&self) -> u32 {
        (self.earned * 100).checked_div(self.possible).unwrap_or(0)
    }
}

/// One expectation's result.
#[derive(Clone, Debug)]
pub struct ExpectationRow {
    pub text: String,
    pub team: String,
    pub met: bool,
    pub points: u32,
    /// How many organizations met it, were late, wrong, missing; `None` when shown for the
    /// team only.
    pub counts: Option<[usize; 4]>,
}

/// One corrective action.
#[derive(Clone, Debug)]
pub struct ActionRow {
    pub title: String,
    pub org: String,
    pub assignee: String,
    pub due: String,
    pub closed: bool,
}

/// Everything the report says, already in the reader's language and limited to what the
/// reader may see.
#[derive(Clone, Debug)]
pub struct AfterAction {
    pub lang: Lang,
    pub scenario: String,
    pub run: i64,
    pub owner: String,
    pub state: String,
    pub period: String,
    pub speed: u32,
    pub participants: usize,
    pub objectives: Vec<String>,
    pub timeline: Vec<TimelineRow>,
    pub earned: u32,
    pub possible: u32,
    pub teams: Vec<TeamRow>,
    pub expectations: Vec<ExpectationRow>,
    pub lessons: Vec<(String, Vec<String>)>,
    pub actions: Vec<ActionRow>,
    pub generated: String,
}

impl AfterAction {
    pub fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }

    /// The expectations met: the strengths.
    pub fn strengths(&self) -> Vec<&ExpectationRow> {
        self.expectations.iter().filter(|e| e.met).collect()
    }

    /// The expectations not met: the areas to improve.
    pub fn improve(&self) -> Vec<&ExpectationRow> {
        self.expectations.iter().filter(|e| !e.met).collect()
    }

    /// What an expectation's counts say, such as "Met 3 · Late 1 · Wrong 0 · Missing 2".
    pub fn counts(&self, e: &ExpectationRow) -> String {
        match e.counts {
            Some([m, l, w, x]) => format!(
                "{} {m} · {} {l} · {} {w} · {} {x}",
                self.t("aar-met"),
                self.t("aar-late"),
                self.t("aar-wrong"),
                self.t("aar-missing")
            ),
            None => self.t("aar-hidden"),
        }
    }

    /// The overall share earned, 0 to 100.
    pub fn percent(&self) -> u32 {
        (self.earned * 100).checked_div(self.possible).unwrap_or(0)
    }
}

#[derive(Template)]
#[template(path = "web/exercise_report.html")]
struct ReportPage<'a> {
    r: &'a AfterAction,
}

/// The report as a page of its own (printable, and what a shared link shows).
pub fn html(r: &AfterAction) -> Result<String, askama::Error> {
    ReportPage { r }.render()
}

/// Why a PDF cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "no Japanese font for the PDF: install Debian's fonts-ipafont-gothic (or fonts-noto-cjk), or set pdf_font to a TrueType or OpenType file"
    )]
    NoFont,
    #[error("the font {0} cannot be used: {1}")]
    BadFont(String, String),
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

/// The font file to use: `configured` if given, else the first candidate present.
pub fn find_font(configured: Option<&Path>) -> Option<(PathBuf, u32)> {
    if let Some(p) = configured {
        return Some((p.to_path_buf(), 0));
    }
    FONT_CANDIDATES
        .iter()
        .map(|(p, i)| (PathBuf::from(p), *i))
        .find(|(p, _)| p.exists())
}

/// The font, read once per process.
fn font(configured: Option<&Path>) -> Result<Font, PdfError> {
    static FONT: OnceLock<Result<Font, String>> = OnceLock::new();
    let loaded = FONT.get_or_init(|| {
        let Some((path, index)) = find_font(configured) else {
            return Err(String::new());
        };
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Font::new(data.into(), index)
            .ok_or_else(|| format!("{}: not a font krilla can read", path.display()))
    });
    match loaded {
        Ok(f) => Ok(f.clone()),
        Err(e) if e.is_empty() => Err(PdfError::NoFont),
        Err(e) => Err(PdfError::BadFont(e.clone(), "unreadable".into())),
    }
}

/// A4 in points, and the margin.
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;

/// The width of `text` at `size`, for a Japanese gothic font: half an em for ASCII, an em
/// for the rest (IPA Gothic is fixed-pitch; for a proportional font it is an upper bound).
fn width(text: &str, size: f32) -> f32 {
    text.chars()
        .map(|c| if c.is_ascii() { 0.5 } else { 1.0 })
        .sum::<f32>()
        * size
}

/// `text` broken into lines no wider than `max` at `size`, at spaces where there are any,
/// anywhere in Japanese.
fn wrap(text: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_inclusive(' ') {
            if width(&line, size) + width(word, size) <= max {
                line.push_str(word);
                continue;
            }
            if !line.trim().is_empty() {
                lines.push(line.trim_end().to_owned());
                line.clear();
            }
            for c in word.chars() {
                if width(&line, size) + width(&c.to_string(), size) > max {
                    lines.push(std::mem::take(&mut line));
                }
                line.push(c);
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// Draws pages top to bottom, starting a new page when one is full.
struct Writer {
    doc: Document,
    font: Font,
    /// Each page's drawing, in order: (kind, x, y, size or width, text or height, colour).
    pages: Vec<Vec<Mark>>,
    y: f32,
}

enum Mark {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
        grey: bool,
    },
    Bar {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        colour: (u8, u8, u8),
    },
}

impl Writer {
    fn new(font: Font) -> Self {
        Self {
            doc: Document::new(),
            font,
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn room(&mut self, h: f32) {
        if self.y + h > PAGE_H - MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn mark(&mut self, m: Mark) {
        if let Some(p) = self.pages.last_mut() {
            p.push(m);
        }
    }

    fn text(&mut self, text: &str, size: f32, indent: f32, grey: bool) {
        let lead = size * 1.45;
        for line in wrap(text, size, PAGE_W - 2.0 * MARGIN - indent) {
            self.room(lead);
            self.y += lead;
            self.mark(Mark::Text {
                x: MARGIN + indent,
                y: self.y,
                size,
                text: line,
                grey,
            });
        }
    }

    fn heading(&mut self, text: &str) {
        self.y += 8.0;
        self.room(40.0);
        self.text(text, 14.0, 0.0, false);
        self.y += 2.0;
    }

    fn gap(&mut self, h: f32) {
        self.y += h;
    }

    /// A labelled bar: `share` (0 to 100) of the width after the label.
    fn bar(&mut self, label: &str, share: u32, figure: &str) {
        let size = 10.0;
        self.room(20.0);
        self.y += 16.0;
        let label_w = 170.0;
        let full = PAGE_W - 2.0 * MARGIN - label_w - 80.0;
        let y = self.y;
        for (k, line) in wrap(label, size, label_w - 6.0)
            .into_iter()
            .take(1)
            .enumerate()
        {
            self.mark(Mark::Text {
                x: MARGIN,
                y: y + k as f32 * 12.0,
                size,
                text: line,
                grey: false,
            });
        }
        self.mark(Mark::Bar {
            x: MARGIN + label_w,
            y: y - 10.0,
            w: full,
            h: 12.0,
            colour: (0xe5, 0xe7, 0xeb),
        });
        self.mark(Mark::Bar {
            x: MARGIN + label_w,
            y: y - 10.0,
            w: full * share.min(100) as f32 / 100.0,
            h: 12.0,
            colour: (0x1f, 0x6f, 0xb2),
        });
        self.mark(Mark::Text {
            x: MARGIN + label_w + full + 8.0,
            y,
            size,
            text: figure.to_owned(),
            grey: false,
        });
    }

    fn finish(mut self, title: &str, lang: Lang) -> Result<Vec<u8>, PdfError> {
        let pages = std::mem::take(&mut self.pages);
        let count = pages.len();
        for (n, marks) in pages.into_iter().enumerate() {
            let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
                .ok_or_else(|| PdfError::Write("page size".into()))?;
            let mut page = self.doc.start_page_with(settings);
            let mut s = page.surface();
            for m in marks {
                draw(&mut s, &self.font, m);
            }
            draw(
                &mut s,
                &self.font,
                Mark::Text {
                    x: PAGE_W - MARGIN - 40.0,
                    y: PAGE_H - MARGIN / 2.0,
                    size: 8.0,
                    text: format!("{} / {count}", n + 1),
                    grey: true,
                },
            );
            s.finish();
            page.finish();
        }
        self.doc.set_metadata(
            Metadata::new()
                .title(title.to_owned())
                .language(lang.tag().to_owned())
                .creator("ciphub".to_owned()),
        );
        self.doc
            .finish()
            .map_err(|e| PdfError::Write(format!("{e:?}")))
    }
}

fn fill(s: &mut Surface<'_>, (r, g, b): (u8, u8, u8)) {
    s.set_fill(Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }));
}

fn draw(s: &mut Surface<'_>, font: &Font, m: Mark) {
    match m {
        Mark::Text {
            x,
            y,
            size,
            text,
            grey,
        } => {
            fill(s, if grey { (0x59, 0x59, 0x59) } else { (0, 0, 0) });
            s.draw_text(
                Point::from_xy(x, y),
                font.clone(),
                size,
                &text,
                false,
                TextDirection::Auto,
            );
        }
        Mark::Bar { x, y, w, h, colour } => {
            let Some(rect) = Rect::from_xywh(x, y, w.max(0.1), h) else {
                return;
            };
            let mut pb = PathBuilder::new();
            pb.push_rect(rect);
            if let Some(path) = pb.finish() {
                fill(s, colour);
                s.draw_path(&path);
            }
        }
    }
}

/// The report as a PDF, in the font `pdf_font` names or one the machine has.
pub fn pdf(r: &AfterAction, pdf_font: Option<&Path>) -> Result<Vec<u8>, PdfError> {
    let mut w = Writer::new(font(pdf_font)?);
    let title = format!("{}: {}", r.t("aar-title"), r.scenario);
    w.text(&r.t("aar-title"), 18.0, 0.0, false);
    w.text(&r.scenario, 14.0, 0.0, false);
    w.gap(6.0);
    for (k, v) in [
        ("aar-owner", r.owner.clone()),
        ("aar-period", r.period.clone()),
        ("aar-state", r.state.clone()),
        ("aar-speed", format!("x{}", r.speed)),
        ("aar-participants", r.participants.to_string()),
    ] {
        w.text(&format!("{}: {v}", r.t(k)), 10.0, 0.0, false);
    }
    w.heading(&r.t("aar-objectives"));
    for o in &r.objectives {
        w.text(&format!("・{o}"), 10.0, 8.0, false);
    }
    w.heading(&r.t("aar-scores"));
    w.bar(
        &r.t("aar-overall"),
        r.percent(),
        &format!("{}/{} {}", r.earned, r.possible, r.t("aar-points")),
    );
    for team in &r.teams {
        w.bar(
            &team.name,
            team.percent(),
            &format!("{}/{}", team.earned, team.possible),
        );
    }
    w.heading(&r.t("aar-timeline"));
    for row in &r.timeline {
        let note = if row.sent {
            String::new()
        } else {
            format!(" ({})", r.t("aar-not-sent"))
        };
        w.text(
            &format!("{}  [{}] {}{note}", row.at, row.kind, row.title),
            10.0,
            0.0,
            !row.sent,
        );
    }
    w.heading(&r.t("aar-expectations"));
    for e in &r.expectations {
        let mark = if e.met { "○" } else { "×" };
        w.text(
            &format!(
                "{mark} {} ({}, {} {})",
                e.text,
                e.team,
                e.points,
                r.t("aar-points")
            ),
            10.0,
            0.0,
            false,
        );
        w.text(&r.counts(e), 9.0, 14.0, true);
    }
    for (key, rows) in [
        ("aar-strengths", r.strengths()),
        ("aar-improve", r.improve()),
    ] {
        w.heading(&r.t(key));
        if rows.is_empty() {
            w.text(&r.t("aar-none"), 10.0, 8.0, true);
        }
        for e in rows {
            w.text(&format!("・{}", e.text), 10.0, 8.0, false);
        }
    }
    w.heading(&r.t("aar-lessons"));
    if r.lessons.iter().all(|(_, a)| a.is_empty()) {
        w.text(&r.t("aar-none"), 10.0, 8.0, true);
    }
    for (q, answers) in r.lessons.iter().filter(|(_, a)| !a.is_empty()) {
        w.text(q, 10.0, 0.0, false);
        for a in answers {
            w.text(&format!("・{a}"), 10.0, 12.0, false);
        }
    }
    w.heading(&r.t("aar-actions"));
    if r.actions.is_empty() {
        w.text(&r.t("aar-none"), 10.0, 8.0, true);
    }
    for a in &r.actions {
        let state = if a.closed {
            r.t("aar-closed")
        } else {
            r.t("aar-open")
        };
        w.text(&format!("・{} [{state}]", a.title), 10.0, 8.0, false);
        w.text(
            &format!(
                "{}: {} · {}: {} · {}: {}",
                r.t("aar-action-org"),
                a.org,
                r.t("aar-action-assignee"),
                a.assignee,
                r.t("aar-action-due"),
                a.due
            ),
            9.0,
            20.0,
            true,
        );
    }
    w.gap(10.0);
    w.text(
        &format!("{} {}", r.t("aar-generated"), r.generated),
        8.0,
        0.0,
        true,
    );
    w.finish(&title, r.lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_the_page_in_both_scripts() {
        let max = 100.0;
        for line in wrap(
            "a quick brown fox jumps over the lazy dog again and again",
            10.0,
            max,
        ) {
            assert!(width(&line, 10.0) <= max, "{line}");
        }
        let ja = wrap(
            "演習は終了しました。貴組織としての回答をお願いします。",
            10.0,
            max,
        );
        assert!(ja.len() >= 3, "{ja:?}");
        assert!(ja.iter().all(|l| width(l, 10.0) <= max));
        assert!(wrap("", 10.0, max).is_empty());
    }
}
