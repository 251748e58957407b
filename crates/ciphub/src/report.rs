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
    for warning in lateness(&answer) {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What the server says is late in a filed report, as sentences: the initial report filed
/// after its deadline (`initial_late`), and a next stage already overdue (`overdue`). The
/// server decides what is late; this only measures by how much, from the times it returned.
fn lateness(answer: &Value) -> Vec<String> {
    let time = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let mut out = Vec::new();
    if answer["initial_late"] == true {
        let due = &answer["initial_due"];
        let filed = &answer["stages"][0]["filed_at"];
        let by = match (time(filed), time(due)) {
            (Some(f), Some(d)) => format!(" by {}", span(f - d)),
            _ => String::new(),
        };
        out.push(format!(
            "the initial report is late{by}: it was due by {}",
            due.as_str().unwrap_or("?")
        ));
    }
    if answer["overdue"] == true {
        let due = &answer["next_due"];
        let stage = due["stage"].as_str().unwrap_or("next");
        // Measured at the server's time of filing, not this machine's clock.
        let by = match (time(&answer["created_at"]), time(&due["by"])) {
            (Some(now), Some(d)) => format!(" by {}", span(now - d)),
            _ => String::new(),
        };
        out.push(format!(
            "the {stage} stage is already overdue{by}: it was due by {}",
            due["by"].as_str().unwrap_or("?")
        ));
    }
    out
}

/// A length of time for people: days and hours, or hours and minutes, or minutes.
fn span(d: chrono::TimeDelta) -> String {
    let minutes = d.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let unit = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match (days, hours, mins) {
        (0, 0, m) => unit(m, "minute"),
        (0, h, 0) => unit(h, "hour"),
        (0, h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
        (d, 0, _) => unit(d, "day"),
        (d, h, _) => format!("{} {}", unit(d, "day"), unit(h, "hour")),
    }
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

    #[test]
    fn lateness_names_the_stage_and_by_how_much() {
        let answer = serde_json::json!({
            "initial_due": "2026-04-02T08:00:00Z",
            "initial_late": true,
            "stages": [{"stage": "initial", "filed_at": "2026-04-03T10:30:00Z"}],
            "next_due": {"stage": "update", "by": "2026-04-04T08:00:00Z"},
            "overdue": false,
            "created_at": "2026-04-03T10:30:00Z",
        });
        assert_eq!(
            lateness(&answer),
            ["the initial report is late by 1 day 2 hours: it was due by 2026-04-02T08:00:00Z"]
        );
        let on_time = serde_json::json!({"initial_late": false, "overdue": false});
        assert!(lateness(&on_time).is_empty());
        assert_eq!(span(chrono::TimeDelta::minutes(61)), "1 hour 1 minute");
        assert_eq!(span(chrono::TimeDelta::minutes(5)), "5 minutes");
        assert_eq!(span(chrono::TimeDelta::hours(24 * 243)), "243 days");
    }
}
