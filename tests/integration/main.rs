//! Integration tests: the `kscope` binary over the bundled samples, and the library over generated inputs.
//! One test binary (modules below) keeps link time down.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod apf;
mod apiserver;
mod audit_cli;
#[cfg(feature = "ballista")]
mod ballista;
mod cloudwatch;
mod formats;
mod gate;
mod hostile;
mod html;
mod lint_live;
mod lint_rules;
mod memory;
mod meta;
mod precision;
mod preflight;
mod readme;
mod store;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn samples() -> PathBuf {
    root().join("samples/audit")
}

/// Runs kscope from the repository root (so sources print as `samples/audit/...`).
pub fn kscope(args: &[&str]) -> Output {
    kscope_stdin(args, None)
}

pub fn kscope_stdin(args: &[&str], stdin: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kscope"));
    c.args(args)
        .current_dir(root())
        .env_remove("KSCOPE_LOG")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1");
    c.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).expect("stdin file")),
        None => Stdio::null(),
    });
    c.output().expect("run kscope")
}

/// `kscope preflight` from 1.29 to 1.32 without a cluster, then `rest`.
pub fn preflight_1_29_to_1_32<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "preflight",
        "--no-cluster",
        "--from-version",
        "1.29",
        "--target-version",
        "1.32",
    ];
    a.extend_from_slice(rest);
    a
}

/// The same over the bundled samples: the README's worked example.
pub fn preflight_samples() -> Vec<&'static str> {
    preflight_1_29_to_1_32(&["-f", "samples/manifests", "--audit", "samples/audit"])
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// One finding of a JSON document as `severity code subject: message`.
pub fn finding_line(f: &serde_json::Value) -> String {
    format!(
        "{} {} {}: {}",
        f["severity"].as_str().unwrap(),
        f["code"].as_str().unwrap(),
        f["subject"]["name"].as_str().unwrap(),
        f["message"].as_str().unwrap()
    )
}
