//! A crash under load: `ciphub serve` is killed with SIGKILL while clients file reports, send
//! and acknowledge alerts and add STIX objects; after a restart, everything that was answered
//! with success is there (TAXII envelopes answered `pending` are written once the restarted
//! server takes them over), and the audit chain verifies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ciphub_store::testkit::TestDb;
use serde_json::{Value, json};

use super::serve::start;

const TAXII: &str = "application/taxii+json;version=2.1";
const COMMUNITY: &str = "2f4e3d1c-9b8a-4c7d-8e6f-5a4b3c2d1e01";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";

fn token(url: &str, user: &str) -> String {
    let issued = super::helpers::ciphub(url, &["token", "issue", "--user", user], None);
    assert!(issued.status.success(), "{}", super::helpers::err(&issued));
    super::helpers::out(&issued).trim().to_owned()
}

/// A real SMTP server on a loopback port that keeps the `Message-ID` of every message it takes.
#[derive(Clone, Default)]
struct Inbox {
    ids: Arc<Mutex<Vec<String>>>,
    current: Vec<u8>,
}

impl mailin_embedded::Handler for Inbox {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> mailin_embedded::Response {
        self.current.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let text = String::from_utf8_lossy(&self.current);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("none")
            .trim()
            .to_owned();
        if let Ok(mut ids) = self.ids.lock() {
            ids.push(id);
        }
        mailin_embedded::response::OK
    }
}

fn smtp_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let inbox = Inbox::default();
    let ids = inbox.ids.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = mailin_embedded::Server::new(inbox);
    // A connection a thread: enough for every connection the sender's pool opens at once.
    server
        .with_name("mail.test")
        .with_num_threads(64)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (format!("smtp://{addr}"), ids)
}

/// `count` TLP:GREEN indicators numbered from `first`, their ids in `group` (four hex digits)
/// and their addresses in the /24 `net`.
fn indicators(group: &str, net: &str, first: u32, count: u32) -> Vec<Value> {
    (0..count)
        .map(|k| {
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--00000000-0000-4000-{group}-{:012}", first + k),
                "created": "2026-04-01T00:00:00.000Z", "modified": "2026-04-01T00:00:00.000Z",
                "pattern": format!("[ipv4-addr:value = '{net}.{}']", k % 250),
                "pattern_type": "stix", "valid_from": "2026-04-01T00:00:00Z",
                "object_marking_refs": [GREEN],
            })
        })
        .collect()
}

/// What the clients were told was written.
#[derive(Default)]
struct Acknowledged {
    reports: Vec<i64>,
    alerts: Vec<i64>,
    acks: Vec<i64>,
    objects: Vec<String>,
    /// Envelopes answered `pending`: the status, and the objects it promises.
    pending: Vec<(String, Vec<String>)>,
}

/// One client's mixed writes until the server goes away; what was answered with success.
async fn write_until_gone(
    base: String,
    reporter: String,
    coordinator: String,
    n: u32,
) -> Acknowledged {
    let client = reqwest::Client::new();
    let mut done = Acknowledged::default();
    let started = Instant::now();
    let mut i = 0u32;
    while started.elapsed() < Duration::from_secs(30) {
        i += 1;
        let report = client
            .post(format!("{base}/api/v1/reports"))
            .bearer_auth(&reporter)
            .json(&json!({
                "title": format!("Telemetry lost {n}-{i}"), "description": "Two pump stations.",
                "sectors": ["water"], "cause": "system-failure", "scope": ["ot"],
                "detected_at": "2026-04-01T08:00:00Z", "formation": "ministry",
                "answers": {"people-society": "none", "systems": "none"},
            }))
            .send()
            .await;
        let Ok(report) = report else { break };
        if report.status() == 201 {
            let Ok(v) = report.json::<Value>().await else {
                break;
            };
            done.reports.push(v["id"].as_i64().expect("id"));
        }
        let alert = client
            .post(format!("{base}/api/v1/alerts"))
            .bearer_auth(&coordinator)
            .json(
                &json!({"title": format!("Advisory {n}-{i}"), "body": "Patch now.",
                "tlp": "TLP:GREEN", "audience": {"kind": "sectors", "values": ["water"]}}),
            )
            .send()
            .await;
        let Ok(alert) = alert else { break };
        if alert.status() == 201 {
            let Ok(v) = alert.json::<Value>().await else {
                break;
            };
            let id = v["id"].as_i64().expect("id");
            done.alerts.push(id);
            let ack = client
                .post(format!("{base}/api/v1/alerts/{id}/ack"))
                .bearer_auth(&reporter)
                .send()
                .await;
            let Ok(ack) = ack else { break };
            if ack.status().is_success() {
                done.acks.push(id);
            }
        }
        // Envelopes that ask not to wait are larger, so that some are still queued at the kill.
        let (size, asynchronous) = if i.is_multiple_of(2) {
            (200, true)
        } else {
            (10, false)
        };
        let objects = indicators(&format!("8{n:03}"), &format!("45.77.{n}"), i * 1000, size);
        let mut post = client
            .post(format!(
                "{base}/taxii2/ciphub/collections/{COMMUNITY}/objects/"
            ))
            .basic_auth("demo-reporter", Some(&reporter))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII);
        if asynchronous {
            post = post.header("Prefer", "respond-async");
        }
        let posted = post
            .body(json!({ "objects": objects }).to_string())
            .send()
            .await;
        let Ok(posted) = posted else { break };
        if posted.status() != 202 {
            continue;
        }
        let Ok(status) = posted.json::<Value>().await else {
            break;
        };
        let ids: Vec<String> = objects
            .iter()
            .map(|o| o["id"].as_str().expect("id").to_owned())
            .collect();
        match status["status"].as_str() {
            Some("complete") => done.objects.extend(ids),
            Some("pending") => done
                .pending
                .push((status["id"].as_str().expect("status id").to_owned(), ids)),
            _ => panic!("a 202 with no status: {status}"),
        }
    }
    done
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed() {
    let db = TestDb::new().await.expect("db");
    // Rate limits high enough that the load and the checks (hundreds of reads with one
    // credential) are about durability, not limits. Alerts are e-mailed to a real SMTP server.
    let (smtp, mails) = smtp_server();
    let config = tempfile::NamedTempFile::new().expect("config");
    std::fs::write(
        config.path(),
        format!(
            "[limits]\napi_per_minute = 6000000\napi_burst = 100000\naddress_per_minute = 6000000\n\
             address_burst = 100000\n[taxii]\nrequests_per_minute = 6000000\nburst = 100000\n\
             [mail]\nsmtp_url = \"{smtp}\"\nfrom = \"ciphub <alerts@ciphub.test>\"\n"
        ),
    )
    .expect("write config");
    let config = config.path().to_str().expect("path").to_owned();
    let (server, base, _) = start(&db.url, &["--demo", "--config", &config]);
    // Every organization of the water sector, which each alert goes to, has a contact.
    let water = db
        .store
        .list_organizations(&ciphub_store::OrgFilter {
            kind: None,
            sector: Some(ciphub_domain::Slug::parse("water").expect("slug")),
        })
        .await
        .expect("organizations");
    for o in &water {
        db.store
            .set_contacts(
                &o.org.slug,
                &[ciphub_store::Contact {
                    rank: 1,
                    name: "Duty officer".into(),
                    email: format!("duty@{}.test", o.org.slug),
                }],
                &ciphub_store::By::system(),
            )
            .await
            .expect("contacts");
    }
    let reporter = token(&db.url, "demo-reporter");
    let coordinator = token(&db.url, "demo-coordinator");
    let clients: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(write_until_gone(
                base.clone(),
                reporter.clone(),
                coordinator.clone(),
                n,
            ))
        })
        .collect();
    // Writes are under way on every client; then SIGKILL, with requests in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(server);
    let mut all = Acknowledged::default();
    for c in clients {
        let done = c.await.expect("client");
        all.reports.extend(done.reports);
        all.alerts.extend(done.alerts);
        all.acks.extend(done.acks);
        all.objects.extend(done.objects);
        all.pending.extend(done.pending);
    }
    assert!(
        !all.reports.is_empty()
            && !all.acks.is_empty()
            && !all.objects.is_empty()
            && !all.pending.is_empty(),
        "the load wrote too little to test: {} reports, {} acks, {} objects, {} pending envelopes",
        all.reports.len(),
        all.acks.len(),
        all.objects.len(),
        all.pending.len()
    );

    println!(
        "acknowledged before the kill: {} reports, {} alerts, {} acknowledgements, {} objects \
         complete and {} envelopes pending",
        all.reports.len(),
        all.alerts.len(),
        all.acks.len(),
        all.objects.len(),
        all.pending.len()
    );
    let (_server, base, _) = start(&db.url, &["--config", &config]);
    let client = reqwest::Client::new();
    for id in &all.reports {
        let r = client
            .get(format!("{base}/api/v1/reports/{id}"))
            .bearer_auth(&reporter)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "report {id} was answered 201 and is gone");
    }
    for id in &all.alerts {
        let a: Value = client
            .get(format!("{base}/api/v1/alerts/{id}"))
            .bearer_auth(&reporter)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(a["id"], *id, "alert {id} was answered 201 and is gone: {a}");
        if all.acks.contains(id) {
            assert!(
                a["my_delivery"]["acknowledged_at"].is_string(),
                "the acknowledgement of alert {id} was answered with success and is gone: {a}"
            );
        }
    }
    // Each envelope answered pending has a status that tells the truth after the restart, and
    // turns complete once the restarted server has taken the envelope over (its first worker
    // was silent for `GONE_AFTER`).
    let deadline = Instant::now() + ciphub_store::GONE_AFTER + Duration::from_secs(45);
    let mut held_at_restart = 0;
    for (status_id, ids) in &all.pending {
        let held = super::helpers::until_complete(
            &base,
            ("demo-reporter", &reporter),
            status_id,
            ids.len(),
            deadline,
        )
        .await;
        held_at_restart += usize::from(held);
        all.objects.extend(ids.iter().cloned());
    }
    println!(
        "envelopes still held at the restart, then written: {held_at_restart} of {}",
        all.pending.len()
    );
    for id in &all.objects {
        let r = client
            .get(format!(
                "{base}/taxii2/ciphub/collections/{COMMUNITY}/objects/{id}/"
            ))
            .basic_auth("demo-reporter", Some(&reporter))
            .header("Accept", TAXII)
            .send()
            .await
            .expect("get");
        assert_eq!(
            r.status(),
            200,
            "object {id} was answered complete and is gone"
        );
    }
    // Every e-mail sent with an alert (step 0; later steps are reminders, due in hours) is done
    // in the end: each message reached the mail server, and none more
    // than twice: a crash repeats only a message in flight (README, "Delivery"), under the same
    // Message-ID.
    let jobs: i64 = loop {
        let (waiting, all): (i64, i64) = {
            use sqlx::Connection as _;
            let mut conn = sqlx::AnyConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query_as(
                "SELECT COUNT(*) - COUNT(CASE WHEN state = 'done' THEN 1 END), COUNT(*) \
                 FROM jobs WHERE kind = 'email' AND step = 0",
            )
            .fetch_one(&mut conn)
            .await
            .expect("count")
        };
        if waiting == 0 {
            break all;
        }
        if Instant::now() > deadline + Duration::from_secs(30) {
            use sqlx::Connection as _;
            let mut conn = sqlx::AnyConnection::connect(&db.url)
                .await
                .expect("connect");
            let states: Vec<(String, i64, Option<String>, i64)> = sqlx::query_as(
                "SELECT state, attempts, last_error, COUNT(*) FROM jobs \
                 WHERE kind = 'email' AND step = 0 GROUP BY state, attempts, last_error",
            )
            .fetch_all(&mut conn)
            .await
            .expect("states");
            panic!("{waiting} e-mail jobs still not done: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(jobs > 0, "no alert was e-mailed");
    let mut copies: HashMap<String, usize> = HashMap::new();
    for id in mails.lock().expect("lock").iter() {
        assert!(
            id.starts_with("<ciphub.job.") && id.ends_with("@ciphub.test>"),
            "a message without the job's Message-ID: {id}"
        );
        *copies.entry(id.clone()).or_default() += 1;
    }
    // One Message-ID a job: as many as there are jobs, none lost.
    assert_eq!(
        copies.len() as i64,
        jobs,
        "e-mail jobs and messages received"
    );
    for (id, n) in &copies {
        assert!(*n <= 2, "{id} reached the mail server {n} times");
    }
    println!(
        "e-mail jobs: {jobs}, sent twice after the kill: {}",
        copies.values().filter(|n| **n > 1).count()
    );
    let verify = super::helpers::ciphub(&db.url, &["audit", "verify"], None);
    assert!(verify.status.success(), "{}", super::helpers::err(&verify));
}

/// Posts envelopes of 500 indicators that ask not to wait until the server goes away;
/// returns each status answered and the objects it promises.
async fn post_until_gone(base: String, reporter: String, n: u32) -> Vec<(String, Vec<String>)> {
    let client = reqwest::Client::new();
    let mut answered = Vec::new();
    for i in 0u32.. {
        let objects = indicators(&format!("9{n:03}"), &format!("45.78.{n}"), i * 1000, 500);
        let posted = client
            .post(format!(
                "{base}/taxii2/ciphub/collections/{COMMUNITY}/objects/"
            ))
            .basic_auth("demo-reporter", Some(&reporter))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .header("Prefer", "respond-async")
            .body(json!({ "objects": objects }).to_string())
            .send()
            .await;
        let Ok(posted) = posted else { break };
        if posted.status() != 202 {
            break;
        }
        let Ok(status) = posted.json::<Value>().await else {
            break;
        };
        answered.push((
            status["id"].as_str().expect("status id").to_owned(),
            objects
                .iter()
                .map(|o| o["id"].as_str().expect("id").to_owned())
                .collect(),
        ));
    }
    answered
}

/// A stop (SIGTERM) while TAXII envelopes are queued: the server writes what it can for a few
/// seconds and ends; what it did not write stays held, and after a restart every envelope it
/// answered is written.
#[tokio::test]
async fn a_stop_while_taxii_envelopes_are_queued_ends_soon_and_loses_nothing() {
    let db = TestDb::new().await.expect("db");
    let config = tempfile::NamedTempFile::new().expect("config");
    std::fs::write(
        config.path(),
        "[limits]\napi_per_minute = 6000000\napi_burst = 100000\naddress_per_minute = 6000000\n\
         address_burst = 100000\n[taxii]\nrequests_per_minute = 6000000\nburst = 100000\n",
    )
    .expect("write config");
    let config = config.path().to_str().expect("path").to_owned();
    let (mut server, base, _) = start(&db.url, &["--demo", "--config", &config]);
    let reporter = token(&db.url, "demo-reporter");
    let clients: Vec<_> = (0..4)
        .map(|n| tokio::spawn(post_until_gone(base.clone(), reporter.clone(), n)))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let took = tokio::task::spawn_blocking(move || {
        let took = server.terminate(Duration::from_secs(120));
        (server, took)
    });
    let (server, took) = took.await.expect("stop");
    let took = took.expect("the server did not stop within two minutes of SIGTERM");
    drop(server);
    let mut answered = Vec::new();
    for c in clients {
        answered.extend(c.await.expect("client"));
    }
    assert!(!answered.is_empty(), "no envelope was answered");
    println!(
        "stopped {} ms after SIGTERM, with {} envelopes of 500 answered pending",
        took.as_millis(),
        answered.len()
    );
    let (_server, base, _) = start(&db.url, &["--config", &config]);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + ciphub_store::GONE_AFTER + Duration::from_secs(90);
    let mut held_at_restart = 0;
    for (status_id, ids) in &answered {
        let held = super::helpers::until_complete(
            &base,
            ("demo-reporter", &reporter),
            status_id,
            500,
            deadline,
        )
        .await;
        held_at_restart += usize::from(held);
        let r = client
            .get(format!(
                "{base}/taxii2/ciphub/collections/{COMMUNITY}/objects/{}/",
                ids[499]
            ))
            .basic_auth("demo-reporter", Some(&reporter))
            .header("Accept", TAXII)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "an object of status {status_id} is gone");
    }
    println!(
        "envelopes held at the stop, written after the restart: {held_at_restart} of {}",
        answered.len()
    );
    let verify = super::helpers::ciphub(&db.url, &["audit", "verify"], None);
    assert!(verify.status.success(), "{}", super::helpers::err(&verify));
}
