//! Request limits: token buckets per credential and per client address, and 429 answers that
//! leave a keep-alive connection usable.

use std::collections::HashMap;
use std::time::Duration;

use ciphub_server::taxii::TaxiiLimits;
use ciphub_server::{ApiLimits, Rate};
use reqwest::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::helpers::{TestApp, spawn_app_with, test_config};

const TAXII: &str = "application/taxii+json;version=2.1";

/// A bucket that refills one request every three seconds.
fn every_3s(burst: u32) -> Rate {
    Rate {
        per_minute: 20,
        burst,
    }
}

/// The seconds a 429 says to wait, after checking that it says so.
fn retry_after(resp: &Response) -> u64 {
    assert_eq!(resp.status(), 429);
    resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

async fn wait(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

async fn me(app: &TestApp, user: &str) -> Response {
    app.get(user, "/api/v1/me").await
}

#[tokio::test]
async fn an_api_credential_gets_its_burst_at_once_then_one_more_per_refill() {
    let mut config = test_config();
    config.api_limits.per_credential = every_3s(3);
    let app = spawn_app_with(config).await;
    for _ in 0..3 {
        assert_eq!(me(&app, "admin").await.status(), 200);
    }
    let refused = me(&app, "admin").await;
    let seconds = retry_after(&refused);
    assert!((1..=3).contains(&seconds), "{seconds}");
    let body: Value = refused.json().await.expect("error envelope");
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Another credential has a bucket of its own.
    assert_eq!(me(&app, "reporter").await.status(), 200);
    wait(seconds).await;
    assert_eq!(me(&app, "admin").await.status(), 200);
    assert_eq!(me(&app, "admin").await.status(), 429);
}

#[tokio::test]
async fn an_address_is_limited_whatever_its_credentials_and_apart_for_taxii() {
    let mut config = test_config();
    config.api_limits = ApiLimits {
        per_credential: Rate::UNLIMITED,
        per_address: every_3s(4),
    };
    let app = spawn_app_with(config).await;
    for user in ["admin", "reporter", "coordinator"] {
        assert_eq!(me(&app, user).await.status(), 200);
    }
    // No credentials still counts, and the login does too.
    let anonymous = app
        .client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    let login = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"user": "admin", "password": super::helpers::PASSWORD}))
        .send()
        .await
        .expect("login");
    let seconds = retry_after(&login);
    let body: Value = login.json().await.expect("error envelope");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("address")),
        "{body}"
    );
    assert_eq!(me(&app, "water-admin").await.status(), 429);
    // TAXII counts the same address in a bucket of its own.
    let taxii = app
        .client
        .get(app.url("/taxii2/"))
        .basic_auth("admin", Some(&app.tokens["admin"]))
        .header("Accept", TAXII)
        .send()
        .await
        .expect("request");
    assert_eq!(taxii.status(), 200);
    wait(seconds).await;
    assert_eq!(me(&app, "water-admin").await.status(), 200);
}

/// About 600 KiB of JSON: more than a socket buffers, so a server that answers without reading
/// it closes the connection under the client.
fn large_body() -> Vec<u8> {
    json!({"objects": [{"type": "note", "padding": "x".repeat(600 * 1024)}]})
        .to_string()
        .into_bytes()
}

/// One HTTP/1.1 connection that carries request after request, as a keep-alive client's does.
/// It is written by hand because a pooling client quietly opens a new connection when the
/// server closes one, which hides the failure a simpler client sees.
struct Connection {
    stream: BufReader<TcpStream>,
    host: String,
}

/// An answer: its status, its headers (names in lower case) and its body.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Connection {
    async fn open(app: &TestApp) -> Self {
        let host = app.base.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host).await.expect("connect");
        Self {
            stream: BufReader::new(stream),
            host,
        }
    }

    /// Sends `method path` with `headers` and `body`, and reads the whole answer; an error when
    /// the connection fails.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.stream.get_mut().write_all(head.as_bytes()).await?;
        self.stream.get_mut().write_all(body).await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let mut headers = HashMap::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
        let length: usize = headers["content-length"].parse().expect("length");
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

impl Answer {
    /// The seconds a 429 says to wait, after checking that it is one.
    fn retry_after(&self) -> u64 {
        assert_eq!(self.status, 429);
        self.headers["retry-after"].parse().expect("seconds")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json")
    }
}

#[tokio::test]
async fn a_taxii_429_reads_the_body_so_the_next_request_on_the_connection_works() {
    let mut config = test_config();
    config.taxii = TaxiiLimits {
        requests_per_minute: 20,
        burst: 2,
        ..TaxiiLimits::default()
    };
    let app = spawn_app_with(config).await;
    let bearer = format!("Bearer {}", app.tokens["admin"]);
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Accept", TAXII),
        ("Content-Type", TAXII),
    ];
    let collections = "/taxii2/ciphub/collections/";
    let objects = "/taxii2/ciphub/collections/community/objects/";
    let mut conn = Connection::open(&app).await;
    // The burst, on a connection whose buffers have not yet grown to hold a large body.
    for _ in 0..2 {
        let answer = conn
            .send("GET", collections, &headers[..2], b"")
            .await
            .expect("within the burst");
        assert_eq!(answer.status, 200);
    }
    let body = large_body();
    let mut seconds = 0;
    for _ in 0..3 {
        let answer = conn
            .send("POST", objects, &headers, &body)
            .await
            .expect("the connection still works");
        seconds = answer.retry_after();
        assert_eq!(answer.headers["content-type"], TAXII);
        assert_eq!(answer.json()["http_status"], "429");
    }
    wait(seconds).await;
    let next = conn
        .send("GET", collections, &headers[..2], b"")
        .await
        .expect("the connection still works");
    assert_eq!(next.status, 200);
}

#[tokio::test]
async fn an_api_429_reads_the_body_so_the_next_request_on_the_connection_works() {
    let mut config = test_config();
    config.api_limits.per_credential = every_3s(1);
    let app = spawn_app_with(config).await;
    let bearer = format!("Bearer {}", app.tokens["reporter"]);
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut conn = Connection::open(&app).await;
    let me = conn
        .send("GET", "/api/v1/me", &headers[..1], b"")
        .await
        .expect("first request");
    assert_eq!(me.status, 200);
    let body = large_body();
    let mut seconds = 0;
    for _ in 0..3 {
        let answer = conn
            .send("POST", "/api/v1/reports", &headers, &body)
            .await
            .expect("the connection still works");
        seconds = answer.retry_after();
        assert_eq!(answer.json()["error"]["code"], "too_many_requests");
    }
    wait(seconds).await;
    let next = conn
        .send("GET", "/api/v1/me", &headers[..1], b"")
        .await
        .expect("the connection still works");
    assert_eq!(next.status, 200);
}

/// A keep-alive client that pools connections (reqwest) gets every answer, and its next
/// request after `Retry-After` is served.
#[tokio::test]
async fn a_pooling_client_is_served_after_retry_after() {
    let mut config = test_config();
    config.taxii = TaxiiLimits {
        requests_per_minute: 20,
        burst: 1,
        ..TaxiiLimits::default()
    };
    let app = spawn_app_with(config).await;
    let url = app.url("/taxii2/ciphub/collections/community/objects/");
    let mut seconds = 0;
    for n in 0..3 {
        let resp = app
            .client
            .post(&url)
            .basic_auth("admin", Some(&app.tokens["admin"]))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .body(large_body())
            .send()
            .await
            .expect("an answer");
        if n > 0 {
            seconds = retry_after(&resp);
        }
    }
    wait(seconds).await;
    let next = app
        .client
        .get(app.url("/taxii2/ciphub/collections/"))
        .basic_auth("admin", Some(&app.tokens["admin"]))
        .header("Accept", TAXII)
        .send()
        .await
        .expect("an answer");
    assert_eq!(next.status(), 200);
}
