//! Delivery beyond the inbox: e-mail through a real SMTP server on loopback, signed webhooks
//! to a real HTTP receiver, escalation on a clock the test moves, across a restart, and
//! attachments.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use chrono::TimeDelta;
use ciphub_server::{AppState, MailConfig, ServerConfig, jobs};
use ciphub_store::{JobKind, JobRecord, JobState, Store, StoreOptions, WorkerId};
use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, error_of, spawn_app, spawn_app_with, test_config};

/// One message as the SMTP server received it.
#[derive(Clone, Debug)]
struct Mail {
    to: Vec<String>,
    data: String,
}

#[derive(Clone, Default)]
struct Inbox {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Vec<u8>,
    to: Vec<String>,
    /// How many more messages to answer with a temporary failure after taking them, as a
    /// server does that fails between storing a message and saying so.
    refuse: Arc<AtomicUsize>,
}

impl mailin_embedded::Handler for Inbox {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.current.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let mail = Mail {
            to: std::mem::take(&mut self.to),
            data: String::from_utf8_lossy(&self.current).into_owned(),
        };
        self.mails.lock().expect("lock").push(mail);
        let refused = self
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            mailin_embedded::response::NO_SERVICE
        } else {
            mailin_embedded::response::OK
        }
    }
}

/// A real SMTP server on a loopback port; returns its URL and what it receives.
fn smtp_server() -> (String, Arc<Mutex<Vec<Mail>>>) {
    smtp_server_refusing(0)
}

/// A real SMTP server that takes the first `refuse` messages but then answers each with a
/// temporary failure and hangs up (421), so the sender tries again.
fn smtp_server_refusing(refuse: usize) -> (String, Arc<Mutex<Vec<Mail>>>) {
    let inbox = Inbox {
        refuse: Arc::new(AtomicUsize::new(refuse)),
        ..Inbox::default()
    };
    let mails = inbox.mails.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = mailin_embedded::Server::new(inbox);
    server.with_name("mail.test").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (format!("smtp://{addr}"), mails)
}

/// A real HTTP receiver on a loopback port answering with the statuses given (200 after
/// them); returns its URL and the calls it received.
async fn webhook_receiver(statuses: &[u16]) -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
    let calls: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let script = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<_>>(),
    ));
    let (c, s) = (calls.clone(), script.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (c, s) = (c.clone(), s.clone());
            async move {
                c.lock().expect("lock").push((headers, body));
                let status = s.lock().expect("lock").pop_front().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).expect("status")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

fn mail_config(smtp_url: String) -> ServerConfig {
    ServerConfig {
        mail: Some(MailConfig {
            smtp_url,
            from: "ciphub <alerts@ciphub.test>".into(),
        }),
        public_url: Some("https://ciphub.test".into()),
        ..test_config()
    }
}

async fn set_contacts(app: &TestApp, admin: &str, org: &str, contacts: Value) {
    let resp = app
        .send(
            Method::PUT,
            admin,
            &format!("/api/v1/organizations/{org}/contacts"),
            contacts,
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

async fn send_alert(app: &TestApp, user: &str, body: Value) -> i64 {
    let resp = app.send(Method::POST, user, "/api/v1/alerts", body).await;
    let status = resp.status();
    let v: Value = resp.json().await.expect("json");
    assert_eq!(status, 201, "{v}");
    v["id"].as_i64().expect("id")
}

fn alert(tlp: &str, kind: &str, values: &[&str], ack: Option<&str>) -> Value {
    json!({
        "title": "Wiper malware at water utilities",
        "body": "Isolate **SCADA** historians now.",
        "tlp": tlp,
        "audience": {"kind": kind, "values": values},
        "acknowledge_within": ack,
    })
}

/// Runs the due jobs as the worker would.
async fn run_jobs(state: &AppState) -> usize {
    jobs::run_due(state).await.expect("jobs run")
}

fn mails_to(mails: &Arc<Mutex<Vec<Mail>>>, addr: &str) -> Vec<Mail> {
    mails
        .lock()
        .expect("lock")
        .iter()
        .filter(|m| m.to.iter().any(|t| t == addr))
        .cloned()
        .collect()
}

/// The value of header `name` in a received message.
fn header(data: &str, name: &str) -> Option<String> {
    data.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// The first-delivery e-mail job of `alert` to `org`. No API lists e-mail jobs, so this reads
/// them one by one: a fresh database holds few.
async fn email_job(app: &TestApp, alert: i64, org: &str) -> JobRecord {
    for id in 1..1_000 {
        if let Ok(j) = app.state.store.job(id).await
            && j.kind == JobKind::Email
            && j.alert == alert
            && j.step == 0
            && j.org.as_ref().is_some_and(|o| o.as_str() == org)
        {
            return j;
        }
    }
    panic!("no e-mail job of alert {alert} to {org}");
}

#[tokio::test]
async fn email_tried_again_keeps_its_message_id_and_each_try_is_recorded() {
    let (smtp, mails) = smtp_server_refusing(1);
    let app = spawn_app_with(mail_config(smtp)).await;
    set_contacts(
        &app,
        "water-admin",
        "tokyo-water",
        json!([{"rank": 1, "name": "Duty desk", "email": "duty@tokyo-water.test"}]),
    )
    .await;
    let first = send_alert(
        &app,
        "coordinator",
        alert("TLP:GREEN", "organizations", &["tokyo-water"], None),
    )
    .await;
    run_jobs(&app.state).await;
    // The server took the message and then failed: the try is on record with its error.
    let job = email_job(&app, first, "tokyo-water").await;
    assert_eq!(job.attempts, 1);
    assert_eq!(job.state, JobState::Pending);
    assert_eq!(job.attempted, Some(ciphub_store::Clock::now(&*app.clock)));
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("SMTP")),
        "{:?}",
        job.last_error
    );
    // After the backoff the same job is sent again, under the same Message-ID, so the
    // recipient's mail system can drop the second copy.
    app.clock.advance(TimeDelta::minutes(1));
    run_jobs(&app.state).await;
    let got = mails_to(&mails, "duty@tokyo-water.test");
    assert_eq!(got.len(), 2);
    let ids: Vec<String> = got
        .iter()
        .map(|m| header(&m.data, "Message-ID").expect("a Message-ID"))
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert!(
        ids[0].starts_with("<ciphub.job.") && ids[0].ends_with("@ciphub.test>"),
        "{}",
        ids[0]
    );
    // It shows the job's public id, not the row number that counts everyone's jobs.
    assert!(!ids[0].contains(&format!(".{}@", job.id)), "{}", ids[0]);
    let done = app.state.store.job(job.id).await.expect("job");
    assert_eq!((done.attempts, done.state), (2, JobState::Done));
    // Another alert's e-mail has a Message-ID of its own.
    send_alert(
        &app,
        "coordinator",
        alert("TLP:GREEN", "organizations", &["tokyo-water"], None),
    )
    .await;
    run_jobs(&app.state).await;
    let got = mails_to(&mails, "duty@tokyo-water.test");
    assert_eq!(got.len(), 3);
    assert_ne!(header(&got[2].data, "Message-ID"), Some(ids[0].clone()));
}

#[tokio::test]
async fn email_reaches_first_contacts_carrying_content_only_as_the_label_allows() {
    let (smtp, mails) = smtp_server();
    let app = spawn_app_with(mail_config(smtp)).await;
    set_contacts(
        &app,
        "water-admin",
        "tokyo-water",
        json!([
            {"rank": 1, "name": "Duty desk", "email": "duty@tokyo-water.test"},
            {"rank": 2, "name": "CISO", "email": "ciso@tokyo-water.test"}
        ]),
    )
    .await;

    let green = send_alert(
        &app,
        "coordinator",
        alert("TLP:GREEN", "sectors", &["water"], None),
    )
    .await;
    assert!(run_jobs(&app.state).await >= 1);
    let got = mails_to(&mails, "duty@tokyo-water.test");
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0].data;
    assert!(m.contains(&format!("alert {green}")), "{m}");
    assert!(m.contains("TLP:GREEN"), "{m}");
    assert!(m.contains("Wiper malware at water utilities"), "{m}");
    assert!(m.contains("Isolate **SCADA** historians now."), "{m}");
    assert!(
        m.contains(&format!("https://ciphub.test/alerts/{green}")),
        "{m}"
    );
    assert!(mails_to(&mails, "ciso@tokyo-water.test").is_empty());
    // The sender sees that the e-mail went out.
    let table: Vec<Value> = app
        .get("coordinator", &format!("/api/v1/alerts/{green}/delivery"))
        .await
        .json()
        .await
        .expect("json");
    let row = table
        .iter()
        .find(|d| d["org"] == "tokyo-water")
        .expect("row");
    assert_eq!(row["email"], "sent");
    assert!(
        table
            .iter()
            .filter(|d| d["org"] != "tokyo-water")
            .all(|d| d.get("email").is_none())
    );

    // Above GREEN, and for role-limited audiences, e-mail says only that an alert waits.
    let mut execs = alert("TLP:GREEN", "organizations", &["tokyo-water"], None);
    execs["audience"]["roles"] = json!(["executive"]);
    for body in [
        alert("TLP:AMBER", "sectors", &["water"], None),
        alert("TLP:AMBER+STRICT", "organizations", &["tokyo-water"], None),
        alert("TLP:RED", "organizations", &["tokyo-water"], None),
        execs,
    ] {
        let tlp = body["tlp"].as_str().expect("tlp").to_owned();
        let before = mails_to(&mails, "duty@tokyo-water.test").len();
        let id = send_alert(&app, "coordinator", body).await;
        run_jobs(&app.state).await;
        let got = mails_to(&mails, "duty@tokyo-water.test");
        assert_eq!(got.len(), before + 1);
        let m = &got[before].data;
        assert!(m.contains(&tlp), "{m}");
        assert!(m.contains(&format!("alert {id}")), "{m}");
        assert!(
            !m.contains("Wiper"),
            "{tlp} content leaked into e-mail: {m}"
        );
        assert!(
            !m.contains("SCADA"),
            "{tlp} content leaked into e-mail: {m}"
        );
    }
    // Organizations without contacts get no e-mail, and nothing else was sent.
    assert_eq!(mails.lock().expect("lock").len(), 5);

    // Bad contacts are named and change nothing.
    let (status, _, field, _) = error_of(
        app.send(
            Method::PUT,
            "water-admin",
            "/api/v1/organizations/tokyo-water/contacts",
            json!([{"rank": 1, "name": "x", "email": "not-an-address"}]),
        )
        .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("[0].email")));
    let kept: Vec<Value> = app
        .get("water-admin", "/api/v1/organizations/tokyo-water/contacts")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(kept.len(), 2);
    assert_eq!(
        app.get("reporter", "/api/v1/organizations/tokyo-water/contacts")
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn a_running_worker_sends_email_without_being_asked() {
    let (smtp, mails) = smtp_server();
    let config = ServerConfig {
        job_poll: Some(std::time::Duration::from_millis(200)),
        ..mail_config(smtp)
    };
    let app = spawn_app_with(config).await;
    set_contacts(
        &app,
        "water-admin",
        "tokyo-water",
        json!([{"rank": 1, "name": "Duty", "email": "duty@tokyo-water.test"}]),
    )
    .await;
    send_alert(&app, "coordinator", alert("TLP:CLEAR", "all", &[], None)).await;
    for _ in 0..100 {
        if !mails_to(&mails, "duty@tokyo-water.test").is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the worker sent no e-mail within 10 s");
}

fn verify(secret: &str, headers: &HeaderMap, body: &str) {
    let ts: i64 = headers["ciphub-timestamp"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("timestamp");
    let sig = headers["ciphub-signature"].to_str().expect("ascii");
    assert_eq!(
        sig,
        format!("v1={}", jobs::sign(secret, ts, body.as_bytes()))
    );
    // A receiver recomputing it from the secret alone gets the same.
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{ts}.{body}").as_bytes());
    assert_eq!(
        sig,
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    );
}

#[tokio::test]
async fn webhooks_are_signed_retried_with_backoff_and_dead_lettered() {
    let config = ServerConfig {
        delivery_attempts: 3,
        ..test_config()
    };
    let app = spawn_app_with(config).await;
    let (flaky_url, flaky_calls) = webhook_receiver(&[500, 503]).await;
    let (dead_url, dead_calls) = webhook_receiver(&[500, 500, 500, 500]).await;
    let mut hooks = Vec::new();
    for url in [&flaky_url, &dead_url] {
        let resp = app
            .send(
                Method::POST,
                "water-admin",
                "/api/v1/webhooks",
                json!({"url": url}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        let v: Value = resp.json().await.expect("json");
        hooks.push((
            v["id"].as_i64().expect("id"),
            v["secret"].as_str().expect("secret").to_owned(),
        ));
    }
    let listed: Vec<Value> = app
        .get("water-admin", "/api/v1/webhooks")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        listed.iter().all(|w| w.get("secret").is_none()),
        "secrets are shown once"
    );
    // Only the organization's admins see or change its webhooks.
    assert_eq!(app.get("reporter", "/api/v1/webhooks").await.status(), 403);
    assert_eq!(
        app.get(
            "mhlw-admin",
            &format!("/api/v1/webhooks/{}/calls", hooks[0].0)
        )
        .await
        .status(),
        404
    );
    let (status, _, field, _) = error_of(
        app.send(
            Method::POST,
            "water-admin",
            "/api/v1/webhooks",
            json!({"url": "ftp://x.test/"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, field.as_deref()), (422, Some("url")));

    let id = send_alert(
        &app,
        "coordinator",
        alert("TLP:AMBER", "sectors", &["water"], None),
    )
    .await;
    run_jobs(&app.state).await;
    assert_eq!(flaky_calls.lock().expect("lock").len(), 1);
    // Not due again until the backoff has passed: 30 s, then 60 s.
    run_jobs(&app.state).await;
    assert_eq!(flaky_calls.lock().expect("lock").len(), 1);
    app.clock.advance(TimeDelta::seconds(31));
    run_jobs(&app.state).await;
    assert_eq!(flaky_calls.lock().expect("lock").len(), 2);
    app.clock.advance(TimeDelta::seconds(59));
    run_jobs(&app.state).await;
    assert_eq!(flaky_calls.lock().expect("lock").len(), 2);
    app.clock.advance(TimeDelta::seconds(2));
    run_jobs(&app.state).await;
    assert_eq!(flaky_calls.lock().expect("lock").len(), 3);
    app.clock.advance(TimeDelta::hours(1));
    run_jobs(&app.state).await;
    assert_eq!(
        flaky_calls.lock().expect("lock").len(),
        3,
        "a delivered call is not repeated"
    );

    // Every call is signed with the webhook's own secret, and AMBER content reaches the
    // organization's own systems.
    for (headers, body) in flaky_calls.lock().expect("lock").iter() {
        verify(&hooks[0].1, headers, body);
        assert_eq!(headers["ciphub-event"], "alert.created");
        let v: Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["alert"]["id"], id);
        assert_eq!(v["alert"]["tlp"], "TLP:AMBER");
        assert_eq!(v["alert"]["title"], "Wiper malware at water utilities");
        assert_eq!(v["org"], "tokyo-water");
    }
    let calls: Vec<Value> = app
        .get(
            "water-admin",
            &format!("/api/v1/webhooks/{}/calls", hooks[0].0),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (calls[0]["state"].as_str(), calls[0]["attempts"].as_i64()),
        (Some("done"), Some(3))
    );
    // Every try carries the same delivery id, the one the owner's list shows, so the receiver
    // can drop a repeat.
    let deliveries: Vec<String> = flaky_calls
        .lock()
        .expect("lock")
        .iter()
        .map(|(h, _)| h["ciphub-delivery"].to_str().expect("ascii").to_owned())
        .collect();
    assert_eq!(deliveries.len(), 3);
    let first = calls[0]["id"].to_string();
    assert!(
        deliveries.iter().all(|d| *d == first),
        "{deliveries:?} {}",
        calls[0]
    );

    let table: Vec<Value> = app
        .get("coordinator", &format!("/api/v1/alerts/{id}/delivery"))
        .await
        .json()
        .await
        .expect("json");
    let row = table
        .iter()
        .find(|d| d["org"] == "tokyo-water")
        .expect("row");
    assert_eq!(
        row["webhooks"], "delivered",
        "one of its two webhooks answered"
    );

    // The other webhook failed three times: a dead letter its owner sees, with the reason.
    assert_eq!(dead_calls.lock().expect("lock").len(), 3);
    let dead: Vec<Value> = app
        .get(
            "water-admin",
            &format!("/api/v1/webhooks/{}/calls?dead=true", hooks[1].0),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["state"], "dead");
    assert!(
        dead[0]["last_error"]
            .as_str()
            .expect("error")
            .contains("HTTP 500"),
        "{dead:?}"
    );
    let listed: Vec<Value> = app
        .get("water-admin", "/api/v1/webhooks")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed[1]["dead"], 1);
    // Sent again by hand, it gets a fresh set of tries.
    let retry = app
        .send(
            Method::POST,
            "water-admin",
            &format!(
                "/api/v1/webhooks/{}/calls/{}/retry",
                hooks[1].0, dead[0]["id"]
            ),
            json!({}),
        )
        .await;
    assert_eq!(retry.status(), 202);
    run_jobs(&app.state).await;
    assert_eq!(dead_calls.lock().expect("lock").len(), 4);

    // RED never travels in a webhook body.
    let red = send_alert(
        &app,
        "coordinator",
        alert("TLP:RED", "organizations", &["tokyo-water"], None),
    )
    .await;
    run_jobs(&app.state).await;
    let calls = flaky_calls.lock().expect("lock");
    let (_, body) = calls.last().expect("call");
    let v: Value = serde_json::from_str(body).expect("json");
    assert_eq!(
        (v["alert"]["id"].as_i64(), v["disclosure"].as_str()),
        (Some(red), Some("notice"))
    );
    assert!(!body.contains("Wiper"), "{body}");
}

async fn escalation_app(smtp: String) -> TestApp {
    let app = spawn_app_with(mail_config(smtp)).await;
    set_contacts(
        &app,
        "water-admin",
        "tokyo-water",
        json!([
            {"rank": 1, "name": "Duty desk", "email": "duty@tokyo-water.test"},
            {"rank": 2, "name": "CISO", "email": "ciso@tokyo-water.test"}
        ]),
    )
    .await;
    // The CEPTOAR has no admin among the test users, and nobody outside it may point its
    // contacts anywhere: they are set as the command line would.
    app.db
        .store
        .set_contacts(
            &ciphub_domain::Slug::parse("water-ceptoar").expect("slug"),
            &[ciphub_store::Contact {
                rank: 1,
                name: "Secretariat".into(),
                email: "sec@water-ceptoar.test".into(),
            }],
            &ciphub_store::By::system(),
        )
        .await
        .expect("contacts");
    set_contacts(
        &app,
        "mhlw-admin",
        "mhlw",
        json!([{"rank": 1, "name": "MHLW desk", "email": "desk@mhlw.test"}]),
    )
    .await;
    app
}

async fn notices(app: &TestApp, user: &str) -> Vec<Value> {
    app.get(user, "/api/v1/alert-notices")
        .await
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn unacknowledged_alerts_escalate_step_by_step_and_stop_when_acknowledged() {
    let (smtp, mails) = smtp_server();
    let app = escalation_app(smtp).await;
    let id = send_alert(
        &app,
        "coordinator",
        alert(
            "TLP:GREEN",
            "organizations",
            &["tokyo-water", "water-ceptoar"],
            Some("4h"),
        ),
    )
    .await;
    run_jobs(&app.state).await;
    assert_eq!(
        mails_to(&mails, "duty@tokyo-water.test").len(),
        1,
        "the alert itself"
    );
    // The CEPTOAR acknowledges in time; the operator does not.
    let ack = app
        .send(
            Method::POST,
            "secretariat",
            &format!("/api/v1/alerts/{id}/ack"),
            json!({}),
        )
        .await;
    assert_eq!(ack.status(), 200);

    // Nothing happens before the deadline.
    app.clock
        .advance(TimeDelta::hours(4) - TimeDelta::seconds(1));
    run_jobs(&app.state).await;
    assert!(notices(&app, "reporter").await.is_empty());

    // At 4 h: a reminder in the operator's inbox and to its first contacts.
    app.clock.advance(TimeDelta::seconds(1));
    run_jobs(&app.state).await;
    let n = notices(&app, "reporter").await;
    assert_eq!(n.len(), 1);
    assert_eq!(
        (n[0]["kind"].as_str(), n[0]["alert"].as_i64()),
        (Some("reminder"), Some(id))
    );
    let duty = mails_to(&mails, "duty@tokyo-water.test");
    assert_eq!(duty.len(), 2);
    assert!(duty[1].data.contains("Reminder"), "{}", duty[1].data);
    assert!(mails_to(&mails, "ciso@tokyo-water.test").is_empty());
    assert!(
        notices(&app, "secretariat").await.is_empty(),
        "the CEPTOAR acknowledged"
    );

    // At 6 h: the second contact.
    app.clock.advance(TimeDelta::hours(2));
    run_jobs(&app.state).await;
    let ciso = mails_to(&mails, "ciso@tokyo-water.test");
    assert_eq!(ciso.len(), 1);
    assert!(ciso[0].data.contains("second contact"), "{}", ciso[0].data);

    // At 8 h: the operator's CEPTOAR secretariat and its sector's ministry.
    app.clock.advance(TimeDelta::hours(2));
    run_jobs(&app.state).await;
    for (user, addr) in [
        ("secretariat", "sec@water-ceptoar.test"),
        ("mhlw-analyst", "desk@mhlw.test"),
    ] {
        let n = notices(&app, user).await;
        assert_eq!(n.len(), 1, "{user}: {n:?}");
        assert_eq!(
            (n[0]["kind"].as_str(), n[0]["about"].as_str()),
            (Some("oversight"), Some("tokyo-water"))
        );
        let m: Vec<Mail> = mails_to(&mails, addr)
            .into_iter()
            .filter(|m| m.data.contains("Escalation"))
            .collect();
        assert_eq!(m.len(), 1, "{addr}");
        assert!(m[0].data.contains("tokyo-water"), "{}", m[0].data);
        assert!(
            !m[0].data.contains("Wiper"),
            "overseers are not recipients: {}",
            m[0].data
        );
    }
    // Nothing more, ever.
    let total = mails.lock().expect("lock").len();
    app.clock.advance(TimeDelta::days(3));
    run_jobs(&app.state).await;
    assert_eq!(mails.lock().expect("lock").len(), total);

    // An alert acknowledged before its deadline never escalates.
    let quiet = send_alert(
        &app,
        "coordinator",
        alert("TLP:GREEN", "organizations", &["tokyo-water"], Some("1h")),
    )
    .await;
    run_jobs(&app.state).await;
    let ack = app
        .send(
            Method::POST,
            "reporter",
            &format!("/api/v1/alerts/{quiet}/ack"),
            json!({}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    app.clock.advance(TimeDelta::hours(3));
    run_jobs(&app.state).await;
    assert!(
        notices(&app, "reporter")
            .await
            .iter()
            .all(|n| n["alert"] != quiet)
    );
}

#[tokio::test]
async fn escalation_carries_on_after_a_restart_without_repeating_itself() {
    let (smtp, mails) = smtp_server();
    let app = escalation_app(smtp.clone()).await;
    let id = send_alert(
        &app,
        "coordinator",
        alert("TLP:GREEN", "organizations", &["tokyo-water"], Some("4h")),
    )
    .await;
    run_jobs(&app.state).await;
    app.clock.advance(TimeDelta::hours(4));
    run_jobs(&app.state).await;
    assert_eq!(
        mails_to(&mails, "duty@tokyo-water.test").len(),
        2,
        "alert and reminder"
    );

    // The process stops; a new one opens the same database with its own pool and worker.
    app.state.store.close().await;
    let store = Store::connect_with(&app.db.url, StoreOptions::default(), app.clock.clone())
        .await
        .expect("reconnect");
    let restarted = AppState::new(store.clone(), mail_config(smtp));
    // A worker of the new process takes a job and dies before finishing it...
    app.clock.advance(TimeDelta::hours(2));
    let taken = store
        .claim_jobs(&WorkerId::random(), 10, TimeDelta::minutes(2))
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    run_jobs(&restarted).await;
    assert!(
        mails_to(&mails, "ciso@tokyo-water.test").is_empty(),
        "the job is leased"
    );
    // ...and once it has been silent for three heartbeats, well before its two-minute lease
    // runs out, another takes it over.
    app.clock.advance(
        TimeDelta::from_std(ciphub_store::GONE_AFTER).expect("delta") + TimeDelta::seconds(1),
    );
    run_jobs(&restarted).await;
    assert_eq!(mails_to(&mails, "ciso@tokyo-water.test").len(), 1);
    app.clock.advance(TimeDelta::hours(2));
    run_jobs(&restarted).await;
    run_jobs(&restarted).await;
    assert_eq!(
        mails_to(&mails, "duty@tokyo-water.test").len(),
        2,
        "no second reminder"
    );
    assert_eq!(mails_to(&mails, "ciso@tokyo-water.test").len(), 1);
    assert_eq!(mails_to(&mails, "sec@water-ceptoar.test").len(), 1);
    let steps: Vec<String> = store
        .audit_page(&ciphub_domain::policy::AuditScope::Everything, 0, 1000)
        .await
        .expect("audit")
        .entries
        .iter()
        .filter(|e| e.action == "alert.escalate" && e.object_id == id.to_string())
        .map(|e| e.detail.clone())
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
}

#[tokio::test]
async fn attachments_travel_with_the_alert_within_limits() {
    use base64::Engine;
    let config = ServerConfig {
        attachment_limit: 1024,
        ..test_config()
    };
    let app = spawn_app_with(config).await;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut body = alert("TLP:GREEN", "ceptoars", &["water-ceptoar"], None);
    body["attachments"] = json!([{"name": "iocs.csv", "media_type": "text/csv", "content_base64": b64(b"ip,198.51.100.7\n")}]);
    let id = send_alert(&app, "coordinator", body).await;
    let one: Value = app
        .get("reporter", &format!("/api/v1/alerts/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(one["attachments"][0]["name"], "iocs.csv");
    assert_eq!(one["attachments"][0]["size"], 16);
    let file = app
        .get("reporter", &format!("/api/v1/alerts/{id}/attachments/1"))
        .await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["x-content-type-options"], "nosniff");
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    assert_eq!(
        file.bytes().await.expect("bytes").as_ref(),
        b"ip,198.51.100.7\n"
    );
    // Who does not see the alert does not see its files.
    assert_eq!(
        app.get(
            "mhlw-analyst",
            &format!("/api/v1/alerts/{id}/attachments/1")
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        app.get("reporter", &format!("/api/v1/alerts/{id}/attachments/2"))
            .await
            .status(),
        404
    );

    let before = app.db.store.audit_len().await.expect("len");
    for (files, field) in [
        (
            json!([{"name": "big.bin", "content_base64": b64(&[7u8; 1025])}]),
            "attachments[0].content_base64",
        ),
        (
            json!([{"name": "x", "content_base64": "%%%"}]),
            "attachments[0].content_base64",
        ),
        (
            json!([{"name": "../etc", "content_base64": ""}]),
            "attachments[0].name",
        ),
        (
            json!([{"name": "a", "media_type": "text", "content_base64": ""}]),
            "attachments[0].media_type",
        ),
        (
            json!(
                (0..6)
                    .map(|i| json!({"name": format!("f{i}"), "content_base64": ""}))
                    .collect::<Vec<_>>()
            ),
            "attachments",
        ),
    ] {
        let mut body = alert("TLP:GREEN", "all", &[], None);
        body["attachments"] = files;
        let (status, _, got, msg) = error_of(
            app.send(Method::POST, "coordinator", "/api/v1/alerts", body)
                .await,
        )
        .await;
        assert_eq!((status, got.as_deref()), (422, Some(field)), "{msg}");
    }
    assert_eq!(
        app.db.store.audit_len().await.expect("len"),
        before,
        "refused alerts leave no trace"
    );
}

#[tokio::test]
async fn contacts_need_the_organizations_admin() {
    let app = spawn_app().await;
    let resp = app
        .send(
            Method::PUT,
            "water-admin",
            "/api/v1/organizations/mhlw/contacts",
            json!([]),
        )
        .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn webhooks_refuse_embedded_and_special_purpose_addresses() {
    let config = ServerConfig {
        webhook_private_targets: false,
        delivery_attempts: 1,
        ..test_config()
    };
    let app = spawn_app_with(config).await;
    for url in [
        "http://[::127.0.0.1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[2002:7f00:1::1]/hook",
        "http://[fec0::1]/hook",
        "http://[::ffff:0:7f00:1]/hook",
        "http://[100::1]/hook",
        "http://192.0.0.1/hook",
        "http://192.88.99.1/hook",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
        "http://2130706433/hook",
        "http://0177.0.0.1/hook",
        "http://0x7f.1/hook",
    ] {
        let (status, _, field, msg) = error_of(
            app.send(
                Method::POST,
                "water-admin",
                "/api/v1/webhooks",
                json!({"url": url}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, field.as_deref()),
            (422, Some("url")),
            "{url}: {msg}"
        );
    }
    // A webhook stored while private targets were allowed is refused when called.
    let water = ciphub_domain::Slug::parse("tokyo-water").expect("slug");
    let id = app
        .db
        .store
        .add_webhook(
            &water,
            "http://[64:ff9b::7f00:1]:9/hook",
            "whsec_x",
            &ciphub_store::By::system(),
        )
        .await
        .expect("webhook");
    send_alert(
        &app,
        "coordinator",
        alert("TLP:GREEN", "sectors", &["water"], None),
    )
    .await;
    run_jobs(&app.state).await;
    let calls: Vec<Value> = app
        .get(
            "water-admin",
            &format!("/api/v1/webhooks/{id}/calls?dead=true"),
        )
        .await
        .json()
        .await
        .expect("json");
    let why = calls[0]["last_error"].as_str().expect("error");
    assert!(why.contains("not a public address"), "{why}");

    // A public address is still accepted.
    let resp = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/webhooks",
            json!({"url": "https://[2400:cb00::1]/hook"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn webhooks_reach_public_addresses_only_unless_allowed() {
    let config = ServerConfig {
        webhook_private_targets: false,
        delivery_attempts: 1,
        ..test_config()
    };
    let app = spawn_app_with(config).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
    ] {
        let (status, _, field, msg) = error_of(
            app.send(
                Method::POST,
                "water-admin",
                "/api/v1/webhooks",
                json!({"url": url}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, field.as_deref()),
            (422, Some("url")),
            "{url}: {msg}"
        );
    }
    // A name is resolved when called; one that points inside is refused then.
    // The receiver listens on loopback: were the name not checked, the call would reach it.
    let (receiver, calls) = webhook_receiver(&[]).await;
    let by_name = receiver.replace("127.0.0.1", "localhost");
    let resp = app
        .send(
            Method::POST,
            "water-admin",
            "/api/v1/webhooks",
            json!({ "url": by_name }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let hook: Value = resp.json().await.expect("json");
    send_alert(
        &app,
        "coordinator",
        alert("TLP:GREEN", "sectors", &["water"], None),
    )
    .await;
    run_jobs(&app.state).await;
    let dead: Vec<Value> = app
        .get(
            "water-admin",
            &format!("/api/v1/webhooks/{}/calls?dead=true", hook["id"]),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(dead.len(), 1);
    let why = dead[0]["last_error"].as_str().expect("error");
    assert!(why.contains("no public address"), "{why}");
    assert!(calls.lock().expect("lock").is_empty());
}
