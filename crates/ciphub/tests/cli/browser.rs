//! The web pages in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver: a reporter files a report through the wizard, the CEPTOAR
//! secretariat relays it anonymized, the coordinator's dashboard changes, the coordinator sends
//! an alert, and an operator acknowledges it. Each step checks what a person would see, and
//! leaves a screenshot under `target/browser/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ciphub_store::testkit::TestDb;
use fantoccini::{Client, ClientBuilder, Locator};

use super::serve::start;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
pub(super) const PASSWORD: &str = "ciphub-demo-password";

/// The screenshots the README shows.
const README_SHOTS: [&str; 8] = [
    "wizard-answered",
    "secretariat-flags",
    "coordinator-dashboard-after",
    "alert-preview",
    "delivery-table",
    "inbox-japanese",
    "phone-dashboard",
    "phone-alerts",
];

/// A running chromedriver, stopped when dropped.
pub(super) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port, or says why the test cannot run.
pub(super) fn chromedriver() -> Option<(Driver, u16)> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        let why = format!(
            "browser journey: skipped: needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
        ciphub_store::testkit::skip(&why);
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((Driver(child), port))
}

/// The build's target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub(super) fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}

/// Where screenshots go.
pub(super) fn shots() -> PathBuf {
    let dir = target_dir().join("browser");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir.canonicalize().expect("canonical path")
}

/// One Chromium window on the server at `base`.
pub(super) struct Browser {
    pub(super) c: Client,
    pub(super) base: String,
    step: u32,
}

/// The first time shown raw (RFC 3339, as the API gives it) in `text`, if any: pages show
/// times in the user's zone.
pub(super) fn raw_time(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    (0..b.len().saturating_sub(16))
        .find(|&i| {
            digits(i..i + 4)
                && b[i + 4] == b'-'
                && digits(i + 5..i + 7)
                && b[i + 7] == b'-'
                && digits(i + 8..i + 10)
                && b[i + 10] == b'T'
                && digits(i + 11..i + 13)
                && b[i + 13] == b':'
        })
        .map(|i| {
            let end = (i + 32).min(text.len());
            let end = (end..=text.len())
                .find(|&e| text.is_char_boundary(e))
                .unwrap_or(text.len());
            &text[i..end]
        })
}

impl Browser {
    /// A headless Chromium through the chromedriver on `port`, in English, `width` by
    /// `height` pixels, on the server at `base`.
    pub(super) async fn open(port: u16, base: String, width: u32, height: u32) -> Self {
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), "--lang=en-US"]
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("an object")
        };
        // The WebDriver client speaks plain HTTP here, but its TLS stack wants a provider chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromium starts");
        Self { c, base, step: 0 }
    }

    pub(super) async fn go(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    /// The text of the element `css`, waiting for it (a page may still be loading).
    pub(super) async fn text(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self.c.find(Locator::Css(css)).await;
            if let Ok(e) = found
                && let Ok(t) = e.text().await
            {
                return t;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{css} not found on {:?}",
                self.c.current_url().await.map(|u| u.to_string())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    pub(super) async fn until(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let t = self.text(css).await;
            if ok(&t) {
                return t;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{css} never became what was expected; it says {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) async fn fill(&self, css: &str, value: &str) {
        let e = self.c.find(Locator::Css(css)).await.expect(css);
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    pub(super) async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} not found: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Fails on a time shown raw (RFC 3339, as the API gives it) in the page's text: times are
    /// shown in the user's zone.
    pub(super) async fn no_raw_times(&self) {
        let text = self
            .c
            .execute("return document.body.innerText;", vec![])
            .await
            .expect("script");
        let text = text.as_str().unwrap_or_default();
        if let Some(raw) = raw_time(text) {
            panic!(
                "a raw timestamp on {:?}: {raw:?}",
                self.c.current_url().await.map(|u| u.to_string()),
            );
        }
    }

    pub(super) async fn shot(&mut self, name: &str) {
        self.no_raw_times().await;
        self.step += 1;
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(shots().join(format!("{:02}-{name}.png", self.step)), &png)
            .expect("write screenshot");
        // The README's pictures: `CIPHUB_SCREENSHOTS=docs/screenshots cargo test browser`
        // writes the ones it shows there (a relative path is from the workspace's root), to be
        // committed when they change.
        if let Ok(dir) = std::env::var("CIPHUB_SCREENSHOTS")
            && README_SHOTS.contains(&name)
        {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(dir);
            std::fs::create_dir_all(&dir).expect("screenshot directory");
            std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
        }
    }

    pub(super) async fn login(&mut self, user: &str) {
        self.go("/login").await;
        self.fill("#user", user).await;
        self.fill("#password", PASSWORD).await;
        self.click("#login").await;
        self.until("h1", |h| h == "Dashboard" || h == "ダッシュボード")
            .await;
    }

    pub(super) async fn logout(&self) {
        self.click_in_menu("#logout").await;
        self.until("h1", |h| h.contains("Log in") || h.contains("ログイン"))
            .await;
    }

    /// Whether the element `css` is on the page and shown.
    pub(super) async fn displayed(&self, css: &str) -> bool {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Clicks `css` in the header's menu: on a phone, the menu is opened first, as a person
    /// would. On a wide screen the menu's content shows whatever its `open` (CSS), but
    /// WebDriver refuses elements of a closed `<details>`, so it is opened by script there.
    pub(super) async fn click_in_menu(&self, css: &str) {
        if !self.displayed(css).await {
            if self.displayed("#menu-button").await {
                self.click("#menu-button").await;
            } else {
                self.c
                    .execute("document.getElementById('menu').open = true;", vec![])
                    .await
                    .expect("script");
            }
        }
        self.click(css).await;
    }

    /// Logs out from a page of any width: on a phone, the button is in the folded menu.
    async fn logout_anywhere(&self) {
        if self.displayed("#menu-button").await && !self.displayed("#logout").await {
            self.click("#menu-button").await;
        }
        self.logout().await;
    }

    /// On a phone's width: nothing wider than the screen, the menu folded under its button
    /// until pressed, then every link shown on one line; a screenshot of each.
    async fn phone_check(&mut self, name: &str) {
        self.text("h1").await;
        let overflow = self
            .c
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .expect("script");
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{name} is wider than a phone: {overflow}"
        );
        assert!(
            !self.displayed("#menu-body nav a[href='/dashboard']").await,
            "{name}: the menu starts folded"
        );
        let header = self
            .c
            .execute(
                "return document.querySelector('header.top').getBoundingClientRect().height;",
                vec![],
            )
            .await
            .expect("script");
        assert!(
            header.as_f64().unwrap_or(1000.0) < 80.0,
            "{name}: the folded header is {header} px tall"
        );
        self.shot(&format!("phone{}", name.replace('/', "-"))).await;
        self.click("#menu-button").await;
        assert!(
            self.displayed("#menu-body nav a[href='/dashboard']").await,
            "{name}: the menu opens"
        );
        // Each link and button of the menu on one line: a range over its words has one box
        // per line it takes.
        let lines = self
            .c
            .execute(
                "let most = 0; document.querySelectorAll('#menu-body nav a, #menu-body button').forEach(function (e) { \
                 const r = document.createRange(); r.selectNodeContents(e); \
                 most = Math.max(most, r.getClientRects().length); }); return most;",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(lines.as_i64(), Some(1), "{name}: a menu item wraps");
        self.shot(&format!("phone{}-menu", name.replace('/', "-")))
            .await;
        self.click("#menu-button").await;
    }

    async fn count(&self, section: &str) -> usize {
        self.text(&format!("#{section} .count"))
            .await
            .parse()
            .expect("a count")
    }
}

#[tokio::test]
async fn a_report_and_an_alert_travel_through_the_pages() {
    let Some((_driver, port)) = chromedriver() else {
        return;
    };
    let db = TestDb::new().await.expect("db");
    let (_server, base, printed) = start(&db.url, &["--demo"]);
    let admin_token = printed
        .lines()
        .find_map(|l| l.strip_prefix("API token:"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("admin token")
        .to_owned();
    let mut b = Browser::open(port, base, 1280, 1000).await;

    // The coordinator's picture before anything happens.
    b.login("demo-coordinator").await;
    let queue_before = b.count("queue").await;
    b.shot("coordinator-dashboard-before").await;
    b.logout().await;

    // A reporter files an anonymous report through the wizard; the level shows as they answer.
    b.login("demo-reporter").await;
    b.go("/reports/new").await;
    assert_eq!(b.text("h1").await, "Report an incident or outage");
    b.fill("#title", "Pump station telemetry lost").await;
    b.fill(
        "#description",
        "Telemetry from two pump stations of demo-water-op-0001 stopped at 08:00.",
    )
    .await;
    b.click("input[name=sectors][value=water]").await;
    b.click("input[name=scope][value=ot]").await;
    // The time is typed as the operator's clock shows it, in Tokyo.
    assert!(
        b.text("label:has(#detected_at)")
            .await
            .contains("Asia/Tokyo")
    );
    b.c.execute(
        "document.getElementById('detected_at').value = '2026-04-01T09:30';",
        vec![],
    )
    .await
    .expect("script");
    assert_eq!(
        b.text("#level").await,
        "Answer every question to see the level."
    );
    let radios =
        b.c.find_all(Locator::Css("#impact input[type=radio]"))
            .await
            .expect("questions");
    // The second option of each question.
    let mut seen: std::collections::BTreeMap<String, u32> = Default::default();
    for r in &radios {
        let name = r.attr("name").await.expect("name").expect("a name");
        let n = seen.entry(name).or_default();
        *n += 1;
        if *n == 2 {
            r.click().await.expect("answer");
        }
    }
    b.until("#level", |l| {
        l.chars().next().is_some_and(|c| c.is_ascii_digit())
    })
    .await;
    b.shot("wizard-answered").await;
    b.click("#submit").await;
    b.until("#report-title", |t| {
        t.contains("Pump station telemetry lost")
    })
    .await;
    let report_url = b.c.current_url().await.expect("url").to_string();
    // Shown as it was typed, in the reporter's zone (stored as 00:30 UTC).
    assert!(
        b.text("main").await.contains("2026-04-01 09:30 JST"),
        "the detection time in Tokyo time"
    );
    b.shot("report-filed").await;
    b.logout().await;

    // The secretariat sees it in its queue, with the operator's identifier flagged, and relays
    // it without it.
    b.login("demo-secretariat").await;
    b.go("/reports").await;
    assert!(
        b.text("#reports")
            .await
            .contains("Pump station telemetry lost"),
        "the report is in the queue"
    );
    b.c.goto(&report_url).await.expect("report");
    assert!(b.text("#flags").await.contains("demo-water-op-0001"));
    // The identifier is marked where it stands in the text.
    assert!(
        b.text("#flagged-text mark.flag")
            .await
            .contains("demo-water-op-0001")
    );
    b.c.execute("document.getElementById('relay').scrollIntoView();", vec![])
        .await
        .expect("scroll");
    b.shot("secretariat-flags").await;
    // Replaced by a placeholder in the form; nothing is relayed until the secretariat says so.
    b.click("#flags input[name=redact]").await;
    b.click("#relay-redact").await;
    b.until("#no-flags", |t| !t.is_empty()).await;
    let description =
        b.c.find(Locator::Css("#relay-description"))
            .await
            .expect("description")
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default();
    assert!(!description.contains("demo-water-op-0001"), "{description}");
    assert!(description.contains('['), "{description}");
    b.click("#relay-submit").await;
    b.until("#relayed", |t| !t.is_empty()).await;
    // The page now shows the copy sent.
    let sent = b.text("#sent-copy").await;
    assert!(!sent.contains("demo-water-op-0001"), "{sent}");
    b.shot("relayed").await;
    b.logout().await;

    // The coordinator's dashboard now shows the anonymized copy, without the operator's name.
    b.login("demo-coordinator").await;
    assert_eq!(b.count("queue").await, queue_before + 1);
    let queue = b.text("#queue").await;
    assert!(queue.contains("Pump station telemetry lost"), "{queue}");
    assert!(!queue.contains("demo-water-op-0001"), "{queue}");
    b.shot("coordinator-dashboard-after").await;

    // The coordinator sends an alert to the water sector, previewing who it reaches.
    b.go("/alerts/new").await;
    b.fill("#title", "Patch the telemetry gateways").await;
    b.fill("#body", "Apply the vendor's fix **today**.").await;
    b.click("input[name=tlp][value='TLP:GREEN']").await;
    // The water sector, ticked by its name in the picker.
    assert!(b.text("#pick-sector").await.contains("Water"));
    b.click("#pick-sector-water").await;
    let report_id = report_url.rsplit('/').next().expect("id").to_owned();
    b.fill("#reports", &report_id).await;
    b.click("#preview-button").await;
    // Recipients by name; every field kept, the related report too.
    b.until("#preview", |p| {
        p.contains("Demo Water supply operator 0001")
    })
    .await;
    let kept =
        b.c.find(Locator::Css("#reports"))
            .await
            .expect("reports")
            .prop("value")
            .await
            .expect("value");
    assert_eq!(kept.as_deref(), Some(report_id.as_str()));
    // The coordinator may not cite the operator's own (anonymous) report: it goes without it.
    b.fill("#reports", "").await;
    b.shot("alert-preview").await;
    // With a file of indicators attached.
    let file = shots().join("iocs.csv");
    std::fs::write(&file, "ip,198.51.100.7\n").expect("file");
    b.c.find(Locator::Css("#attachments"))
        .await
        .expect("file input")
        .send_keys(&file.display().to_string())
        .await
        .expect("attach");
    b.click("#send").await;
    b.until("#alert-title", |t| t == "Patch the telemetry gateways")
        .await;
    assert!(b.text("main").await.contains("iocs.csv"));
    assert!(b.text("#delivery-summary").await.contains('0'));
    let alert_url = b.c.current_url().await.expect("url").to_string();
    b.logout().await;

    // An operator's executive acknowledges it from the inbox.
    b.login("demo-executive").await;
    // While they look at the dashboard, another alert arrives and is announced at once.
    let sent = reqwest::Client::new()
        .post(format!("{}/api/v1/alerts", b.base))
        .bearer_auth(&admin_token)
        .json(
            &serde_json::json!({"title": "Second advisory", "body": "b", "tlp": "TLP:CLEAR",
            "audience": {"kind": "sectors", "values": ["water"]}}),
        )
        .send()
        .await
        .expect("alert");
    assert_eq!(sent.status(), 201);
    b.until("#live", |t| t.contains("Second advisory")).await;
    b.shot("live-announcement").await;
    b.go("/alerts").await;
    assert!(
        b.text("#alerts")
            .await
            .contains("Patch the telemetry gateways")
    );
    b.c.goto(&alert_url).await.expect("alert");
    assert_eq!(b.text("#alert-body strong").await, "today");
    b.click("#ack").await;
    b.until("#acked", |t| t.contains("demo-executive")).await;
    b.shot("acknowledged").await;
    // In Japanese, TLP labels stay as they are.
    b.click_in_menu("#lang-switch").await;
    b.until("h1", |h| h == "ダッシュボード").await;
    b.go("/alerts").await;
    assert!(b.text("#alerts").await.contains("TLP:GREEN"));
    b.shot("inbox-japanese").await;
    b.logout().await;

    // The sender sees who acknowledged, on the alert and on the dashboard.
    b.login("demo-coordinator").await;
    b.until("#sent", |t| {
        t.contains("Patch the telemetry gateways") && t.contains("1/")
    })
    .await;
    b.c.goto(&alert_url).await.expect("alert");
    assert!(
        b.text("#delivery-demo-water-op-0001 .acked")
            .await
            .contains("demo-executive")
    );
    b.shot("delivery-table").await;
    // On a wide screen the menu is open, without its button.
    assert!(
        !b.displayed("#menu-button").await,
        "no menu button on a wide screen"
    );
    assert!(b.displayed("#menu-body nav a[href='/settings']").await);
    // On a phone's width the pages fit: nothing runs off the side, tables become cards, the
    // menu folds under a button that opens it, and no word is broken a character a line.
    b.c.set_window_size(390, 844).await.expect("resize");
    let report_path = report_url
        .find("/reports/")
        .map(|at| report_url[at..].to_owned())
        .expect("a report path");
    for path in [
        "/dashboard",
        "/alerts",
        "/reports",
        "/settings",
        "/admin/users",
        "/reports/new",
        report_path.as_str(),
    ] {
        b.go(path).await;
        b.phone_check(path).await;
    }
    // The charts' words stay legible.
    b.go("/dashboard").await;
    let smallest =
        b.c.execute(
            "let m = 100; document.querySelectorAll('.chart figcaption, .chart li, .chart .bar-label, \
             .chart .bar-total, .chart .column-labels span, .chart .axis').forEach(function (e) { \
             if (e.getClientRects().length) { m = Math.min(m, parseFloat(getComputedStyle(e).fontSize)); } }); return m;",
                vec![],
            )
            .await
            .expect("script");
    assert!(
        smallest.as_f64().unwrap_or(0.0) >= 12.0,
        "chart text of {smallest} px"
    );
    // In Japanese too, where the menu's words are longest for an admin.
    b.click("#menu-button").await;
    b.click_in_menu("#lang-switch").await;
    b.until("h1", |h| h == "ダッシュボード").await;
    b.phone_check("/dashboard-ja").await;
    b.logout_anywhere().await;
    b.login("demo-admin").await;
    b.click("#menu-button").await;
    b.click_in_menu("#lang-switch").await;
    b.until("h1", |h| h == "ダッシュボード").await;
    for path in ["/dashboard", "/admin/users", "/audit"] {
        b.go(path).await;
        b.phone_check(&format!("{path}-admin-ja")).await;
    }
    b.c.close().await.expect("close");
}
