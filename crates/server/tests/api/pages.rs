//! The web pages over plain HTTP: sign-in, CSRF, languages, and that pages show only what the
//! API would. (The journeys in a real browser are in the binary's tests.)

use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::json;

use super::helpers::{PASSWORD, TestApp, spawn_app};

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

/// Adds `n` water operators named "`Kind` operator 000" and so on, with ids `kind-op-000`.
async fn water_operators(app: &TestApp, kind: &str, n: usize) {
    use ciphub_domain::Slug;
    use ciphub_domain::registry::{OrgKind, Organization};
    let mut title = kind.to_owned();
    title[..1].make_ascii_uppercase();
    let orgs: Vec<Organization> = (0..n)
        .map(|i| Organization {
            slug: Slug::parse(&format!("{kind}-op-{i:03}")).expect("slug"),
            kind: OrgKind::Operator,
            name_en: format!("{title} operator {i:03}"),
            name_ja: None,
            abbrev: None,
            sectors: vec![Slug::parse("water").expect("slug")],
            services: vec![],
            responsible_for: vec![],
            member_of: vec![],
            members_published: None,
            members_count: None,
        })
        .collect();
    app.db
        .store
        .add_organizations(&orgs, &ciphub_store::By::system())
        .await
        .expect("organizations");
}

/// A TLP:GREEN alert from the coordinator to the water sector; its id.
async fn water_alert(app: &TestApp, title: &str, body: &str) -> i64 {
    let resp = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            json!({"title": title, "body": body, "tlp": "TLP:GREEN",
                "audience": {"kind": "sectors", "values": ["water"]}}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    resp.json::<serde_json::Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

/// A browser whose every request asks for Japanese, signed in as `user`.
pub async fn japanese(app: &TestApp, user: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT_LANGUAGE,
        reqwest::header::HeaderValue::from_static("ja"),
    );
    let c = reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .expect("client");
    login(app, &c, user).await;
    c
}

pub async fn login(app: &TestApp, c: &reqwest::Client, user: &str) {
    let resp = c
        .post(app.url("/login"))
        .form(&[("user", user), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/dashboard");
}

pub async fn page(app: &TestApp, c: &reqwest::Client, path: &str) -> (u16, String) {
    let resp = c.get(app.url(path)).send().await.expect("page");
    (resp.status().as_u16(), resp.text().await.expect("text"))
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 32].to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_forms_need_their_token() {
    let app = spawn_app().await;
    let c = browser();
    let resp = c.get(app.url("/dashboard")).send().await.expect("page");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/login");

    let bad = c
        .post(app.url("/login"))
        .form(&[("user", "reporter"), ("password", "wrong")])
        .send()
        .await
        .expect("login");
    assert_eq!(bad.status(), 401);
    assert!(bad.text().await.expect("text").contains("not correct"));
    // A login form posted from another site is refused.
    let foreign = c
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("user", "reporter"), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(foreign.status(), 403);

    let id = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            json!({"title": "Check the gateways", "body": "b", "tlp": "TLP:GREEN",
                   "audience": {"kind": "organizations", "values": ["tokyo-water"]}}),
        )
        .await
        .json::<serde_json::Value>()
        .await
        .expect("json")["id"]
        .clone();
    login(&app, &c, "reporter").await;
    let (status, html) = page(&app, &c, &format!("/alerts/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Check the gateways"));
    // Without the token, or with another session's, nothing is acknowledged.
    for token in ["", "00000000000000000000000000000000"] {
        let resp = c
            .post(app.url(&format!("/alerts/{id}/ack")))
            .form(&[("csrf", token)])
            .send()
            .await
            .expect("ack");
        assert_eq!(resp.status(), 403);
    }
    let d = app
        .get("coordinator", &format!("/api/v1/alerts/{id}/delivery"))
        .await;
    let d: Vec<serde_json::Value> = d.json().await.expect("json");
    assert!(d[0]["acknowledged_at"].is_null());
    let resp = c
        .post(app.url(&format!("/alerts/{id}/ack")))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .expect("ack");
    assert_eq!(resp.status(), 303);
    let d = app
        .get("coordinator", &format!("/api/v1/alerts/{id}/delivery"))
        .await;
    let d: Vec<serde_json::Value> = d.json().await.expect("json");
    assert_eq!(d[0]["acknowledged_by"], "reporter");

    // A page shows no more than the API: another organization's alert does not exist.
    let other = browser();
    login(&app, &other, "mhlw-analyst").await;
    let (status, _) = page(&app, &other, &format!("/alerts/{id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn pages_speak_the_users_language() {
    let app = spawn_app().await;
    let c = browser();
    let resp = c
        .get(app.url("/login"))
        .header("accept-language", "ja-JP,ja;q=0.9")
        .send()
        .await
        .expect("page");
    assert!(resp.text().await.expect("text").contains("ログイン"));
    login(&app, &c, "reporter").await;
    let (_, html) = page(&app, &c, "/dashboard").await;
    assert!(html.contains("<h1>Dashboard</h1>"));
    let resp = c
        .post(app.url("/settings/language"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("lang", "ja"),
            ("back", "/alerts"),
        ])
        .send()
        .await
        .expect("switch");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/alerts");
    let (_, html) = page(&app, &c, "/dashboard").await;
    assert!(html.contains("<h1>ダッシュボード</h1>"), "{html}");
    // The choice belongs to the user, not the browser: a new session keeps it.
    let again = browser();
    login(&app, &again, "reporter").await;
    let (_, html) = page(&app, &again, "/dashboard").await;
    assert!(html.contains("<h1>ダッシュボード</h1>"));
    // A "back" elsewhere is not followed.
    let (_, html) = page(&app, &c, "/dashboard").await;
    let resp = c
        .post(app.url("/settings/language"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("lang", "en"),
            ("back", "//evil.example/"),
        ])
        .send()
        .await
        .expect("switch");
    assert_eq!(resp.headers()["location"], "/dashboard");
}

#[tokio::test]
async fn every_page_answers_for_every_kind_of_user() {
    let app = spawn_app().await;
    for user in [
        "admin",
        "coordinator",
        "mhlw-analyst",
        "secretariat",
        "reporter",
        "water-exec",
    ] {
        let c = browser();
        login(&app, &c, user).await;
        for path in [
            "/dashboard",
            "/reports",
            "/reports?q=pump&status=new&overdue=on",
            "/alerts",
            "/registry",
            "/incidents",
            "/registry?kind=operator&sector=water",
            "/registry/water-ceptoar",
            "/audit",
            "/admin/users",
            "/settings",
        ] {
            let (status, html) = page(&app, &c, path).await;
            assert_eq!(status, 200, "{user} {path}: {html}");
            assert!(html.contains("</html>"), "{user} {path}");
        }
    }
    // Pages for what a user may not do say so, in the page.
    let c = browser();
    login(&app, &c, "reporter").await;
    let (status, _) = page(&app, &c, "/reports/new").await;
    assert_eq!(status, 200);
    // Each shipped schema asks its own questions.
    let (status, html) = page(&app, &c, "/reports/new?schema=us-nciss").await;
    assert_eq!(status, 200);
    assert!(html.contains("value=\"us-nciss\""), "{html}");
    let (_, html) = page(&app, &c, "/dashboard").await;
    assert!(
        !html.contains("href=\"/alerts/new\""),
        "reporters send no alerts"
    );
}

#[tokio::test]
async fn settings_pages_change_what_the_api_changes() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "water-admin").await;
    let (_, html) = page(&app, &c, "/settings").await;
    // Contacts and identifiers are rows of fields, with empty rows for new entries.
    assert!(html.contains("id=\"contact-rows\""), "{html}");
    let csrf = csrf_of(&html);
    let row = |rank: &'static str, name: &'static str, email: &'static str| {
        [("rank", rank), ("name", name), ("email", email)]
    };
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    form.extend(row("1", "Duty desk", "duty@tokyo-water.test"));
    form.extend(row("1", "", ""));
    form.extend(row("2", "CISO", "ciso@tokyo-water.test"));
    let resp = c
        .post(app.url("/settings/contacts"))
        .form(&form)
        .send()
        .await
        .expect("contacts");
    assert_eq!(resp.status(), 303);
    let kept: Vec<serde_json::Value> = app
        .get("water-admin", "/api/v1/organizations/tokyo-water/contacts")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(kept.len(), 2, "the empty row is dropped");
    let (_, html) = page(&app, &c, "/settings").await;
    assert!(html.contains("value=\"ciso@tokyo-water.test\""), "{html}");
    // A bad address is refused, said on the page, and every row typed is still there.
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    form.extend(row("1", "Duty desk", "duty@tokyo-water.test"));
    form.extend(row("2", "Night desk", "not an address"));
    let resp = c
        .post(app.url("/settings/contacts"))
        .form(&form)
        .send()
        .await
        .expect("contacts");
    let html = resp.text().await.expect("text");
    assert!(html.contains("id=\"error\""), "{html}");
    assert!(html.contains("value=\"Night desk\""), "{html}");
    assert!(html.contains("value=\"not an address\""), "{html}");
    let stored: Vec<serde_json::Value> = app
        .get("water-admin", "/api/v1/organizations/tokyo-water/contacts")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stored, kept, "nothing changed");
    // Identifiers: a kind chosen from the list, an emptied value removes the row.
    let resp = c
        .post(app.url("/settings/identifiers"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("kind", "domain"),
            ("value", "tokyo-water.test"),
            ("kind", "name"),
            ("value", ""),
        ])
        .send()
        .await
        .expect("identifiers");
    assert_eq!(resp.status(), 303);
    let ids: Vec<serde_json::Value> = app
        .get(
            "water-admin",
            "/api/v1/organizations/tokyo-water/identifiers",
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        ids,
        vec![json!({"kind": "domain", "value": "tokyo-water.test"})]
    );
    // The CEPTOAR's secretariat switches its relay rule on.
    let s = browser();
    login(&app, &s, "secretariat").await;
    let (_, html) = page(&app, &s, "/settings").await;
    assert!(html.contains("id=\"relay-rule\""));
    let resp = s
        .post(app.url("/settings/relay-rule"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("enabled", "on"),
            ("note", "From the Water CEPTOAR"),
        ])
        .send()
        .await
        .expect("rule");
    assert_eq!(resp.status(), 303);
    let (_, html) = page(&app, &s, "/settings").await;
    assert!(html.contains("From the Water CEPTOAR"));
}

#[tokio::test]
async fn an_admin_manages_users_and_everyone_their_tokens() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "water-admin").await;
    let (_, html) = page(&app, &c, "/admin/users").await;
    let csrf = csrf_of(&html);
    let resp = c
        .post(app.url("/admin/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "tokyo-duty"),
            ("display_name", "Night desk"),
            ("password", "a-long-enough-password"),
            ("roles", "reporter"),
        ])
        .send()
        .await
        .expect("add");
    assert_eq!(resp.status(), 303);
    let resp = c
        .post(app.url("/admin/users/tokyo-duty/disabled"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("set_roles", "1"),
            ("roles", "reporter"),
            ("roles", "viewer"),
        ])
        .send()
        .await
        .expect("roles");
    assert_eq!(resp.status(), 303);
    let u: serde_json::Value = app
        .get("water-admin", "/api/v1/users/tokyo-duty")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(u["roles"], json!(["reporter", "viewer"]));
    // The roles are ticked boxes named by role, summed up by name while folded.
    let (_, html) = page(&app, &c, "/admin/users").await;
    assert!(
        html.contains("value=\"viewer\" id=\"roles-tokyo-duty-viewer\" checked"),
        "{html}"
    );
    assert!(
        html.contains("<summary>Reporter, Viewer</summary>"),
        "{html}"
    );
    // Every box unticked (the marker still says this is the roles form): refused on the users
    // page itself, and the roles stay.
    let resp = c
        .post(app.url("/admin/users/tokyo-duty/disabled"))
        .form(&[("csrf", csrf.as_str()), ("set_roles", "1")])
        .send()
        .await
        .expect("roles");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("text");
    assert!(html.contains("id=\"error\""), "{html}");
    assert!(html.contains("id=\"user-list\""), "{html}");
    let u: serde_json::Value = app
        .get("water-admin", "/api/v1/users/tokyo-duty")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(u["roles"], json!(["reporter", "viewer"]));
    // A token is shown once, on the page that issued it.
    let resp = c
        .post(app.url("/admin/tokens"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("label", "automation"),
            ("expires_in", "7d"),
        ])
        .send()
        .await
        .expect("token");
    let html = resp.text().await.expect("text");
    assert!(html.contains("id=\"new-token\">chp_"), "{html}");
    let (_, again) = page(&app, &c, "/admin/users").await;
    assert!(!again.contains("id=\"new-token\""));
    assert!(again.contains("automation"));
    // A reporter sees no user list.
    let r = browser();
    login(&app, &r, "reporter").await;
    let (_, html) = page(&app, &r, "/admin/users").await;
    assert!(!html.contains("id=\"users\""));
}

#[tokio::test]
async fn reporters_file_stages_and_recipients_triage_from_the_pages() {
    let app = spawn_app().await;
    let report = super::reports::file(&app, super::reports::report_body("ministry", "none")).await;
    let id = report["id"].as_i64().expect("id");
    let level = report["severity"]["level"].as_i64().expect("level");
    let r = browser();
    login(&app, &r, "reporter").await;
    let (_, html) = page(&app, &r, &format!("/reports/{id}")).await;
    assert!(html.contains("id=\"stage-summary\""));
    let resp = r
        .post(app.url(&format!("/reports/{id}/stage")))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("stage", "update"),
            ("summary", "Two more plants affected."),
            ("answer-people-society", "demonstrable"),
            ("answer-systems", "provision-may"),
        ])
        .send()
        .await
        .expect("stage");
    assert_eq!(resp.status(), 303);
    let now: serde_json::Value = app
        .get("reporter", &format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(now["stages"].as_array().map(Vec::len), Some(2));
    assert!(now["severity"]["level"].as_i64().expect("level") > level);

    let m = browser();
    login(&app, &m, "mhlw-analyst").await;
    let (_, html) = page(&app, &m, &format!("/reports/{id}")).await;
    assert!(html.contains("id=\"triage\""));
    assert!(
        !html.contains("id=\"stage-summary\""),
        "only the reporter files stages"
    );
    let csrf = csrf_of(&html);
    let resp = m
        .post(app.url(&format!("/reports/{id}/triage")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("status", "investigating"),
            ("assignee", ""),
        ])
        .send()
        .await
        .expect("triage");
    assert_eq!(resp.status(), 303);
    let resp = m
        .post(app.url(&format!("/reports/{id}/notes")))
        .form(&[("csrf", csrf.as_str()), ("body", "Called the plant.")])
        .send()
        .await
        .expect("note");
    assert_eq!(resp.status(), 303);
    let (_, html) = page(&app, &m, &format!("/reports/{id}")).await;
    assert!(html.contains("Called the plant."));
    assert!(html.contains("<option value=\"investigating\" selected>"));
    // The note stays inside the ministry.
    let (_, html) = page(&app, &r, &format!("/reports/{id}")).await;
    assert!(!html.contains("Called the plant."));
}

#[tokio::test]
async fn mistakes_are_named_in_the_users_language_and_nothing_is_sent() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "coordinator").await;
    let (_, html) = page(&app, &c, "/dashboard").await;
    let resp = c
        .post(app.url("/settings/language"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("lang", "ja"),
            ("back", "/alerts/new"),
        ])
        .send()
        .await
        .expect("switch");
    assert_eq!(resp.status(), 303);
    let before = app.db.store.audit_len().await.expect("len");
    let resp = c
        .post(app.url("/alerts"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("title", "Gateways"),
            ("body", "b"),
            ("tlp", "TLP:RED"),
            ("kind", "sectors"),
            ("values", "water"),
            ("action", "send"),
        ])
        .send()
        .await
        .expect("send");
    let html = resp.text().await.expect("text");
    assert!(html.contains("「宛先」を確認してください"), "{html}");
    // What was typed is kept for another try.
    assert!(html.contains("value=\"Gateways\""));
    assert_eq!(app.db.store.audit_len().await.expect("len"), before);
}

/// Times are shown and typed in the user's zone: the instance's (Asia/Tokyo by default) until
/// the user picks another in the settings; a zone that does not exist is refused by name.
#[tokio::test]
async fn times_are_shown_and_typed_in_the_users_time_zone() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "reporter").await;
    let (_, wizard) = page(&app, &c, "/reports/new").await;
    assert!(
        wizard.contains("Asia/Tokyo time"),
        "the wizard names the zone"
    );
    let (_, html) = page(&app, &c, "/settings").await;
    assert!(html.contains("id=\"time-zone\""));
    let csrf = csrf_of(&html);
    // A wizard form typed at 09:30 in Tokyo is 00:30 UTC.
    let resp = c
        .post(app.url("/reports/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("title", "Clock test"),
            ("description", "Filed from the page."),
            ("detected_at", "2026-04-01T09:30"),
            ("cause", "system-failure"),
            ("scope", "ot"),
            ("sectors", "water"),
            ("schema", "seed-draft"),
            ("answer-people-society", "none"),
            ("answer-systems", "none"),
            ("formation", "ministry"),
            ("tlp", "TLP:AMBER"),
        ])
        .send()
        .await
        .expect("file");
    assert_eq!(
        resp.status(),
        303,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let id = location.trim_start_matches("/reports/");
    let report: serde_json::Value = app
        .get("reporter", &format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert!(
        report["detected_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-04-01T00:30:00")),
        "{report}"
    );
    let (_, shown) = page(&app, &c, &location).await;
    assert!(
        shown.contains("2026-04-01 09:30 JST"),
        "shown in Tokyo time"
    );
    assert!(shown.contains("datetime=\"2026-04-01T00:30:00Z\""));

    // An unknown zone is named and nothing changes; a real one moves every time shown.
    let resp = c
        .post(app.url("/settings/time-zone"))
        .form(&[("csrf", csrf.as_str()), ("time_zone", "Mars/Olympus")])
        .send()
        .await
        .expect("zone");
    assert!(resp.text().await.expect("text").contains("Mars/Olympus"));
    let resp = c
        .post(app.url("/settings/time-zone"))
        .form(&[("csrf", csrf.as_str()), ("time_zone", "Europe/London")])
        .send()
        .await
        .expect("zone");
    assert_eq!(resp.status(), 303);
    let (_, shown) = page(&app, &c, &location).await;
    assert!(
        shown.contains("2026-04-01 01:30 BST"),
        "shown in London time"
    );
    // Empty takes the instance's zone again.
    let resp = c
        .post(app.url("/settings/time-zone"))
        .form(&[("csrf", csrf.as_str()), ("time_zone", "")])
        .send()
        .await
        .expect("zone");
    assert_eq!(resp.status(), 303);
    let (_, shown) = page(&app, &c, &location).await;
    assert!(shown.contains("2026-04-01 09:30 JST"));
}

/// A link into the pages (from an alert's e-mail) returns to its page after signing in, never
/// to another site; an address that is no page answers a page that says so, with a way back.
#[tokio::test]
async fn deep_links_survive_the_login_and_unknown_addresses_get_a_page() {
    let app = spawn_app().await;
    let c = browser();
    let resp = c
        .get(app.url("/alerts/7?tab=delivery"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 303);
    let to = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(to, "/login?next=%2Falerts%2F7%3Ftab%3Ddelivery");
    let (_, html) = page(&app, &c, &to).await;
    assert!(
        html.contains("name=\"next\" value=\"/alerts/7?tab=delivery\""),
        "{html}"
    );
    for (next, expected) in [
        ("/alerts/7?tab=delivery", "/alerts/7?tab=delivery"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example/", "/dashboard"),
        ("/login", "/dashboard"),
    ] {
        let c = browser();
        let resp = c
            .post(app.url("/login"))
            .header("Origin", app.base.as_str())
            .form(&[("user", "reporter"), ("password", PASSWORD), ("next", next)])
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 303, "{next}");
        assert_eq!(resp.headers()["location"], expected, "{next}");
    }
    // An address that is no page: a page, in the browser's language, with a way back.
    let resp = c
        .get(app.url("/no/such/page"))
        .header("Accept", "text/html,application/xhtml+xml")
        .header("Accept-Language", "ja")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = resp.text().await.expect("text");
    assert!(html.contains("このアドレスのページはありません"), "{html}");
    assert!(html.contains("id=\"go-back\""));
    // A program still gets the API's JSON error.
    let resp = c
        .get(app.url("/api/v1/no-such-thing"))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 401);
}

/// Pages name organizations by name, in the page's language, and keep the id only where a
/// user copies it (the title shown on hover).
#[tokio::test]
async fn pages_name_organizations_not_ids() {
    let app = spawn_app().await;
    let id = water_alert(&app, "Patch the HMI", "Now.").await;
    let names = app
        .db
        .store
        .organization_names(&["nisc", "tokyo-water"])
        .await
        .expect("names");
    let (nisc_en, nisc_ja) = names["nisc"].clone();
    let c = browser();
    login(&app, &c, "reporter").await;
    let (_, inbox) = page(&app, &c, "/alerts").await;
    assert!(
        inbox.contains(&format!("title=\"nisc\">{nisc_en}<")),
        "{inbox}"
    );
    let (_, alert) = page(&app, &c, &format!("/alerts/{id}")).await;
    assert!(alert.contains(&format!(">{nisc_en}</span>")), "{alert}");
    // In Japanese, the Japanese name where there is one.
    if let Some(ja) = nisc_ja {
        let j = japanese(&app, "reporter").await;
        let (_, html) = page(&app, &j, &format!("/alerts/{id}")).await;
        assert!(html.contains(&format!(">{ja}</span>")), "{html}");
    }
    // The sender's delivery table names each recipient.
    let s = browser();
    login(&app, &s, "coordinator").await;
    let (_, sent) = page(&app, &s, &format!("/alerts/{id}")).await;
    let (water_en, _) = names["tokyo-water"].clone();
    assert!(
        sent.contains(&format!("title=\"tokyo-water\">{water_en}<")),
        "{sent}"
    );
}

/// The composer keeps every field through a refusal, names a bad report number inline, and
/// asks the sender to confirm an alert to more than a hundred organizations before sending.
#[tokio::test]
async fn the_composer_keeps_its_fields_and_confirms_a_large_audience() {
    let app = spawn_app().await;
    water_operators(&app, "pump", 101).await;
    let c = browser();
    login(&app, &c, "coordinator").await;
    let (_, html) = page(&app, &c, "/alerts/new").await;
    let csrf = csrf_of(&html);
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("title", "Pumps: patch now".to_owned()),
            ("body", "Firmware 2.1 fixes it.".to_owned()),
            ("tlp", "TLP:GREEN".to_owned()),
            ("kind", "sectors".to_owned()),
            ("values", "water".to_owned()),
            ("ack_within", "4h".to_owned()),
            ("incidents", "".to_owned()),
            ("action", "send".to_owned()),
        ];
        f.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        f
    };
    let sent = || async {
        app.get("coordinator", "/api/v1/alerts")
            .await
            .json::<serde_json::Value>()
            .await
            .expect("json")
            .as_array()
            .expect("a list")
            .len()
    };
    let before = sent().await;
    // A report number that is none: named inline, every field kept, nothing sent.
    let resp = c
        .post(app.url("/alerts"))
        .form(&form(&[("reports", "12, twelve")]))
        .send()
        .await
        .expect("post");
    let html = resp.text().await.expect("text");
    assert!(
        html.contains("twelve&#34; is not a report or incident number"),
        "{html}"
    );
    assert!(html.contains("value=\"12, twelve\""));
    assert!(html.contains("Firmware 2.1 fixes it."));
    assert_eq!(sent().await, before);
    // More than a hundred recipients: shown, and confirmed before anything goes.
    let resp = c
        .post(app.url("/alerts"))
        .form(&form(&[]))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("text");
    assert!(html.contains("id=\"confirm-many\""), "{html}");
    assert!(html.contains("Pump operator 000<"), "recipients by name");
    assert_eq!(sent().await, before);
    let resp = c
        .post(app.url("/alerts"))
        .form(&form(&[("confirm_many", "on")]))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 303);
    assert_eq!(sent().await, before + 1);
}

/// Switching the wizard's severity schema keeps what was typed (its answers belong to the
/// old schema's questions and go) and files nothing.
#[tokio::test]
async fn switching_the_wizards_schema_keeps_the_other_fields() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "reporter").await;
    let (_, html) = page(&app, &c, "/reports/new").await;
    assert!(html.contains("name=\"switch_schema\" value=\"us-nciss\""));
    let resp = c
        .post(app.url("/reports/new"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("title", "Chlorine dosing offline"),
            ("description", "Since 07:10."),
            ("detected_at", "2026-04-01T09:30"),
            ("sectors", "water"),
            ("scope", "ot"),
            ("schema", "seed-draft"),
            ("answer-people-society", "none"),
            ("switch_schema", "us-nciss"),
        ])
        .send()
        .await
        .expect("switch");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("text");
    assert!(html.contains("value=\"Chlorine dosing offline\""), "{html}");
    assert!(html.contains("Since 07:10."));
    assert!(html.contains("value=\"2026-04-01T09:30\""));
    assert!(html.contains("<strong>us-nciss</strong>"));
    let filed: serde_json::Value = app
        .get("reporter", "/api/v1/reports")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        filed.as_array().expect("a list").len(),
        0,
        "nothing filed: {filed}"
    );
}

/// A relay refused because identifying text is left shows on the report's page, beside the
/// form, in the page's language, with everything the secretariat typed and ticked kept.
#[tokio::test]
async fn a_refused_relay_keeps_the_secretariats_edits() {
    let app = spawn_app().await;
    let names = app
        .db
        .store
        .organization_names(&["tokyo-water"])
        .await
        .expect("names");
    let reporter_name = names["tokyo-water"].0.clone();
    let resp = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/reports",
            json!({
                "title": "Pump telemetry lost",
                "description": format!("{reporter_name} lost two pump stations at 08:00."),
                "cause": "cyberattack", "sectors": ["water"], "scope": ["ot"],
                "detected_at": "2026-04-01T08:00:00Z",
                "answers": {"people-society": "none", "systems": "none"},
                "formation": "ceptoar-anonymous", "tlp": "TLP:GREEN",
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<serde_json::Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    let c = browser();
    login(&app, &c, "secretariat").await;
    let (_, html) = page(&app, &c, &format!("/reports/{id}")).await;
    assert!(html.contains("id=\"relay\""), "{html}");
    let resp = c
        .post(app.url(&format!("/reports/{id}/relay")))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("title", "Telemetry lost at a water operator"),
            (
                "description",
                &format!("{reporter_name} lost two pump stations. Edited by the CEPTOAR."),
            ),
            ("also_to", ""),
        ])
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status(), 409);
    let html = resp.text().await.expect("text");
    assert!(html.contains("id=\"relay-error\""), "{html}");
    assert!(html.contains("still in the text"), "{html}");
    assert!(html.contains("value=\"Telemetry lost at a water operator\""));
    assert!(html.contains("Edited by the CEPTOAR."));
    assert!(!html.contains("Something is wrong"));
}

/// What a user may not do is not offered: a reporter opening the composer is told why, in a
/// page; a secretariat is offered to pass on an alert only when its label allows it.
#[tokio::test]
async fn actions_that_would_be_refused_are_not_offered() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "reporter").await;
    let (status, html) = page(&app, &c, "/alerts/new").await;
    assert_eq!(status, 403);
    assert!(html.contains("Your role does not send alerts"), "{html}");
    assert!(!html.contains("id=\"send\""));
    let mut ids = Vec::new();
    for (tlp, clients) in [("TLP:GREEN", false), ("TLP:AMBER", false)] {
        let resp = app
            .send(
                Method::POST,
                "coordinator",
                "/api/v1/alerts",
                json!({"title": format!("Advisory {tlp}"), "body": "Patch.", "tlp": tlp,
                    "clients_permitted": clients,
                    "audience": {"kind": "sectors", "values": ["water"]}}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        ids.push(
            resp.json::<serde_json::Value>().await.expect("json")["id"]
                .as_i64()
                .expect("id"),
        );
    }
    let s = browser();
    login(&app, &s, "secretariat").await;
    let (_, green) = page(&app, &s, &format!("/alerts/{}", ids[0])).await;
    assert!(green.contains("id=\"relay-alert\""), "{green}");
    let (_, amber) = page(&app, &s, &format!("/alerts/{}", ids[1])).await;
    assert!(!amber.contains("id=\"relay-alert\""), "{amber}");
    assert!(amber.contains("id=\"relay-not-allowed\""));
}

/// The text of a page without its tags, scripts and styles.
fn visible_text(html: &str) -> String {
    let mut without = html.to_owned();
    for (open, close) in [("<script", "</script>"), ("<style", "</style>")] {
        while let Some(at) = without.find(open) {
            let end = without[at..]
                .find(close)
                .map_or(without.len(), |e| at + e + close.len());
            without.replace_range(at..end, " ");
        }
    }
    let mut text = String::with_capacity(without.len());
    let mut in_tag = false;
    for ch in without.chars() {
        match ch {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// Pages in Japanese hold no sentence of the English catalogue: every message a page shows is
/// translated, and no English wording of the server leaks through.
#[tokio::test]
async fn japanese_pages_hold_no_english_message() {
    let app = spawn_app().await;
    let en = include_str!("../../locales/en.ftl");
    let ja = include_str!("../../locales/ja.ftl");
    let value = |text: &str, key: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")).map(str::to_owned))
    };
    // Each English message of some length without placeables, unless Japanese uses the same
    // words (a product name, a label such as TLP:GREEN).
    let english: Vec<(String, String)> = en
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .filter(|(k, v)| {
            !k.starts_with('#')
                && !v.contains('{')
                && v.split_whitespace().count() >= 2
                && value(ja, k).as_deref() != Some(v)
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(
        english.len() > 50,
        "the catalogue was read: {}",
        english.len()
    );
    let mut found = Vec::new();
    for user in [
        "admin",
        "coordinator",
        "mhlw-analyst",
        "secretariat",
        "reporter",
        "water-exec",
    ] {
        let c = japanese(&app, user).await;
        for path in [
            "/dashboard",
            "/reports",
            "/incidents",
            "/alerts",
            "/registry",
            "/audit",
            "/admin/users",
            "/settings",
            "/reports/new",
            "/alerts/new",
        ] {
            let (_, html) = page(&app, &c, path).await;
            assert!(html.contains("lang=\"ja\""), "{user} {path}");
            let text = visible_text(&html);
            for (k, v) in &english {
                if text.contains(v.as_str()) {
                    found.push(format!("{user} {path}: {k} = {v}"));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    assert!(
        found.is_empty(),
        "English on Japanese pages:\n{}",
        found.join("\n")
    );
}

/// Every user changes their own password from the settings: a mistake is named in the page's
/// language and changes nothing; a change signs them out, and the new password works.
#[tokio::test]
async fn users_change_their_own_password_in_the_pages() {
    let app = spawn_app().await;
    let c = browser();
    login(&app, &c, "water-exec").await;
    let (_, html) = page(&app, &c, "/settings").await;
    assert!(html.contains("id=\"password-form\""));
    let csrf = csrf_of(&html);
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let c = c.clone();
        let url = app.url("/settings/password");
        let csrf = csrf.clone();
        async move {
            c.post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", again),
                ])
                .send()
                .await
                .expect("post")
        }
    };
    let new = "a new and long passphrase";
    for (current, fresh, again, says) in [
        (PASSWORD, new, "something else entirely", "differ"),
        (
            "not the password",
            new,
            new,
            "current password is not correct",
        ),
        (PASSWORD, "short", "short", "at least 12 characters"),
    ] {
        let resp = change(current, fresh, again).await;
        let html = resp.text().await.expect("text");
        assert!(html.contains(says), "{says}: {html}");
    }
    let resp = change(PASSWORD, new, new).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/login");
    let (status, _) = page(&app, &c, "/settings").await;
    assert_eq!(status, 303, "signed out everywhere");
    let resp = browser()
        .post(app.url("/login"))
        .form(&[("user", "water-exec"), ("password", new)])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/dashboard");
}

/// The delivery table of a large alert pages and filters on the server, with the filters and
/// the page in the URL.
#[tokio::test]
async fn the_delivery_table_pages_and_filters_on_the_server() {
    let app = spawn_app().await;
    water_operators(&app, "well", 120).await;
    let id = water_alert(&app, "Wells: patch", "Now.").await;
    let resp = app
        .send(
            Method::POST,
            "reporter",
            &format!("/api/v1/alerts/{id}/ack"),
            json!({}),
        )
        .await;
    assert!(resp.status().is_success());
    let c = browser();
    login(&app, &c, "coordinator").await;
    let rows = |html: &str| html.matches("<tr id=\"delivery-").count();
    let (_, first) = page(&app, &c, &format!("/alerts/{id}")).await;
    assert_eq!(rows(&first), 50, "one page of 50");
    assert!(first.contains("rel=\"next\""));
    assert!(first.contains("page 1 / 3"), "{first}");
    let (_, last) = page(&app, &c, &format!("/alerts/{id}?page=3")).await;
    assert!(rows(&last) > 0 && rows(&last) < 50);
    assert!(last.contains("rel=\"prev\""));
    assert!(!last.contains("rel=\"next\""));
    // A page past the last shows the last.
    let (_, past) = page(&app, &c, &format!("/alerts/{id}?page=99")).await;
    assert_eq!(rows(&past), rows(&last));
    // Filters, kept in the links to other pages.
    let (_, acked) = page(&app, &c, &format!("/alerts/{id}?show=acknowledged")).await;
    assert_eq!(rows(&acked), 1, "{acked}");
    assert!(acked.contains("id=\"delivery-tokyo-water\""));
    let (_, unacked) = page(&app, &c, &format!("/alerts/{id}?show=unacknowledged")).await;
    assert!(!unacked.contains("id=\"delivery-tokyo-water\""));
    assert!(
        unacked.contains("show=unacknowledged&#38;sort=org&#38;dir=asc&#38;page=2"),
        "{unacked}"
    );
    let (_, found) = page(&app, &c, &format!("/alerts/{id}?q=operator+007")).await;
    assert_eq!(rows(&found), 1, "search by name");
    let (_, none) = page(&app, &c, &format!("/alerts/{id}?sector=energy")).await;
    assert_eq!(rows(&none), 0);

    // Every matching row as CSV, names and all; for the sender only.
    let resp = c
        .get(app.url(&format!("/alerts/{id}?show=unacknowledged&format=csv")))
        .send()
        .await
        .expect("csv");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = resp.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("\u{feff}organization_id,organization,"));
    // The 120 wells and the water CEPTOAR.
    assert_eq!(
        lines.len(),
        1 + 121,
        "every unacknowledged one, on one sheet"
    );
    assert!(
        csv.contains("\r\nwater-ceptoar,Water supply CEPTOAR,"),
        "{csv}"
    );
    assert!(
        !csv.contains("tokyo-water"),
        "acknowledged: not in this export"
    );
    let other = browser();
    login(&app, &other, "reporter").await;
    let (status, _) = page(&app, &other, &format!("/alerts/{id}?format=csv")).await;
    assert_eq!(status, 403);

    // The API pages the same table: a count, and a link to the next page.
    let resp = app
        .get(
            "coordinator",
            &format!("/api/v1/alerts/{id}/delivery?show=unacknowledged&limit=100"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-total-count"], "121");
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("offset=100"), "{link}");
    let first: Vec<serde_json::Value> = resp.json().await.expect("json");
    assert_eq!(first.len(), 100);
    let path = link.trim_start_matches('<').split('>').next().unwrap();
    let resp = app.get("coordinator", path).await;
    assert!(resp.headers().get("link").is_none(), "the last page");
    let rest: Vec<serde_json::Value> = resp.json().await.expect("json");
    assert_eq!(rest.len(), 21);
    assert!(rest.iter().all(|r| r["acknowledged_at"].is_null()));
    for bad in ["show=maybe", "limit=0", "limit=5001"] {
        let resp = app
            .get(
                "coordinator",
                &format!("/api/v1/alerts/{id}/delivery?{bad}"),
            )
            .await;
        assert_eq!(resp.status(), 400, "{bad}");
    }
}

/// The inbox marks what the organization has not yet opened, and counts it.
#[tokio::test]
async fn the_inbox_marks_unread_alerts() {
    let app = spawn_app().await;
    let id = water_alert(&app, "Valves: patch", "Now.").await;
    let c = browser();
    login(&app, &c, "reporter").await;
    let (_, inbox) = page(&app, &c, "/alerts").await;
    assert!(
        inbox.contains(&format!("<tr id=\"alert-{id}\" class=\"unread\">")),
        "{inbox}"
    );
    assert!(inbox.contains("1 not yet read by your organization"));
    let (status, _) = page(&app, &c, &format!("/alerts/{id}")).await;
    assert_eq!(status, 200);
    let (_, inbox) = page(&app, &c, "/alerts").await;
    assert!(
        inbox.contains(&format!("<tr id=\"alert-{id}\">")),
        "read once opened: {inbox}"
    );
    assert!(!inbox.contains("id=\"unread-count\""));
}

/// The inbox searches titles and text, filters by state, and pages to older alerts.
#[tokio::test]
async fn the_inbox_searches_filters_and_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..55 {
        let title = if n % 10 == 0 {
            format!("Chlorine dosing {n}")
        } else {
            format!("Advisory {n}")
        };
        ids.push(water_alert(&app, &title, "Apply the fix.").await);
    }
    let c = browser();
    login(&app, &c, "reporter").await;
    let rows = |html: &str| html.matches("<tr id=\"alert-").count();
    let (_, first) = page(&app, &c, "/alerts").await;
    assert_eq!(rows(&first), 50);
    let older = first
        .split("id=\"inbox-older\"")
        .next()
        .and_then(|h| h.rsplit("href=\"").next())
        .and_then(|h| h.split('"').next())
        .expect("an older link")
        .replace("&#38;", "&");
    let (_, rest) = page(&app, &c, &older).await;
    assert_eq!(rows(&rest), 5, "{older}");
    assert!(rest.contains(&format!("id=\"alert-{}\"", ids[0])));
    let (_, found) = page(&app, &c, "/alerts?q=CHLORINE").await;
    assert_eq!(rows(&found), 6, "any case");
    assert!(found.contains("Chlorine dosing 50"));
    // Opened ones leave the unread filter.
    let (status, _) = page(&app, &c, &format!("/alerts/{}", ids[54])).await;
    assert_eq!(status, 200);
    let (_, unread) = page(&app, &c, "/alerts?show=unread").await;
    assert!(!unread.contains(&format!("id=\"alert-{}\"", ids[54])));
    assert!(unread.contains(&format!("id=\"alert-{}\"", ids[53])));
    let (_, none) = page(&app, &c, "/alerts?q=no+such+words").await;
    assert_eq!(rows(&none), 0);
    assert!(none.contains("id=\"inbox-none\""));
    // The CSV holds every alert the search matches, past the first page.
    let (status, csv) = page(&app, &c, "/alerts?format=csv").await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 1 + ids.len(), "{csv}");
    let (_, unread_csv) = page(&app, &c, "/alerts?show=unread&format=csv").await;
    assert!(unread_csv.lines().count() < csv.lines().count());
}

/// The report list filters every report the user may read, not only the newest, and pages to
/// older ones with the filters kept.
#[tokio::test]
async fn the_report_list_filters_and_pages() {
    use super::reports::{file, report_body};
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..56 {
        let mut body = report_body("ministry", "none");
        body["title"] = json!(if n % 8 == 0 {
            format!("Valve actuator fault {n}")
        } else {
            format!("Telemetry gap {n}")
        });
        ids.push(file(&app, body).await["id"].as_i64().expect("id"));
    }
    let c = browser();
    login(&app, &c, "reporter").await;
    let rows = |html: &str| html.matches("<tr id=\"report-").count();
    let link = |html: &str| {
        html.split("id=\"reports-older\"")
            .next()
            .and_then(|h| h.rsplit("href=\"").next())
            .and_then(|h| h.split('"').next())
            .map(|h| h.replace("&#38;", "&"))
    };
    let (_, first) = page(&app, &c, "/reports").await;
    assert_eq!(rows(&first), 50);
    let older = link(&first).expect("an older link");
    let (_, rest) = page(&app, &c, &older).await;
    assert_eq!(rows(&rest), 6);
    assert!(rest.contains(&format!("id=\"report-{}\"", ids[0])));
    // The oldest valve report is found although 50 newer reports come before it.
    let (_, valves) = page(&app, &c, "/reports?q=valve").await;
    assert_eq!(rows(&valves), 7, "any case, every match");
    assert!(valves.contains(&format!("id=\"report-{}\"", ids[0])));
    assert!(!valves.contains("id=\"reports-older\""));
    let (_, none) = page(&app, &c, "/reports?q=nothing+like+it").await;
    assert!(none.contains("id=\"reports-none\""));
    // The CSV holds every match with the filter kept, not only a page of them.
    assert!(
        valves.contains("href=\"/reports?q=valve&#38;format=csv\""),
        "{valves}"
    );
    let (status, csv) = page(&app, &c, "/reports?q=valve&format=csv").await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");
    assert!(csv.contains("Valve actuator fault 0"), "{csv}");
    let (_, all) = page(&app, &c, "/reports?format=csv").await;
    assert_eq!(all.lines().count(), 1 + 56);
}

/// A NUL in a page's address or a form is refused with a page in the user's language before
/// the store is asked (PostgreSQL refuses text holding one), and nothing is written.
#[tokio::test]
async fn a_nul_in_an_address_or_a_form_gets_a_page_and_writes_nothing() {
    let app = spawn_app().await;
    let c = japanese(&app, "coordinator").await;
    for path in ["/reports?q=a%00b", "/registry?q=%00", "/audit?actor=x%00"] {
        let (status, html) = page(&app, &c, path).await;
        assert_eq!(status, 422, "{path}: {html}");
        assert!(html.contains("NUL 文字"), "{path}: {html}");
    }
    let (_, html) = page(&app, &c, "/alerts/new").await;
    let before = app.db.store.audit_len().await.expect("len");
    let resp = c
        .post(app.url("/alerts"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("title", "Gate\u{0}ways"),
            ("body", "b"),
            ("tlp", "TLP:CLEAR"),
            ("kind", "sectors"),
            ("values", "water"),
            ("action", "send"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.expect("text").contains("NUL 文字"));
    assert_eq!(app.db.store.audit_len().await.expect("len"), before);
    // Without the NUL the same search is answered.
    let (status, _) = page(&app, &c, "/reports?q=ab").await;
    assert_eq!(status, 200);
}

/// The composer's audience is picked by name: sectors and CEPTOARs ticked from their lists,
/// organizations found by a search the server answers (with every other field kept); the
/// preview names who it reaches and shows the text as it will read.
#[tokio::test]
async fn the_audience_is_picked_by_name_and_the_preview_shows_the_text() {
    let app = spawn_app().await;
    let c = japanese(&app, "coordinator").await;
    let (_, html) = page(&app, &c, "/alerts/new").await;
    // Sectors by their Japanese names, ids only as the boxes' values.
    assert!(html.contains("id=\"pick-sector-water\""), "{html}");
    assert!(html.contains("水道"), "{html}");
    let csrf = csrf_of(&html);
    let base = |action: &str, extra: &[(&str, &str)]| {
        let mut f: Vec<(String, String)> = [
            ("csrf", csrf.as_str()),
            ("title", "Pumps: patch now"),
            ("body", "Apply the fix **today**."),
            ("tlp", "TLP:GREEN"),
            ("kind", "sectors"),
            ("sector", "water"),
            ("ack_within", "4h"),
            ("action", action),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        f.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        f
    };
    // A search finds organizations by name; the kind turns to organizations, the rest stays.
    let resp = c
        .post(app.url("/alerts"))
        .form(&base("find", &[("org_q", "tokyo")]))
        .send()
        .await
        .expect("find");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("text");
    assert!(html.contains("id=\"pick-org-tokyo-water\""), "{html}");
    assert!(html.contains("東京水道"), "{html}");
    assert!(html.contains("value=\"organizations\" selected"), "{html}");
    assert!(html.contains("value=\"Pumps: patch now\""), "{html}");
    assert!(
        html.contains("value=\"water\" id=\"pick-sector-water\" checked"),
        "the sector stays ticked: {html}"
    );
    // A search that finds nothing says so.
    let resp = c
        .post(app.url("/alerts"))
        .form(&base("find", &[("org_q", "no such operator")]))
        .send()
        .await
        .expect("find");
    let html = resp.text().await.expect("text");
    assert!(
        html.contains("「no such operator」に当たる組織はありません"),
        "{html}"
    );
    // The organization ticked: the preview names it and shows the text rendered.
    let mut form = base("preview", &[("org", "tokyo-water")]);
    form.retain(|(k, _)| k != "kind");
    form.push(("kind".into(), "organizations".into()));
    let resp = c
        .post(app.url("/alerts"))
        .form(&form)
        .send()
        .await
        .expect("preview");
    let html = resp.text().await.expect("text");
    assert!(html.contains("id=\"preview\""), "{html}");
    assert!(html.contains("<strong>today</strong>"), "{html}");
    assert!(
        html.contains("value=\"tokyo-water\" id=\"pick-org-tokyo-water\" checked"),
        "{html}"
    );
    let preview = &html[html.find("id=\"preview\"").expect("preview")..];
    assert!(preview.contains("東京水道"), "{preview}");
    // Sent: the alert goes to the organization ticked, not the sector of the other picker.
    let mut form = base("send", &[("org", "tokyo-water")]);
    form.retain(|(k, _)| k != "kind");
    form.push(("kind".into(), "organizations".into()));
    let resp = c
        .post(app.url("/alerts"))
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 303);
    let alerts: serde_json::Value = app
        .get("coordinator", "/api/v1/alerts")
        .await
        .json()
        .await
        .expect("json");
    let audience = &alerts[0]["audience"]["scope"];
    assert_eq!(audience["kind"], "organizations", "{alerts}");
    assert_eq!(
        audience["values"],
        serde_json::json!(["tokyo-water"]),
        "{alerts}"
    );
}

/// The anonymizing secretariat sees each flagged passage marked in the text with its kind,
/// replaces the ones it ticks with a placeholder (the form changes, nothing is sent), relays,
/// and then sees the copy that was sent instead of the form.
#[tokio::test]
async fn the_secretariat_replaces_flagged_passages_and_sees_the_copy_sent() {
    let app = spawn_app().await;
    let resp = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/reports",
            json!({
                "title": "Pump telemetry lost",
                "description": "Tokyo Water lost two <pump> stations at 08:00; Tokyo Water is restoring them.",
                "cause": "cyberattack", "sectors": ["water"], "scope": ["ot"],
                "detected_at": "2026-04-01T08:00:00Z",
                "answers": {"people-society": "none", "systems": "none"},
                "formation": "ceptoar-anonymous", "tlp": "TLP:GREEN",
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<serde_json::Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    let c = japanese(&app, "secretariat").await;
    let (_, html) = page(&app, &c, &format!("/reports/{id}")).await;
    // Marked where it occurs, with its kind, and the text around it escaped.
    let flagged = &html[html.find("id=\"flagged-text\"").expect("flagged text")..];
    let flagged = &flagged[..flagged.find("</div>").expect("end")];
    assert_eq!(
        flagged
            .matches("<mark class=\"flag\">Tokyo Water<small> 組織名</small></mark>")
            .count(),
        2,
        "{flagged}"
    );
    assert!(
        flagged.contains("&#60;pump&#62;") || flagged.contains("&lt;pump&gt;"),
        "{flagged}"
    );
    // Other CEPTOARs are offered by name, not the secretariat's own.
    assert!(
        html.contains("id=\"also-to-electric-power-ceptoar\""),
        "{html}"
    );
    assert!(!html.contains("id=\"also-to-water-ceptoar\""), "{html}");
    // Someone who may not relay is refused the replacement as the relay itself (no flags).
    let other = japanese(&app, "coordinator").await;
    let (_, page_html) = page(&app, &other, "/dashboard").await;
    let resp = other
        .post(app.url(&format!("/reports/{id}/relay")))
        .form(&[
            ("csrf", csrf_of(&page_html).as_str()),
            ("title", "t"),
            ("description", "d"),
            ("redact", "Tokyo Water"),
            ("action", "redact"),
        ])
        .send()
        .await
        .expect("redact");
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let refused = resp.text().await.expect("text");
    assert!(!refused.contains("箇所を置き換えました"), "{refused}");
    assert!(!refused.contains("id=\"flagged-text\""), "{refused}");
    // Replaced: the form holds the placeholder, nothing is relayed yet.
    let resp = c
        .post(app.url(&format!("/reports/{id}/relay")))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("title", "Pump telemetry lost"),
            (
                "description",
                "Tokyo Water lost two <pump> stations at 08:00; Tokyo Water is restoring them.",
            ),
            ("also_to", ""),
            ("redact", "Tokyo Water"),
            ("action", "redact"),
        ])
        .send()
        .await
        .expect("redact");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("text");
    assert!(html.contains("2 箇所を置き換えました"), "{html}");
    assert!(
        html.contains("［組織名］ lost two &#60;pump&#62; stations")
            || html.contains("［組織名］ lost two &lt;pump&gt; stations"),
        "{html}"
    );
    assert!(html.contains("id=\"no-flags\""), "{html}");
    let report: serde_json::Value = app
        .get("secretariat", &format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(report["relays"], json!([]), "{report}");
    // Relayed: the page shows the copy sent, and the form only folded.
    let resp = c
        .post(app.url(&format!("/reports/{id}/relay")))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("title", "Pump telemetry lost"),
            (
                "description",
                "［組織名］ lost two <pump> stations at 08:00; ［組織名］ is restoring them.",
            ),
            ("also_to", "electric-power-ceptoar"),
            ("action", "relay"),
        ])
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status(), 303);
    let (_, html) = page(&app, &c, &format!("/reports/{id}")).await;
    let sent = &html[html.find("id=\"sent-copy\"").expect("the copy sent")..];
    let sent = &sent[..sent.find("</section>").expect("end")];
    assert!(sent.contains("［組織名］ lost two"), "{sent}");
    assert!(!sent.contains("Tokyo Water"), "{sent}");
    assert!(
        html.contains("<details><summary>別の写しを中継する</summary>"),
        "{html}"
    );
}

/// The incidents list: an organization's incidents newest first with how many reports each
/// groups, as CSV too; an incident's page names its reports; another organization sees none.
#[tokio::test]
async fn incidents_are_listed_for_their_organization_only() {
    let app = spawn_app().await;
    let report = super::reports::file(&app, super::reports::report_body("ministry", "none")).await;
    let other_report =
        super::reports::file(&app, super::reports::report_body("ministry", "none")).await;
    let mut ids = Vec::new();
    for (title, r) in [
        ("Water campaign", &report),
        ("Pump <outage>", &other_report),
    ] {
        let rid = r["id"].as_i64().expect("id");
        app.clock.advance(chrono::Duration::minutes(5));
        let incident: serde_json::Value = app
            .send(
                Method::POST,
                "mhlw-analyst",
                "/api/v1/incidents",
                json!({"title": title, "reports": [rid]}),
            )
            .await
            .json()
            .await
            .expect("json");
        ids.push(incident["id"].as_i64().expect("id"));
    }
    let c = japanese(&app, "mhlw-analyst").await;
    let (status, html) = page(&app, &c, "/incidents").await;
    assert_eq!(status, 200, "{html}");
    let table = &html[html.find("id=\"incidents\"").expect("table")..];
    // Newest first, titles escaped, each linked.
    let (a, b) = (
        table
            .find(&format!("/incidents/{}", ids[1]))
            .expect("second"),
        table
            .find(&format!("/incidents/{}", ids[0]))
            .expect("first"),
    );
    assert!(a < b, "newest first: {table}");
    assert!(table.contains("Pump &#60;outage&#62;") || table.contains("Pump &lt;outage&gt;"));
    assert!(
        table.contains("<td data-label=\"報告数\">1</td>"),
        "{table}"
    );
    assert!(html.contains("インシデント一覧"), "{html}");
    let resp = c
        .get(app.url("/incidents?format=csv"))
        .send()
        .await
        .expect("csv");
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.expect("text");
    assert!(csv.contains("Water campaign"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    // The incident's page names its report by title, not only by number.
    let (_, html) = page(&app, &c, &format!("/incidents/{}", ids[0])).await;
    let title = report["title"].as_str().expect("title");
    assert!(html.contains(title), "{html}");
    // The incident and its report download as STIX 2.1 with the page's session.
    for (page_path, link) in [
        (
            format!("/incidents/{}", ids[0]),
            format!("/api/v1/incidents/{}/stix", ids[0]),
        ),
        (
            format!("/reports/{}", report["id"]),
            format!("/api/v1/reports/{}/stix", report["id"]),
        ),
    ] {
        let (_, html) = page(&app, &c, &page_path).await;
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        let (status, bundle) = page(&app, &c, &link).await;
        assert_eq!(status, 200, "{bundle}");
        let bundle: serde_json::Value = serde_json::from_str(&bundle).expect("json");
        assert_eq!(bundle["type"], "bundle", "{bundle}");
    }
    // Another organization has none, and cannot open this one.
    let other = japanese(&app, "coordinator").await;
    let (_, html) = page(&app, &other, "/incidents").await;
    assert!(html.contains("id=\"incidents-none\""), "{html}");
    let (status, _) = page(&app, &other, &format!("/incidents/{}", ids[0])).await;
    assert_eq!(status, 404);
}
