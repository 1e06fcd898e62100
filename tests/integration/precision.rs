//! Precision: what a healthy control plane does is never a warning, a webhook outage is one finding,
//! the impersonated user is the caller, an event delivered twice counts once, and every minimum a
//! rate rests on is tested on both sides. The logs come from tests/fixtures/make-control-plane-log.py.

use serde_json::Value;

use crate::{json, kscope, root, stderr};

const HEALTHY: &str = "tests/fixtures/audit/control-plane-healthy.jsonl.gz";
const WEBHOOK_DOWN: &str = "tests/fixtures/audit/control-plane-webhook-down.jsonl.gz";
const RESTART: &str = "tests/fixtures/audit/control-plane-restart.jsonl.gz";
const IMPERSONATION: &str = "tests/fixtures/audit/impersonation.jsonl";

fn report(args: &[&str]) -> Value {
    let mut a = vec!["report", "--format", "json"];
    a.extend_from_slice(args);
    let o = kscope(&a);
    let doc = json(&o);
    // 2 only for the samples' malformed lines
    let malformed = doc["input"]["malformed"].as_u64().unwrap_or(0) > 0;
    assert!(
        matches!(o.status.code(), Some(0 | 1)) || (o.status.code() == Some(2) && malformed),
        "{:?}: {}",
        o.status,
        stderr(&o)
    );
    doc
}

/// `severity code subject: message` of the findings at warning or above.
fn alarms(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(crate::finding_line)
        .collect()
}

/// The rows of one query, as objects keyed by column.
fn rows(r: &Value, code: &str) -> Vec<serde_json::Map<String, Value>> {
    let q = r["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in the report"));
    let cols: Vec<String> = q["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| match row {
            Value::Object(m) => m.clone(),
            Value::Array(vals) => cols.iter().cloned().zip(vals.iter().cloned()).collect(),
            other => panic!("row {other}"),
        })
        .collect()
}

#[test]
fn a_healthy_control_plane_raises_no_warning_and_keeps_its_rows() {
    let r = report(&[HEALTHY]);
    assert_eq!(alarms(&r), Vec::<String>::new());
    // the rows are there, labelled as the control plane, judged as normal
    let readyz = rows(&r, "AUD041");
    let row = readyz
        .iter()
        .find(|row| row["resource"] == "/readyz")
        .expect("the start-up /readyz 500s are listed");
    assert_eq!(row["errors"], 20);
    assert_eq!(
        row["after_ready"], 0,
        "all of them before the server was ready"
    );
    assert_eq!(row["control_plane"], "kube-apiserver");
    let endpoints = rows(&r, "AUD060");
    assert!(
        endpoints
            .iter()
            .any(|row| row["api"] == "v1 endpoints" && row["removal"] == "no removal scheduled"),
        "{endpoints:?}"
    );
    let quota = rows(&r, "AUD020");
    assert!(
        quota
            .iter()
            .any(|row| row["resource"] == "resourcequotas"
                && row["control_plane"] == "kube-apiserver"),
        "{quota:?}"
    );
    let forbidden = rows(&r, "AUD070");
    assert!(
        forbidden
            .iter()
            .any(|row| row["caller"] == "system:kube-scheduler" && row["forbidden"] == 30),
        "{forbidden:?}"
    );
    let conflicts = rows(&r, "AUD042");
    assert!(
        conflicts.iter().any(|row| row["conflicts"] == 12),
        "{conflicts:?}"
    );
    // CoreDNS is an add-on in kube-system, not the control plane: judged like anyone, and healthy
    let churn = rows(&r, "AUD030");
    let dns: Vec<_> = churn
        .iter()
        .filter(|row| row["client"] == "coredns")
        .collect();
    assert_eq!(dns.len(), 3);
    assert!(dns.iter().all(|row| row["control_plane"].is_null()));
    // the informers' watches were cut by the API server's stop at the end: not counted as churn
    for row in &churn {
        assert!(
            row["completed"].as_u64().unwrap() < row["watches"].as_u64().unwrap(),
            "{row:?}"
        );
    }
}

#[test]
fn one_minute_cuts_of_the_healthy_log_raise_nothing_new() {
    for (since, until) in [
        ("2026-12-01T08:00:00Z", "2026-12-01T08:01:00Z"), // start-up: /readyz 500, RBAC 403s
        ("2026-12-01T08:00:05Z", "2026-12-01T08:00:15Z"), // only start-up: nothing ready yet
        ("2026-12-01T08:30:00Z", "2026-12-01T08:31:00Z"),
        ("2026-12-01T08:59:00Z", "2026-12-01T09:00:00Z"), // the stop: every watch ends
        ("2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z"),
    ] {
        let r = report(&[HEALTHY, "--since", since, "--until", until]);
        assert!(r["input"]["events"].as_u64().unwrap() > 0);
        assert_eq!(alarms(&r), Vec::<String>::new(), "{since} .. {until}");
    }
}

#[test]
fn a_webhook_outage_is_the_webhook_finding_and_nothing_else() {
    for cut in [
        vec![WEBHOOK_DOWN],
        vec![
            WEBHOOK_DOWN,
            "--since",
            "2026-12-01T08:31:00Z",
            "--until",
            "2026-12-01T08:32:00Z",
        ],
    ] {
        let r = report(&cut);
        let a = alarms(&r);
        assert_eq!(a.len(), 1, "{cut:?}: {a:#?}");
        assert!(
            a[0].starts_with("error AUD044 webhook lease-annotator.example.com: "),
            "{}",
            a[0]
        );
        for needle in [
            "could not be called (connection refused)",
            "failed (failurePolicy Fail) and 0 went through without it (Ignore), from 4 clients",
            "of them the control plane's",
        ] {
            assert!(a[0].contains(needle), "{needle}: {}", a[0]);
        }
        let fix = r["findings"][0]["remediation"].as_str().unwrap();
        for needle in [
            "clients kube-apiserver, kube-controller-manager/leader-election, kube-scheduler, kubelet;",
            "namespaces kube-node-lease, kube-system;",
            "failed calling webhook \"lease-annotator.example.com\"",
        ] {
            assert!(fix.contains(needle), "{needle}: {fix}");
        }
    }
    // the timeline: 8 minutes of failures
    let r = report(&[WEBHOOK_DOWN, "--query", "AUD045"]);
    let minutes = rows(&r, "AUD045");
    assert_eq!(minutes.len(), 8, "{minutes:?}");
    // and the failed requests are not also reported as server errors
    let r = report(&[WEBHOOK_DOWN, "--query", "AUD041"]);
    assert!(
        rows(&r, "AUD041")
            .iter()
            .all(|row| row["resource"] == "/readyz")
    );
}

#[test]
fn the_impersonated_user_is_the_caller_and_the_impersonator_is_named() {
    let r = report(&[IMPERSONATION]);
    let users: Vec<(String, Value)> = rows(&r, "AUD002")
        .iter()
        .map(|row| {
            (
                row["caller"].as_str().unwrap().to_string(),
                row["control_plane"].clone(),
            )
        })
        .collect();
    assert_eq!(
        users,
        [
            ("alice (via system:admin)".to_string(), Value::Null),
            ("bob (via system:admin)".to_string(), Value::Null),
            // a person acting as the controller manager is not the control plane
            (
                "system:kube-controller-manager (via system:admin)".to_string(),
                Value::Null
            ),
        ],
        "nobody is counted as system:admin"
    );
    let a = alarms(&r);
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(
        a.iter()
            .any(|a| a.starts_with("warning AUD070 192.0.2.10 (alice (via system:admin)): ")),
        "{a:?}"
    );
    // and is judged like anyone: six LISTs of every Secret without limit
    assert!(
        a.iter()
            .any(|a| a.starts_with("warning AUD020 kubectl LIST secrets: kubectl sent 6 LISTs")),
        "{a:?}"
    );
    let o = kscope(&[
        "sql",
        "SELECT DISTINCT user_name, impersonated_user, effective_user FROM audit ORDER BY 3",
        IMPERSONATION,
        "--format",
        "csv",
    ]);
    assert_eq!(
        crate::stdout(&o),
        "user_name,impersonated_user,effective_user\nsystem:admin,alice,alice\nsystem:admin,bob,bob\n\
         system:admin,system:kube-controller-manager,system:kube-controller-manager\n"
    );
}

#[test]
fn an_event_delivered_twice_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("samples/audit/eks-apiserver-audit.jsonl");
    // a shipper that delivered the whole file twice, the second time gzipped under another name
    std::fs::copy(&src, dir.path().join("a.jsonl")).unwrap();
    let text = std::fs::read(&src).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &text).unwrap();
    std::fs::write(dir.path().join("b.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let run = |p: &str| {
        let o = kscope(&["report", p, "--format", "json"]);
        assert_eq!(o.status.code(), Some(2), "the sample's malformed lines");
        json(&o)
    };
    let once = run("samples/audit/eks-apiserver-audit.jsonl");
    let twice = run(dir.path().to_str().unwrap());
    assert_eq!(once["input"]["duplicates"], 0);
    assert_eq!(twice["input"]["events"], once["input"]["events"]);
    // every event of the second copy (RequestReceived stages are skipped before)
    let expected = once["input"]["events"].as_u64().unwrap()
        + once["input"]["merged_started"].as_u64().unwrap();
    assert_eq!(twice["input"]["duplicates"], expected);
    let msgs = |r: &Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["message"].to_string())
            .collect()
    };
    assert_eq!(msgs(&twice), msgs(&once));
}

/// `--param` a query with `value`, and whether `subject` is then a finding.
fn fires(args: &[&str], code: &str, param: &str, subject: &str) -> bool {
    let mut a = args.to_vec();
    a.extend_from_slice(&["--query", code, "--param", param]);
    report(&a)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["subject"]["name"].as_str().unwrap().contains(subject))
}

#[test]
fn every_minimum_a_judgement_rests_on_is_tested_on_both_sides() {
    let s = ["samples/audit"];
    // AUD030: flaky-informer completed 116 watches inside the window, all shorter than 60 s, over
    // a window of 59.9 minutes
    let churn = "flaky-informer WATCH configmaps";
    assert!(fires(&s, "AUD030", "AUD030.min_watches=116", churn));
    assert!(!fires(&s, "AUD030", "AUD030.min_watches=117", churn));
    // without the short-watch signal (none counts as short), the rate decides, and only in a
    // long enough window
    let rate_only = |min_window: &str| {
        report(&[
            "samples/audit",
            "--query",
            "AUD030",
            "--param",
            "AUD030.short_watch_seconds=0",
            "--param",
            &format!("AUD030.min_window_minutes={min_window}"),
        ])
    };
    assert!(alarms(&rate_only("59")).iter().any(|a| a.contains(churn)));
    let r = rate_only("60");
    assert!(alarms(&r).is_empty(), "{:?}", alarms(&r));
    let row = rows(&r, "AUD030")
        .into_iter()
        .find(|row| row["client"] == "flaky-informer")
        .unwrap();
    assert!(
        row["per_stream_hour"].is_null(),
        "no rate from a window that is too short"
    );
    assert_eq!(row["note"], "too few observations to judge");
    // AUD020: curl sent 6 unpaged LISTs of secrets in 59.9 minutes
    let curl = "curl LIST secrets";
    assert!(fires(&s, "AUD020", "AUD020.min_lists_per_hour=6", curl));
    assert!(!fires(&s, "AUD020", "AUD020.min_lists_per_hour=7", curl));
    assert!(fires(&s, "AUD020", "AUD020.min_lists=6", curl));
    assert!(!fires(&s, "AUD020", "AUD020.min_lists=7", curl));
    // over a window of 10 minutes, the same per-hour minimum asks for fewer (but min_lists)
    let ten = [
        "samples/audit",
        "--since",
        "2026-11-01T23:30:00Z",
        "--until",
        "2026-11-01T23:40:00Z",
    ];
    let r = report(&[&ten[..], &["--query", "AUD020"]].concat());
    let thresholds: Vec<i64> = rows(&r, "AUD020")
        .iter()
        .map(|row| row["threshold"].as_i64().unwrap())
        .collect();
    assert!(thresholds.iter().all(|t| *t == 5), "{thresholds:?}");
    // AUD041: three 504s of OpenAPI-Generator after the server was ready
    let errors = "OpenAPI-Generator list pods";
    assert!(fires(&s, "AUD041", "AUD041.min_errors=3", errors));
    assert!(!fires(&s, "AUD041", "AUD041.min_errors=4", errors));
    // AUD044: six failed configmap creates of one client
    let hook = "validate.policy-agent.example.com";
    assert!(fires(&s, "AUD044", "AUD044.min_failed=6", hook));
    assert!(!fires(&s, "AUD044", "AUD044.min_failed=7", hook));
}

#[test]
fn the_window_is_printed_the_way_the_queries_say_it() {
    for (since, until, unit) in [
        ("2026-12-01T08:10:00Z", "2026-12-01T08:10:45Z", " s"),
        ("2026-12-01T08:10:00Z", "2026-12-01T08:40:00Z", " min"),
        ("2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z", " min"),
    ] {
        let o = kscope(&[
            "sql",
            "SELECT window FROM ${window}",
            HEALTHY,
            "--since",
            since,
            "--until",
            until,
            "--format",
            "csv",
        ]);
        let out = crate::stdout(&o);
        let label = out.strip_prefix("window\n").unwrap().trim_end().to_string();
        assert!(label.ends_with(unit), "{label}");
        let o = kscope(&[
            "report", HEALTHY, "--since", since, "--until", until, "--query", "AUD001",
        ]);
        let text = crate::stdout(&o);
        assert!(
            text.contains(&format!("({label}; rates")),
            "{label}: {text}"
        );
    }
}

#[test]
fn a_webhook_failure_names_its_configuration_and_the_rules_that_say_what_to_change() {
    let r = report(&[
        "samples/audit",
        "--query",
        "AUD044",
        "--webhooks",
        "samples/manifests",
    ]);
    let f = &r["findings"][0];
    let msg = f["remediation"].as_str().unwrap();
    assert!(
        msg.contains(
            "Configured in ValidatingWebhookConfiguration/policy-agent (samples/manifests/webhooks.yaml:2): \
             failurePolicy Fail, timeoutSeconds 30, namespaceSelector none (everything)"
        ),
        "{msg}"
    );
    assert!(msg.contains("WH001 (error), WH003 (error)"), "{msg}");
    // the message, and so the finding's identity in a baseline, is the same without --webhooks
    let plain = report(&["samples/audit", "--query", "AUD044"]);
    assert_eq!(plain["findings"][0]["message"], f["message"]);
    // a webhook no configuration names says so
    let r = report(&[
        WEBHOOK_DOWN,
        "--query",
        "AUD044",
        "--webhooks",
        "samples/manifests",
    ]);
    let msg = r["findings"][0]["remediation"].as_str().unwrap();
    assert!(
        msg.contains("No webhook configuration in manifests names lease-annotator.example.com"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_configurations_are_read_live_only_when_a_webhook_failed() {
    let api = crate::apiserver::FakeApi::from_files(
        &[root().join("samples/manifests/webhooks.yaml")],
        "v1.33.2",
        None,
    )
    .await;
    let kc = api.kubeconfig().display().to_string();
    let run = |src: &'static str| {
        let kc = kc.clone();
        tokio::task::spawn_blocking(move || {
            crate::kscope(&[
                "report",
                src,
                "--query",
                "AUD044",
                "--webhooks-context",
                "",
                "--webhooks-kubeconfig",
                &kc,
                "--format",
                "json",
            ])
        })
    };
    let healthy = run(HEALTHY).await.unwrap();
    assert_eq!(healthy.status.code(), Some(0), "{}", stderr(&healthy));
    assert!(api.log().is_empty(), "nothing to explain, nothing read");
    let failed = run("samples/audit").await.unwrap();
    let doc = json(&failed);
    let msg = doc["findings"][0]["remediation"].as_str().unwrap();
    assert!(
        msg.contains("Configured in ValidatingWebhookConfiguration/policy-agent (cluster"),
        "{msg}"
    );
    let log = api.log();
    assert!(!log.is_empty());
    assert!(log.iter().all(|l| l.method == "GET"), "read-only");
}

#[test]
fn distinct_events_that_share_an_audit_id_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |stage: &str, stage_ts: &str| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"same-id","stage":"{stage}","requestURI":"/api/v1/namespaces/a/pods","verb":"list","user":{{"username":"u"}},"sourceIPs":["10.0.0.1"],"userAgent":"c/1","objectRef":{{"resource":"pods","namespace":"a","apiVersion":"v1"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"2026-12-01T08:00:00.000000Z","stageTimestamp":"{stage_ts}"}}"#
        )
    };
    let lines = [
        ev("ResponseComplete", "2026-12-01T08:00:00.100000Z"),
        // another event under the same ID (it happens in real files): kept
        ev("ResponseComplete", "2026-12-01T08:00:00.200000Z"),
        // the first one delivered again: dropped
        ev("ResponseComplete", "2026-12-01T08:00:00.100000Z"),
    ];
    let f = dir.path().join("a.jsonl");
    std::fs::write(&f, lines.join("\n")).unwrap();
    let r = report(&[f.to_str().unwrap(), "--query", "AUD001"]);
    assert_eq!(r["input"]["events"], 2);
    assert_eq!(r["input"]["duplicates"], 1);
}

#[test]
fn a_log_of_errors_only_is_judged_from_its_first_request() {
    // what `jq 'select(.responseStatus.code >= 500)'` leaves of a log: no success, no start-up
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(root().join("samples/audit/eks-apiserver-audit.jsonl")).unwrap();
    let errors: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| l.windows(9).any(|w| w == br#""code":50"#))
        .collect();
    assert!(errors.len() >= 6);
    let f = dir.path().join("errors.jsonl");
    std::fs::write(&f, errors.join(&b'\n')).unwrap();
    let a = alarms(&report(&[f.to_str().unwrap(), "--query", "AUD041"]));
    assert!(
        a.iter()
            .any(|a| a.contains("3 list requests of pods by OpenAPI-Generator failed with 504")),
        "{a:?}"
    );
}

#[test]
fn a_file_cut_by_line_is_judged_over_the_time_it_covers() {
    // the last 20 minutes of the healthy hour, cut by line as a rotated file is: the watches that
    // complete in it were received up to 10 minutes before it starts
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(root().join(HEALTHY)).unwrap());
    let mut text = String::new();
    std::io::Read::read_to_string(&mut gz, &mut text).unwrap();
    let tail: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains(r#""stageTimestamp":"2026-12-01T08:4"#)
                || l.contains(r#""stageTimestamp":"2026-12-01T08:5"#)
        })
        .collect();
    let f = dir.path().join("tail.jsonl");
    std::fs::write(&f, tail.join("\n")).unwrap();
    let o = kscope(&[
        "sql",
        "SELECT first_ts >= '2026-12-01T08:39:59Z' AS from_the_cut, window FROM ${window}",
        f.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(crate::stdout(&o), "from_the_cut,window\ntrue,20 min\n");
    let o = kscope(&[
        "sql",
        "SELECT min(request_received_ts) < '2026-12-01T08:35:00Z' AS older FROM audit",
        f.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(
        crate::stdout(&o),
        "older\ntrue\n",
        "the cut holds watches received before it"
    );
    assert_eq!(
        alarms(&report(&[f.to_str().unwrap()])),
        Vec::<String>::new()
    );
}

#[test]
fn an_api_server_restart_is_not_an_alarm() {
    let r = report(&[RESTART]);
    assert_eq!(alarms(&r), Vec::<String>::new());
    // the second start-up is in the tables: its /readyz 500s after the first ready, its 403s
    let readyz = rows(&r, "AUD041");
    let row = readyz
        .iter()
        .find(|row| row["resource"] == "/readyz")
        .unwrap();
    assert_eq!(row["errors"], 40);
    assert_eq!(row["after_ready"], 20, "the second start-up's checks");
    // every watch ended when the server stopped: none of those is churn
    let churn = rows(&r, "AUD030");
    let kubelet = churn
        .iter()
        .find(|row| row["client"] == "kubelet" && row["resource"] == "pods")
        .unwrap();
    assert!(
        kubelet["completed"].as_u64().unwrap() + 6 <= kubelet["watches"].as_u64().unwrap(),
        "the six watches cut by the stop and the end are not counted: {kubelet:?}"
    );
    // the control plane's start-up 403s after the restart span one minute: below the minimum
    let cp = "system:kube-scheduler";
    assert!(!fires(
        &[RESTART],
        "AUD070",
        "AUD070.min_minutes_control_plane=2",
        cp
    ));
    assert!(fires(
        &[RESTART],
        "AUD070",
        "AUD070.min_minutes_control_plane=1",
        cp
    ));
}
