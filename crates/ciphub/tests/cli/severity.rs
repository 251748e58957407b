//! `ciphub severity assess` on answer files.

use std::io::Write;

use super::helpers::{ciphub, err, out};

#[test]
fn assess_prints_the_level_and_why() {
    let mut file = tempfile::NamedTempFile::new().expect("file");
    writeln!(
        file,
        "people-society = \"may-affect\"\nsystems = \"continuity-safety-threatened\""
    )
    .expect("write");
    let path = file.path().to_str().expect("path");
    let o = ciphub("sqlite://unused", &["severity", "assess", path], None);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).starts_with("Level 4 Severe"), "{}", out(&o));
    assert!(out(&o).contains("EMERGENCY"), "{}", out(&o));
    assert!(
        out(&o).contains("systems = continuity-safety-threatened"),
        "{}",
        out(&o)
    );

    let o = ciphub(
        "sqlite://unused",
        &["severity", "assess", "--schema", "nisc-2018", "--json", "-"],
        Some(r#"{"continuity": "wide-prolonged", "safety": "none"}"#),
    );
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_str(&out(&o)).expect("json");
    assert_eq!(v["level"], 3);

    let o = ciphub(
        "sqlite://unused",
        &["severity", "assess", "--schema", "nisc-2018", "-"],
        Some(r#"{"continuity": "wide-prolonged"}"#),
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("answers[safety]: missing"), "{}", err(&o));
}
