//! The live stream (Server-Sent Events): each user gets what they may see, as it happens.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use ciphub_store::testkit::TestDb;

use super::helpers::{TestApp, spawn_app, spawn_app_in, test_clock, test_config};

/// A client's view of one open stream.
pub struct Stream {
    resp: reqwest::Response,
    buf: String,
    /// The id of the last event read that had one.
    pub last_id: Option<String>,
}

impl Stream {
    /// Opens `user`'s stream on `base` and waits for it to say it is ready.
    pub async fn open(client: &reqwest::Client, base: &str, token: &str) -> Self {
        Self::resume(client, base, token, None).await
    }

    /// Opens a stream that resumes after the event `last` (sent as `Last-Event-ID`).
    pub async fn resume(
        client: &reqwest::Client,
        base: &str,
        token: &str,
        last: Option<&str>,
    ) -> Self {
        let mut req = client
            .get(format!("{base}/api/v1/stream"))
            .bearer_auth(token);
        if let Some(id) = last {
            req = req.header("Last-Event-ID", id);
        }
        Self::opened(req.send().await.expect("stream")).await
    }

    /// Waits for an opened stream to say it is ready.
    pub async fn opened(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/event-stream")
        );
        let mut s = Self {
            resp,
            buf: String::new(),
            last_id: None,
        };
        let (event, _) = s.next().await.expect("ready");
        assert_eq!(event, "ready");
        s
    }

    /// The next event and its data, or `None` after `wait` without one.
    pub async fn next_within(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        self.last_id = Some(v.trim().to_owned());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comments
                }
                return Some((event, serde_json::from_str(&data).expect("json data")));
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .expect("stream read")?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Whether the server ends the stream within `wait` (events meanwhile are skipped).
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }

    /// The next event, failing the test after 10 s.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        self.next_within(Duration::from_secs(10)).await
    }
}

async fn open(app: &TestApp, user: &str) -> Stream {
    Stream::open(&app.client, &app.base, &app.tokens[user]).await
}

async fn send(app: &TestApp, user: &str, body: Value) -> i64 {
    let resp = app.send(Method::POST, user, "/api/v1/alerts", body).await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

#[tokio::test]
async fn each_user_streams_only_what_they_may_see() {
    let app = spawn_app().await;
    let mut reporter = open(&app, "reporter").await;
    let mut ministry = open(&app, "mhlw-analyst").await;
    let mut exec = open(&app, "water-exec").await;
    let mut coordinator = open(&app, "coordinator").await;

    let to_water = send(
        &app,
        "coordinator",
        json!({"title": "Water", "body": "b", "tlp": "TLP:AMBER",
               "audience": {"kind": "organizations", "values": ["tokyo-water"], "roles": ["executive"]}}),
    )
    .await;
    let to_ministry = send(
        &app,
        "coordinator",
        json!({"title": "Ministries", "body": "b", "tlp": "TLP:GREEN",
               "audience": {"kind": "organizations", "values": ["mhlw"]}}),
    )
    .await;

    // The executive sees the alert for executives; the reporter of the same organization does
    // not, and neither does the ministry: their first alert is the one meant for them.
    let (event, data) = exec.next().await.expect("event");
    assert_eq!(
        (event.as_str(), data["id"].as_i64()),
        ("alert", Some(to_water))
    );
    assert_eq!(data["title"], "Water");
    let (event, data) = ministry.next().await.expect("event");
    assert_eq!(
        (event.as_str(), data["id"].as_i64()),
        ("alert", Some(to_ministry))
    );
    assert!(
        reporter
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "the reporter is not an executive"
    );
    // The sender's organization sees what it sent, and acknowledgements as they come.
    let (_, a) = coordinator.next().await.expect("event");
    let (_, b) = coordinator.next().await.expect("event");
    assert_eq!(
        (a["id"].as_i64(), b["id"].as_i64()),
        (Some(to_water), Some(to_ministry))
    );
    let ack = app
        .send(
            Method::POST,
            "mhlw-analyst",
            &format!("/api/v1/alerts/{to_ministry}/ack"),
            json!({}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    let (event, data) = coordinator.next().await.expect("event");
    assert_eq!(event, "ack");
    assert_eq!(
        (data["alert"].as_i64(), data["org"].as_str()),
        (Some(to_ministry), Some("mhlw"))
    );
    assert!(
        ministry
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "acknowledgements go to the sender only"
    );
    // Without credentials there is no stream.
    let anon = app
        .client
        .get(app.url("/api/v1/stream"))
        .send()
        .await
        .expect("request");
    assert_eq!(anon.status(), 401);
}

#[tokio::test]
async fn stopping_the_server_ends_open_streams() {
    let app = spawn_app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ciphub_server::serve(listener, app.state.clone(), async {
        let _ = stopped.await;
    }));
    let mut stream = Stream::open(&app.client, &base, &app.tokens["reporter"]).await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops within 5 s although a stream was open")
        .expect("task")
        .expect("serve");
    assert!(stream.next_within(Duration::from_secs(1)).await.is_none());
}

/// An alert from the coordinator to the ministry's analysts (and to no one else).
fn to_ministry(title: &str) -> Value {
    json!({"title": title, "body": "b", "tlp": "TLP:GREEN",
           "audience": {"kind": "organizations", "values": ["mhlw"]}})
}

/// An alert the ministry does not see.
fn to_water(title: &str) -> Value {
    json!({"title": title, "body": "b", "tlp": "TLP:AMBER",
           "audience": {"kind": "organizations", "values": ["tokyo-water"]}})
}

/// An event id as a number, to compare their order.
fn id_of(s: &Stream) -> i64 {
    s.last_id
        .as_deref()
        .expect("the event has an id")
        .parse()
        .expect("a numeric id")
}

#[tokio::test]
async fn a_client_reconnecting_with_last_event_id_receives_what_it_missed() {
    let app = spawn_app().await;
    let mut ministry = open(&app, "mhlw-analyst").await;
    let mut coordinator = open(&app, "coordinator").await;
    let first = send(&app, "coordinator", to_ministry("first")).await;
    let (_, data) = ministry.next().await.expect("event");
    assert_eq!(data["id"].as_i64(), Some(first));
    let (_, data) = coordinator.next().await.expect("event");
    assert_eq!(data["id"].as_i64(), Some(first));
    let (ministry_last, coordinator_last) = (id_of(&ministry), id_of(&coordinator));
    drop((ministry, coordinator));

    // While both are away: alerts for the ministry and one it may not see, and its
    // acknowledgement, which only the sender's organization sees.
    let second = send(&app, "coordinator", to_ministry("second")).await;
    let hidden = send(&app, "coordinator", to_water("hidden")).await;
    let ack = app
        .send(
            Method::POST,
            "mhlw-analyst",
            &format!("/api/v1/alerts/{first}/ack"),
            json!({}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    let third = send(&app, "coordinator", to_ministry("third")).await;

    let last = ministry_last.to_string();
    let token = &app.tokens["mhlw-analyst"];
    let mut ministry = Stream::resume(&app.client, &app.base, token, Some(&last)).await;
    let mut seen = vec![];
    let mut ids = vec![ministry_last];
    for _ in 0..2 {
        let (event, data) = ministry.next().await.expect("a missed event");
        assert_eq!(event, "alert");
        seen.push(data["id"].as_i64().expect("id"));
        ids.push(id_of(&ministry));
    }
    assert_eq!(seen, [second, third], "what it missed, in order");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    // Then live events, each once.
    let fourth = send(&app, "coordinator", to_ministry("fourth")).await;
    let (_, data) = ministry.next().await.expect("a live event");
    assert_eq!(data["id"].as_i64(), Some(fourth));
    assert!(id_of(&ministry) > ids[2]);
    assert!(
        ministry
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "nothing twice, and nothing it may not see"
    );

    // The sender's organization gets everything it sent and the acknowledgement, in order.
    let last = coordinator_last.to_string();
    let token = &app.tokens["coordinator"];
    let mut coordinator = Stream::resume(&app.client, &app.base, token, Some(&last)).await;
    let mut got = vec![];
    for _ in 0..5 {
        let (event, data) = coordinator.next().await.expect("event");
        got.push((event, data["id"].as_i64().or(data["alert"].as_i64())));
    }
    let want = [
        ("alert", second),
        ("alert", hidden),
        ("ack", first),
        ("alert", third),
        ("alert", fourth),
    ];
    assert_eq!(
        got,
        want.map(|(e, id)| (e.to_owned(), Some(id))).to_vec(),
        "the coordinator's stream"
    );

    // Clients that cannot set the header name the id in the query.
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/stream?last_event_id={ministry_last}")))
        .bearer_auth(&app.tokens["mhlw-analyst"])
        .send()
        .await
        .expect("stream");
    let mut ministry = Stream::opened(resp).await;
    for want in [second, third, fourth] {
        let (_, data) = ministry.next().await.expect("event");
        assert_eq!(data["id"].as_i64(), Some(want));
    }
    let bad = app
        .client
        .get(app.url("/api/v1/stream"))
        .bearer_auth(&app.tokens["mhlw-analyst"])
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_stream_ends_when_its_token_is_revoked_or_its_user_disabled() {
    let app = spawn_app().await;
    let issued: Value = app
        .send(
            Method::POST,
            "reporter",
            "/api/v1/tokens",
            json!({"label": "dashboard"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let token = issued["token"].as_str().expect("token");
    let mut revoked = Stream::open(&app.client, &app.base, token).await;
    let mut exec = open(&app, "water-exec").await;
    let mut ministry = open(&app, "mhlw-analyst").await;

    let resp = app
        .send(
            Method::DELETE,
            "reporter",
            &format!("/api/v1/tokens/{}", issued["id"]),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        revoked.ends_within(Duration::from_secs(5)).await,
        "the stream of a revoked token ends"
    );

    let resp = app
        .send(
            Method::PATCH,
            "water-admin",
            "/api/v1/users/water-exec",
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        exec.ends_within(Duration::from_secs(5)).await,
        "a disabled user's stream ends"
    );

    // Everyone else's stream goes on.
    let alert = send(&app, "coordinator", to_ministry("still here")).await;
    let (_, data) = ministry.next().await.expect("event");
    assert_eq!(data["id"].as_i64(), Some(alert));
}

#[tokio::test]
async fn a_dropped_listen_connection_loses_no_alert() {
    let name = "streams::a_dropped_listen_connection_loses_no_alert";
    let clock = test_clock();
    // Only PostgreSQL has a LISTEN connection to lose.
    let Some(db) = TestDb::postgres_with_clock_or_skip(name, clock.clone()).await else {
        return;
    };
    let app = spawn_app_in(db, clock, test_config()).await;
    let mut ministry = open(&app, "mhlw-analyst").await;

    // Alerts are sent, four at a time, while the listener's connection is cut again and again.
    let (done_tx, mut done) = tokio::sync::watch::channel(false);
    let mut senders = vec![];
    for s in 0..4 {
        let client = app.client.clone();
        let url = app.url("/api/v1/alerts");
        let token = app.tokens["coordinator"].clone();
        senders.push(tokio::spawn(async move {
            let mut visible = vec![];
            for i in 0..15 {
                let body = if i % 3 == 2 {
                    to_water(&format!("hidden {s}.{i}"))
                } else {
                    to_ministry(&format!("alert {s}.{i}"))
                };
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(resp.status(), 201);
                let id = resp.json::<Value>().await.expect("json")["id"]
                    .as_i64()
                    .expect("id");
                if i % 3 != 2 {
                    visible.push(id);
                }
            }
            visible
        }));
    }
    let cutter = {
        let db = &app.db;
        async move {
            let mut cuts = 0;
            while !*done.borrow() {
                cuts += db.terminate_listeners().await.expect("terminate");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(60)) => {}
                    _ = done.changed() => {}
                }
            }
            cuts
        }
    };
    let sending = async {
        let mut visible = vec![];
        for s in senders {
            visible.extend(s.await.expect("sender"));
        }
        let _ = done_tx.send(true);
        visible
    };
    let (cuts, visible) = tokio::join!(cutter, sending);
    assert!(cuts >= 2, "the listener was cut {cuts} times");

    let mut received = vec![];
    while received.len() < visible.len() {
        let Some((event, data)) = ministry.next().await else {
            break;
        };
        assert_eq!(event, "alert");
        received.push(data["id"].as_i64().expect("id"));
    }
    let mut want = visible.clone();
    want.sort_unstable();
    let mut got = received.clone();
    got.sort_unstable();
    assert_eq!(
        got,
        want,
        "{} of {} alerts reached the stream",
        received.len(),
        visible.len()
    );
    assert!(
        ministry
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "no alert twice"
    );
}

#[tokio::test]
async fn a_client_resuming_from_beyond_the_kept_week_is_told_it_may_have_missed_events() {
    let app = spawn_app().await;
    let mut ministry = open(&app, "mhlw-analyst").await;
    let alert = send(&app, "coordinator", to_ministry("kept")).await;
    ministry.next().await.expect("event");
    // An id eight days older than this event's: the log keeps a week.
    let stale = id_of(&ministry) - 8 * 24 * 3600 * 1_000_000;
    drop(ministry);
    let token = &app.tokens["mhlw-analyst"];
    let stale = stale.to_string();
    let mut ministry = Stream::resume(&app.client, &app.base, token, Some(&stale)).await;
    let (event, _) = ministry.next().await.expect("event");
    assert_eq!(event, "lagged", "the client should reload its inbox");
    let (_, data) = ministry.next().await.expect("event");
    assert_eq!(data["id"].as_i64(), Some(alert), "then what the log keeps");
}
