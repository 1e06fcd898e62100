//! Every rule against its fixtures in tests/fixtures/rules/CODE/: `fire-*` files must produce the
//! rule's finding, `ok-*` files must not. Manifests are read from the files; the same objects served
//! by the test API server must give the same findings through the live (kube-rs) path. Fixtures
//! marked `# live` (custom object counts, /metrics) run only live; `# files-only` ones only from files. Header lines: `# target: 1.NN`,
//! `# param: CODE.NAME=VALUE`, `# live`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kscope::finding::Finding;
use kscope::inventory::live::LiveOptions;
use kscope::inventory::{Version, manifests};
use kscope::lint::{self, Source};
use kscope::rules::{self, RuleParams};

use crate::apiserver::{FakeApi, metrics_for};

struct Header {
    target: Option<Version>,
    params: Vec<String>,
    live_only: bool,
    files_only: bool,
}

fn header(path: &Path) -> Header {
    let text = std::fs::read_to_string(path).unwrap();
    let mut h = Header {
        target: None,
        params: Vec::new(),
        live_only: false,
        files_only: false,
    };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let l = line.trim_start_matches('#').trim();
        if let Some(t) = l.strip_prefix("target:") {
            h.target = Version::parse(t.trim());
        } else if let Some(p) = l.strip_prefix("param:") {
            h.params.push(p.trim().to_string());
        } else if l.starts_with("files-only") {
            h.files_only = true;
        } else if l == "live" {
            h.live_only = true;
        }
    }
    h
}

/// Relative to the repository root (tests run there), so origins in snapshots are portable.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from("tests/fixtures/rules")
}

fn fixtures(code: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir().join(code))
        .unwrap_or_else(|_| {
            panic!("rule {code} has no fixture directory tests/fixtures/rules/{code}")
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Findings without the origin (which differs between files and the cluster).
fn key(f: &Finding) -> String {
    format!(
        "{} {} {}: {}",
        f.severity, f.code, f.subject.name, f.message
    )
}

async fn run_live(code: &str, file: &Path, h: &Header) -> (lint::LintReport, usize) {
    let api = FakeApi::from_files(&[file.to_path_buf()], "v1.30.4", metrics_for(file)).await;
    let selected = rules::select(&[code.to_string()], &[]).unwrap();
    let params = RuleParams::parse(&h.params, &selected).unwrap();
    let source = Source::Cluster(LiveOptions {
        kubeconfig: Some(api.kubeconfig()),
        ..LiveOptions::default()
    });
    let inv = lint::inventory(&source, &selected, &|_| false)
        .await
        .unwrap();
    let target = lint::target(&inv, h.target).unwrap();
    let report = lint::run(&inv, &selected, target, &params);
    (report, api.log().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_fires_on_its_fire_fixtures_and_not_on_its_ok_fixtures() {
    let mut snapshots = std::collections::BTreeMap::new();
    for rule in rules::registry().unwrap() {
        let snapshot: &mut String = snapshots.entry(rule.file.clone()).or_default();
        if rule.check == "suppressions" {
            // KS001, KS002 come from the gate's suppression pass over the whole run, not from
            // objects: tests/integration/gate.rs checks them through the command line
            snapshot.push_str(
                "(checked by gate::suppressions_need_reasons_and_unused_ones_are_reported)\n",
            );
            continue;
        }
        if rule.needs.iter().any(|n| n == rules::NEED_HELM) {
            // Helm releases are read by `preflight --helm` only: tests/integration/preflight.rs
            // serves release Secrets to it
            snapshot.push_str(
                "(checked by preflight::helm_chart_kube_version_blocks_the_hops_it_excludes)\n",
            );
            continue;
        }
        let files = fixtures(&rule.code);
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            files.iter().any(|f| name(f).starts_with("fire-")),
            "{}: no fire-* fixture",
            rule.code
        );
        assert!(
            files.iter().any(|f| name(f).starts_with("ok-")),
            "{}: no ok-* fixture",
            rule.code
        );
        for f in &files {
            let n = name(f);
            assert!(
                n.starts_with("fire-") || n.starts_with("ok-"),
                "{}: fixture {n} is neither fire-* nor ok-*",
                rule.code
            );
            let h = header(f);
            let selected = rules::select(std::slice::from_ref(&rule.code), &[]).unwrap();
            let params = RuleParams::parse(&h.params, &selected).unwrap();
            let report = if h.live_only {
                run_live(&rule.code, f, &h).await.0
            } else {
                let inv = manifests::load(std::slice::from_ref(f)).unwrap();
                assert!(inv.problems.is_empty(), "{n}: {:?}", inv.problems);
                let target = lint::target(&inv, h.target).unwrap();
                let report = lint::run(&inv, &selected, target, &params);
                // The same objects through the kube client and the test API server.
                if !h.files_only && !rule.code.starts_with("DA") && rule.code != "WH013" {
                    let (live, _) = run_live(&rule.code, f, &h).await;
                    assert_eq!(
                        live.outcome.findings.iter().map(key).collect::<Vec<_>>(),
                        report.outcome.findings.iter().map(key).collect::<Vec<_>>(),
                        "{}/{n}: live and manifest findings differ (skipped live: {:?})",
                        rule.code,
                        live.outcome.skipped
                    );
                }
                report
            };
            assert!(
                report.outcome.ran.contains(&rule.code),
                "{}/{n}: the rule did not run: skipped {:?}, not applicable {:?}",
                rule.code,
                report.outcome.skipped,
                report.outcome.not_applicable
            );
            let findings = &report.outcome.findings;
            assert!(findings.iter().all(|x| x.code == rule.code));
            if n.starts_with("fire-") {
                assert!(!findings.is_empty(), "{}/{n} must fire", rule.code);
            } else {
                assert!(
                    findings.is_empty(),
                    "{}/{n} must not fire: {:#?}",
                    rule.code,
                    findings
                );
            }
            for x in findings {
                writeln!(
                    snapshot,
                    "{}/{n}: {} @ {}",
                    rule.code,
                    key(x),
                    x.subject.origin
                )
                .unwrap();
            }
        }
    }
    // one snapshot per rule (fixtures@<rule file>.snap): adding a rule adds a snapshot
    insta::glob!("../../rules", "*.yaml", |path| {
        let file = format!("rules/{}", path.file_name().unwrap().to_string_lossy());
        let snapshot = snapshots
            .get(&file)
            .unwrap_or_else(|| panic!("{file} is not a rule in the registry"));
        insta::assert_snapshot!("fixtures", snapshot);
    });
}

#[test]
fn every_rule_is_documented() {
    for r in rules::registry().unwrap() {
        for (what, text) in [
            ("summary", &r.summary),
            ("why", &r.why),
            ("remediation", &r.remediation),
        ] {
            assert!(
                text.len() > 20,
                "{}: {what} is missing or too short",
                r.code
            );
        }
        assert!(!r.references.is_empty(), "{}: no references", r.code);
        assert!(
            r.references.iter().all(|u| u.starts_with("https://")),
            "{}: bad reference",
            r.code
        );
        for p in &r.params {
            assert!(
                !p.doc.is_empty(),
                "{}: parameter {} has no doc",
                r.code,
                p.name
            );
        }
    }
}

#[test]
fn every_check_is_used_and_codes_are_unique() {
    let reg = rules::registry().unwrap();
    for c in rules::checks::CHECKS {
        assert!(
            reg.iter().any(|r| r.check == c.key),
            "check {} is used by no rule",
            c.key
        );
    }
    let mut codes: Vec<&str> = reg.iter().map(|r| r.code.as_str()).collect();
    codes.dedup();
    assert_eq!(codes.len(), reg.len());
    rules::checks::apf_defaults().expect("rules/data/apf-defaults.yaml loads");
}

#[test]
fn lint_samples_manifests_cli() {
    let out = crate::kscope(&[
        "lint",
        "-f",
        "samples/manifests",
        "--target-version",
        "1.32",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::stderr(&out));
    insta::assert_snapshot!("lint_samples_manifests", crate::stdout(&out));
    let json = crate::kscope(&[
        "lint",
        "-f",
        "samples/manifests",
        "--target-version",
        "1.32",
        "--format",
        "json",
        "--fail-on",
        "none",
    ]);
    assert_eq!(json.status.code(), Some(0));
    let doc = crate::json(&json);
    assert_eq!(doc["summary"]["error"], 8);
    assert_eq!(doc["objects"], 11);
}

#[test]
fn invalid_document_is_reported_with_its_line_and_the_rest_is_linted() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mixed.yaml");
    std::fs::write(&f, "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: a, namespace: x}\n---\nkind: [broken\n---\nnot: an object\n").unwrap();
    let out = crate::kscope(&[
        "lint",
        "-f",
        f.to_str().unwrap(),
        "--rule",
        "DA001",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = crate::stderr(&out);
    assert!(err.contains("mixed.yaml:6: invalid YAML"), "{err}");
    assert!(
        err.contains("mixed.yaml:7: not a Kubernetes object"),
        "{err}"
    );
    let doc = crate::json(&out);
    assert_eq!(doc["findings"][0]["code"], "DA001");
    assert_eq!(doc["problems"].as_array().unwrap().len(), 2);
}
