//! The APF estimate end to end: the test API server holds a custom FlowSchema and priority level
//! and serves object counts and sizes in `/metrics` and its version in `/version`; a generated log
//! of paged LISTs from one client must price at the seats the 1.34 estimator charges, fill the
//! capacity views, and raise AUD080 for the client that holds the level.

use serde_json::{Value, json};

use crate::apiserver::FakeApi;

/// The capacity queries whose findings need object counts or a saturated level: the samples alone
/// cannot make them fire (the meta-tests leave them to this file).
pub const NEEDS_INPUTS: [&str; 3] = ["AUD080", "AUD082", "AUD083"];

const METRICS: &str = "apiserver_resource_objects{group=\"\",resource=\"pods\"} 20000\n\
apiserver_resource_size_estimate_bytes{group=\"\",resource=\"pods\"} 80000000\n";

fn apf_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
               "metadata": {"name": "batch-jobs"},
               "spec": {"matchingPrecedence": 500, "priorityLevelConfiguration": {"name": "batch"},
                        "distinguisherMethod": {"type": "ByUser"},
                        "rules": [{"subjects": [{"kind": "Group", "group": {"name": "batch"}}],
                                   "resourceRules": [{"verbs": ["list", "get"], "apiGroups": [""], "resources": ["pods"],
                                                      "clusterScope": true, "namespaces": ["*"]}]}]}}),
        json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
               "metadata": {"name": "batch"},
               "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 10,
                        "limitResponse": {"type": "Queue", "queuing": {"queues": 16, "handSize": 4, "queueLengthLimit": 50}}}}}),
    ]
}

/// `n` paged LISTs of pods (later pages: read from etcd) by the batch client, each taking 2 s,
/// spread over one minute, plus a person's GETs.
fn log(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let mut lines = Vec::new();
    for i in 0..n {
        let start = format!("2026-11-20T10:00:{:02}.000000Z", i % 58);
        let end = format!("2026-11-20T10:00:{:02}.000000Z", i % 58 + 2);
        lines.push(json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("batch-{i}"), "stage": "ResponseComplete",
            "requestURI": "/api/v1/pods?continue=abc&limit=500", "verb": "list",
            "user": {"username": "system:serviceaccount:jobs:etl", "groups": ["system:serviceaccounts", "system:authenticated", "batch"]},
            "sourceIPs": ["10.0.0.9"], "userAgent": "etl/1.0",
            "objectRef": {"resource": "pods", "apiVersion": "v1"},
            "responseStatus": {"code": 200},
            "requestReceivedTimestamp": start, "stageTimestamp": end}).to_string());
    }
    for i in 0..5 {
        lines.push(json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("alice-{i}"), "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/x/configmaps/c", "verb": "get",
            "user": {"username": "alice", "groups": ["system:authenticated"]},
            "sourceIPs": ["10.0.0.8"], "userAgent": "kubectl/v1.34.0",
            "objectRef": {"resource": "configmaps", "namespace": "x", "name": "c", "apiVersion": "v1"},
            "responseStatus": {"code": 200},
            "requestReceivedTimestamp": format!("2026-11-20T10:00:{:02}.000000Z", i),
            "stageTimestamp": format!("2026-11-20T10:00:{:02}.100000Z", i)}).to_string());
    }
    let p = dir.join("audit.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_levels_and_capacity_views_from_a_live_configuration() {
    let api = FakeApi::start(apf_objects(), "v1.34.2", Some(METRICS.into())).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = log(dir.path(), 60);
    let kc = api.kubeconfig().display().to_string();
    let a = audit.display().to_string();

    // per request: 500 pods × 4 000 B from etcd = 2 MB → 20 seats; level batch has 400 nominal
    // seats (10 of 15 shares of 600, with the mandatory catch-all) and a per-request limit of
    // min(ceil(0.15 × 400), 400 / 4) = 60, so 20 stands
    let out = crate::kscope(&[
        "sql",
        "SELECT user_name, flow_schema, priority_level, est_seats, served_from, est_objects, est_seats_cached, count(*) AS n \
         FROM audit GROUP BY ALL ORDER BY user_name",
        &a,
        "--kubeconfig",
        &kc,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let rows = crate::json(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let alice = &rows[0];
    assert_eq!(
        alice["flow_schema"], "catch-all",
        "no global-default: the cluster's own objects are used"
    );
    assert_eq!(alice["est_seats"], 1);
    let etl = &rows[1];
    assert_eq!(etl["flow_schema"], "batch-jobs");
    assert_eq!(etl["priority_level"], "batch");
    assert_eq!(etl["est_seats"], 20);
    assert_eq!(etl["served_from"], "etcd");
    assert_eq!(etl["est_objects"], 500);
    // from the cache a read is counted at most 1 MB: 10 seats
    assert_eq!(etl["est_seats_cached"], 10);
    assert_eq!(etl["n"], 60);

    // the capacity views: 60 × 20 seats × 2 s = 2 400 seat-seconds in one minute: 40 seats in use
    // `report` of the log with the cluster's kubeconfig, as JSON, with `rest` (the queries, parameters)
    let report = |rest: &[&str]| {
        let mut args = vec![
            "report",
            a.as_str(),
            "--kubeconfig",
            kc.as_str(),
            "--format",
            "json",
        ];
        args.extend(rest);
        crate::json(&crate::kscope(&args))
    };
    let doc = report(&[
        "--query", "AUD080", "--query", "AUD081", "--query", "AUD082",
    ]);
    let table = |code: &str| -> Vec<Value> {
        doc["queries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {doc}"))["rows"]
            .as_array()
            .unwrap()
            .clone()
    };
    let share = table("AUD080");
    assert_eq!(share[0]["client"], "etl");
    assert_eq!(share[0]["seat_seconds"], 2400.0);
    assert_eq!(share[0]["share_of_level_pct"], 100.0);
    let minute = table("AUD081");
    let batch: Vec<&Value> = minute
        .iter()
        .filter(|r| r["priority_level"] == "batch")
        .collect();
    assert_eq!(batch.len(), 1, "{minute:?}");
    assert_eq!(batch[0]["seats_in_use"], 40.0);
    assert_eq!(batch[0]["nominal_seats"], 400);
    let cost = table("AUD082");
    assert_eq!(cost[0]["mean_seats"], 20.0);
    assert_eq!(cost[0]["paged_seats"], 20);
    let codes: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"AUD080"), "{codes:?}");
    // the summary names what the estimate rests on
    let summary = doc["apf_estimate"].to_string();
    assert!(
        summary.contains("server 1.34 (cluster fake-ctx /version)") && summary.contains("/metrics"),
        "{summary}"
    );
    // a level at 10% of its nominal seats is saturated when the threshold says 5%, in one minute
    let aud083 = |extra: &[&str]| report(&[&["--query", "AUD083"][..], extra].concat());
    let doc = aud083(&[
        "--param",
        "AUD083.saturated_percent=5",
        "--param",
        "AUD083.min_minutes=1",
    ]);
    let f = &doc["findings"][0];
    assert_eq!(f["code"], "AUD083", "{doc}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("priority level batch used 40"),
        "{f}"
    );
    assert!(
        f["message"].as_str().unwrap().contains("etl held the most"),
        "{f}"
    );
    // at the default (100 % of the nominal seats for 5 minutes) it is not
    assert_eq!(aud083(&[])["findings"].as_array().unwrap().len(), 0);
    // FlowSchemas forbidden: the estimate rests on the server's own objects, and says why
    api.fault("/flowschemas", crate::apiserver::Fault::Status(403), 10);
    let doc = report(&["--query", "AUD080"]);
    let said = doc["apf_estimate"].to_string();
    assert!(
        said.contains("APF objects: FlowSchema of cluster fake-ctx") && said.contains("forbidden"),
        "{said}"
    );
    assert_eq!(
        doc["queries"][0]["rows"][0]["flow_schema"], "service-accounts",
        "{doc}"
    );
    // without object counts a LIST's estimate is unknown, not 1
    let out = crate::kscope(&[
        "sql",
        "SELECT max(est_seats) AS s, count(*) FILTER (WHERE est_seats IS NULL) AS unknown FROM audit WHERE verb = 'list'",
        &a,
        "--format",
        "json",
    ]);
    let r = crate::json(&out);
    assert_eq!(r[0]["unknown"], 60, "{r}");
}
