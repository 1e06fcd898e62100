//! The same events, exported every way people have them, give the same rows.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::{kscope, samples, stdout};

/// The first `n` events of the main sample, as parsed JSON.
fn events(n: usize) -> Vec<Value> {
    let bytes = std::fs::read(samples().join("eks-apiserver-audit.jsonl")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v.get("verb").is_some() && v.get("stage") != Some(&Value::from("RequestReceived"))
        })
        .take(n)
        .collect()
}

const Q: &str = "SELECT * EXCLUDE (source) FROM audit ORDER BY audit_id, stage";

fn rows(path: &Path) -> String {
    let o = kscope(&["sql", Q, path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

#[test]
fn every_export_format_gives_the_same_rows() {
    let ev = events(300);
    assert_eq!(ev.len(), 300);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines: Vec<String> = ev
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();

    let plain = d.join("plain.jsonl");
    std::fs::write(&plain, lines.join("\n") + "\n").unwrap();
    let expected = rows(&plain);
    // one row per request: ResponseStarted and ResponseComplete of one watch share an audit ID
    let ids: std::collections::BTreeSet<&str> =
        ev.iter().filter_map(|e| e["auditID"].as_str()).collect();
    assert!(ids.len() < 300);
    assert_eq!(expected.matches("\"audit_id\"").count(), ids.len());

    // gzip, CRLF line ends, blank lines, no final newline
    let gz = d.join("audit.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(("\r\n".to_string() + &lines.join("\r\n\r\n")).as_bytes())
        .unwrap();
    enc.finish().unwrap();

    // aws logs filter-log-events
    let cw = d.join("filter-log-events.json");
    let doc = json!({"events": lines.iter().enumerate().map(|(i, l)| json!({"logStreamName": "kube-apiserver-audit-0123456789abcdef0123456789abcdef", "timestamp": i, "message": l, "ingestionTime": i, "eventId": i.to_string()})).collect::<Vec<_>>()});
    std::fs::write(&cw, serde_json::to_string_pretty(&doc).unwrap()).unwrap();

    // one CloudWatch record per line (e.g. from a subscription or Logs Insights export)
    let cwl = d.join("cloudwatch.jsonl");
    std::fs::write(
        &cwl,
        lines
            .iter()
            .map(|l| json!({"timestamp": 1, "message": l}).to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();

    // CloudWatch Logs S3 export
    let s3 = d.join("000000.log");
    std::fs::write(
        &s3,
        lines
            .iter()
            .map(|l| format!("2026-11-01T23:30:00.000Z {l}\n"))
            .collect::<String>(),
    )
    .unwrap();

    // AKS: properties.log as a string and as an object, in a records document and one record per line
    let aks = d.join("aks.json");
    let recs: Vec<Value> = ev
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let log = if i % 2 == 0 {
                Value::String(e.to_string())
            } else {
                e.clone()
            };
            json!({"category": "kube-audit", "properties": {"log": log, "pod": "kube-apiserver-0"}})
        })
        .collect();
    std::fs::write(
        &aks,
        serde_json::to_string(&json!({"records": recs})).unwrap(),
    )
    .unwrap();
    let aksl = d.join("aks.jsonl");
    std::fs::write(
        &aksl,
        recs.iter()
            .map(|r| r.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();

    // EventList and a JSON array
    let el = d.join("eventlist.json");
    std::fs::write(
        &el,
        serde_json::to_string_pretty(
            &json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": ev}),
        )
        .unwrap(),
    )
    .unwrap();
    let arr = d.join("array.json");
    std::fs::write(&arr, serde_json::to_string(&ev).unwrap()).unwrap();

    for p in [&gz, &cw, &cwl, &s3, &aks, &aksl, &el, &arr] {
        assert_eq!(rows(p), expected, "{} differs from JSON lines", p.display());
    }
}

#[test]
fn a_directory_and_a_glob_name_the_same_files() {
    let a = kscope(&[
        "sql",
        "SELECT count(*) AS n FROM audit",
        "samples/audit",
        "--format",
        "csv",
    ]);
    let b = kscope(&[
        "sql",
        "SELECT count(*) AS n FROM audit",
        "samples/audit/*",
        "--format",
        "csv",
    ]);
    assert_eq!(stdout(&a), "n\n2894\n");
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn a_truncated_gzip_is_reported_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let lines: Vec<String> = events(300).iter().map(|e| e.to_string()).collect();
    enc.write_all(lines.join("\n").as_bytes()).unwrap();
    let mut gz = enc.finish().unwrap();
    gz.truncate(gz.len() * 2 / 3);
    let cut = dir.path().join("cut.jsonl.gz");
    std::fs::write(&cut, gz).unwrap();
    let o = kscope(&[
        "sql",
        "SELECT count(*) AS n FROM audit",
        cut.to_str().unwrap(),
        "samples/audit/gke-cloud-audit.jsonl",
        "--format",
        "csv",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cut.jsonl.gz: read error near line"), "{err}");
    let n: u64 = stdout(&o).lines().nth(1).unwrap().parse().unwrap();
    // the GKE file (40) plus whatever part of the gzip decoded cleanly
    assert!(n > 40 && n < 340, "{n}");
}

#[test]
fn no_panic_on_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let junk: Vec<&[u8]> = vec![
        b"\x00\x01\x02\xff\xfe",
        b"{",
        b"[",
        b"{\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"requestURI\":\"/x\",\"requestReceivedTimestamp\":\"not a time\"}",
        b"{\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"requestURI\":\"/x?limit=99999999999999999999999\",\"requestReceivedTimestamp\":\"2026-11-01T00:00:00Z\",\"responseStatus\":{\"code\":99999999999}}",
        b"{\"auditID\":1,\"stage\":[],\"verb\":{},\"requestURI\":null}",
        b"{\"records\":[{\"properties\":{}}]}",
        b"{\"protoPayload\":{}}",
        b"\"just a string\"",
        b"{\"message\":\"{\\\"auditID\\\"\"}",
    ];
    for (i, j) in junk.iter().enumerate() {
        let p = dir.path().join(format!("junk{i}.jsonl"));
        std::fs::write(&p, j).unwrap();
        let o = kscope(&["report", p.to_str().unwrap(), "--format", "json"]);
        let code = o.status.code();
        assert!(
            matches!(code, Some(0) | Some(2)),
            "junk {i}: {code:?} {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("panicked"),
            "junk {i}"
        );
    }
}

#[test]
fn an_open_watch_from_a_document_keeps_its_item_number() {
    let dir = tempfile::tempdir().unwrap();
    let watch = json!({"kind": "Event", "auditID": "w1", "stage": "ResponseStarted", "verb": "watch",
        "requestURI": "/api/v1/pods?watch=true", "objectRef": {"resource": "pods", "apiVersion": "v1"},
        "requestReceivedTimestamp": "2026-11-01T00:00:00Z", "stageTimestamp": "2026-11-01T00:00:00.001Z"});
    let p = dir.path().join("list.json");
    std::fs::write(
        &p,
        serde_json::to_string_pretty(&json!({"kind": "EventList", "items": [watch]})).unwrap(),
    )
    .unwrap();
    let o = kscope(&[
        "sql",
        "SELECT stage, source FROM audit",
        p.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(
        stdout(&o),
        format!("stage,source\nResponseStarted,{}#1\n", p.display())
    );
}
