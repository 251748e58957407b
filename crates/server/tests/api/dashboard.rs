//! The dashboard's charts for each kind of organization, the header's bell and folding menu,
//! and tables that become cards on a phone: what the HTML carries (the browser test checks
//! how it looks at a phone's width).

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app};
use super::pages::{browser, japanese, login, page};

/// The part of `html` that is the chart `id`, from its figure to the figure's end.
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<figure class=\"card chart\" id=\"chart-{id}\">"))
        .unwrap_or_else(|| panic!("no chart {id} in {html}"));
    let end = html[start..].find("</figure>").expect("the figure ends") + start;
    &html[start..end]
}

/// The figures of a chart's table, as its screen readers read them: each row's label and its
/// cells, and the headings of its columns.
fn figures(chart: &str) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let table = &chart[chart
        .find("<div class=\"sr-only\"><table class=\"figures\">")
        .expect("a table")..];
    let cells = |row: &str, tag: &str| -> Vec<String> {
        // Headings carry a scope: `<thead>` is no cell.
        let open = if tag == "th" { "<th scope=" } else { "<td" };
        row.split(open)
            .skip(1)
            .map(|c| {
                let c = &c[c.find('>').expect("tag end") + 1..];
                c[..c.find(&format!("</{tag}>")).expect("cell end")].to_owned()
            })
            .collect()
    };
    let head = &table[table.find("<thead>").expect("head")..table.find("</thead>").expect("end")];
    let body = &table[table.find("<tbody>").expect("body")..table.find("</tbody>").expect("end")];
    let rows = body
        .split("<tr>")
        .skip(1)
        .map(|r| {
            let label = cells(r, "th").into_iter().next().expect("a row heading");
            (label, cells(r, "td"))
        })
        .collect();
    (cells(head, "th"), rows)
}

/// The cells of the row `label` of a chart's figures.
fn row(chart: &str, label: &str) -> Vec<String> {
    let (_, rows) = figures(chart);
    rows.iter()
        .find(|(l, _)| l == label)
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("no row {label:?} in {rows:?}"))
}

async fn file(app: &TestApp, formation: &str, title: &str) -> Value {
    let resp = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/reports",
            json!({
                "title": title,
                "description": "Tokyo Water lost two pump stations at 08:00.",
                "cause": "cyberattack", "sectors": ["water"], "scope": ["ot"],
                "detected_at": "2026-04-01T08:00:00Z",
                "answers": {"people-society": "none", "systems": "none"},
                "formation": formation, "tlp": "TLP:GREEN",
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    resp.json().await.expect("json")
}

async fn alert_to_water(app: &TestApp, title: &str) -> i64 {
    let resp = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            json!({"title": title, "body": "b", "tlp": "TLP:GREEN",
                "audience": {"kind": "sectors", "values": ["water"]}}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

/// Each kind of organization's dashboard charts its own work, with names (not ids), a legend
/// of the severity colours the API gives, and the figures in a table; nobody's chart counts
/// what they may not see.
#[tokio::test]
async fn every_dashboard_charts_its_work_by_name() {
    let app = spawn_app().await;
    let named = file(&app, "ministry", "Chlorination fault").await;
    let anonymous = file(&app, "ceptoar-anonymous", "Pump telemetry lost").await;
    let level = named["severity"]["level"].as_u64().expect("level");
    let level_name = named["severity"]["name_en"].as_str().expect("name");
    let colour = named["severity"]["colour"].as_str().expect("colour");
    assert_eq!(anonymous["severity"]["level"].as_u64(), Some(level));
    let alert = alert_to_water(&app, "Valves: patch").await;
    let recipients = app
        .get("coordinator", &format!("/api/v1/alerts/{alert}/delivery"))
        .await
        .json::<Vec<Value>>()
        .await
        .expect("json")
        .len();
    assert!(
        recipients >= 2,
        "tokyo-water and the water CEPTOAR at least"
    );
    // The operator reads and acknowledges it.
    assert_eq!(
        app.send(
            Method::POST,
            "reporter",
            &format!("/api/v1/alerts/{alert}/ack"),
            json!({})
        )
        .await
        .status(),
        200
    );

    // The ministry: its two sectors by name, even the one without reports; the named report
    // only (the anonymous one has not been relayed to it).
    let c = browser();
    login(&app, &c, "mhlw-analyst").await;
    let (_, html) = page(&app, &c, "/dashboard").await;
    let sectors = chart(&html, "by-sector");
    assert!(
        sectors.contains("Open reports in your sectors"),
        "{sectors}"
    );
    let (head, rows) = figures(sectors);
    let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["Medical", "Water"], "{sectors}");
    let level_heading = format!("{level} {level_name}");
    assert_eq!(head, ["Sector", level_heading.as_str()]);
    assert_eq!(row(sectors, "Water"), ["1"]);
    assert_eq!(row(sectors, "Medical"), ["0"]);
    assert!(
        sectors.contains(&format!("fill=\"{colour}\"")),
        "the level's colour, in the legend and the bar: {sectors}"
    );
    assert!(!sectors.contains("Tokyo Water"), "no reporter in a chart");
    // In Japanese, the sectors' Japanese names.
    let j = japanese(&app, "mhlw-analyst").await;
    let (_, html) = page(&app, &j, "/dashboard").await;
    let (_, rows) = figures(chart(&html, "by-sector"));
    assert_eq!(rows[1].0, "水道");

    // The coordinator: every sector with reports (the named one), and the last 14 days, today
    // last; and who acknowledged its alert.
    let c = browser();
    login(&app, &c, "coordinator").await;
    let (_, html) = page(&app, &c, "/dashboard").await;
    let sectors = chart(&html, "by-sector");
    let (_, rows) = figures(sectors);
    assert_eq!(rows.len(), 1, "{sectors}");
    assert_eq!(row(sectors, "Water"), ["1"]);
    let (_, days) = figures(chart(&html, "timeline"));
    assert_eq!(days.len(), 14);
    assert_eq!(days[13].1, ["1"], "today: {days:?}");
    let acks = chart(&html, "acknowledgements");
    assert_eq!(
        row(acks, "Valves: patch"),
        [
            "1".to_owned(),
            "0".to_owned(),
            (recipients - 1).to_string(),
            recipients.to_string()
        ]
    );
    assert!(acks.contains(&format!("href=\"/alerts/{alert}\"")));

    // The CEPTOAR's secretariat: its member's anonymous report, waiting to be relayed.
    let c = browser();
    login(&app, &c, "secretariat").await;
    let (_, html) = page(&app, &c, "/dashboard").await;
    let members = chart(&html, "member-reports");
    assert_eq!(row(members, "Waiting to be relayed"), ["1"]);
    assert_eq!(row(members, "Relayed"), ["0"]);
    assert!(
        chart(&html, "acknowledgements").contains("acknowledgements of the alerts you passed on")
    );

    // The operator: both its reports, at their first stage, and the alert it acknowledged.
    for user in ["reporter", "water-exec"] {
        let c = browser();
        login(&app, &c, user).await;
        let (_, html) = page(&app, &c, "/dashboard").await;
        let own = chart(&html, "own-reports");
        assert_eq!(row(own, "Initial report"), ["2"], "{user}: {own}");
        assert_eq!(row(own, "Final report"), ["0"]);
        let alerts = chart(&html, "my-alerts");
        assert_eq!(row(alerts, "TLP:GREEN"), ["1", "0", "0", "1"], "{alerts}");
        assert!(!html.contains("id=\"chart-by-sector\""), "{user}");
    }
}

/// The bell counts the alerts delivered to the organization that no one of it has opened,
/// names the count in the page's language, and forgets an alert once it is opened.
#[tokio::test]
async fn the_bell_counts_unread_alerts() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "water-exec").await;
    let (_, html) = page(&app, &c, "/settings").await;
    assert!(
        html.contains("id=\"bell\" aria-label=\"No unread alerts\" data-unread=\"0\""),
        "{html}"
    );
    assert!(html.contains("id=\"bell-count\" aria-hidden=\"true\" hidden>"));
    let first = alert_to_water(&app, "Valves: patch").await;
    alert_to_water(&app, "Pumps: patch").await;
    let (_, html) = page(&app, &c, "/reports").await;
    assert!(
        html.contains("aria-label=\"2 unread alerts\" data-unread=\"2\""),
        "{html}"
    );
    assert!(html.contains("id=\"bell-count\" aria-hidden=\"true\">2</span>"));
    assert!(html.contains("<a href=\"/alerts\" class=\"bell\""));
    // Opening one reads it for the whole organization, on its own page already.
    let (_, html) = page(&app, &c, &format!("/alerts/{first}")).await;
    assert!(html.contains("aria-label=\"1 unread alert\""), "{html}");
    let r = japanese(&app, "reporter").await;
    let (_, html) = page(&app, &r, "/dashboard").await;
    assert!(
        html.contains("aria-label=\"未読の注意喚起 1 件\""),
        "{html}"
    );
    // The sender has nothing to read.
    let s = browser();
    login(&app, &s, "coordinator").await;
    let (_, html) = page(&app, &s, "/dashboard").await;
    assert!(html.contains("aria-label=\"No unread alerts\""));
}

/// The menu folds into a named button on small screens (a `<details>`), in both languages,
/// and holds every link the user has.
#[tokio::test]
async fn the_menu_folds_under_a_named_button() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "admin").await;
    let (_, html) = page(&app, &c, "/dashboard").await;
    let menu = &html[html
        .find("<details class=\"menu\" id=\"menu\">")
        .expect("menu")..html.find("</details>").expect("menu end")];
    assert!(menu.contains("<summary id=\"menu-button\""), "{menu}");
    assert!(menu.contains("Menu</summary>"));
    assert!(menu.contains("<nav aria-label=\"Main\">"));
    for link in [
        "/dashboard",
        "/reports",
        "/alerts",
        "/alerts/new",
        "/registry",
        "/audit",
        "/admin/users",
        "/settings",
    ] {
        assert!(menu.contains(&format!("<a href=\"{link}\">")), "{link}");
    }
    assert!(menu.contains("id=\"logout\"") && menu.contains("id=\"lang-switch\""));
    let j = japanese(&app, "admin").await;
    let (_, html) = page(&app, &j, "/dashboard").await;
    assert!(html.contains("メニュー</summary>"));
    assert!(html.contains("<nav aria-label=\"メインメニュー\">"));
}

/// The tables of the users' and settings pages become cards on a phone: every cell of theirs
/// but a button's says which column it is in.
#[tokio::test]
async fn tables_carry_their_headings_for_cards() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "admin").await;
    let (_, html) = page(&app, &c, "/admin/users").await;
    for id in ["token-list", "user-list"] {
        let at = html
            .find(&format!("<table class=\"cards\" id=\"{id}\">"))
            .unwrap_or_else(|| panic!("{id} in {html}"));
        let table = &html[at..at + html[at..].find("</table>").expect("end")];
        let body = &table[table.find("<tbody>").expect("body")..];
        let cells = body.matches("<td").count();
        let labelled = body.matches("<td data-label=\"").count();
        assert!(cells > 0, "{id} has rows");
        assert!(labelled >= cells - body.matches("<tr").count(), "{table}");
    }
    assert!(
        html.contains("<td data-label=\"Label\">test</td>"),
        "{html}"
    );
}
