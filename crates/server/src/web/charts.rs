//! The dashboard's charts: bars drawn by the `web/chart.html` template as inline SVG (no
//! script, no library), with their words in HTML so they stay legible at a phone's width, a
//! legend of the colours, and the figures as a table for screen readers. Each chart is built
//! from what the page already read through the API, as the caller may see it: never a count
//! of what the caller may not see.

use std::collections::{BTreeMap, BTreeSet};

use super::Ctx;
use crate::api::alerts::AlertJson;
use crate::api::reports::ReportJson;

/// One chart: rows of bars, each split in parts of the legend's colours.
pub struct Chart {
    /// Unique on the page: the figure's id is `chart-{id}`.
    pub id: &'static str,
    pub title: String,
    /// What the figures cover.
    pub note: String,
    /// The heading of the rows' labels in the table of figures.
    pub head: String,
    pub legend: Vec<Key>,
    pub rows: Vec<Bar>,
    /// Columns side by side (a time line) rather than bars one under another.
    pub columns: bool,
}

/// A colour of the legend and what it means.
pub struct Key {
    pub colour: String,
    pub name: String,
}

/// One bar: its label, where it links to, and its figure for each key of the legend.
pub struct Bar {
    pub label: String,
    /// A short label under a column (a day of the month).
    pub short: String,
    pub href: Option<String>,
    pub parts: Vec<u32>,
}

/// A part of a bar as the template draws it: where it starts and how wide it is (percent of
/// the widest bar), its colour, and what it says on hover.
pub struct Segment {
    pub x: String,
    pub width: String,
    pub colour: String,
    pub title: String,
}

impl Bar {
    pub fn total(&self) -> u32 {
        self.parts.iter().sum()
    }
}

impl Chart {
    /// The longest bar's total (at least 1).
    pub fn max(&self) -> u32 {
        self.rows.iter().map(Bar::total).max().unwrap_or(0).max(1)
    }

    /// The parts of `bar` to draw, left to right.
    pub fn segments(&self, bar: &Bar) -> Vec<Segment> {
        let max = f64::from(self.max());
        let mut start = 0u32;
        let mut out = Vec::new();
        for (n, key) in bar.parts.iter().zip(&self.legend) {
            if *n == 0 {
                continue;
            }
            out.push(Segment {
                x: percent(f64::from(start) / max),
                width: percent(f64::from(*n) / max),
                colour: key.colour.clone(),
                title: format!("{}: {n}", key.name),
            });
            start += n;
        }
        out
    }

    /// A column's height as a percentage of the chart's, and where its top is.
    pub fn column(&self, bar: &Bar) -> (String, String) {
        let share = f64::from(bar.total()) / f64::from(self.max());
        (percent(1.0 - share), percent(share))
    }

    /// Where the column `i` starts and how wide it is, in percent of the chart's width.
    pub fn column_x(&self, i: &usize) -> (String, String) {
        let n = self.rows.len().max(1) as f64;
        let slot = 1.0 / n;
        (percent(*i as f64 * slot + slot * 0.1), percent(slot * 0.8))
    }
}

fn percent(share: f64) -> String {
    format!("{:.2}", (share * 100.0).clamp(0.0, 100.0))
}

/// Only a plain `#rrggbb` colour reaches the page.
fn safe_colour(c: &str) -> Option<String> {
    (c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|h| h.is_ascii_hexdigit()))
        .then(|| c.to_ascii_lowercase())
}

/// A level's colour where no report gives one: the default schema's.
fn default_colour(level: u8) -> String {
    ciphub_domain::severity::shipped_schema(ciphub_domain::severity::DEFAULT_SCHEMA)
        .ok()
        .and_then(|s| s.levels.iter().find(|l| l.number == level).cloned())
        .and_then(|l| safe_colour(&l.colour))
        .unwrap_or_else(|| "#757575".to_owned())
}

/// Counts by row and severity level, and the legend of the levels that occur, in the colours
/// and names the reports give them.
struct ByLevel {
    levels: BTreeMap<u8, Key>,
    counts: BTreeMap<String, BTreeMap<u8, u32>>,
}

impl ByLevel {
    fn new() -> Self {
        Self {
            levels: BTreeMap::new(),
            counts: BTreeMap::new(),
        }
    }

    fn add(&mut self, row: &str, r: &ReportJson, ctx: &Ctx) {
        let s = &r.severity;
        self.levels.entry(s.level).or_insert_with(|| Key {
            colour: safe_colour(&s.colour).unwrap_or_else(|| default_colour(s.level)),
            name: ctx.level(&s.schema, s.level, &s.name_en),
        });
        *self
            .counts
            .entry(row.to_owned())
            .or_default()
            .entry(s.level)
            .or_default() += 1;
    }

    /// Bars for `rows` (key, label, link) in that order, and the legend.
    fn bars(self, rows: Vec<(String, String, Option<String>)>) -> (Vec<Key>, Vec<Bar>) {
        let levels: Vec<u8> = self.levels.keys().copied().collect();
        let bars = rows
            .into_iter()
            .map(|(key, label, href)| Bar {
                short: label.clone(),
                label,
                href,
                parts: levels
                    .iter()
                    .map(|l| {
                        self.counts
                            .get(&key)
                            .and_then(|c| c.get(l))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect(),
            })
            .collect();
        (self.levels.into_values().collect(), bars)
    }
}

/// Whether a report is still open in the caller's queue.
fn open(r: &ReportJson) -> bool {
    r.my_triage.as_ref().is_none_or(|t| t.status != "closed")
}

/// Open reports per sector, by severity level: every sector that has some, or the sectors
/// `only` (a ministry's), each shown even with none. `sectors` gives the sectors' names in the
/// page's language, in the registry's order.
pub fn by_sector_and_level(
    reports: &[ReportJson],
    sectors: &[(String, String)],
    only: Option<&BTreeSet<String>>,
    ctx: &Ctx,
) -> Chart {
    let mut by = ByLevel::new();
    for r in reports.iter().filter(|r| open(r)) {
        for s in &r.sectors {
            if only.is_none_or(|o| o.contains(s)) {
                by.add(s, r, ctx);
            }
        }
    }
    let mut rows: Vec<(String, String, Option<String>)> = sectors
        .iter()
        .filter(|(slug, _)| match only {
            Some(o) => o.contains(slug),
            None => by.counts.contains_key(slug),
        })
        .map(|(slug, name)| (slug.clone(), name.clone(), None))
        .collect();
    // A sector the registry no longer lists keeps its id.
    for slug in by.counts.keys() {
        if !rows.iter().any(|(s, _, _)| s == slug) {
            rows.push((slug.clone(), slug.clone(), None));
        }
    }
    let (legend, rows) = by.bars(rows);
    Chart {
        id: "by-sector",
        title: ctx.t(if only.is_some() {
            "chart-my-sectors"
        } else {
            "dash-by-sector"
        }),
        note: ctx.t1("chart-newest-reports", "count", reports.len()),
        head: ctx.t("registry-sector"),
        legend,
        rows,
        columns: false,
    }
}

/// Reports per day over the last 14 days, in the user's time zone.
pub fn timeline(reports: &[ReportJson], ctx: &Ctx, now: chrono::DateTime<chrono::Utc>) -> Chart {
    let today = now.with_timezone(&ctx.tz).date_naive();
    let mut per_day = [0u32; 14];
    for r in reports {
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(&r.created_at) else {
            continue;
        };
        let age = (today - t.with_timezone(&ctx.tz).date_naive()).num_days();
        if let Ok(age) = usize::try_from(age)
            && age < 14
        {
            per_day[13 - age] += 1;
        }
    }
    let rows = per_day
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let day = today - chrono::Days::new(13 - i as u64);
            Bar {
                label: match ctx.lang {
                    super::i18n::Lang::Ja => day.format("%-m月%-d日").to_string(),
                    super::i18n::Lang::En => day.format("%Y-%m-%d").to_string(),
                },
                short: day.format("%-d").to_string(),
                href: None,
                parts: vec![*n],
            }
        })
        .collect();
    Chart {
        id: "timeline",
        title: ctx.t("dash-timeline"),
        note: ctx.t1("chart-newest-reports", "count", reports.len()),
        head: ctx.t("chart-day"),
        legend: vec![Key {
            colour: "#0b57d0".into(),
            name: ctx.t("chart-reports"),
        }],
        rows,
        columns: true,
    }
}

/// Colours of an alert's deliveries: acknowledged, read only, not read.
const ACK_COLOURS: [&str; 3] = ["#146c2e", "#f9a825", "#9e9e9e"];

fn ack_legend(ctx: &Ctx) -> Vec<Key> {
    ["chart-acked", "chart-read", "chart-unread"]
        .iter()
        .zip(ACK_COLOURS)
        .map(|(k, c)| Key {
            colour: c.to_owned(),
            name: ctx.t(k),
        })
        .collect()
}

/// An alert this organization sent, with its recipients, how many read it and how many
/// acknowledged it.
pub struct SentAlert {
    pub id: i64,
    pub title: String,
    pub recipients: u32,
    pub read: u32,
    pub acked: u32,
}

/// The recipients of the alerts the organization sent (a CEPTOAR: passed on to its members)
/// by what they did: acknowledged, read only, not read.
pub fn acknowledgements(sent: &[SentAlert], ctx: &Ctx, ceptoar: bool) -> Chart {
    let rows = sent
        .iter()
        .map(|a| {
            let acked = a.acked.min(a.recipients);
            let read = a.read.clamp(acked, a.recipients);
            Bar {
                label: a.title.clone(),
                short: a.title.clone(),
                href: Some(format!("/alerts/{}", a.id)),
                parts: vec![acked, read - acked, a.recipients - read],
            }
        })
        .collect();
    Chart {
        id: "acknowledgements",
        title: ctx.t(if ceptoar {
            "chart-member-acks"
        } else {
            "chart-sent-acks"
        }),
        note: ctx.t1("chart-newest-sent", "count", sent.len()),
        head: ctx.t("chart-alert"),
        legend: ack_legend(ctx),
        rows,
        columns: false,
    }
}

/// The alerts delivered to the organization, by label, by what it did with them.
pub fn my_alerts(alerts: &[AlertJson], ctx: &Ctx) -> Chart {
    let mut counts: BTreeMap<usize, [u32; 3]> = BTreeMap::new();
    let labels = super::tlp_labels();
    let mut delivered = 0;
    for a in alerts {
        let Some(d) = &a.my_delivery else {
            continue;
        };
        delivered += 1;
        let at = labels
            .iter()
            .position(|l| *l == a.tlp)
            .unwrap_or(labels.len());
        let part = if d.acknowledged_at.is_some() {
            0
        } else if d.read_at.is_some() {
            1
        } else {
            2
        };
        counts.entry(at).or_default()[part] += 1;
    }
    let rows = counts
        .into_iter()
        .map(|(at, parts)| {
            let label = labels.get(at).copied().unwrap_or("TLP").to_owned();
            Bar {
                short: label.clone(),
                label,
                href: None,
                parts: parts.to_vec(),
            }
        })
        .collect();
    Chart {
        id: "my-alerts",
        title: ctx.t("chart-my-alerts"),
        note: ctx.t1("chart-newest-alerts", "count", delivered),
        head: "TLP".into(),
        legend: ack_legend(ctx),
        rows,
        columns: false,
    }
}

/// The organization's own reports by stage reached, by severity level.
pub fn own_reports(reports: &[ReportJson], ctx: &Ctx) -> Chart {
    let own: Vec<&ReportJson> = reports
        .iter()
        .filter(|r| !r.relayed_copy && r.reporter.as_ref().is_some_and(|p| p.org == ctx.org))
        .collect();
    let mut by = ByLevel::new();
    for r in &own {
        by.add(&r.stage, r, ctx);
    }
    let rows = ["initial", "update", "final"]
        .iter()
        .map(|s| ((*s).to_owned(), ctx.term("stage", s), None))
        .chain(
            by.counts
                .keys()
                .filter(|s| !["initial", "update", "final"].contains(&s.as_str()))
                .map(|s| (s.clone(), ctx.term("stage", s), None))
                .collect::<Vec<_>>(),
        )
        .collect();
    let (legend, rows) = by.bars(rows);
    Chart {
        id: "own-reports",
        title: ctx.t("chart-own-reports"),
        note: ctx.t1("chart-newest-reports", "count", reports.len()),
        head: ctx.t("report-stage"),
        legend,
        rows,
        columns: false,
    }
}

/// A CEPTOAR's members' anonymous reports: relayed to the coordinator or waiting, by level.
/// Only reports whose relays the caller may see (the secretariat's) count.
pub fn member_relays(reports: &[ReportJson], ctx: &Ctx) -> Chart {
    let mut by = ByLevel::new();
    for r in reports {
        match &r.relays {
            Some(relays) if !relays.is_empty() => by.add("relayed", r, ctx),
            Some(_) => by.add("waiting", r, ctx),
            None => {}
        }
    }
    let rows = vec![
        ("relayed".to_owned(), ctx.t("chart-relayed"), None),
        ("waiting".to_owned(), ctx.t("chart-waiting"), None),
    ];
    let (legend, rows) = by.bars(rows);
    Chart {
        id: "member-reports",
        title: ctx.t("chart-member-reports"),
        note: ctx.t1("chart-newest-reports", "count", reports.len()),
        head: ctx.t("report-status"),
        legend,
        rows,
        columns: false,
    }
}
