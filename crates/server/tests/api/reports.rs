//! Reports through the API: formations and their recipients, stages and deadlines, triage,
//! anonymity and relays.

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, error_of, spawn_app};

/// A report body from tokyo-water (water sector) with the seed-draft answers given.
pub fn report_body(formation: &str, people: &str) -> Value {
    json!({
        "title": "Chlorination controller fault at Tokyo Water plant 3",
        "description": "SCADA HMI at plant 3 of Tokyo Water froze; mail from ops@tokyo-water.example; scans from 192.0.2.77.",
        "sectors": ["water"],
        "services": ["water-supply"],
        "cause": "cyberattack",
        "scope": ["ot", "it"],
        "detected_at": "2026-04-01T08:30:00Z",
        "answers": {"people-society": people, "systems": "provision-may"},
        "tlp": "TLP:AMBER",
        "formation": formation
    })
}

pub async fn file(app: &TestApp, body: Value) -> Value {
    let resp = app
        .send(Method::POST, "reporter", "/api/v1/reports", body)
        .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    resp.json().await.expect("json")
}

fn recipients(report: &Value) -> Vec<(String, String, bool)> {
    let mut v: Vec<(String, String, bool)> = report["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| {
            (
                r["org"].as_str().expect("org").to_owned(),
                r["reason"].as_str().expect("reason").to_owned(),
                r["urgent"].as_bool().expect("urgent"),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn each_formation_reaches_its_recipients() {
    let app = spawn_app().await;
    let ministry = file(&app, report_body("ministry", "may-affect")).await;
    assert_eq!(
        recipients(&ministry),
        [
            ("mhlw".into(), "responsible-ministry".into(), false),
            ("nisc".into(), "coordinator".into(), false)
        ]
    );
    assert_eq!(ministry["severity"]["level"], 2);
    let anon = file(&app, report_body("ceptoar-anonymous", "may-affect")).await;
    assert_eq!(
        recipients(&anon),
        [("water-ceptoar".into(), "ceptoar-secretariat".into(), false)]
    );
    assert_eq!(anon["via"], "water-ceptoar");
    let mut agency = report_body("agency", "unlikely");
    agency["via"] = json!("jpcert-cc");
    let agency = file(&app, agency).await;
    assert_eq!(
        recipients(&agency),
        [("jpcert-cc".into(), "chosen-agency".into(), false)]
    );
    // At an emergency level the coordinator's duty desk is told at once, whatever the formation.
    let emergency = file(&app, report_body("ceptoar-anonymous", "significant")).await;
    assert_eq!(
        recipients(&emergency),
        [
            ("nisc".into(), "emergency-duty".into(), true),
            ("water-ceptoar".into(), "ceptoar-secretariat".into(), true)
        ]
    );
    let notes: Vec<Value> = app
        .get("coordinator", "/api/v1/notifications")
        .await
        .json()
        .await
        .expect("json");
    let urgent: Vec<&Value> = notes.iter().filter(|n| n["urgent"] == true).collect();
    assert_eq!(urgent.len(), 1);
    assert_eq!(urgent[0]["report_id"], emergency["id"]);
    assert_eq!(urgent[0]["for_role"], "duty");
}

#[tokio::test]
async fn the_queue_and_triage_belong_to_each_recipient() {
    let app = spawn_app().await;
    let r = file(&app, report_body("ministry", "demonstrable")).await;
    let id = r["id"].as_i64().expect("id");
    let queue: Vec<Value> = app
        .get("mhlw-analyst", "/api/v1/reports?status=new")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0]["reporter"]["org"], "tokyo-water");
    let t = app
        .send(
            Method::PATCH,
            "mhlw-analyst",
            &format!("/api/v1/reports/{id}/triage"),
            json!({"status": "investigating", "assignee": "mhlw-analyst"}),
        )
        .await;
    assert_eq!(t.status(), 200);
    let t: Value = t.json().await.expect("json");
    assert_eq!(t["my_triage"]["status"], "investigating");
    // NISC's own triage is untouched.
    let nisc: Value = app
        .get("coordinator", &format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(nisc["my_triage"]["status"], "new");
    let bad = app
        .send(
            Method::PATCH,
            "mhlw-analyst",
            &format!("/api/v1/reports/{id}/triage"),
            json!({"assignee": "coordinator"}),
        )
        .await;
    assert_eq!(error_of(bad).await.2.as_deref(), Some("assignee"));
    // Notes stay inside the organization.
    let n = app
        .send(
            Method::POST,
            "mhlw-analyst",
            &format!("/api/v1/reports/{id}/notes"),
            json!({"body": "called the operator"}),
        )
        .await;
    assert_eq!(n.status(), 201);
    let mine: Vec<Value> = app
        .get("mhlw-analyst", &format!("/api/v1/reports/{id}/notes"))
        .await
        .json()
        .await
        .expect("json");
    let theirs: Vec<Value> = app
        .get("coordinator", &format!("/api/v1/reports/{id}/notes"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!((mine.len(), theirs.len()), (1, 0));
    // The reporter cannot triage its own report, and an executive of a recipient cannot either.
    let resp = app
        .send(
            Method::PATCH,
            "reporter",
            &format!("/api/v1/reports/{id}/triage"),
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(resp.status(), 403);
    // Related reports become one incident.
    let r2 = file(&app, report_body("ministry", "may-affect")).await;
    let inc = app
        .send(
            Method::POST,
            "mhlw-analyst",
            "/api/v1/incidents",
            json!({"title": "Plant 3 campaign", "reports": [id, r2["id"]]}),
        )
        .await;
    assert_eq!(inc.status(), 201);
    let inc: Value = inc.json().await.expect("json");
    let got: Value = app
        .get("mhlw-analyst", &format!("/api/v1/incidents/{}", inc["id"]))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(got["reports"], json!([id, r2["id"]]));
    assert_eq!(
        app.get("coordinator", &format!("/api/v1/incidents/{}", inc["id"]))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn stages_follow_deadlines_on_the_clock() {
    let app = spawn_app().await;
    let r = file(&app, report_body("ministry", "may-affect")).await;
    let id = r["id"].as_i64().expect("id");
    // Detected 08:30, filed 09:00 (the test clock): within 24 hours.
    assert_eq!(r["initial_late"], false);
    assert_eq!(r["next_due"]["stage"], "update");
    assert_eq!(r["next_due"]["by"], "2026-04-04T09:00:00.000000Z");
    app.clock.advance(TimeDelta::hours(73));
    let overdue: Vec<Value> = app
        .get("mhlw-analyst", "/api/v1/reports?overdue=true")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["overdue"], true);
    // The update raises the severity: recipients are told, and the coordinator's desk urgently.
    let up = app
        .send(Method::POST, "reporter", &format!("/api/v1/reports/{id}/stages"),
            json!({"stage": "update", "summary": "spread to plant 4", "answers": {"people-society": "imminent-wide", "systems": "continuity-safety-lost"}}))
        .await;
    assert_eq!(up.status(), 200);
    let up: Value = up.json().await.expect("json");
    assert_eq!(up["severity"]["level"], 5);
    assert_eq!(up["severity"]["emergency"], true);
    assert_eq!(up["overdue"], false);
    assert_eq!(up["next_due"]["stage"], "final");
    assert!(recipients(&up).contains(&("nisc".into(), "coordinator".into(), true)));
    let notes: Vec<Value> = app
        .get("mhlw-analyst", "/api/v1/notifications")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(notes[0]["kind"], "report.severity");
    assert_eq!(notes[0]["urgent"], true);
    let fin = app
        .send(
            Method::POST,
            "reporter",
            &format!("/api/v1/reports/{id}/stages"),
            json!({"stage": "final", "summary": "restored; root cause found"}),
        )
        .await;
    assert_eq!(fin.status(), 200);
    let fin: Value = fin.json().await.expect("json");
    assert!(fin["next_due"].is_null());
    assert_eq!(fin["stages"].as_array().expect("stages").len(), 3);
    let after = app
        .send(
            Method::POST,
            "reporter",
            &format!("/api/v1/reports/{id}/stages"),
            json!({"stage": "update", "summary": "more"}),
        )
        .await;
    let (status, _, field, msg) = error_of(after).await;
    assert_eq!((status, field.as_deref()), (422, Some("stage")), "{msg}");
    assert!(msg.contains("final"), "{msg}");
}

#[tokio::test]
async fn late_initial_reports_are_flagged() {
    let app = spawn_app().await;
    let mut body = report_body("ministry", "unlikely");
    body["detected_at"] = json!("2026-03-30T08:00:00Z");
    let r = file(&app, body).await;
    assert_eq!(r["initial_late"], true);
}

#[tokio::test]
async fn bad_reports_are_refused_with_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let audit_before = app.db.store.audit_len().await.expect("len");
    let with = |key: &str, value: Value| {
        let mut b = report_body("ministry", "may-affect");
        b[key] = value;
        b
    };
    let cases = [
        (with("sectors", json!(["wter"])), "sectors[0]"),
        (with("services", json!(["railway-services"])), "services[0]"),
        (
            with(
                "answers",
                json!({"people-society": "catastrophic", "systems": "none"}),
            ),
            "answers.people-society",
        ),
        (
            with("answers", json!({"people-society": "none"})),
            "answers.systems",
        ),
        (with("formation", json!("carrier-pigeon")), "formation"),
        (with("cause", json!("aliens")), "cause"),
        (with("scope", json!(["ot", "space"])), "scope[1]"),
        (with("scope", json!([])), "scope"),
        (with("tlp", json!("TLP:WHITE-ish")), "tlp"),
        (with("detected_at", json!("yesterday")), "detected_at"),
        (
            with("detected_at", json!("2027-01-01T00:00:00Z")),
            "detected_at",
        ),
        (with("title", json!("")), "title"),
        (with("via", json!("jpcert-cc")), "via"),
        (with("formation", json!("agency")), "via"),
    ];
    for (body, field) in cases {
        let (status, _, got, msg) = error_of(
            app.send(Method::POST, "reporter", "/api/v1/reports", body.clone())
                .await,
        )
        .await;
        assert_eq!((status, got.as_deref()), (422, Some(field)), "{msg}");
    }
    let mut agency_wrong = report_body("agency", "may-affect");
    agency_wrong["via"] = json!("mhlw");
    let (status, _, field, msg) = error_of(
        app.send(Method::POST, "reporter", "/api/v1/reports", agency_wrong)
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("via")));
    assert!(msg.contains("not a cybersecurity agency"), "{msg}");
    // A report cannot start at its final stage: stages after the initial one go to /stages.
    let mut final_first = report_body("ministry", "may-affect");
    final_first["stage"] = json!("final");
    let (status, _, field, _) = error_of(
        app.send(Method::POST, "reporter", "/api/v1/reports", final_first)
            .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (400, Some("stage")));
    let missing = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/reports/424242/stages",
            json!({"stage": "final", "summary": "done"}),
        )
        .await;
    assert_eq!(missing.status(), 404);
    // Only reporters file.
    let resp = app
        .send(
            Method::POST,
            "mhlw-analyst",
            "/api/v1/reports",
            report_body("ministry", "none"),
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(app.db.store.audit_len().await.expect("len"), audit_before);
    let listed: Vec<Value> = app
        .get("reporter", "/api/v1/reports")
        .await
        .json()
        .await
        .expect("json");
    assert!(listed.is_empty());
}

#[tokio::test]
async fn stages_of_other_organizations_reports_are_refused() {
    let app = spawn_app().await;
    let r = file(&app, report_body("ministry", "may-affect")).await;
    let id = r["id"].as_i64().expect("id");
    // A recipient may read but not file stages.
    let resp = app
        .send(
            Method::POST,
            "mhlw-admin",
            &format!("/api/v1/reports/{id}/stages"),
            json!({"stage": "final", "summary": "x"}),
        )
        .await;
    assert_eq!(resp.status(), 403);
    // Someone who cannot read it is told it does not exist, as for a report that never did.
    let hidden = app
        .send(
            Method::POST,
            "secretariat",
            &format!("/api/v1/reports/{id}/stages"),
            json!({"stage": "final", "summary": "x"}),
        )
        .await;
    let missing = app
        .send(
            Method::POST,
            "secretariat",
            "/api/v1/reports/999999/stages",
            json!({"stage": "final", "summary": "x"}),
        )
        .await;
    let (s1, _, _, m1) = error_of(hidden).await;
    let (s2, _, _, m2) = error_of(missing).await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(m1.replace(&id.to_string(), "N"), m2.replace("999999", "N"));
    // The initial stage cannot be filed twice.
    let again = app
        .send(
            Method::POST,
            "reporter",
            &format!("/api/v1/reports/{id}/stages"),
            json!({"stage": "initial", "summary": "x"}),
        )
        .await;
    assert_eq!(error_of(again).await.2.as_deref(), Some("stage"));
}

#[tokio::test]
async fn colleagues_of_an_anonymous_reporter_are_flagged_by_name() {
    let app = spawn_app().await;
    let colleague = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/users",
            json!({"name": "suzuki.h", "org": "tokyo-water", "display_name": "Hanako Suzuki",
                   "roles": ["viewer"], "password": "a sufficiently long one"}),
        )
        .await;
    assert_eq!(colleague.status(), 201);
    let mut body = report_body("ceptoar-anonymous", "may-affect");
    body["title"] = json!("Pump station alarm");
    body["description"] =
        json!("Seen by WATER-EXEC on shift, then by ＨＡＮＡＫＯ　ＳＵＺＵＫＩ (suzuki[.]h).");
    let r = file(&app, body).await;
    let flags: Value = app
        .get(
            "secretariat",
            &format!("/api/v1/reports/{}/relay-check", r["id"]),
        )
        .await
        .json()
        .await
        .expect("json");
    let texts: Vec<&str> = flags["flags"]
        .as_array()
        .unwrap_or_else(|| panic!("{flags}"))
        .iter()
        .map(|f| f["text"].as_str().expect("text"))
        .collect();
    assert_eq!(
        texts,
        ["WATER-EXEC", "ＨＡＮＡＫＯ　ＳＵＺＵＫＩ", "suzuki[.]h"]
    );
    // A user of another organization names nobody.
    let relayed = app
        .send(Method::POST, "secretariat", &format!("/api/v1/reports/{}/relay", r["id"]),
            json!({"title": "Pump station alarm", "description": "Seen by the secretariat and by mhlw-analyst."}))
        .await;
    assert_eq!(relayed.status(), 201);
}

#[tokio::test]
async fn anonymous_reports_hide_the_reporter_until_consent() {
    let app = spawn_app().await;
    let put = app
        .send(Method::PUT, "water-admin", "/api/v1/organizations/tokyo-water/identifiers",
            json!([{"kind": "domain", "value": "tokyo-water.example"}, {"kind": "ip-range", "value": "192.0.2.0/24"}]))
        .await;
    assert_eq!(put.status(), 200);
    assert_eq!(
        app.get(
            "secretariat",
            "/api/v1/organizations/tokyo-water/identifiers"
        )
        .await
        .status(),
        403
    );

    let r = file(&app, report_body("ceptoar-anonymous", "significant")).await;
    let id = r["id"].as_i64().expect("id");
    let path = format!("/api/v1/reports/{id}");
    let sec: Value = app
        .get("secretariat", &path)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sec["reporter"]["org"], "tokyo-water");
    assert_eq!(sec["content_visible"], true);
    let nisc: Value = app
        .get("coordinator", &path)
        .await
        .json()
        .await
        .expect("json");
    assert!(nisc["reporter"].is_null());
    assert_eq!(nisc["reporter_label"], "an operator in the Water sector");
    assert_eq!(nisc["content_visible"], false);
    assert!(nisc["title"].is_null() && nisc["description"].is_null() && nisc["answers"].is_null());
    assert!(!nisc.to_string().contains("okyo"), "{nisc}");
    assert_eq!(app.get("mhlw-analyst", &path).await.status(), 404);
    // Searching for the name finds nothing where the text is hidden.
    let found: Vec<Value> = app
        .get("coordinator", "/api/v1/reports?q=tokyo")
        .await
        .json()
        .await
        .expect("json");
    assert!(found.is_empty());
    // The coordinator's audit view does not show the filing at all, nor anything about the
    // report that names the reporter.
    let audit = app
        .get("admin", "/api/v1/audit?limit=1000")
        .await
        .text()
        .await
        .expect("text");
    let audit: Value = serde_json::from_str(&audit).unwrap_or_else(|_| panic!("{audit}"));
    let entries = audit["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(!entries.iter().any(|e| e["action"] == "report.file"));
    for e in entries
        .iter()
        .filter(|e| e["object_type"] == "report" || e["actor_org"] == "tokyo-water")
    {
        assert!(
            !e.to_string().contains("tokyo"),
            "the audit trail names the reporter: {e}"
        );
    }
    // The reporter's organization reads its own filing, with the salt that proves its hash.
    let own: Value = app
        .get("water-admin", "/api/v1/audit?limit=1000")
        .await
        .json()
        .await
        .expect("json");
    let filed = own["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "report.file")
        .expect("own filing");
    assert_eq!(filed["restricted"], true);
    assert_eq!(filed["actor_user"], "reporter");
    assert_eq!(filed["salt"].as_str().map(str::len), Some(64));

    // The relay is refused while the copy names the reporter.
    let flags: Value = app
        .get("secretariat", &format!("{path}/relay-check"))
        .await
        .json()
        .await
        .expect("json");
    let texts: Vec<&str> = flags["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f["text"].as_str().expect("text"))
        .collect();
    // Description first, then title; "tokyo-water" inside the domain counts once.
    assert_eq!(
        texts,
        [
            "Tokyo Water",
            "tokyo-water.example",
            "192.0.2.77",
            "Tokyo Water"
        ]
    );
    let refused = app
        .send(Method::POST, "secretariat", &format!("{path}/relay"),
            json!({"title": "Water OT incident", "description": "An operator saw scans from 192.0.2.77."}))
        .await;
    assert_eq!(refused.status(), 409);
    let refused: Value = refused.json().await.expect("json");
    assert_eq!(refused["flags"][0]["text"], "192.0.2.77");
    assert_eq!(refused["error"]["code"], "identifying_text");
    let relayed = app
        .send(Method::POST, "secretariat", &format!("{path}/relay"),
            json!({"title": "Water OT incident", "description": "An operator's SCADA HMI froze after scanning.", "also_to": ["electric-power-ceptoar"]}))
        .await;
    assert_eq!(relayed.status(), 201);
    let copy: Value = relayed.json().await.expect("json");
    let copy_path = format!("/api/v1/reports/{}", copy["id"]);
    for user in ["mhlw-analyst", "coordinator"] {
        let seen: Value = app.get(user, &copy_path).await.json().await.expect("json");
        assert_eq!(
            seen["description"],
            "An operator's SCADA HMI froze after scanning."
        );
        assert_eq!(seen["reporter"]["org"], "water-ceptoar");
        assert_eq!(seen["relayed_copy"], true);
        assert!(!seen.to_string().contains("tokyo"), "{seen}");
    }
    assert!(
        recipients(&copy)
            .iter()
            .any(|(o, reason, _)| o == "electric-power-ceptoar" && reason == "relay")
    );
    let own: Value = app.get("reporter", &path).await.json().await.expect("json");
    assert_eq!(own["relays"], json!([copy["id"]]));
    assert_eq!(own["my_triage"], Value::Null);
    let sec_after: Value = app
        .get("secretariat", &path)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sec_after["my_triage"]["status"], "shared");

    // Consent names the reporter to every recipient.
    let c = app
        .send(
            Method::POST,
            "reporter",
            &format!("{path}/consent"),
            json!({}),
        )
        .await;
    assert_eq!(c.status(), 200);
    let nisc: Value = app
        .get("coordinator", &path)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(nisc["reporter"]["org"], "tokyo-water");
}
