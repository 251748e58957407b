//! The live stream (Server-Sent Events): each user gets what they may see, as it happens.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app};

/// A client's view of one open stream.
pub struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    /// Opens `user`'s stream on `base` and waits for it to say it is ready.
    pub async fn open(client: &reqwest::Client, base: &str, token: &str) -> Self {
        let resp = client
            .get(format!("{base}/api/v1/stream"))
            .bearer_auth(token)
            .send()
            .await
            .expect("stream");
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
