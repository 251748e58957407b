//! `ciphub severity`: assessing answers from a file, and showing a schema's questions.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, anyhow};
use ciphub_domain::severity::{Answers, shipped_schema};

/// Reads answers from TOML or JSON text.
fn parse_answers(text: &str) -> anyhow::Result<Answers> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(text).context("answers are not valid JSON")?;
        // Accept {"answers": {...}} as the API takes it, or the bare object.
        let inner = value.get("answers").cloned().unwrap_or(value);
        serde_json::from_value(inner)
            .context("answers must map each question to an option id (strings)")
    } else {
        toml::from_str(text).context("answers must be TOML lines of question = \"option\"")
    }
}

/// Assesses the answers in `file` with `schema`; prints the level and why.
pub fn assess(schema: &str, file: &Path, json: bool) -> anyhow::Result<()> {
    let schema = shipped_schema(schema).map_err(|e| anyhow!("--schema: {e}"))?;
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let answers = parse_answers(&text).with_context(|| format!("in {}", file.display()))?;
    let a = schema
        .assess(&answers)
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&a)?);
        return Ok(());
    }
    let score = a
        .score
        .map(|s| format!(", score {s:.1}"))
        .unwrap_or_default();
    let emergency = if a.emergency {
        " — EMERGENCY (24/365)"
    } else {
        ""
    };
    println!(
        "Level {} {} ({}){score}{emergency}",
        a.level, a.name_en, a.colour
    );
    println!("Set by:");
    for r in &a.rationale {
        println!(
            "  {} = {} ({}; {})",
            r.question, r.option, r.label_en, r.contribution
        );
    }
    Ok(())
}

/// Prints a schema's levels and questions.
pub fn show(schema: &str) -> anyhow::Result<()> {
    let s = shipped_schema(schema).map_err(|e| anyhow!("{e}"))?;
    println!("{} — {}", s.id, s.name_en);
    if let Some(note) = &s.policy_note {
        println!("Note: {note}");
    }
    for l in &s.levels {
        let e = if s.is_emergency(l.number) {
            " [emergency]"
        } else {
            ""
        };
        println!("  level {} {}{e}: {}", l.number, l.name_en, l.definition_en);
    }
    for q in &s.questions {
        let w = q
            .weight
            .map(|w| format!(" (weight {w})"))
            .unwrap_or_default();
        println!("{}{w}: {}", q.id, q.name_en);
        for o in &q.options {
            let v = o
                .level
                .map(|l| format!("level {l}"))
                .or(o.value.map(|v| format!("value {v}")))
                .unwrap_or_default();
            println!("    {} — {} ({v})", o.id, o.label_en);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_from_toml_and_json() {
        let t = parse_answers("continuity = \"partial\"\nsafety = \"none\"\n").expect("toml");
        let j = parse_answers(r#"{"answers": {"continuity": "partial", "safety": "none"}}"#)
            .expect("json");
        let bare = parse_answers(r#"{"continuity": "partial", "safety": "none"}"#).expect("json");
        assert_eq!(t, j);
        assert_eq!(j, bare);
        assert!(parse_answers("continuity = 3").is_err());
    }
}
