//! Hostile input: every case gets a clear error, loses nothing else, and has a bounded cost. The
//! hostile documents are generated here, never committed (they could hang other tools).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{kscope, stderr, stdout};

/// The peak RSS kscope printed with `-v`, in MB.
fn peak_mb(err: &str) -> f64 {
    err.lines()
        .find_map(|l| l.split("peak memory (RSS): ").nth(1))
        .and_then(|v| v.trim_end_matches(" MB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory line in: {err}"))
}

/// The "billion laughs" document (CVE-2019-11253): nine levels of nine aliases each.
fn billion_laughs() -> String {
    let mut s = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n");
    s.push_str(
        "  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names: Vec<char> = "abcdefghi".chars().collect();
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        s.push_str(&format!("  {}: &{} [{refs}]\n", w[1], w[1]));
    }
    s
}

const WEBHOOK: &str = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: neighbour
webhooks:
- name: v.neighbour.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 30
  clientConfig:
    service: {namespace: kube-system, name: nb}
    caBundle: Cg==
  rules:
  - apiGroups: ['*']
    apiVersions: ['*']
    resources: ['*']
    operations: [CREATE]
";

/// `SELECT count(*)` over one audit source: exit code, CSV output, stderr.
fn count_requests(p: &Path) -> (Option<i32>, String, String) {
    let o = kscope(&[
        "sql",
        "SELECT count(*) AS n FROM audit",
        p.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    (o.status.code(), stdout(&o), stderr(&o))
}

fn lint(args: &[&str]) -> std::process::Output {
    let mut a = vec!["lint", "--format", "json", "--fail-on", "none", "-v"];
    a.extend(args);
    kscope(&a)
}

#[test]
fn alias_expansion_is_bounded_and_neighbours_are_linted() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = billion_laughs();
    assert!(bomb.len() < 600, "{}", bomb.len());
    std::fs::write(
        dir.path().join("a.yaml"),
        format!(
            "{WEBHOOK}---\n{bomb}---\n{}",
            WEBHOOK.replace("neighbour", "after")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        WEBHOOK.replace("neighbour", "other"),
    )
    .unwrap();
    let started = Instant::now();
    let o = lint(&["-f", dir.path().to_str().unwrap()]);
    // a guard against a hang, not a benchmark: the limit trips after a few thousand nodes
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    // the bomb's lines in a.yaml: after the first document and its `---`
    let first = WEBHOOK.lines().count() + 2;
    let line: usize = err
        .split("a.yaml:")
        .nth(1)
        .and_then(|r| r.split(": alias expansion limit exceeded").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `a.yaml:N: alias expansion limit exceeded` in {err}"));
    assert!((first + 5..first + 13).contains(&line), "{line}: {err}");
    assert!(peak_mb(&err) < 100.0, "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let subjects: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["subject"]["name"].as_str())
        .collect();
    for name in ["neighbour", "after", "other"] {
        assert!(
            subjects.iter().any(|s| s.ends_with(&format!("/{name}"))),
            "{name} not linted: {subjects:?}"
        );
    }
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v}");
}

#[test]
fn nesting_depth_and_document_size_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // block and flow nesting far beyond the limit: an error, not a stack overflow
    let mut block =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n");
    for i in 0..3000 {
        block.push_str(&" ".repeat(2 * (i + 1)));
        block.push_str("k:\n");
    }
    std::fs::write(d.join("block.yaml"), &block).unwrap();
    std::fs::write(
        d.join("flow.yaml"),
        format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)),
    )
    .unwrap();
    std::fs::write(d.join("ok.yaml"), WEBHOOK).unwrap();
    let o = lint(&["-f", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("block.yaml:")
            && err.contains(
                "nesting depth limit exceeded: more than 256 levels (--max-depth raises it)"
            ),
        "{err}"
    );
    assert!(err.contains("flow.yaml:1: "), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["summary"]["error"].as_u64().unwrap() >= 1,
        "ok.yaml was linted: {v}"
    );

    // one document larger than the limit; the limit is named with the flag that raises it
    let ok = d.join("ok.yaml");
    let too_big = format!(
        "ok.yaml:1: document size limit exceeded: {} bytes, more than 200 (--max-document-size raises it)",
        WEBHOOK.len()
    );
    for (size, said) in [("200", too_big.as_str()), ("1x", "unknown size unit")] {
        let o = lint(&["-f", ok.to_str().unwrap(), "--max-document-size", size]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(said), "{}", stderr(&o));
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_to_a_parent_is_walked_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    std::fs::create_dir_all(a.join("b")).unwrap();
    std::fs::write(a.join("hooks.yaml"), WEBHOOK).unwrap();
    std::fs::write(a.join("b/more.yaml"), WEBHOOK.replace("neighbour", "more")).unwrap();
    let plain = lint(&["-f", a.to_str().unwrap()]);
    std::os::unix::fs::symlink("..", a.join("b/up")).unwrap();
    std::os::unix::fs::symlink("hooks.yaml", a.join("same.yaml")).unwrap();
    let looped = lint(&["-f", a.to_str().unwrap()]);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert_eq!(looped.status.code(), Some(0), "{}", stderr(&looped));
    let findings = |o: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["findings"].as_array().unwrap().len()
    };
    assert!(findings(&plain) > 0);
    assert_eq!(findings(&plain), findings(&looped));

    // the audit walk is the same walk
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("x")).unwrap();
    std::fs::copy(
        crate::samples().join("gke-cloud-audit.jsonl"),
        logs.join("x/gke.jsonl"),
    )
    .unwrap();
    let count = |p: &Path| {
        let (code, n, err) = count_requests(p);
        assert_eq!(code, Some(0), "{err}");
        n
    };
    let before = count(&logs);
    std::os::unix::fs::symlink("..", logs.join("x/loop")).unwrap();
    std::os::unix::fs::symlink("x/gke.jsonl", logs.join("again.jsonl")).unwrap();
    assert_eq!(count(&logs), before);
}

#[test]
fn a_file_mixing_envelopes_line_by_line_reads_fully() {
    let eks = std::fs::read(crate::samples().join("eks-apiserver-audit.jsonl")).unwrap();
    let eks = String::from_utf8_lossy(&eks);
    let native: Vec<serde_json::Value> = eks
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["stage"] == "ResponseComplete" && v["verb"] == "get")
        .take(40)
        .collect();
    assert_eq!(native.len(), 40);
    let gke = std::fs::read_to_string(crate::samples().join("gke-cloud-audit.jsonl")).unwrap();
    let gke: Vec<&str> = gke
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let mut lines = Vec::new();
    for (i, ev) in native.iter().enumerate() {
        // four envelopes in turn: native, AKS record, CloudWatch record, S3 export line
        lines.push(match i % 4 {
            0 => ev.to_string(),
            1 => {
                serde_json::json!({"category": "kube-audit", "properties": {"log": ev.to_string()}})
                    .to_string()
            }
            2 => serde_json::json!({"timestamp": 1, "message": ev.to_string()}).to_string(),
            _ => format!("2026-11-01T23:30:00.000Z {ev}"),
        });
        if let Some(g) = gke.get(i / 2) {
            if i % 2 == 1 {
                lines.push(g.to_string());
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let gke_only = dir.path().join("gke.jsonl");
    std::fs::write(&gke_only, gke.join("\n")).unwrap();
    let count = count_requests;
    let (code, gke_n, _) = count(&gke_only);
    assert_eq!(code, Some(0));
    let gke_n: usize = gke_n.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(gke_n, 20);
    // every first line in turn, so each envelope is the file's detected format once
    for first in 0..5 {
        let mut l = lines.clone();
        l.rotate_left(first);
        let mixed = dir.path().join(format!("mixed{first}.jsonl"));
        std::fs::write(&mixed, l.join("\n") + "\n").unwrap();
        let (code, n, err) = count(&mixed);
        assert_eq!(code, Some(0), "rotated {first}: {err}");
        assert_eq!(n, format!("n\n{}\n", 40 + 20), "rotated {first}: {err}");
    }
    // a line that fits no format is still malformed, with its line
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        format!("{}\nnot json at all\n{{\"message\": 3}}\n", native[0]),
    )
    .unwrap();
    let (code, n, err) = count(&bad);
    assert_eq!(code, Some(2));
    assert_eq!(n, "n\n1\n");
    assert!(
        err.contains("bad.jsonl:2: ") && err.contains("bad.jsonl:3: "),
        "{err}"
    );
}

/// kscope with no AWS configuration at all but what `env` sets.
fn bare(args: &[&str], env: &[(&str, &str)]) -> (std::process::Output, Duration) {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_kscope"));
    c.args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("KSCOPE_CACHE_DIR", home.path().join("cache"));
    for (k, v) in env {
        c.env(k, v);
    }
    let started = Instant::now();
    let o = c.output().unwrap();
    (o, started.elapsed())
}

/// No `Debug` dump of an error, no third-party log lines.
fn assert_clean_stderr(err: &str) {
    for dump in [
        "DispatchFailure(",
        "{ source:",
        "ConnectorError",
        " WARN ",
        "IMDS",
        "imds",
    ] {
        assert!(!err.contains(dump), "{dump:?} in stderr:\n{err}");
    }
    assert!(err.lines().count() <= 2, "{err}");
}

#[test]
fn aws_errors_are_one_clear_line() {
    // no region anywhere (instance metadata is asked, as the SDK does, and fails quietly)
    let (o, _) = bare(&["report", "--cluster", "demo"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("no AWS region: pass --region"), "{err}");
    assert_clean_stderr(&err);

    // an --endpoint-url where nothing listens: at most 3 attempts, the address in the message
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (o, took) = bare(
        &[
            "report",
            "--cluster",
            "demo",
            "--region",
            "eu-central-1",
            "--endpoint-url",
            &url,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "cannot connect to {url}: the connection was refused 3 times"
        )),
        "{err}"
    );
    assert_clean_stderr(&err);
    // three attempts with 200 ms and 400 ms backoff (a guard, not a benchmark: it was 50 s)
    assert!(took < Duration::from_secs(15), "{took:?}");
}

/// Audit events whose client-chosen strings carry what terminals, spreadsheets and browsers
/// interpret: ESC sequences (OSC title, clear screen, colour), BEL, a C1 CSI, U+202E, a CSV
/// formula, markup and table delimiters. Six unpaged LISTs of Secrets and twelve 403s, so the
/// strings reach findings' subjects and messages as well as the tables.
fn hostile_log(dir: &Path) -> std::path::PathBuf {
    const UA: &str =
        "=cmd|' /C calc'!A0\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[31m\u{9b}1m\u{202e}</script>|`x`/1.0";
    const USER: &str = "mallory\u{1b}[8m\u{202e}</script><b>@example.com";
    let mut lines = Vec::new();
    for k in 0..18 {
        let code = if k < 6 { 200 } else { 403 };
        let ev = serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("h-{k}"), "stage": "ResponseComplete",
            "requestURI": "/api/v1/secrets?x=\u{1b}[2J",
            "verb": "list",
            "user": {"username": USER, "groups": ["system:authenticated"]},
            "sourceIPs": ["203.0.113.66"], "userAgent": UA,
            "objectRef": {"resource": "secrets", "apiVersion": "v1", "name": "n\u{202e}ame\n|x"},
            "responseStatus": {"code": code},
            "requestReceivedTimestamp": format!("2026-12-01T08:00:{:02}.000000Z", k),
            "stageTimestamp": format!("2026-12-01T08:00:{:02}.002000Z", k),
        });
        lines.push(ev.to_string());
    }
    let p = dir.join("hostile.jsonl");
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

/// A character a terminal or viewer would interpret.
fn interpreted(c: char) -> bool {
    (c < ' ' && c != '\n')
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[test]
fn strings_clients_choose_are_neutralised_in_every_format_meant_for_eyes() {
    let dir = tempfile::tempdir().unwrap();
    let log = hostile_log(dir.path());
    let log = log.to_str().unwrap();
    let run = |format: &str| {
        let o = crate::kscope(&["report", log, "--format", format, "--fail-on", "none"]);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", crate::stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    // the client's strings reached the findings at all
    let json = run("json");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let subjects: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["subject"]["name"].as_str().unwrap().to_string())
        .collect();
    // JSON is lossless: the exact strings, escaped only as JSON escapes them
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("mallory\u{1b}[8m\u{202e}</script><b>@")),
        "{subjects:?}"
    );
    for format in ["table", "markdown", "github"] {
        let out = run(format);
        let bad: Vec<char> = out.chars().filter(|c| interpreted(*c)).collect();
        assert!(bad.is_empty(), "{format}: {bad:?} in\n{out}");
        assert!(
            out.contains("mallory\\") && out.contains("x1b[8m"),
            "{format}: {out}"
        );
        assert!(out.contains("\\u{202e}"), "{format}");
    }
    // markdown: the client's `|` and backticks do not end a cell or open code
    let md = run("markdown");
    assert!(md.contains("=cmd\\|'"), "{md}");
    // CSV: no cell a spreadsheet reads as a formula
    let csv = run("csv");
    for line in csv.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '@']),
                "formula cell {cell:?} in {line}"
            );
        }
    }
    assert!(csv.contains("'=cmd"), "{csv}");
    // HTML: no markup of the client's
    let html = run("html");
    assert!(!html.contains("</script><b>"), "raw markup in the page");
    assert!(html.contains("&lt;/script&gt;&lt;b&gt;"));
    // JUnit: well-formed XML (characters XML forbids are replaced)
    let junit = run("junit");
    assert!(
        !junit
            .chars()
            .any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
    );
    assert!(
        !junit.contains("&#x1b;") && !junit.contains("&#27;"),
        "{junit}"
    );
    // stderr: the malformed line's reason quotes what it found, escaped
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "\u{1b}]0;owned\u{7}not json\n").unwrap();
    let o = crate::kscope(&["report", bad.to_str().unwrap(), "--format", "json"]);
    let err = crate::stderr(&o);
    assert!(!err.chars().any(interpreted), "{err:?}");
}

#[test]
fn names_in_a_pull_request_s_manifests_are_neutralised_too() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("evil.yaml");
    std::fs::write(
        &m,
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n\
         metadata:\n  name: \"evil\\e]0;owned\\a\\u202Ename\"\nwebhooks:\n\
         - name: \"hook\\e[2J.example.com\"\n  admissionReviewVersions: [\"v1\"]\n  sideEffects: None\n\
         \x20 failurePolicy: Fail\n  timeoutSeconds: 30\n  clientConfig:\n    url: \"https://localhost/\\e[31m\"\n\
         \x20 rules:\n  - apiGroups: [\"*\"]\n    apiVersions: [\"*\"]\n    resources: [\"*\"]\n    operations: [\"CREATE\"]\n",
    )
    .unwrap();
    let p = m.to_str().unwrap();
    let run = |format: &str| kscope(&["lint", "-f", p, "--format", format, "--fail-on", "none"]);
    let json = run("json");
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["subject"]["name"]
                .as_str()
                .unwrap()
                .contains("\u{1b}]0;owned\u{7}")),
        "the names reached the findings: {doc}"
    );
    for format in ["table", "markdown", "github", "csv"] {
        let o = run(format);
        let out = crate::stdout(&o);
        let bad: Vec<char> = out.chars().filter(|c| interpreted(*c)).collect();
        assert!(
            bad.is_empty() || format == "csv",
            "{format}: {bad:?} in\n{out}"
        );
        assert!(!crate::stderr(&o).chars().any(interpreted));
    }
}
