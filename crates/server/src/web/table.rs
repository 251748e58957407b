//! The list pages' table: one page of rows chosen on the server, the search text, filters, sort
//! and page kept in the URL (so a link or a reload shows the same rows), a pager, and CSV
//! export of every matching row. Each list page keeps its own rows and columns; this holds what
//! they share. The template part is `templates/web/pager.html`, included where the page wants
//! its pager, with the page's `table` field.

use std::collections::BTreeMap;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A list's state as its URL gives it. Values are read as text and checked here: a bad value
/// falls back to the default rather than failing the page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TableQuery {
    /// The page, from 1.
    #[serde(default)]
    pub page: String,
    /// The column sorted by (one of the page's), and `desc` or `asc`.
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub dir: String,
    /// Text searched for.
    #[serde(default)]
    pub q: String,
    /// `csv` for every matching row as CSV.
    #[serde(default)]
    pub format: String,
    /// The page's own filters (kind, sector, show, ...).
    #[serde(flatten)]
    pub filters: BTreeMap<String, String>,
}

impl TableQuery {
    /// The page asked for, from 1.
    pub fn page(&self) -> usize {
        self.page
            .trim()
            .parse::<usize>()
            .unwrap_or(1)
            .clamp(1, 1_000_000)
    }

    /// The search text, trimmed; `None` when empty.
    pub fn text(&self) -> Option<&str> {
        Some(self.q.trim()).filter(|q| !q.is_empty())
    }

    /// A filter's value; empty when absent.
    pub fn filter(&self, name: &str) -> &str {
        self.filters.get(name).map_or("", |v| v.trim())
    }

    /// Whether the rows are wanted as CSV.
    pub fn csv(&self) -> bool {
        self.format == "csv"
    }

    /// The sort column if it is one of `allowed` (else the first), and whether it descends
    /// (else `default_desc`).
    pub fn sort<'a>(&self, allowed: &[&'a str], default_desc: bool) -> (&'a str, bool) {
        let column = allowed
            .iter()
            .find(|c| **c == self.sort)
            .or(allowed.first())
            .copied()
            .unwrap_or("");
        let desc = match self.dir.as_str() {
            "asc" => false,
            "desc" => true,
            _ => default_desc,
        };
        (column, desc)
    }
}

/// What the pager of a table shows: built by the page from its query and the rows that match.
#[derive(Clone, Debug)]
pub struct Table {
    /// The page's path, e.g. `/registry`; the fragment to return to, e.g. `#orgs`.
    pub path: String,
    pub anchor: &'static str,
    pub query: TableQuery,
    /// Rows per page and rows the filters match in all.
    pub per_page: usize,
    pub matching: usize,
    /// The sort in force.
    pub sort: String,
    pub desc: bool,
}

impl Table {
    pub fn new(
        path: impl Into<String>,
        anchor: &'static str,
        query: TableQuery,
        per_page: usize,
        (sort, desc): (&str, bool),
    ) -> Self {
        Self {
            path: path.into(),
            anchor,
            query,
            per_page,
            matching: 0,
            sort: sort.to_owned(),
            desc,
        }
    }

    /// Rows to skip for the page asked for, before the rows that match are counted (the page
    /// read first; when it is past the last, `offset` then gives the last).
    pub fn asked_offset(&self) -> usize {
        (self.query.page() - 1).saturating_mul(self.per_page)
    }

    /// Rows to skip for the page shown.
    pub fn offset(&self) -> usize {
        (self.page() - 1).saturating_mul(self.per_page)
    }

    /// The page shown (from 1; never past the last).
    pub fn page(&self) -> usize {
        self.query.page().min(self.last_page().max(1))
    }

    /// The last page (1 when nothing matches).
    pub fn last_page(&self) -> usize {
        self.matching.div_ceil(self.per_page).max(1)
    }

    /// The first and last row shown, from 1 (0, 0 when none).
    pub fn shown(&self) -> (usize, usize) {
        if self.matching == 0 {
            return (0, 0);
        }
        let first = self.offset() + 1;
        (first, (first + self.per_page - 1).min(self.matching))
    }

    fn url_with(&self, page: usize, sort: &str, desc: bool, format: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.query.filters {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if !self.query.q.trim().is_empty() {
            q.append_pair("q", self.query.q.trim());
        }
        q.append_pair("sort", sort);
        q.append_pair("dir", if desc { "desc" } else { "asc" });
        if format.is_empty() {
            q.append_pair("page", &page.to_string());
        } else {
            q.append_pair("format", format);
        }
        let anchor = if format.is_empty() { self.anchor } else { "" };
        format!("{}?{}{anchor}", self.path, q.finish())
    }

    /// The URL of page `n`, same filters and sort.
    pub fn page_url(&self, n: usize) -> String {
        self.url_with(n, &self.sort, self.desc, "")
    }

    /// `page_url` for a page number the template holds by reference.
    pub fn page_link(&self, n: &usize) -> String {
        self.page_url(*n)
    }

    /// The URL that sorts by `column`: descending first, or the other way when it is the
    /// column sorted by now. Back to page 1.
    pub fn sort_url(&self, column: &str) -> String {
        let desc = if self.sort == column {
            !self.desc
        } else {
            true
        };
        self.url_with(1, column, desc, "")
    }

    /// `aria-sort` of a column header: ascending, descending or none.
    pub fn aria_sort(&self, column: &str) -> &'static str {
        match (self.sort == column, self.desc) {
            (false, _) => "none",
            (true, true) => "descending",
            (true, false) => "ascending",
        }
    }

    /// The arrow beside a sorted column's name.
    pub fn arrow(&self, column: &str) -> &'static str {
        match (self.sort == column, self.desc) {
            (false, _) => "",
            (true, true) => " ▼",
            (true, false) => " ▲",
        }
    }

    /// The URL of every matching row as CSV.
    pub fn csv_url(&self) -> String {
        self.url_with(1, &self.sort, self.desc, "csv")
    }

    /// The pages to link in the pager: the first, the last, and two either side of the one
    /// shown; `None` where pages are left out.
    pub fn pages(&self) -> Vec<Option<usize>> {
        let (now, last) = (self.page(), self.last_page());
        let mut out = Vec::new();
        let mut previous = 0;
        for n in 1..=last {
            if n == 1 || n == last || n.abs_diff(now) <= 2 {
                if n > previous + 1 {
                    out.push(None);
                }
                out.push(Some(n));
                previous = n;
            }
        }
        out
    }
}

/// Rows a CSV export holds at most; the last line says when it stopped there.
pub const CSV_MAX_ROWS: usize = 100_000;

/// A CSV file of `header` and `rows` named `name`: UTF-8 with a byte-order mark (so
/// spreadsheet programs read Japanese right), CRLF lines, fields quoted where needed, and
/// cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR) prefixed with `'`.
pub fn csv(name: &str, header: &[String], rows: &[Vec<String>]) -> Response {
    let mut out = String::from("\u{feff}");
    let line = |out: &mut String, cells: &[String]| {
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let guarded = if c.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{c}")
            } else {
                c.clone()
            };
            if guarded.contains([',', '"', '\n', '\r']) {
                out.push('"');
                out.push_str(&guarded.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(&guarded);
            }
        }
        out.push_str("\r\n");
    };
    line(&mut out, header);
    for r in rows {
        line(&mut out, r);
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        out,
    )
        .into_response()
}

/// Items a newest-first scan reads from the API at a time.
pub const SCAN_BATCH: usize = 200;

/// The lists that follow the API's newest-first cursor (the report list, the inbox): reads
/// batches of `SCAN_BATCH` older than `before` through `fetch`, keeps what `keep` accepts, and
/// stops once `want` are kept or `scan` have been read. Gives what was kept and, when it
/// stopped before the oldest, the cursor to go on from (the older page's `before`).
pub async fn scan_newest<T, E, Fut>(
    mut before: Option<i64>,
    (want, scan): (usize, usize),
    mut fetch: impl FnMut(Option<i64>) -> Fut,
    id: impl Fn(&T) -> i64,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, Option<i64>), E>
where
    Fut: std::future::Future<Output = Result<Vec<T>, E>>,
{
    let (mut kept, mut scanned) = (Vec::new(), 0);
    loop {
        let batch = fetch(before).await?;
        let full = batch.len() == SCAN_BATCH;
        for item in batch {
            scanned += 1;
            before = Some(id(&item));
            if keep(&item) {
                kept.push(item);
                if kept.len() == want {
                    break;
                }
            }
        }
        if kept.len() == want || (full && scanned >= scan) {
            return Ok((kept, before));
        }
        if !full {
            return Ok((kept, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(page: &str, matching: usize) -> Table {
        let mut q = TableQuery {
            page: page.into(),
            q: " water ".into(),
            ..TableQuery::default()
        };
        q.filters.insert("kind".into(), "operator".into());
        q.filters.insert("sector".into(), String::new());
        let mut t = Table::new("/registry", "#orgs", q, 50, ("id", false));
        t.matching = matching;
        t
    }

    #[test]
    fn urls_keep_filters_search_and_sort() {
        let t = table("3", 1_000);
        assert_eq!(
            t.page_url(4),
            "/registry?kind=operator&q=water&sort=id&dir=asc&page=4#orgs"
        );
        assert_eq!(
            t.sort_url("id"),
            "/registry?kind=operator&q=water&sort=id&dir=desc&page=1#orgs"
        );
        assert_eq!(
            t.sort_url("name"),
            "/registry?kind=operator&q=water&sort=name&dir=desc&page=1#orgs"
        );
        assert_eq!(
            t.csv_url(),
            "/registry?kind=operator&q=water&sort=id&dir=asc&format=csv"
        );
        assert_eq!(t.aria_sort("id"), "ascending");
        assert_eq!(t.aria_sort("name"), "none");
    }

    #[test]
    fn pages_stay_in_range_and_elide() {
        let t = table("999", 1_000);
        assert_eq!(t.page(), 20);
        assert_eq!(t.shown(), (951, 1_000));
        assert_eq!(t.pages(), vec![Some(1), None, Some(18), Some(19), Some(20)]);
        let t = table("x", 0);
        assert_eq!((t.page(), t.last_page(), t.shown()), (1, 1, (0, 0)));
        assert_eq!(t.pages(), vec![Some(1)]);
    }

    #[tokio::test]
    async fn csv_quotes_and_disarms_formulas() {
        let resp = csv(
            "x",
            &["a".into(), "b".into()],
            &[
                vec!["=HYPERLINK(\"http://evil\")".into(), "plain".into()],
                vec!["a, b".into(), "-1".into()],
                vec!["東京水道".into(), "two\nlines".into()],
            ],
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            "\u{feff}a,b\r\n\"'=HYPERLINK(\"\"http://evil\"\")\",plain\r\n\"a, b\",'-1\r\n東京水道,\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn sort_takes_only_known_columns() {
        let q = TableQuery {
            sort: "password".into(),
            dir: "sideways".into(),
            ..TableQuery::default()
        };
        assert_eq!(q.sort(&["time", "actor"], true), ("time", true));
        let q = TableQuery {
            sort: "actor".into(),
            dir: "asc".into(),
            ..TableQuery::default()
        };
        assert_eq!(q.sort(&["time", "actor"], true), ("actor", false));
    }
}
