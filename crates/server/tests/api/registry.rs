//! The registry as the API shows it.

use serde_json::Value;

use super::helpers::{error_of, spawn_app};

#[tokio::test]
async fn sectors_list_14_with_their_ministries() {
    let app = spawn_app().await;
    let resp = app.get("reporter", "/api/v1/sectors").await;
    assert_eq!(resp.status(), 200);
    let sectors: Vec<Value> = resp.json().await.expect("json");
    assert_eq!(sectors.len(), 14);
    let responsible_of = |slug: &str| -> Vec<String> {
        sectors.iter().find(|s| s["slug"] == slug).expect("sector")["responsible"]
            .as_array()
            .expect("array")
            .iter()
            .map(|m| m["slug"].as_str().expect("slug").to_owned())
            .collect()
    };
    assert_eq!(responsible_of("medical"), ["mhlw"]);
    assert_eq!(responsible_of("water"), ["mhlw"]);
    assert_eq!(responsible_of("railway"), ["mlit"]);
    let finance = sectors
        .iter()
        .find(|s| s["slug"] == "finance")
        .expect("finance");
    assert_eq!(finance["services"].as_array().expect("services").len(), 4);
}

#[tokio::test]
async fn organizations_filter_by_kind_and_sector() {
    let app = spawn_app().await;
    let ceptoars: Vec<Value> = app
        .get("reporter", "/api/v1/organizations?kind=ceptoar")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ceptoars.len(), 19);
    let water: Vec<Value> = app
        .get("reporter", "/api/v1/organizations?sector=water")
        .await
        .json()
        .await
        .expect("json");
    let slugs: Vec<&str> = water
        .iter()
        .map(|o| o["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs, ["water-ceptoar", "tokyo-water"]);
    let ministries: Vec<Value> = app
        .get("reporter", "/api/v1/organizations?kind=ministry")
        .await
        .json()
        .await
        .expect("json");
    let mhlw = ministries
        .iter()
        .find(|m| m["slug"] == "mhlw")
        .expect("mhlw");
    assert_eq!(
        mhlw["responsible_for"],
        serde_json::json!(["medical", "water"])
    );
}

#[tokio::test]
async fn councils_and_ceptoars_list_their_members() {
    let app = spawn_app().await;
    let council: Value = app
        .get(
            "reporter",
            "/api/v1/organizations/financial-ceptoar-liaison-council",
        )
        .await
        .json()
        .await
        .expect("json");
    let members: Vec<&str> = council["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(
        members,
        [
            "banking-ceptoar",
            "general-insurance-ceptoar",
            "life-insurance-ceptoar",
            "securities-ceptoar"
        ]
    );
    let water: Value = app
        .get("reporter", "/api/v1/organizations/water-ceptoar")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(water["members"][0]["slug"], "tokyo-water");
    assert_eq!(water["member_of"], serde_json::json!(["ceptoar-council"]));
}

#[tokio::test]
async fn bad_filters_and_unknown_organizations_are_named() {
    let app = spawn_app().await;
    let (status, _, field, _) =
        error_of(app.get("reporter", "/api/v1/organizations?kind=bank").await).await;
    assert_eq!((status, field.as_deref()), (400, Some("kind")));
    let (status, _, field, msg) = error_of(
        app.get("reporter", "/api/v1/organizations?sector=wter")
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("sector")));
    assert!(msg.contains("wter"), "{msg}");
    let (status, code, _, _) = error_of(
        app.get("reporter", "/api/v1/organizations/no-such-org")
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn only_instance_admins_add_organizations() {
    let app = spawn_app().await;
    let body = serde_json::json!({
        "slug": "osaka-gas", "kind": "operator", "name_en": "Osaka Gas",
        "sectors": ["gas"], "member_of": ["gas-ceptoar"]
    });
    let resp = app
        .send(
            reqwest::Method::POST,
            "mhlw-admin",
            "/api/v1/organizations",
            body.clone(),
        )
        .await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .send(
            reqwest::Method::POST,
            "admin",
            "/api/v1/organizations",
            body.clone(),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = app
        .send(
            reqwest::Method::POST,
            "admin",
            "/api/v1/organizations",
            body,
        )
        .await;
    assert_eq!(resp.status(), 409);
    let bad =
        serde_json::json!({"slug": "x-op", "kind": "operator", "name_en": "X", "sectors": ["Gas"]});
    let (status, _, field, _) = error_of(
        app.send(reqwest::Method::POST, "admin", "/api/v1/organizations", bad)
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("sectors[0]")));
}

#[tokio::test]
async fn organizations_page_search_and_say_how_many_match() {
    let app = spawn_app().await;
    // Pages of 5: the count of every match, and a link to the next page until the last.
    let mut seen = Vec::new();
    let mut next = Some("/api/v1/organizations?kind=ceptoar&limit=5".to_owned());
    while let Some(path) = next.take() {
        let resp = app.get("reporter", &path).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["x-total-count"], "19");
        next = resp.headers().get("link").map(|l| {
            let l = l.to_str().expect("text");
            assert!(l.ends_with(">; rel=\"next\""), "{l}");
            l.trim_start_matches('<')
                .split('>')
                .next()
                .expect("url")
                .to_owned()
        });
        let page: Vec<Value> = resp.json().await.expect("json");
        assert!(page.len() <= 5);
        seen.extend(
            page.into_iter()
                .map(|o| o["slug"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(seen.len(), 19, "every CEPTOAR once: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "by id, none twice");

    // Search: any case, in the id, the English or the Japanese name; LIKE's wildcards are
    // plain characters.
    for (q, want) in [("WATER-C", "water-ceptoar"), ("水道", "water-ceptoar")] {
        let path = format!(
            "/api/v1/organizations?kind=ceptoar&q={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let found: Vec<Value> = app.get("reporter", &path).await.json().await.expect("json");
        let slugs: Vec<&str> = found.iter().map(|o| o["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, [want], "{q}");
    }
    let none: Vec<Value> = app
        .get("reporter", "/api/v1/organizations?q=%25")
        .await
        .json()
        .await
        .expect("json");
    assert!(none.is_empty(), "% is not a wildcard: {none:?}");

    // Limits are checked and named.
    for bad in ["limit=0", "limit=5001", "limit=x"] {
        let resp = app
            .get("reporter", &format!("/api/v1/organizations?{bad}"))
            .await;
        let (status, _, field, message) = error_of(resp).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            field.as_deref() == Some("limit") || message.contains("limit"),
            "{bad}: {field:?} {message}"
        );
    }
}
