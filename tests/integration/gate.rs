//! The CI gate: SARIF checked by Microsoft's SARIF Multitool with GitHub's rules, JUnit read by a
//! real JUnit consumer (junitparser), GitHub annotations, GitLab Code Quality, `--output`,
//! baselines, suppressions, the configuration file, completions, man pages and the kubectl plugin
//! name. The Multitool (npm) and junitparser (PyPI) are installed on first use, as moto is.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::{json, root, stderr, stdout};

/// Runs kscope in `dir` (config discovery and relative paths start there).
fn kscope_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(args)
        .current_dir(dir)
        .env_remove("KSCOPE_LOG")
        .env_remove("KSCOPE_CONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run kscope")
}

/// Microsoft's SARIF Multitool from npm, installed once into the test target directory.
fn multitool() -> PathBuf {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        if let Ok(p) = std::env::var("KSCOPE_SARIF_MULTITOOL") {
            return PathBuf::from(p);
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sarif-multitool");
        let bin = dir.join("node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
        if !bin.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let st = Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--silent",
                    "--prefix",
                    dir.to_str().unwrap(),
                    "@microsoft/sarif-multitool@5",
                ])
                .status()
                .expect("npm is needed to install @microsoft/sarif-multitool");
            assert!(
                st.success(),
                "npm install @microsoft/sarif-multitool failed"
            );
        }
        assert!(bin.exists(), "no Sarif.Multitool at {}", bin.display());
        bin
    })
    .clone()
}

/// Validates a SARIF file with GitHub's ingestion rules; returns the error lines.
fn sarif_errors(path: &Path) -> Vec<String> {
    let out = Command::new(multitool())
        .args(["validate", "--rule-kind", "Gh;Sarif"])
        .arg(path)
        .output()
        .expect("run Sarif.Multitool");
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("Analysis completed successfully"),
        "the Multitool did not run: {text}"
    );
    text.lines()
        .filter(|l| l.contains(": error "))
        .map(String::from)
        .collect()
}

/// Python with junitparser (PyPI), installed once.
fn python_with_junitparser() -> String {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let py = std::env::var("KSCOPE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let have = || {
            Command::new(&py)
                .args(["-c", "import junitparser"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have() {
            let st = Command::new(&py)
                .args(["-m", "pip", "install", "--quiet", "junitparser>=3,<5"])
                .status()
                .expect("pip");
            assert!(st.success() && have(), "pip install junitparser failed");
        }
        py
    })
    .clone()
}

/// The JUnit file as junitparser reads it: per suite (name, tests, failures, skipped), and the
/// failed cases.
fn junit_read(path: &Path) -> Value {
    let script = r#"
import json, sys
from junitparser import JUnitXml, Failure, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
suites, failed = [], []
for s in xml:
    suites.append([s.name, s.tests, s.failures, s.skipped])
    for c in s:
        if any(isinstance(r, Failure) for r in c.result):
            failed.append(c.classname + " " + c.name)
print(json.dumps({"suites": suites, "failed": failed}))
"#;
    let out = Command::new(python_with_junitparser())
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "junitparser: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sarif_from_manifests_passes_githubs_rules_with_exact_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lint.sarif");
    let out = crate::kscope(&[
        "lint",
        "-f",
        "samples/manifests",
        "--format",
        "text",
        "--output",
        &format!("sarif={}", path.display()),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("error[WH001] ValidatingWebhookConfiguration/policy-agent"),
        "the terminal still gets the text"
    );
    assert_eq!(sarif_errors(&path), Vec::<String>::new());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let run = &doc["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for r in rules {
        for k in ["shortDescription", "fullDescription", "help"] {
            assert!(r[k]["text"].as_str().unwrap().len() > 10, "{r}");
        }
        assert!(r["help"]["markdown"].as_str().unwrap().contains("**Fix:**"));
    }
    assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    let results = run["results"].as_array().unwrap();
    // the HPA on a removed API is item 2 of a `kind: List`: lines 12-18 of legacy-apps.yaml
    let hpa = results
        .iter()
        .find(|r| {
            r["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with("HorizontalPodAutoscaler/shop/web")
        })
        .unwrap();
    let loc = &hpa["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "samples/manifests/legacy-apps.yaml"
    );
    assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(
        (&loc["region"]["startLine"], &loc["region"]["endLine"]),
        (&serde_json::json!(12), &serde_json::json!(18))
    );
    let text = std::fs::read_to_string(root().join("samples/manifests/legacy-apps.yaml")).unwrap();
    assert_eq!(
        text.lines().nth(11),
        Some("- apiVersion: autoscaling/v2beta2")
    );
    for r in results {
        assert!(r["partialFingerprints"]["kscopeIdentity/v1"].is_string());
        assert!(rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"] == r["ruleId"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sarif_from_a_live_cluster_and_the_audit_log_uses_logical_locations() {
    let api = crate::apiserver::FakeApi::from_files(
        &[PathBuf::from(
            "tests/fixtures/rules/WH008/fire-no-ready-endpoints.yaml",
        )],
        "v1.31.2",
        None,
    )
    .await;
    let out = api.kscope("lint", &["--format", "sarif"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.sarif");
    std::fs::write(&live, &out.stdout).unwrap();
    assert_eq!(sarif_errors(&live), Vec::<String>::new());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &doc["runs"][0]["results"][0];
    let logical = &r["locations"][0]["logicalLocations"][0];
    assert!(r["locations"][0]["physicalLocation"].is_null());
    assert_eq!(logical["kind"], "resource");
    assert!(
        logical["fullyQualifiedName"]
            .as_str()
            .unwrap()
            .starts_with("cluster fake-ctx/"),
        "{logical}"
    );
    // audit findings: the client as the logical location
    let audit = dir.path().join("report.sarif");
    let out = crate::kscope(&[
        "report",
        "samples/audit",
        "--format",
        "sarif",
        "--fail-on",
        "none",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the samples hold malformed lines"
    );
    std::fs::write(&audit, &out.stdout).unwrap();
    assert_eq!(sarif_errors(&audit), Vec::<String>::new());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!doc["runs"][0]["results"].as_array().unwrap().is_empty());
    // preflight too
    let pf = dir.path().join("preflight.sarif");
    let out = crate::kscope(&crate::preflight_1_29_to_1_32(&[
        "-f",
        "tests/fixtures/preflight/legacy.yaml",
        "--audit",
        "tests/fixtures/preflight/audit.jsonl",
        "--format",
        "sarif",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    std::fs::write(&pf, &out.stdout).unwrap();
    assert_eq!(sarif_errors(&pf), Vec::<String>::new());
}

/// A manifest with `n` fail-closed webhooks on pods everywhere (WH001 errors), `pad` blank lines
/// before each.
fn webhooks(n: usize, pad: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\n{}apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: hook-{i}\nwebhooks:\n- name: v{i}.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: Fail\n  timeoutSeconds: 5\n  clientConfig:\n    url: https://hooks.example.com/v{i}\n  rules:\n  - apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [pods]\n    operations: [CREATE]\n",
                "\n".repeat(pad)
            )
        })
        .collect()
}

#[test]
fn github_annotations_are_capped_per_level_and_code_quality_names_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hooks.yaml"), webhooks(12, 0)).unwrap();
    let out = kscope_in(
        dir.path(),
        &[
            "lint",
            "-f",
            "hooks.yaml",
            "--rule",
            "WH001",
            "--format",
            "github",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 10, "{text}");
    assert!(
        errors[0].starts_with("::error file=hooks.yaml,line=2,endLine=18,title=WH001 webhook-fail-closed-system-namespace::"),
        "{}",
        errors[0]
    );
    let notice: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("::notice "))
        .collect();
    assert_eq!(notice.len(), 1);
    assert!(
        notice[0].contains("2 more finding(s) not annotated (2 error)"),
        "{}",
        notice[0]
    );

    let out = kscope_in(
        dir.path(),
        &[
            "lint",
            "-f",
            "hooks.yaml",
            "--rule",
            "WH001",
            "--format",
            "codequality",
        ],
    );
    let issues = json(&out);
    let issues = issues.as_array().unwrap();
    assert_eq!(issues.len(), 12);
    assert_eq!(issues[0]["check_name"], "WH001");
    assert_eq!(issues[0]["severity"], "major");
    assert_eq!(issues[0]["location"]["path"], "hooks.yaml");
    assert_eq!(issues[0]["location"]["lines"]["begin"], 2);
    let fps: std::collections::BTreeSet<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fps.len(), 12, "fingerprints are unique");
}

#[test]
fn junit_counts_passes_failures_and_skips_for_a_real_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let out = crate::kscope(&["lint", "-f", "samples/manifests", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(&path, &out.stdout).unwrap();
    let j = junit_read(&path);
    let suites = j["suites"].as_array().unwrap();
    let suite = |code: &str| {
        suites
            .iter()
            .find(|s| s[0].as_str().unwrap().starts_with(code))
            .unwrap_or_else(|| panic!("no suite {code}: {suites:?}"))
            .clone()
    };
    // WH001 checked the 2 webhook configurations of the samples; one fails
    assert_eq!(
        suite("WH001 "),
        serde_json::json!(["WH001 webhook-fail-closed-system-namespace", 2, 1, 0])
    );
    // CR005 needs a live cluster: skipped, with the reason
    assert_eq!(suite("CR005 ")[3], 1);
    // every failure is one finding's subject
    let failed = j["failed"].as_array().unwrap();
    assert!(
        failed
            .iter()
            .any(|f| f == "DA001 HorizontalPodAutoscaler/shop/web"),
        "{failed:?}"
    );
    let total_failures: u64 = suites.iter().map(|s| s[2].as_u64().unwrap()).sum();
    let findings = json(&crate::kscope(&[
        "lint",
        "-f",
        "samples/manifests",
        "--format",
        "json",
    ]));
    let subjects: std::collections::BTreeSet<String> = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["code"].as_str().unwrap(),
                f["subject"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(total_failures as usize, subjects.len());
    let passed: u64 = suites
        .iter()
        .map(|s| s[1].as_u64().unwrap() - s[2].as_u64().unwrap() - s[3].as_u64().unwrap())
        .sum();
    assert!(passed > 10, "passes are counted too: {suites:?}");
}

#[test]
fn one_run_writes_three_formats() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let out = crate::kscope(&[
        "lint",
        "-f",
        "samples/manifests",
        "--output",
        &format!("sarif={}", p("a.sarif")),
        "--output",
        &format!("junit={}", p("b.xml")),
        "--output",
        &format!("codequality={}", p("c.json")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("Summary"), "table on the terminal");
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(p("a.sarif")).unwrap()).unwrap();
    let cq: Value = serde_json::from_str(&std::fs::read_to_string(p("c.json")).unwrap()).unwrap();
    let n = sarif["runs"][0]["results"].as_array().unwrap().len();
    assert_eq!(cq.as_array().unwrap().len(), n);
    assert!(
        std::fs::read_to_string(p("b.xml"))
            .unwrap()
            .starts_with("<?xml")
    );
    let bad = crate::kscope(&["lint", "-f", "samples/manifests", "--output", "pdf=x.pdf"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown format \"pdf\""),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn baselines_gate_only_on_new_findings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("hooks.yaml"), webhooks(3, 0)).unwrap();
    let lint = |extra: &[&str]| {
        let mut a = vec![
            "lint",
            "-f",
            "hooks.yaml",
            "--rule",
            "WH001",
            "--format",
            "json",
        ];
        a.extend_from_slice(extra);
        kscope_in(d, &a)
    };
    let out = lint(&["--write-baseline", "baseline.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(d.join("baseline.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three entries: {text}");
    assert!(lines[0].contains("\"kscope_baseline\":1"));
    assert!(lines[1].contains("\"reason\":\"\""), "{}", lines[1]);
    let mut sorted = lines[1..].to_vec();
    sorted.sort();
    assert_eq!(sorted, lines[1..].to_vec(), "sorted, diff-friendly");
    // nothing new: exit 0
    let out = lint(&["--baseline", "baseline.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["gate"]["baselined"], 3);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0);
    let fingerprints = || {
        let o = kscope_in(
            d,
            &[
                "lint",
                "-f",
                "hooks.yaml",
                "--rule",
                "WH001",
                "--format",
                "sarif",
            ],
        );
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["partialFingerprints"]["kscopeIdentity/v1"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    r["locations"][0]["physicalLocation"]["region"]["startLine"]
                        .as_u64()
                        .unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = fingerprints();
    // move every object 20 lines down: still baselined, same SARIF fingerprints
    std::fs::write(d.join("hooks.yaml"), webhooks(3, 20)).unwrap();
    let after = fingerprints();
    assert_eq!(
        before.iter().map(|x| &x.0).collect::<Vec<_>>(),
        after.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    assert_ne!(before[0].1, after[0].1, "the lines did move");
    let out = lint(&["--baseline", "baseline.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "moved objects are not new");
    // a new bad object: exit 1 with exactly that finding
    std::fs::write(d.join("hooks.yaml"), webhooks(4, 20)).unwrap();
    let out = lint(&["--baseline", "baseline.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    let f = doc["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0]["subject"]["name"],
        "ValidatingWebhookConfiguration/hook-3"
    );
    assert_eq!(doc["gate"]["new"], 1);
    // fix one of the old ones: fixed: 1, and --prune-baseline drops it
    std::fs::write(d.join("hooks.yaml"), webhooks(2, 0)).unwrap();
    let out = kscope_in(
        d,
        &[
            "lint",
            "-f",
            "hooks.yaml",
            "--rule",
            "WH001",
            "--baseline",
            "baseline.jsonl",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("fixed: 1"), "{}", stdout(&out));
    let out = lint(&["--baseline", "baseline.jsonl", "--prune-baseline"]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(d.join("baseline.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(!text.contains("hook-2"));
}

#[test]
fn report_baselines_survive_traffic_changes() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("audit-baseline.jsonl");
    let run = |extra: &[&str]| {
        let mut a = vec!["report", "samples/audit", "--format", "json"];
        a.extend_from_slice(extra);
        crate::kscope(&a)
    };
    let out = run(&["--write-baseline", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "malformed sample lines");
    let all = json(&out)["findings"].as_array().unwrap().len();
    assert!(all > 5);
    // the same traffic with other counts (half the window): nothing new
    let out = run(&[
        "--baseline",
        b.to_str().unwrap(),
        "--until",
        "2026-11-02T00:00:00Z",
    ]);
    let doc = json(&out);
    assert_eq!(
        doc["findings"].as_array().unwrap().len(),
        0,
        "{}",
        doc["findings"]
    );
    assert!(doc["gate"]["baselined"].as_u64().unwrap() > 0);
}

fn annotated(value: Option<&str>, name: &str, kind_ok: bool) -> String {
    let ann = value
        .map(|v| format!("  annotations:\n    kscope.io/ignore: \"{v}\"\n"))
        .unwrap_or_default();
    let policy = if kind_ok { "Ignore" } else { "Fail" };
    format!(
        "---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: {name}\n{ann}webhooks:\n- name: v.{name}.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: {policy}\n  timeoutSeconds: 5\n  clientConfig:\n    url: https://hooks.example.com/{name}\n  rules:\n  - apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [pods]\n    operations: [CREATE]\n"
    )
}

#[test]
fn suppressions_need_reasons_and_unused_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = [
        annotated(
            Some("WH001: the staging overlay only"),
            "with-reason",
            false,
        ),
        annotated(Some("WH001"), "without-reason", false),
        annotated(Some("WH009: replicas are fine"), "unused", true),
        annotated(None, "plain", false),
    ]
    .concat();
    std::fs::write(d.join("hooks.yaml"), text).unwrap();
    let out = kscope_in(
        d,
        &[
            "lint",
            "-f",
            "hooks.yaml",
            "--rule",
            "WH001",
            "--rule",
            "WH009",
            "--format",
            "json",
        ],
    );
    let doc = json(&out);
    let got: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["subject"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "error WH001 ValidatingWebhookConfiguration/plain",
            "warning KS001 ValidatingWebhookConfiguration/without-reason",
            "info KS002 ValidatingWebhookConfiguration/unused",
        ]
    );
    assert_eq!(doc["gate"]["suppressed"], 2);
    assert_eq!(out.status.code(), Some(1));
    let out = kscope_in(
        d,
        &[
            "lint",
            "-f",
            "hooks.yaml",
            "--rule",
            "WH001",
            "--show-suppressed",
        ],
    );
    let text = stdout(&out);
    assert!(text.contains("suppressed: 2 finding(s)"), "{text}");
    assert!(
        text.contains("suppressed WH001 ValidatingWebhookConfiguration/with-reason")
            && text.contains("the staging overlay only"),
        "{text}"
    );
}

#[test]
fn the_config_file_is_found_upwards_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    std::fs::create_dir(repo.join(".git")).unwrap();
    let sub = repo.join("deploy/prod");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("hooks.yaml"), webhooks(1, 0)).unwrap();
    std::fs::write(sub.join("legacy.yaml"), "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: x\n  namespace: y\nspec:\n  maxUnavailable: 1\n").unwrap();
    // `config init` writes a file that the next run reads
    let out = kscope_in(repo, &["config", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = kscope_in(repo, &["config", "init"]);
    assert_eq!(again.status.code(), Some(2), "no overwrite without --force");
    std::fs::write(
        repo.join(".kscope.yaml"),
        "version: 1\nrules:\n  disable: [DA]\nseverity:\n  WH001: warning\nignore:\n  files: [\"deploy/prod/legacy.yaml\"]\nfail_on: warning\n",
    )
    .unwrap();
    let out = kscope_in(&sub, &["config", "show"]);
    let shown = json(&out);
    assert!(
        shown["file"].as_str().unwrap().ends_with(".kscope.yaml"),
        "{shown}"
    );
    let lint = |extra: &[&str]| {
        let mut a = vec!["lint", "-f", ".", "--format", "json"];
        a.extend_from_slice(extra);
        kscope_in(&sub, &a)
    };
    let out = lint(&[]);
    let doc = json(&out);
    let f = doc["findings"].as_array().unwrap();
    assert!(
        f.iter().all(|f| f["code"] != "DA001"),
        "DA rules disabled, legacy.yaml ignored"
    );
    let wh = f.iter().find(|f| f["code"] == "WH001").unwrap();
    assert_eq!(wh["severity"], "warning", "severity override");
    assert_eq!(out.status.code(), Some(1), "fail_on: warning from the file");
    let errors: Vec<&Value> = f.iter().filter(|f| f["severity"] == "error").collect();
    let out = lint(&["--fail-on", "error"]);
    assert_eq!(
        out.status.code(),
        Some(if errors.is_empty() { 0 } else { 1 }),
        "the flag overrides the file: {errors:?}"
    );
    let out = lint(&["--fail-on", "none"]);
    assert_eq!(out.status.code(), Some(0), "the flag overrides the file");
    // an object ignore with kind, name glob and labels suppresses, with its reason
    std::fs::write(
        repo.join(".kscope.yaml"),
        "ignore:\n  objects:\n    - rules: [WH]\n      kind: ValidatingWebhookConfiguration\n      name: \"hook-*\"\n      reason: staging hooks, reviewed in TICKET-1\n",
    )
    .unwrap();
    let out = lint(&["--show-suppressed"]);
    let doc = json(&out);
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["code"].as_str().unwrap().starts_with("WH")),
        "{}",
        doc["findings"]
    );
    let sup = doc["gate"]["suppressed_findings"].as_array().unwrap();
    assert!(!sup.is_empty());
    assert!(
        sup[0]["reason"].as_str().unwrap().contains("TICKET-1"),
        "{sup:?}"
    );
    // a config above the repository root is not found
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join(".kscope.yaml"), "fail_on: none\n").unwrap();
    let inner = outer.path().join("repo");
    std::fs::create_dir_all(inner.join(".git")).unwrap();
    std::fs::write(inner.join("hooks.yaml"), webhooks(1, 0)).unwrap();
    let out = kscope_in(&inner, &["lint", "-f", "hooks.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "discovery stops at the repository root"
    );
    // unknown keys name the key and the valid ones
    std::fs::write(repo.join(".kscope.yaml"), "rules:\n  enabel: [WH]\n").unwrap();
    let out = lint(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("unknown field `enabel`") && err.contains("`enable`"),
        "{err}"
    );
}

#[test]
fn exit_zero_completions_man_pages_and_the_kubectl_plugin_name() {
    let out = crate::kscope(&["lint", "-f", "samples/manifests", "--exit-zero"]);
    assert_eq!(out.status.code(), Some(0));
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = crate::kscope(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(stdout(&out).contains("preflight"), "{shell}");
    }
    if Command::new("bash").arg("--version").output().is_ok() {
        let out = crate::kscope(&["completions", "bash"]);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("kscope.bash");
        std::fs::write(&f, &out.stdout).unwrap();
        let st = Command::new("bash").arg("-n").arg(&f).status().unwrap();
        assert!(st.success(), "bash completions parse");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = crate::kscope(&["man", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(dir.path().join("kscope-lint.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH"),
        "{}",
        &page[..80.min(page.len())]
    );
    assert!(page.contains("fail\\-on"), "flags are documented");
    // as a kubectl plugin
    let link = dir.path().join("kubectl-kscope");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kscope"), &link).unwrap();
    let out = Command::new(&link).arg("--help").output().unwrap();
    assert!(
        stdout(&out).contains("Usage: kubectl kscope"),
        "{}",
        stdout(&out)
    );
    let help = crate::kscope(&["--help"]);
    assert!(stdout(&help).contains("Exit codes:"), "{}", stdout(&help));
}

#[test]
fn ci_examples_are_valid_yaml_naming_existing_flags() {
    let cli = <kscope::cli::Cli as clap::CommandFactory>::command();
    let mut flags = std::collections::BTreeSet::new();
    for sub in cli.get_subcommands() {
        for a in sub.get_arguments() {
            if let Some(l) = a.get_long() {
                flags.insert(format!("--{l}"));
            }
        }
    }
    for a in cli.get_arguments() {
        if let Some(l) = a.get_long() {
            flags.insert(format!("--{l}"));
        }
    }
    let dir = root().join("examples/ci");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let docs = kscope::inventory::yaml::documents(&text);
        assert!(
            !docs.is_empty() && docs.iter().all(Result::is_ok),
            "{}: {docs:?}",
            p.display()
        );
        // every string of the document that runs kscope: its flags must exist
        fn strings(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
                Value::Object(m) => m.values().for_each(|x| strings(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        for d in docs.iter().flatten() {
            strings(&d.value, &mut all);
        }
        let mut used = 0;
        for s in all {
            let words: Vec<&str> = s.split_whitespace().collect();
            let Some(start) = words
                .windows(2)
                .position(|w| w[0] == "kscope" && !w[1].starts_with('-') && w[1] != "kscope")
            else {
                continue;
            };
            for w in words[start..].iter().filter(|w| w.starts_with("--")) {
                let w = w.split('=').next().unwrap();
                assert!(
                    flags.contains(w),
                    "{}: {w} is not a kscope flag",
                    p.display()
                );
                used += 1;
            }
        }
        assert!(used > 0, "{} runs kscope with flags", p.display());
        n += 1;
    }
    assert!(n >= 2);
}

/// Every CI format on the bundled samples, snapshotted (read them when they change).
#[test]
fn ci_formats_on_the_samples() {
    for format in ["sarif", "junit", "github", "codequality"] {
        let out = crate::kscope(&["lint", "-f", "samples/manifests", "--format", format]);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        insta::assert_snapshot!(format!("lint_samples_{format}"), stdout(&out));
    }
    for format in ["junit", "github"] {
        let out = crate::kscope(&["report", "samples/audit", "--format", format]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{format}: malformed sample lines"
        );
        insta::assert_snapshot!(format!("report_samples_{format}"), stdout(&out));
    }
}

/// The README's exit-code table says what `--help` says.
#[test]
fn readme_exit_codes_match_help() {
    let readme = std::fs::read_to_string(root().join("README.md"))
        .unwrap()
        .replace('`', "");
    let mut n = 0;
    for line in kscope::cli::EXIT_CODES.lines().skip(1) {
        let (code, text) = line.trim().split_once("  ").unwrap();
        let row = format!("| {code} | {} |", text.trim());
        assert!(readme.contains(&row), "README lacks {row:?}");
        n += 1;
    }
    assert_eq!(n, 3);
}
