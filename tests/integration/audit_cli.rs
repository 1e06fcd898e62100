//! `kscope report`, `kscope sql` and `kscope queries` end to end over samples/audit.

use serde_json::{Value, json};

use crate::{json, kscope, kscope_stdin, samples, stderr, stdout};

fn report_json() -> (Value, i32) {
    let o = kscope(&["report", "samples/audit", "--format", "json"]);
    (json(&o), o.status.code().unwrap_or(-1))
}

#[test]
fn report_reads_every_sample_and_counts_what_it_could_not() {
    let (r, code) = report_json();
    // 5 malformed lines: the input was not fully read, so exit code 2 even though the report printed
    assert_eq!(code, 2);
    let input = &r["input"];
    assert_eq!(input["sources"], 6);
    assert_eq!(input["lines"], 3053);
    assert_eq!(input["events"], 2894);
    assert_eq!(input["malformed"], 5);
    // one GKE entry delivered twice is counted once; three GKE cluster-management entries
    // (container.googleapis.com) and two AKS kube-apiserver log records are not API requests
    assert_eq!(input["duplicates"], 1);
    assert_eq!(input["not_audit"], 5);
    // 3 cert-manager watch streams + 120 flaky-informer watches + kubelet-free others: every
    // ResponseStarted with its ResponseComplete is one request
    assert_eq!(input["merged_started"], 143);
    assert_eq!(input["skipped_request_received"], 5);
    assert_eq!(input["outside_window"], 0);
    let samples: Vec<String> = input["malformed_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m["source"].as_str().unwrap(),
                m["reason"].as_str().unwrap()
            )
        })
        .collect();
    insta::assert_snapshot!(samples.join("\n"), @r"
    samples/audit/cloudwatch-filter-log-events.json#81: truncated JSON: input ends inside a value at byte 2048 (an entry cut short?)
    samples/audit/eks-apiserver-audit.jsonl:201: truncated JSON: input ends inside a value at byte 180 (an entry cut short?)
    samples/audit/eks-apiserver-audit.jsonl:701: invalid UTF-8 at byte 200
    samples/audit/eks-apiserver-audit.jsonl:1201: missing required field `verb`
    samples/audit/eks-apiserver-audit.jsonl:1701: invalid JSON at byte 0: expected '{', found 'I'
    ");
    assert_eq!(
        r["time_range"],
        json!({"first": "2026-11-01T23:30:00.299078Z", "last": "2026-11-02T00:29:53.790527Z"})
    );
}

#[test]
fn report_findings_are_exact() {
    let (r, _) = report_json();
    let findings: Vec<String> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(crate::finding_line)
        .collect();
    // the exact findings of each query are in its own snapshot (query@<file>.snap); here the
    // order across queries and the count
    assert_eq!(findings.len(), 21);
    // the scenarios the samples were built with, stated independently of the snapshot
    let has = |code: &str, needle: &str| {
        findings
            .iter()
            .any(|f| f.contains(code) && f.contains(needle))
    };
    assert!(has(
        "AUD020",
        "OpenAPI-Generator sent 120 LISTs of pods without limit"
    ));
    assert!(has(
        "AUD020",
        "OpenAPI-Generator sent 30 LISTs of secrets without limit"
    ));
    assert!(has("AUD040", "25 requests of spark-operator"));
    assert!(has("info AUD040", "8 requests of kubectl") && has("AUD040", "(pdb-eviction)"));
    assert!(has(
        "AUD030",
        "flaky-informer completed 116 watches of configmaps in 60 min, 116 of them shorter than 60 s"
    ));
    assert!(has(
        "AUD060",
        "called deprecated policy/v1beta1 poddisruptionbudgets 40 times"
    ));
    assert!(has(
        "AUD060",
        "called deprecated flowcontrol.apiserver.k8s.io/v1beta3 flowschemas 20 times"
    ));
    assert!(has(
        "AUD060",
        "called deprecated batch/v1beta1 cronjobs 10 times"
    )); // CloudWatch export and GKE
    assert!(has("AUD070", "got 0 401 and 45 403 responses"));
    assert!(has(
        "error AUD071",
        "2 anonymous requests from 198.51.100.7 to /api/v1/namespaces/kube-system/configmaps/cluster-info"
    ));
    assert!(has(
        "AUD042",
        "24 of 40 create requests of rolebindings by tenant-operator"
    ));
    assert!(has("AUD050", "10 slow create requests of deployments"));
    // the fail-closed webhook whose backend is gone: one finding naming it, not a server error
    assert!(has(
        "warning AUD044",
        "admission webhook validate.policy-agent.example.com could not be called (connection refused) on 6 requests"
    ));
    assert!(
        !findings
            .iter()
            .any(|f| f.contains("AUD041") && f.contains("Helm"))
    );
    // well-behaved clients produce nothing
    for quiet in ["cert-manager", "argocd", "kubelet "] {
        assert!(
            !findings.iter().any(|f| f.contains(quiet)),
            "{quiet} should have no finding"
        );
    }
    // every query header's columns are the planned result columns, and every query has rows on the samples
    for q in r["queries"].as_array().unwrap() {
        if q["code"] == "AUD083" {
            continue; // no level runs out of seats in the samples: tests/integration/apf.rs
        }
        assert!(
            !q["rows"].as_array().unwrap().is_empty(),
            "{} has no rows on the samples",
            q["code"]
        );
    }
}

/// One snapshot per query: `kscope report samples/audit --query CODE` as a table, so adding a
/// query adds a snapshot and touches no other.
#[test]
fn every_query_has_its_own_report_snapshot() {
    insta::glob!("../../queries", "*.sql", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let code = kscope::query::parse("q.sql", &text).unwrap().code;
        let o = kscope(&[
            "report",
            "samples/audit",
            "--query",
            &code,
            "--max-rows",
            "5",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o)); // the samples' malformed lines
        let out = stdout(&o);
        // a finding's header line (`severity[CODE] subject`) and a URL are never broken; everything
        // else fits
        for line in out
            .lines()
            .filter(|l| !l.contains("[AUD") && !l.contains("://"))
        {
            assert!(
                line.chars().count() <= 100,
                "wider than 100 columns: {line}"
            );
        }
        assert!(out.starts_with(&format!("{code} ")), "{out}");
        assert!(
            out.contains("input: 6 source(s), 3053 lines, 2894 requests")
                && out.contains("NOT FULLY READ: 5 malformed line(s)"),
            "{out}"
        );
        insta::assert_snapshot!("query", out);
    });
}

#[test]
fn fail_on_and_exit_codes() {
    let clean = "samples/audit/eks-apiserver-audit.jsonl";
    // a window without the malformed lines' problems cannot exist (they are in the file), so use
    // the fully readable export samples: they hold deprecated API calls (warnings)
    let gke = "samples/audit/gke-cloud-audit.jsonl";
    let warn = kscope(&["report", gke, "--fail-on", "warning"]);
    assert_eq!(warn.status.code(), Some(1), "{}", stderr(&warn));
    let err = kscope(&["report", gke, "--fail-on", "error"]);
    assert_eq!(err.status.code(), Some(0));
    let none = kscope(&["report", gke, "--fail-on", "none"]);
    assert_eq!(none.status.code(), Some(0));
    // usage errors
    assert_eq!(
        kscope(&["report", clean, "--query", "AUD999"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        kscope(&["report", clean, "--param", "nope=1"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        kscope(&["report", clean, "--param", "min_lists=abc"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        kscope(&["report", "no/such/file.jsonl"]).status.code(),
        Some(2)
    );
    assert_eq!(
        kscope(&["report", clean, "--since", "yesterday"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(kscope(&["report"]).status.code(), Some(2));
}

#[test]
fn sql_errors_are_reported_once() {
    let o = kscope(&[
        "sql",
        "SELECT nope FROM audit",
        "samples/audit/gke-cloud-audit.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.starts_with("kscope: error: "), "{e}");
    assert_eq!(e.matches("No field named nope").count(), 1, "{e}");
}

#[test]
fn strict_stops_at_the_first_malformed_line() {
    let o = kscope(&[
        "report",
        "samples/audit/eks-apiserver-audit.jsonl",
        "--strict",
        "--threads",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
    let e = stderr(&o);
    assert!(
        e.contains(
            "malformed audit event at samples/audit/eks-apiserver-audit.jsonl:201: truncated JSON"
        ),
        "{e}"
    );
}

#[test]
fn params_change_thresholds() {
    let base = kscope(&[
        "report",
        "samples/audit",
        "--query",
        "AUD020",
        "--format",
        "json",
    ]);
    let n = json(&base)["findings"].as_array().unwrap().len();
    assert_eq!(n, 4);
    let o = kscope(&[
        "report",
        "samples/audit",
        "--query",
        "AUD020",
        "--param",
        "AUD020.min_lists=31",
        "--format",
        "json",
    ]);
    let f = json(&o)["findings"].as_array().unwrap().clone();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["subject"]["name"], "OpenAPI-Generator LIST pods");
    assert_eq!(f[0]["severity"], "error");
}

#[test]
fn sql_top_user_agents() {
    let o = kscope(&[
        "sql",
        "SELECT user_agent, count(*) AS n FROM audit GROUP BY 1 ORDER BY n DESC, user_agent LIMIT 3",
        "samples/audit",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2)); // malformed lines in the samples
    assert_eq!(
        json(&o),
        json!([
            {"user_agent": "kubelet/v1.30.4 (linux/amd64) kubernetes/abc1234", "n": 1746},
            {"user_agent": "flaky-informer/v0.3.0 (linux/amd64) kubernetes/$Format", "n": 240},
            {"user_agent": "OpenAPI-Generator/29.0.0/python", "n": 150},
        ])
    );
}

#[test]
fn sql_reads_stdin_and_files_alike() {
    let q = "SELECT count(*) AS n, count(DISTINCT audit_id) AS ids, sum(latency_ms) > 0 AS lat FROM audit";
    let f = kscope(&[
        "sql",
        q,
        "samples/audit/eks-apiserver-audit.jsonl",
        "--format",
        "csv",
    ]);
    let s = kscope_stdin(
        &["sql", q, "-", "--format", "csv"],
        Some(&samples().join("eks-apiserver-audit.jsonl")),
    );
    assert_eq!(stdout(&f), "n,ids,lat\n2664,2664,true\n");
    assert_eq!(stdout(&f), stdout(&s));
    // sources print as stdin:line
    let s = kscope_stdin(
        &[
            "sql",
            "SELECT source FROM audit ORDER BY source LIMIT 1",
            "-",
            "--format",
            "csv",
        ],
        Some(&samples().join("eks-apiserver-audit.jsonl")),
    );
    assert_eq!(stdout(&s), "source\nstdin:1\n");
}

#[test]
fn sql_from_file_with_params_and_window() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("q.sql");
    std::fs::write(&f, "SELECT count(*) AS n FROM audit WHERE client = ${who}").unwrap();
    let f = f.to_str().unwrap();
    let all = kscope(&[
        "sql",
        "-f",
        f,
        "samples/audit/eks-apiserver-audit.jsonl",
        "--param",
        "who=flaky-informer",
        "--format",
        "csv",
    ]);
    assert_eq!(stdout(&all), "n\n240\n");
    // the window is applied to request receipt time: the first 15 minutes only
    let w = kscope(&[
        "sql",
        "-f",
        f,
        "samples/audit/eks-apiserver-audit.jsonl",
        "--param",
        "who=flaky-informer",
        "--since",
        "2026-11-01T23:30:00Z",
        "--until",
        "2026-11-01T23:45:00Z",
        "--format",
        "csv",
    ]);
    assert_eq!(stdout(&w), "n\n60\n");
    let bad = kscope(&["sql", "-f", f, "samples/audit", "--param", "other=1"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn latency_is_correct_across_midnight() {
    let o = kscope(&[
        "sql",
        "SELECT count(*) AS crossing, min(latency_ms) >= 0 AS nonneg FROM audit WHERE date_trunc('day', request_received_ts) <> date_trunc('day', stage_ts)",
        "samples/audit/eks-apiserver-audit.jsonl",
        "--format",
        "csv",
    ]);
    let out = stdout(&o);
    let mut lines = out.lines().skip(1);
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(
        row[0].parse::<u32>().unwrap() > 0,
        "the samples cross midnight: {out}"
    );
    assert_eq!(row[1], "true");
}

#[test]
fn queries_list_and_explain() {
    let o = kscope(&["queries"]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("queries_list", stdout(&o));
    let e = kscope(&["queries", "explain", "AUD020"]);
    let text = stdout(&e);
    assert!(text.starts_with("-- code: AUD020\n-- name: lists-without-limit"));
    assert!(text.contains("WHERE lists >= threshold"));
    assert_eq!(
        kscope(&["queries", "explain", "lists-without-limit"]).stdout,
        e.stdout
    );
    assert_eq!(
        kscope(&["queries", "explain", "NOPE"]).status.code(),
        Some(2)
    );
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let one = kscope(&[
        "report",
        "samples/audit",
        "--format",
        "json",
        "--threads",
        "1",
    ]);
    let four = kscope(&[
        "report",
        "samples/audit",
        "--format",
        "json",
        "--threads",
        "4",
    ]);
    assert_eq!(json(&one), json(&four));
}

#[test]
fn every_flag_of_every_subcommand_is_documented() {
    use clap::CommandFactory;
    fn check(cmd: &clap::Command, path: &str, seen: &mut usize) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                help.trim().len() >= 10,
                "{path}: --{id} has no documentation"
            );
            *seen += 1;
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            assert!(
                sub.get_about().is_some(),
                "{path} {} has no description",
                sub.get_name()
            );
            check(sub, &format!("{path} {}", sub.get_name()), seen);
        }
    }
    let cmd = kscope::cli::Cli::command();
    cmd.clone().debug_assert();
    let mut seen = 0;
    check(&cmd, "kscope", &mut seen);
    assert!(seen > 60, "{seen} arguments checked");
}

/// The SIMD-indexed scanner and the portable one read the samples (malformed lines included) to the
/// same rows, every column, and report the same malformed lines. `KSCOPE_JSON_KERNEL` picks the
/// kernel; a kernel this CPU lacks falls back to the best one, so every name runs.
#[test]
fn every_json_kernel_reads_the_samples_alike() {
    let run = |kernel: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kscope"))
            .args([
                "sql",
                "SELECT * FROM audit ORDER BY source, audit_id, stage",
                "samples/audit",
                "--format",
                "json",
            ])
            .current_dir(crate::root())
            .env("KSCOPE_JSON_KERNEL", kernel)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (crate::stdout(&out), crate::stderr(&out), out.status.code())
    };
    let portable = run("off");
    let rows: serde_json::Value = serde_json::from_str(&portable.0).unwrap();
    assert!(rows.as_array().unwrap().len() > 100, "{}", portable.1);
    assert!(portable.1.contains("malformed"), "{}", portable.1);
    for kernel in ["portable", "sse2", "avx2", "neon"] {
        assert_eq!(run(kernel), portable, "kernel {kernel}");
    }
}
