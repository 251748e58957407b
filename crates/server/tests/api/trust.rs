//! Issue 13's findings, one test each, as a member of the community with a valid account would
//! try them: the audit trail's hashes and neighbours, credentials for other organizations'
//! people, relays past their label, cookies sent by another site, and the smaller leaks.

use ciphub_domain::audit::{AuditEntry, entry_hash};
use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, error_of, sign_in, spawn_app};
use super::reports::{file, report_body};

async fn audit(app: &TestApp, user: &str) -> Vec<Value> {
    let page: Value = app
        .get(user, "/api/v1/audit?limit=1000")
        .await
        .json()
        .await
        .expect("json");
    page["entries"].as_array().expect("entries").clone()
}

/// An entry of the API's audit view as the chain hashes it, with guesses for what is hidden.
fn guess(e: &Value, user: &str, org: &str, detail: &str) -> AuditEntry {
    let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().expect("at")).expect("time");
    AuditEntry {
        seq: e["seq"].as_i64().expect("seq"),
        at_us: at.timestamp_micros(),
        actor_user: Some(user.into()),
        actor_org: Some(org.into()),
        action: e["action"].as_str().expect("action").into(),
        object_type: e["object_type"].as_str().expect("type").into(),
        object_id: e["object_id"].as_str().expect("id").into(),
        detail: detail.into(),
        prev_hash: String::new(),
        hash: String::new(),
        restricted: true,
        subject_org: None,
        salt: None,
    }
}

#[tokio::test]
async fn the_audit_trail_never_ties_an_anonymous_report_to_its_reporter() {
    let app = spawn_app().await;
    // The reporter signs in right before it files: the sign-in used to stand next to the filing.
    let login = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"user": "reporter", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let r = file(&app, report_body("ceptoar-anonymous", "may-affect")).await;
    let id = r["id"].as_i64().expect("id");
    let stage = app
        .send(
            Method::POST,
            "reporter",
            &format!("/api/v1/reports/{id}/stages"),
            json!({"stage": "update", "summary": "still investigating"}),
        )
        .await;
    assert!(stage.status().is_success(), "{:?}", stage.text().await);

    for reader in ["admin", "coordinator"] {
        let entries = audit(&app, reader).await;
        assert!(!entries.is_empty());
        for e in &entries {
            // Nothing the reporter's organization did reaches another organization's view:
            // neither its sign-ins nor anything about the report.
            assert_ne!(e["actor_org"], "tokyo-water", "{reader} reads {e}");
            assert_ne!(e["restricted"], true, "{reader} reads {e}");
            assert!(e.get("salt").is_none(), "{e}");
            // And no hash in the view is reproduced by guessing the reporter and detail.
            let detail = json!({"formation": "ceptoar-anonymous", "level": r["level"], "recipients": ["water-ceptoar"]}).to_string();
            for (user, org) in [("reporter", "tokyo-water"), ("water-admin", "tokyo-water")] {
                let g = guess(e, user, org, &detail);
                let hash = e["hash"].as_str().expect("hash");
                // Any previous hash: the view does not give it, so try every hash it shows.
                for prev in entries.iter().filter_map(|p| p["hash"].as_str()) {
                    assert_ne!(entry_hash(&g, prev), hash, "{reader} reproduced {e}");
                }
            }
        }
    }

    // The reporter's own organization reads the filing, and its salt proves the hash.
    let own = audit(&app, "water-admin").await;
    let filed = own
        .iter()
        .find(|e| e["action"] == "report.file")
        .expect("filing");
    assert_eq!(filed["restricted"], true);
    assert_eq!(filed["actor_user"], "reporter");
    let salt = filed["salt"].as_str().expect("salt");
    assert_eq!(salt.len(), 64);
    // The whole chain still verifies, salts included.
    let n = app.db.store.audit_len().await.expect("len");
    assert_eq!(app.db.store.audit_verify().await.expect("verify"), Ok(n));
}

#[tokio::test]
async fn nobody_mints_credentials_for_another_organizations_people() {
    let app = spawn_app().await;
    // A token for the secretariat, issued by the instance admin: refused.
    let t = app
        .send(
            Method::POST,
            "admin",
            "/api/v1/tokens",
            json!({"user": "secretariat"}),
        )
        .await;
    assert_eq!(t.status(), 403);
    // Not even an organization's own admin issues tokens to its people.
    let t = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/tokens",
            json!({"user": "reporter"}),
        )
        .await;
    assert_eq!(t.status(), 403);
    // A viewer beside the reporter, created by the instance admin: refused.
    let v = app
        .send(
            Method::POST,
            "admin",
            "/api/v1/users",
            json!({"name": "peek", "org": "tokyo-water", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(v.status(), 403);
    // Nor may it change the reporter's organization's people.
    let p = app
        .send(
            Method::PATCH,
            "admin",
            "/api/v1/users/water-admin",
            json!({"password": "another long password"}),
        )
        .await;
    assert_eq!(p.status(), 403);
    // A secretariat user in the CEPTOAR: refused, even though the CEPTOAR has no admin yet.
    let s = app
        .send(
            Method::POST,
            "admin",
            "/api/v1/users",
            json!({"name": "fake-sec", "org": "water-ceptoar", "roles": ["secretariat"]}),
        )
        .await;
    assert_eq!(error_of(s).await.2.as_deref(), Some("roles"));
    // Its first admin: allowed once, and the CEPTOAR's secretariat is told.
    let first = app
        .send(
            Method::POST,
            "admin",
            "/api/v1/users",
            json!({"name": "ceptoar-admin", "org": "water-ceptoar", "roles": ["admin"], "password": PASSWORD}),
        )
        .await;
    assert_eq!(first.status(), 201);
    let second = app
        .send(
            Method::POST,
            "admin",
            "/api/v1/users",
            json!({"name": "ceptoar-admin2", "org": "water-ceptoar", "roles": ["admin"]}),
        )
        .await;
    assert_eq!(second.status(), 403);
    let notices: Vec<Value> = app
        .get("secretariat", "/api/v1/security-notices")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        notices
            .iter()
            .any(|n| n["kind"] == "created-by-outsider" && n["actor_org"] == "nisc"),
        "{notices:?}"
    );
    // The CEPTOAR's own audit view shows the outsider's act on its people.
    // Sign in with a token of its own (issued to itself) to act as the new admin.
    let pair = sign_in(&app, "ceptoar-admin").await;
    let csrf = ciphub_server::csrf_token(pair.split_once('=').expect("pair").1);
    let own_token: Value = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header("cookie", &pair)
        .header(ciphub_server::CSRF_HEADER, &csrf)
        .json(&json!({"label": "mine"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let bearer = own_token["token"].as_str().expect("token").to_owned();
    let entries: Value = app
        .client
        .get(app.url("/api/v1/audit?limit=1000"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    assert!(
        entries["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "user.create"
                && e["actor_org"] == "nisc"
                && e["subject_org"] == "water-ceptoar"),
        "{entries}"
    );
    // Granting itself the secretariat role is audited and told to the organization.
    let grant = app
        .client
        .patch(app.url("/api/v1/users/ceptoar-admin"))
        .bearer_auth(&bearer)
        .json(&json!({"roles": ["admin", "secretariat"]}))
        .send()
        .await
        .expect("grant");
    assert_eq!(grant.status(), 200);
    let notices: Vec<Value> = app
        .get("secretariat", "/api/v1/security-notices")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        notices
            .iter()
            .any(|n| n["kind"] == "secretariat-granted" && n["user"] == "ceptoar-admin"),
        "{notices:?}"
    );
}

#[tokio::test]
async fn users_and_tokens_of_others_cannot_be_probed() {
    let app = spawn_app().await;
    let missing = error_of(app.get("water-admin", "/api/v1/users/no-such-user").await).await;
    let other = error_of(app.get("water-admin", "/api/v1/users/secretariat").await).await;
    assert_eq!(missing.0, 404);
    assert_eq!(
        (other.0, other.1),
        (missing.0, missing.1),
        "a user of another organization answers like a missing one"
    );
    let missing = error_of(
        app.get("water-admin", "/api/v1/tokens?user=no-such-user")
            .await,
    )
    .await;
    let other = error_of(
        app.get("water-admin", "/api/v1/tokens?user=secretariat")
            .await,
    )
    .await;
    assert_eq!((other.0, other.1), (missing.0, missing.1));
    // The secretariat's token id, revoked by another organization's admin: like a missing one.
    let tokens: Vec<Value> = app
        .get("secretariat", "/api/v1/tokens")
        .await
        .json()
        .await
        .expect("json");
    let theirs = tokens[0]["id"].as_i64().expect("id");
    let probe = |id: i64| {
        app.client
            .delete(app.url(&format!("/api/v1/tokens/{id}")))
            .bearer_auth(&app.tokens["water-admin"])
            .send()
    };
    let other = error_of(probe(theirs).await.expect("probe")).await;
    let missing = error_of(probe(999_999).await.expect("probe")).await;
    assert_eq!((other.0, other.1), (404, missing.1));
    assert!(!other.3.contains("secretariat"), "{}", other.3);
}

#[tokio::test]
async fn a_relayed_copy_obeys_the_reporters_label() {
    let app = spawn_app().await;
    let relay = |id: i64, also_to: &'static str| {
        let path = format!("/api/v1/reports/{id}/relay");
        let app = &app;
        async move {
            app.send(
                Method::POST,
                "secretariat",
                &path,
                json!({"title": "Water OT incident", "description": "An operator's HMI froze.", "also_to": [also_to]}),
            )
            .await
        }
    };
    for tlp in ["TLP:RED", "TLP:AMBER+STRICT"] {
        let mut body = report_body("ceptoar-anonymous", "significant");
        body["tlp"] = json!(tlp);
        let id = file(&app, body).await["id"].as_i64().expect("id");
        let refused = relay(id, "electric-power-ceptoar").await;
        let (status, _, field, message) = error_of(refused).await;
        assert_eq!(
            (status, field.as_deref()),
            (422, Some("also_to[0]")),
            "{message}"
        );
        assert!(message.contains(tlp), "{message}");
    }
    // An AMBER copy goes to other CEPTOARs, not to any organization named.
    let id = file(&app, report_body("ceptoar-anonymous", "significant")).await["id"]
        .as_i64()
        .expect("id");
    let (status, _, field, _) = error_of(relay(id, "mhlw-unknown-org").await).await;
    assert_eq!((status, field.as_deref()), (422, Some("also_to[0]")));
    let (status, _, field, message) = error_of(relay(id, "tokyo-water").await).await;
    assert_eq!(
        (status, field.as_deref()),
        (422, Some("also_to[0]")),
        "{message}"
    );
    assert_eq!(relay(id, "electric-power-ceptoar").await.status(), 201);
}

#[tokio::test]
async fn the_session_cookie_alone_changes_nothing() {
    let app = spawn_app().await;
    let mut body = report_body("ceptoar-anonymous", "may-affect");
    body["tlp"] = json!("TLP:AMBER");
    let id = file(&app, body).await["id"].as_i64().expect("id");
    let pair = sign_in(&app, "reporter").await;
    let consent = |csrf: Option<String>| {
        let mut req = app
            .client
            .post(app.url(&format!("/api/v1/reports/{id}/consent")))
            .header("cookie", &pair)
            .header("origin", "https://evil.example");
        if let Some(c) = csrf {
            req = req.header(ciphub_server::CSRF_HEADER, c);
        }
        req.send()
    };
    let forged = consent(None).await.expect("consent");
    assert_eq!(forged.status(), 403);
    let wrong = consent(Some("0".repeat(32))).await.expect("consent");
    assert_eq!(wrong.status(), 403);
    // Still anonymous to the coordinator.
    let seen: Value = app
        .get("coordinator", &format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert!(!seen.to_string().contains("tokyo"), "{seen}");
    // A page of this site knows the token.
    let csrf = ciphub_server::csrf_token(pair.split_once('=').expect("pair").1);
    assert_eq!(consent(Some(csrf)).await.expect("consent").status(), 200);
}

#[tokio::test]
async fn metrics_are_for_instance_admins_only() {
    let app = spawn_app().await;
    assert_eq!(app.get("water-admin", "/metrics").await.status(), 403);
    assert_eq!(app.get("mhlw-admin", "/metrics").await.status(), 403);
    assert_eq!(app.get("admin", "/metrics").await.status(), 200);
}

#[tokio::test]
async fn the_atom_feed_ignores_the_host_header() {
    let app = spawn_app().await;
    let feed = app
        .client
        .get(app.url("/public/advisories.atom"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("feed")
        .text()
        .await
        .expect("text");
    assert!(feed.contains("<feed"), "{feed}");
    assert!(!feed.contains("evil.example"), "{feed}");
}

/// Notification ids count nothing: between two notifications of the CEPTOAR's secretariat,
/// other organizations are notified of five reports, and the secretariat's two ids tell it
/// neither that nor their order (a sequence would differ by six).
#[tokio::test]
async fn notification_ids_do_not_count_what_others_receive() {
    async fn ids(app: &TestApp) -> Vec<i64> {
        let list: Value = app
            .get("secretariat", "/api/v1/notifications?limit=100")
            .await
            .json()
            .await
            .expect("json");
        list.as_array()
            .expect("notifications")
            .iter()
            .map(|n| n["id"].as_i64().expect("id"))
            .collect()
    }
    let app = spawn_app().await;
    file(&app, report_body("ceptoar-anonymous", "may-affect")).await;
    let first = ids(&app).await;
    for _ in 0..5 {
        file(&app, report_body("ministry", "may-affect")).await;
    }
    file(&app, report_body("ceptoar-anonymous", "may-affect")).await;
    let both = ids(&app).await;
    assert_eq!(both.len(), first.len() + 1, "{both:?}");
    let (newest, older) = (both[0], first[0]);
    assert!(
        (newest - older).abs() > 1_000,
        "ids {older} and {newest} count what came between"
    );
    // The same notification keeps its id.
    assert_eq!(both[1..], first[..]);
}

/// Token ids count nothing either: two tokens an admin issues itself, with others issued in
/// between, have ids far apart; the id works for revoking, and the audit trail shows the same
/// id, not the stored one.
#[tokio::test]
async fn token_ids_do_not_count_what_others_issue() {
    let app = spawn_app().await;
    let issue = || async {
        let resp = app
            .send(
                Method::POST,
                "water-admin",
                "/api/v1/tokens",
                json!({"label": "ci"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        resp.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    };
    let first = issue().await;
    for name in [
        "admin",
        "coordinator",
        "mhlw-admin",
        "secretariat",
        "reporter",
    ] {
        let resp = app
            .send(Method::POST, name, "/api/v1/tokens", json!({"label": "x"}))
            .await;
        assert_eq!(resp.status(), 201);
    }
    let second = issue().await;
    assert!(
        (second - first).abs() > 1_000,
        "ids {first} and {second} count the tokens between"
    );
    let revoke = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{second}")))
        .bearer_auth(&app.tokens["water-admin"])
        .send()
        .await
        .expect("revoke");
    assert!(revoke.status().is_success(), "{}", revoke.status());
    let tokens: Vec<Value> = app
        .get("water-admin", "/api/v1/tokens")
        .await
        .json()
        .await
        .expect("json");
    let revoked = tokens
        .iter()
        .find(|t| t["id"] == second)
        .expect("listed by the same id");
    assert!(revoked["revoked"].is_string());
    let issued: Vec<String> = audit(&app, "water-admin")
        .await
        .iter()
        .filter(|e| e["action"] == "token.issue" && e["actor_user"] == "water-admin")
        .map(|e| e["object_id"].as_str().expect("id").to_owned())
        .collect();
    assert!(issued.contains(&first.to_string()), "{issued:?}");
}
