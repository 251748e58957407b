//! The public advisories page and Atom feed: TLP:CLEAR only, no credentials needed.

use reqwest::Method;
use serde_json::json;

use super::helpers::spawn_app;

#[tokio::test]
async fn only_clear_alerts_are_public() {
    let app = spawn_app().await;
    let send = |title: &str, tlp: &str, exercise: bool| {
        json!({"title": title, "body": "Patch **now**. <script>alert(1)</script>", "tlp": tlp,
               "audience": {"kind": "all"}, "exercise": exercise})
    };
    for (title, tlp, exercise) in [
        ("Public patch advisory", "TLP:CLEAR", false),
        ("Community-only warning", "TLP:GREEN", false),
        ("Exercise advisory", "TLP:CLEAR", true),
    ] {
        let resp = app
            .send(
                Method::POST,
                "coordinator",
                "/api/v1/alerts",
                send(title, tlp, exercise),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let page = app
        .client
        .get(app.url("/public/advisories"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Public patch advisory"), "{html}");
    assert!(html.contains("<strong>now</strong>"), "{html}");
    assert!(!html.contains("Community-only"), "{html}");
    assert!(!html.contains("Exercise advisory"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");

    let feed = app
        .client
        .get(app.url("/public/advisories.atom"))
        .send()
        .await
        .expect("feed");
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/atom+xml")
    );
    let xml = feed.text().await.expect("xml");
    let parsed: atom_syndication::Feed = xml.parse().expect("valid Atom");
    assert_eq!(parsed.entries().len(), 1);
    assert_eq!(
        parsed.entries()[0].title().as_str(),
        "Public patch advisory"
    );
    // Without a public URL, ids are the instance's tag URIs and links are relative: nothing is
    // taken from the request's Host header.
    assert!(parsed.entries()[0].id().starts_with("tag:ciphub,2026:"));
    assert!(
        parsed.entries()[0].links()[0]
            .href()
            .starts_with("/public/")
    );
}

/// A feed with nothing published yet still says a real time in `<updated>`: the time it was
/// made, not the Unix epoch.
#[tokio::test]
async fn an_empty_feed_is_updated_now() {
    let app = spawn_app().await;
    let before = chrono::Utc::now();
    let xml = app
        .client
        .get(app.url("/public/advisories.atom"))
        .send()
        .await
        .expect("feed")
        .text()
        .await
        .expect("xml");
    let parsed: atom_syndication::Feed = xml.parse().expect("valid Atom");
    assert!(parsed.entries().is_empty());
    let updated = parsed.updated().with_timezone(&chrono::Utc);
    // The feed's times are whole seconds.
    assert!(
        updated >= before - chrono::TimeDelta::seconds(1) && updated <= chrono::Utc::now(),
        "{xml}"
    );
}
