//! Fuzzing on the stable toolchain: each target takes the inputs of its corpus
//! (`tests/fuzz-corpus/<target>/`), mutates them at random (values of other types, removed and
//! duplicated members, odd strings, deep nesting, truncated text) and feeds them to the code
//! that reads that input from users and peers. A target fails on a panic, and over HTTP on any
//! 5xx or an error without the JSON (or TAXII) error body.
//!
//! Each case is named by its seed, so a failure replays with `CIPHUB_FUZZ_SEED=<seed>`; the
//! failing input is written to the target's corpus as `crash-<seed>.json`, to be kept once it is
//! fixed. By default each target runs `CIPHUB_FUZZ_CASES` cases (a few hundred, so the suite
//! stays quick); `CIPHUB_FUZZ_SECONDS=N` runs each target for N seconds instead.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ciphub_domain::severity::{SHIPPED_SCHEMAS, shipped_schema};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::helpers::{TestApp, spawn_app};

/// A small, fast, seedable generator (xorshift64*): the same seed, the same mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that break naive readers.
fn weird(rng: &mut Rng) -> Value {
    match rng.below(18) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(1e308),
        4 => json!(u64::MAX),
        5 => json!(""),
        6 => json!("x".repeat(10_000)),
        7 => json!("ゴ\u{0}\u{202e}\u{feff}é\u{301}"),
        8 => json!([]),
        9 => json!({}),
        10 => {
            let mut v = json!("deep");
            for _ in 0..40 {
                v = json!([v]);
            }
            v
        }
        11 => json!("[ipv4-addr:value = '"),
        12 => json!("9999-99-99T99:99:99.999Z"),
        13 => json!("2016-01-01T00:00:00Z"),
        14 => json!("indicator--00000000-0000-0000-0000-000000000000"),
        15 => json!("TLP:RED"),
        16 => json!(0.5),
        _ => json!("45.77.10.2|99999"),
    }
}

/// Every node of `v`, by path (indices into objects' keys and arrays' items).
fn paths(v: &Value, at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (i, (_, child)) in m.iter().enumerate() {
                at.push(i);
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(i);
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(v: &'a mut Value, path: &[usize]) -> Option<&'a mut Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let child = match v {
        Value::Object(m) => m.values_mut().nth(*first)?,
        Value::Array(items) => items.get_mut(*first)?,
        _ => return None,
    };
    node(child, rest)
}

/// One to eight random changes of `v`.
fn mutate(v: &mut Value, rng: &mut Rng) {
    for _ in 0..=rng.below(8) {
        let mut all = Vec::new();
        paths(v, &mut Vec::new(), &mut all);
        let path = all[rng.below(all.len())].clone();
        let donor = {
            let other = all[rng.below(all.len())].clone();
            node(v, &other).cloned().unwrap_or(Value::Null)
        };
        let Some(target) = node(v, &path) else {
            continue;
        };
        match rng.below(7) {
            0 | 1 => *target = weird(rng),
            2 => *target = donor,
            3 => match target {
                Value::Object(m) if !m.is_empty() => {
                    let key = m
                        .keys()
                        .nth(rng.below(m.len()))
                        .cloned()
                        .unwrap_or_default();
                    m.remove(&key);
                }
                Value::Array(items) if !items.is_empty() => {
                    let at = rng.below(items.len());
                    items.remove(at);
                }
                _ => *target = Value::Null,
            },
            4 => match target {
                Value::Array(items) if !items.is_empty() => {
                    let copy = items[rng.below(items.len())].clone();
                    for _ in 0..=rng.below(50) {
                        items.push(copy.clone());
                    }
                }
                Value::Object(m) => {
                    m.insert(format!("x_fuzz_{}", rng.below(1000)), weird(rng));
                }
                _ => *target = json!([target.clone(), weird(rng)]),
            },
            5 => {
                if let Value::String(s) = target {
                    let cut = rng.below(s.len() + 1);
                    let cut = (0..=cut)
                        .rev()
                        .find(|c| s.is_char_boundary(*c))
                        .unwrap_or(0);
                    s.truncate(cut);
                    s.push_str(["\u{0}", "'", "]", "\\", "ゴ", "%00", "..", "\n"][rng.below(8)]);
                } else {
                    *target = json!(target.to_string());
                }
            }
            _ => {
                if let Value::Object(m) = target {
                    // The same members, in another order: readers must not depend on it.
                    let mut pairs: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
                    pairs.reverse();
                    *m = pairs.into_iter().collect::<Map<_, _>>();
                }
            }
        }
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let inputs: Vec<Value> = files
        .iter()
        .map(|p| {
            serde_json::from_str(&std::fs::read_to_string(p).expect("read"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect();
    assert!(!inputs.is_empty(), "the {target} corpus is empty");
    inputs
}

/// The seeds to run: one replayed, or as many cases (or seconds) as asked.
fn seeds() -> Box<dyn Iterator<Item = u64>> {
    if let Some(seed) = std::env::var("CIPHUB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return Box::new(std::iter::once(seed));
    }
    if let Some(secs) = std::env::var("CIPHUB_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        let until = Instant::now() + Duration::from_secs(secs);
        return Box::new((1..).take_while(move |_| Instant::now() < until));
    }
    let cases = std::env::var("CIPHUB_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Box::new(1..=cases)
}

/// Runs `check` on mutated inputs of `target`; a failure keeps its input in the corpus.
async fn fuzz<F, Fut>(target: &str, mut check: F)
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let inputs = corpus(target);
    let mut ran = 0u64;
    // The corpus as it is first: it holds the inputs that once failed.
    for (i, input) in inputs.iter().enumerate() {
        if let Err(why) = check(input.clone()).await {
            panic!("{target}: corpus input {i} fails again ({why})");
        }
        ran += 1;
    }
    for seed in seeds() {
        let mut rng = Rng::new(seed);
        let mut input = inputs[rng.below(inputs.len())].clone();
        mutate(&mut input, &mut rng);
        let kept = input.clone();
        let outcome = check(input).await;
        if let Err(why) = outcome {
            let path = corpus_dir(target).join(format!("crash-{seed}.json"));
            let _ = std::fs::write(
                &path,
                serde_json::to_string_pretty(&kept).unwrap_or_default(),
            );
            panic!(
                "{target}: seed {seed} failed ({why}); the input is in {}",
                path.display()
            );
        }
        ran += 1;
    }
    assert!(ran > 0, "{target}: no case ran");
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "fuzz {target}: {ran} cases");
}

/// `f`, with a panic turned into an error naming it (and the input kept by `fuzz`).
fn caught(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        )),
    }
}

#[tokio::test]
async fn fuzz_stix_objects_and_bundles() {
    fuzz("stix", |v| async move {
        caught(|| {
            let _ = ciphub_domain::stix::parse_object(v.clone(), "$");
            let bundle = json!({"type": "bundle", "id": "bundle--44af6c39-c09b-49c5-9de2-394224b04982", "objects": [v.clone()]});
            let _ = ciphub_domain::stix::Bundle::parse(bundle);
            let mut found = std::collections::BTreeSet::new();
            ciphub_domain::correlation::from_stix(&v, &mut found);
            Ok(())
        })
    })
    .await;
}

#[tokio::test]
async fn fuzz_misp_events() {
    fuzz("misp", |v| async move {
        caught(|| {
            if let Ok(imported) = ciphub_domain::misp::event_to_stix(&v) {
                // What an import makes must itself be valid STIX.
                for (i, o) in imported.objects.iter().enumerate() {
                    ciphub_domain::stix::parse_object(o.clone(), "$").map_err(|e| {
                        format!("object {i} of an accepted event is not valid: {e}")
                    })?;
                }
            }
            Ok(())
        })
    })
    .await;
}

#[tokio::test]
async fn fuzz_severity_answers() {
    fuzz("severity", |v| async move {
        caught(|| {
            let id = v["schema"].as_str().unwrap_or("seed-draft");
            let Ok(schema) = shipped_schema(id).or_else(|_| shipped_schema(SHIPPED_SCHEMAS[0].0))
            else {
                return Err("no shipped schema".into());
            };
            if let Ok(answers) = serde_json::from_value(v["answers"].clone()) {
                let _ = schema.assess(&answers);
            }
            Ok(())
        })
    })
    .await;
}

/// Sends `body` and checks the answer is not a server error and that a refusal says why.
async fn refused_properly(
    app: &TestApp,
    user: &str,
    method: Method,
    path: &str,
    body: Value,
) -> Result<(), String> {
    let resp = app.send(method, user, path, body).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if status >= 500 {
        return Err(format!("{path} answered {status}: {text}"));
    }
    if status >= 400 {
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| format!("{path} answered {status} without a JSON error: {text}"))?;
        if v["error"]["message"].as_str().is_none_or(str::is_empty) {
            return Err(format!(
                "{path} answered {status} without a message: {text}"
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn fuzz_report_json_over_http() {
    let app = spawn_app().await;
    fuzz("report", |v| {
        let app = &app;
        async move { refused_properly(app, "reporter", Method::POST, "/api/v1/reports", v).await }
    })
    .await;
}

#[tokio::test]
async fn fuzz_alert_json_over_http() {
    let app = spawn_app().await;
    fuzz("alert", |v| {
        let app = &app;
        async move { refused_properly(app, "coordinator", Method::POST, "/api/v1/alerts", v).await }
    })
    .await;
}

#[tokio::test]
async fn fuzz_severity_assessments_over_http() {
    let app = spawn_app().await;
    fuzz("severity", |v| {
        let app = &app;
        async move {
            refused_properly(app, "reporter", Method::POST, "/api/v1/severity/assess", v).await
        }
    })
    .await;
}

#[tokio::test]
async fn fuzz_taxii_envelopes_over_http() {
    let app = spawn_app().await;
    let url = app.url(&format!(
        "/taxii2/ciphub/collections/{}/objects/",
        ciphub_server::taxii::COMMUNITY
    ));
    let media = "application/taxii+json;version=2.1";
    fuzz("stix", |v| {
        let (app, url) = (&app, &url);
        async move {
            let envelope = json!({"objects": [v]});
            let resp = app
                .client
                .post(url)
                .basic_auth("reporter", Some(&app.tokens["reporter"]))
                .header("Accept", media)
                .header("Content-Type", media)
                .body(envelope.to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let kind = resp
                .headers()
                .get("content-type")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let text = resp.text().await.unwrap_or_default();
            if status >= 500 || kind != media {
                return Err(format!("TAXII answered {status} ({kind}): {text}"));
            }
            Ok(())
        }
    })
    .await;
}
