//! Alerts: audiences, TLP, roles, reading, acknowledging and the delivery table.

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{error_of, spawn_app};

fn alert(tlp: &str, kind: &str, values: &[&str]) -> Value {
    json!({
        "title": "Ransomware campaign against water utilities",
        "body": "Block **these** indicators.",
        "tlp": tlp,
        "audience": {"kind": kind, "values": values},
        "acknowledge_within": "4h"
    })
}

#[tokio::test]
async fn alerts_reach_their_audience_and_record_acknowledgements() {
    let app = spawn_app().await;
    let resp = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            alert("TLP:GREEN", "sectors", &["water"]),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let sent: Value = resp.json().await.expect("json");
    let id = sent["id"].as_i64().expect("id");
    assert_eq!(sent["acknowledge_within"], "4h");

    let inbox: Vec<Value> = app
        .get("reporter", "/api/v1/alerts")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["tlp"], "TLP:GREEN");
    assert_eq!(
        app.get("mhlw-analyst", &format!("/api/v1/alerts/{id}"))
            .await
            .status(),
        404
    );

    let one: Value = app
        .get("reporter", &format!("/api/v1/alerts/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(one["my_delivery"]["read_by"], "reporter");
    let ack = app
        .send(
            Method::POST,
            "water-exec",
            &format!("/api/v1/alerts/{id}/ack"),
            json!({}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    let table: Vec<Value> = app
        .get("coordinator", &format!("/api/v1/alerts/{id}/delivery"))
        .await
        .json()
        .await
        .expect("json");
    let orgs: Vec<&str> = table
        .iter()
        .map(|d| d["org"].as_str().expect("org"))
        .collect();
    assert_eq!(orgs, ["tokyo-water", "water-ceptoar"]);
    assert_eq!(table[0]["acknowledged_by"], "water-exec");
    assert_eq!(table[0]["read_by"], "reporter");
    assert!(table[1]["acknowledged_at"].is_null());
    // Recipients do not see the table.
    assert_eq!(
        app.get("reporter", &format!("/api/v1/alerts/{id}/delivery"))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn tlp_and_roles_limit_who_sees() {
    let app = spawn_app().await;
    let (status, _, field, msg) = error_of(
        app.send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            alert("TLP:RED", "sectors", &["water"]),
        )
        .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("audience")));
    assert!(msg.contains("named recipients"), "{msg}");
    let red = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            alert("TLP:RED", "organizations", &["tokyo-water"]),
        )
        .await;
    assert_eq!(red.status(), 201);
    let red: Value = red.json().await.expect("json");
    assert_eq!(
        app.get("secretariat", &format!("/api/v1/alerts/{}", red["id"]))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("reporter", &format!("/api/v1/alerts/{}", red["id"]))
            .await
            .status(),
        200
    );

    let mut execs = alert("TLP:AMBER", "ceptoars", &["water-ceptoar"]);
    execs["audience"]["roles"] = json!(["executive"]);
    let resp = app
        .send(Method::POST, "secretariat", "/api/v1/alerts", execs)
        .await;
    assert_eq!(resp.status(), 201);
    let execs: Value = resp.json().await.expect("json");
    let path = format!("/api/v1/alerts/{}", execs["id"]);
    assert_eq!(app.get("water-exec", &path).await.status(), 200);
    assert_eq!(app.get("reporter", &path).await.status(), 404);
}

#[tokio::test]
async fn bad_alerts_are_named_and_only_staff_send() {
    let app = spawn_app().await;
    let resp = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/alerts",
            alert("TLP:GREEN", "all", &[]),
        )
        .await;
    assert_eq!(resp.status(), 403);
    let mut green_clients = alert("TLP:GREEN", "all", &[]);
    green_clients["clients_permitted"] = json!(true);
    let cases = [
        (alert("TLP:WHITE", "all", &[]), "tlp"),
        (alert("TLP:GREEN", "everyone", &[]), "audience.kind"),
        (alert("TLP:GREEN", "sectors", &[]), "audience.values"),
        (
            alert("TLP:GREEN", "sectors", &["Water"]),
            "audience.values[0]",
        ),
        (alert("TLP:GREEN", "ceptoars", &["mhlw"]), "audience"),
        (green_clients, "clients_permitted"),
        (
            {
                let mut a = alert("TLP:GREEN", "all", &[]);
                a["acknowledge_within"] = json!("soon");
                a
            },
            "acknowledge_within",
        ),
    ];
    for (body, field) in cases {
        let (status, _, got, msg) = error_of(
            app.send(Method::POST, "coordinator", "/api/v1/alerts", body.clone())
                .await,
        )
        .await;
        assert_eq!(
            (status, got.as_deref()),
            (422, Some(field)),
            "{body}: {msg}"
        );
    }
}

#[tokio::test]
async fn ceptoars_pass_alerts_on_as_the_label_allows() {
    let app = spawn_app().await;
    // Automatic relay: the water CEPTOAR passes what it may on to its members, with a note.
    let rule = app
        .send(
            Method::PUT,
            "secretariat",
            "/api/v1/relay-rule",
            json!({"enabled": true, "note": "Relayed by the Water CEPTOAR"}),
        )
        .await;
    assert_eq!(rule.status(), 200);
    assert_eq!(
        app.send(
            Method::PUT,
            "reporter",
            "/api/v1/relay-rule",
            json!({"enabled": true})
        )
        .await
        .status(),
        403
    );
    let sent: Value = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            alert("TLP:GREEN", "organizations", &["water-ceptoar"]),
        )
        .await
        .json()
        .await
        .expect("json");
    let inbox: Vec<Value> = app
        .get("reporter", "/api/v1/alerts")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["relay_of"], sent["id"]);
    assert_eq!(inbox[0]["relay_note"], "Relayed by the Water CEPTOAR");
    assert_eq!(inbox[0]["sender_org"], "water-ceptoar");
    assert_eq!(inbox[0]["tlp"], "TLP:GREEN");
    // The original sender sees the members reached through the CEPTOAR, and their
    // acknowledgements.
    let ack = app
        .send(
            Method::POST,
            "reporter",
            &format!("/api/v1/alerts/{}/ack", inbox[0]["id"]),
            json!({}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    let table: Vec<Value> = app
        .get(
            "coordinator",
            &format!("/api/v1/alerts/{}/delivery", sent["id"]),
        )
        .await
        .json()
        .await
        .expect("json");
    let member = table
        .iter()
        .find(|d| d["org"] == "tokyo-water")
        .expect("the member is in the sender's table");
    assert_eq!(member["via"], "water-ceptoar");
    assert_eq!(member["acknowledged_by"], "reporter");
    assert!(
        table
            .iter()
            .any(|d| d["org"] == "water-ceptoar" && d.get("via").is_none())
    );

    // AMBER without the sender's permission is not passed on, automatically or by hand.
    let amber: Value = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            alert("TLP:AMBER", "organizations", &["water-ceptoar"]),
        )
        .await
        .json()
        .await
        .expect("json");
    let inbox: Vec<Value> = app
        .get("reporter", "/api/v1/alerts")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(inbox.len(), 1);
    let (status, _, field, msg) = error_of(
        app.send(
            Method::POST,
            "secretariat",
            &format!("/api/v1/alerts/{}/relay", amber["id"]),
            json!({"note": "fyi"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("tlp")));
    assert!(msg.contains("permission"), "{msg}");

    // With permission it goes through, by hand as well.
    let mut permitted = alert("TLP:AMBER", "organizations", &["water-ceptoar"]);
    permitted["clients_permitted"] = json!(true);
    let permitted: Value = app
        .send(Method::POST, "coordinator", "/api/v1/alerts", permitted)
        .await
        .json()
        .await
        .expect("json");
    let inbox: Vec<Value> = app
        .get("reporter", "/api/v1/alerts")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox[0]["relay_of"], permitted["id"]);
    // Every member already has it: a manual relay has no one left to reach.
    let again = app
        .send(
            Method::POST,
            "secretariat",
            &format!("/api/v1/alerts/{}/relay", permitted["id"]),
            json!({}),
        )
        .await;
    let again_status = again.status();
    assert_eq!(again_status, 422, "{}", again.text().await.expect("body"));

    // RED is never passed on.
    let red: Value = app
        .send(
            Method::POST,
            "coordinator",
            "/api/v1/alerts",
            alert("TLP:RED", "organizations", &["water-ceptoar"]),
        )
        .await
        .json()
        .await
        .expect("json");
    let (status, _, _, msg) = error_of(
        app.send(
            Method::POST,
            "secretariat",
            &format!("/api/v1/alerts/{}/relay", red["id"]),
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(msg.contains("TLP:RED"), "{msg}");
    // Only a CEPTOAR's secretariat relays.
    assert_eq!(
        app.send(
            Method::POST,
            "reporter",
            &format!("/api/v1/alerts/{}/relay", sent["id"]),
            json!({})
        )
        .await
        .status(),
        404
    );
}

/// Every TLP label against every audience form: who sees the alert, whether it is public,
/// and whether a CEPTOAR may pass it on.
#[tokio::test]
async fn every_label_and_audience_form() {
    let app = spawn_app().await;
    let users = ["reporter", "water-exec", "secretariat", "mhlw-analyst"];
    // (audience, roles, who of `users` sees it)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], [bool; 4]);
    let audiences: [Case; 5] = [
        ("all", &[], &[], [true, true, true, true]),
        ("sectors", &["water"], &[], [true, true, true, false]),
        (
            "ceptoars",
            &["water-ceptoar"],
            &[],
            [true, true, true, false],
        ),
        (
            "organizations",
            &["tokyo-water", "mhlw"],
            &[],
            [true, true, false, true],
        ),
        (
            "organizations",
            &["tokyo-water"],
            &["executive"],
            [false, true, false, false],
        ),
    ];
    let labels = [
        "TLP:CLEAR",
        "TLP:GREEN",
        "TLP:AMBER",
        "TLP:AMBER+STRICT",
        "TLP:RED",
    ];
    for tlp in labels {
        for (n, (kind, values, roles, sees)) in audiences.iter().enumerate() {
            let title = format!("{tlp} to audience {n}");
            let mut body = alert(tlp, kind, values);
            body["title"] = json!(title);
            body["audience"]["roles"] = json!(roles);
            let resp = app
                .send(Method::POST, "coordinator", "/api/v1/alerts", body)
                .await;
            if tlp == "TLP:RED" && *kind != "organizations" {
                let (status, _, field, _) = error_of(resp).await;
                assert_eq!(
                    (status, field.as_deref()),
                    (422, Some("audience")),
                    "{title}"
                );
                continue;
            }
            assert_eq!(resp.status(), 201, "{title}");
            let id = resp.json::<Value>().await.expect("json")["id"].clone();
            for (user, expected) in users.iter().zip(sees) {
                let status = app
                    .get(user, &format!("/api/v1/alerts/{id}"))
                    .await
                    .status();
                let listed = app
                    .get(user, "/api/v1/alerts?limit=200")
                    .await
                    .json::<Vec<Value>>()
                    .await
                    .expect("json")
                    .iter()
                    .any(|a| a["id"] == id);
                assert_eq!(
                    (status == 200, listed),
                    (*expected, *expected),
                    "{title}: {user}"
                );
            }
            // Only CLEAR is public.
            let page = app
                .client
                .get(app.url("/public/advisories"))
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("text");
            assert_eq!(page.contains(&title), tlp == "TLP:CLEAR", "{title}");
            // A CEPTOAR that received it may pass it on only as the label allows. Here its
            // one member already has it: an allowed relay is refused for that reason (field
            // id), a forbidden one for its label (field tlp).
            if sees[2] && roles.is_empty() {
                let resp = app
                    .send(
                        Method::POST,
                        "secretariat",
                        &format!("/api/v1/alerts/{id}/relay"),
                        json!({"note": "for members"}),
                    )
                    .await;
                let (status, _, field, msg) = error_of(resp).await;
                let allowed = matches!(tlp, "TLP:CLEAR" | "TLP:GREEN");
                let expected = if allowed { "id" } else { "tlp" };
                assert_eq!(
                    (status, field.as_deref()),
                    (422, Some(expected)),
                    "{title}: {msg}"
                );
            }
        }
    }
}

/// An alert links reports and incidents its sender may see, and nothing else.
#[tokio::test]
async fn alerts_link_only_what_the_sender_may_read() {
    let app = spawn_app().await;
    let report = super::reports::file(&app, super::reports::report_body("ministry", "none")).await;
    let rid = report["id"].as_i64().expect("id");
    let incident: Value = app
        .send(
            Method::POST,
            "mhlw-analyst",
            "/api/v1/incidents",
            json!({"title": "Water campaign", "reports": [rid]}),
        )
        .await
        .json()
        .await
        .expect("json");
    let mut body = alert("TLP:GREEN", "sectors", &["water"]);
    body["reports"] = json!([rid]);
    body["incidents"] = json!([incident["id"]]);
    let resp = app
        .send(Method::POST, "mhlw-analyst", "/api/v1/alerts", body.clone())
        .await;
    assert_eq!(resp.status(), 201);
    let sent: Value = resp.json().await.expect("json");
    assert_eq!(sent["reports"], json!([rid]));
    assert_eq!(sent["incidents"], json!([incident["id"]]));
    // The water CEPTOAR was not told of this report, filed to the ministry, nor owns the
    // incident: both links are refused as if they did not exist.
    let (status, _, field, _) = error_of(
        app.send(Method::POST, "secretariat", "/api/v1/alerts", body.clone())
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("reports[0]")));
    body["reports"] = json!([]);
    let (status, _, field, _) = error_of(
        app.send(Method::POST, "secretariat", "/api/v1/alerts", body)
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("incidents[0]")));
}
