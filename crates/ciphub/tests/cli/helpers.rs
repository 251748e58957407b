//! Running the binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `ciphub ARGS --database-url URL` with `stdin`, and returns what it did.
pub fn ciphub(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ciphub"));
    cmd.args(args)
        .env("CIPHUB_DATABASE_URL", url)
        .env_remove("CIPHUB_DATA_DIR")
        .env_remove("CIPHUB_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("ciphub runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("ciphub finishes")
}

/// Standard output as text.
pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
