//! `ciphub report submit`: files a report through a running server's API, as an operator's
//! automation would.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

/// Reads a report from JSON or TOML text as the API's JSON body.
fn parse_report(text: &str) -> anyhow::Result<Value> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).context("the report is not valid JSON")
    } else {
        let table: toml::Table = toml::from_str(text).context("the report is not valid TOML")?;
        serde_json::to_value(table).context("the report cannot be sent as JSON")
    }
}

/// Files the report in `file` to the server at `url`.
pub async fn submit(file: &Path, url: &str, token: &str, json: bool) -> anyhow::Result<ExitCode> {
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let body = parse_report(&text).with_context(|| format!("in {}", file.display()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let endpoint = format!("{}/api/v1/reports", url.trim_end_matches('/'));
    let resp = client
        .post(&endpoint)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    }
    if !status.is_success() {
        let e = &answer["error"];
        let field = e["field"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        eprintln!(
            "error: the server refused the report: {} {}{field}: {}",
            status.as_u16(),
            e["code"].as_str().unwrap_or("error"),
            e["message"].as_str().unwrap_or("no message")
        );
        return Ok(ExitCode::FAILURE);
    }
    if !json {
        let sev = &answer["severity"];
        println!(
            "report {} filed: level {} {}{}",
            answer["id"],
            sev["level"],
            sev["name_en"].as_str().unwrap_or_default(),
            if sev["emergency"] == true {
                " (emergency)"
            } else {
                ""
            }
        );
        for r in answer["recipients"].as_array().into_iter().flatten() {
            println!(
                "  to {} ({})",
                r["org"].as_str().unwrap_or_default(),
                r["reason"].as_str().unwrap_or_default()
            );
        }
        if let Some(due) = answer["next_due"].as_object() {
            println!(
                "next: {} due by {}",
                due.get("stage").and_then(Value::as_str).unwrap_or_default(),
                due.get("by").and_then(Value::as_str).unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_reports_become_the_same_body() {
        let t = parse_report(
            "title = \"x\"\nsectors = [\"water\"]\n[answers]\npeople-society = \"none\"\n",
        )
        .expect("toml");
        let j = parse_report(
            r#"{"title": "x", "sectors": ["water"], "answers": {"people-society": "none"}}"#,
        )
        .expect("json");
        assert_eq!(t, j);
    }
}
