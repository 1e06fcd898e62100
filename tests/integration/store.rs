//! The Parquet store: every query gives the same answer over the store as over the raw logs it was
//! ingested from; ingesting again replaces exactly what it wrote; no partial file is ever read;
//! partitions are pruned; several clusters make one fleet table.

use std::path::Path;

use serde_json::Value;

use crate::{json, stderr, stdout};

fn ingest(store: &Path, sources: &[&str], cluster: &str) -> std::process::Output {
    let mut args = vec!["ingest"];
    args.extend_from_slice(sources);
    args.extend([
        "--store",
        store.to_str().unwrap(),
        "--cluster-name",
        cluster,
    ]);
    crate::kscope(&args)
}

/// The data files of a store (its partial aggregates are counted apart, by [`state_files`]).
fn parquet_files(dir: &Path) -> Vec<String> {
    files_below(dir, |p| p.file_name().is_some_and(|n| n != "partials"))
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .collect()
}

/// Every file below `dir` (relative, sorted), descending into the directories `descend` accepts.
fn files_below(dir: &Path, descend: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if descend(&p) {
                    stack.push(p);
                }
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Findings without where they were read (the raw files vs the store).
fn findings(doc: &Value) -> Vec<Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f["subject"].as_object_mut().unwrap().remove("origin");
            f
        })
        .collect()
}

#[test]
fn every_query_answers_the_same_over_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = ingest(&store, &["samples/audit"], "demo");
    assert_eq!(
        out.status.code(),
        Some(2),
        "malformed sample lines: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("ingested 2894 requests of cluster demo"),
        "{}",
        stdout(&out)
    );
    let files = parquet_files(&store);
    assert!(
        files
            .iter()
            .all(|f| f.starts_with("cluster=demo/date=2026-11-0")),
        "{files:?}"
    );
    let raw = json(&crate::kscope(&[
        "report",
        "samples/audit",
        "--format",
        "json",
    ]));
    let out = crate::kscope(&[
        "report",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the store is fully read: {}",
        stderr(&out)
    );
    let st = json(&out);
    let (rq, sq) = (
        raw["queries"].as_array().unwrap(),
        st["queries"].as_array().unwrap(),
    );
    assert_eq!(rq.len(), kscope::query::registry().unwrap().len());
    assert_eq!(rq.len(), sq.len());
    for (r, s) in rq.iter().zip(sq) {
        assert_eq!(r["code"], s["code"]);
        assert_eq!(r["columns"], s["columns"], "{}", r["code"]);
        assert_eq!(
            r["rows"], s["rows"],
            "{}: rows differ over the store",
            r["code"]
        );
    }
    assert_eq!(findings(&raw), findings(&st));
    assert_eq!(raw["time_range"], st["time_range"]);
    // the time window prunes the same requests
    let window = [
        "--since",
        "2026-11-01T23:45:00Z",
        "--until",
        "2026-11-02T00:05:00Z",
    ];
    let count = |src: &[&str]| {
        let mut a = vec![
            "sql",
            "SELECT count(*) AS n, count(DISTINCT audit_id) AS ids FROM audit",
        ];
        a.extend_from_slice(src);
        a.extend_from_slice(&window);
        a.extend(["--format", "json"]);
        json(&crate::kscope(&a))[0].clone()
    };
    assert_eq!(
        count(&["samples/audit"]),
        count(&["--store", store.to_str().unwrap()])
    );
    // preflight reads its audit evidence from the store too
    let pf = |src: &[&str]| {
        let a = crate::preflight_1_29_to_1_32(&[&["--format", "json"][..], src].concat());
        let doc = json(&crate::kscope(&a));
        doc["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {}", e["hop"], e["code"], e["subject"]))
            .collect::<Vec<_>>()
    };
    let from_raw = pf(&["--audit", "samples/audit"]);
    assert!(!from_raw.is_empty());
    assert_eq!(from_raw, pf(&["--store", store.to_str().unwrap()]));
}

#[test]
fn ingesting_again_replaces_exactly_its_files_and_partial_files_stay_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let src = "samples/audit/eks-apiserver-audit.jsonl";
    assert_eq!(ingest(&store, &[src], "prod").status.code(), Some(2));
    let other = ingest(&store, &["samples/audit/gke-cloud-audit.jsonl"], "prod");
    assert_eq!(other.status.code(), Some(0), "{}", stderr(&other));
    let first = parquet_files(&store);
    let count = || {
        let o = crate::kscope(&[
            "sql",
            "SELECT count(*) AS n FROM audit",
            "--store",
            store.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        json(&o)[0]["n"].as_u64().unwrap()
    };
    let n = count();
    assert_eq!(n, 2664 + 40);
    // a nightly job runs again: the same source replaces its own files, the other source stays
    let again = ingest(&store, &[src], "prod");
    assert!(stdout(&again).contains("replaced"), "{}", stdout(&again));
    let second = parquet_files(&store);
    assert_eq!(second.len(), first.len());
    assert_ne!(second, first, "new files under new names");
    let kept: Vec<&String> = first.iter().filter(|f| second.contains(f)).collect();
    assert_eq!(
        kept.len(),
        1,
        "the other source's file is untouched: {kept:?}"
    );
    assert_eq!(count(), n, "no duplicates");
    // an interrupted write: a partial file in the staging area and a temporary name in a partition
    let staging = store.join("_kscope/staging/run-x/cluster=prod/date=2026-11-01/hour=23");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("part-0.parquet"), b"PAR1 half a file").unwrap();
    let hour = store.join("cluster=prod/date=2026-11-01/hour=23");
    std::fs::write(hour.join("part-1.parquet.tmp"), b"PAR1 half").unwrap();
    assert_eq!(count(), n, "partial files are not read");
    // an ingest of the same source stopped between its phases left its unsorted hours in staging:
    // the next ingest of that source removes them, and leaves other runs alone
    let key = std::fs::read_dir(store.join("_kscope/sources"))
        .unwrap()
        .map(|e| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            v
        })
        .find(|f| {
            f["entry"]["source"]
                .as_str()
                .unwrap()
                .ends_with("eks-apiserver-audit.jsonl")
        })
        .map(|f| f["key"].as_str().unwrap().replace([':', '/'], "_"))
        .unwrap();
    let stale = store.join(format!(
        "_kscope/staging/{key}-20260101T000000000000-unsorted/cluster=prod/date=2026-11-01/hour=23"
    ));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("part-0.parquet"), b"PAR1 unsorted").unwrap();
    let again = ingest(&store, &[src], "prod");
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let left: Vec<String> = std::fs::read_dir(store.join("_kscope/staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["run-x"], "the stale run is gone, the other stays");
    assert_eq!(count(), n, "still no duplicates");
    // the same log is another source in another cluster
    let staged = ingest(&store, &[src], "staging");
    assert_eq!(staged.status.code(), Some(2));
    assert_eq!(count(), n + 2664);
}

#[test]
fn partitions_are_pruned_and_clusters_make_a_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert_eq!(
        ingest(&store, &["samples/audit"], "alpha").status.code(),
        Some(2)
    );
    assert_eq!(
        ingest(&store, &["samples/audit/eks-apiserver-audit.jsonl"], "beta")
            .status
            .code(),
        Some(2)
    );
    let s = store.to_str().unwrap();
    // corrupt every file of hour 00: a query that prunes that hour never opens them
    let hour0 = store.join("cluster=alpha/date=2026-11-02/hour=00");
    for e in std::fs::read_dir(&hour0).unwrap() {
        std::fs::write(e.unwrap().path(), b"not parquet").unwrap();
    }
    let sql = |extra: &[&str]| {
        let mut a = vec![
            "sql",
            "SELECT cluster, count(*) AS n FROM audit GROUP BY cluster ORDER BY cluster",
            "--store",
            s,
            "--format",
            "json",
        ];
        a.extend_from_slice(extra);
        crate::kscope(&a)
    };
    let pruned = sql(&["--until", "2026-11-01T23:59:59Z", "--cluster-name", "alpha"]);
    assert_eq!(
        pruned.status.code(),
        Some(0),
        "hour 00 is pruned: {}",
        stderr(&pruned)
    );
    let rows = json(&pruned);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["cluster"], "alpha");
    let broken = sql(&["--cluster-name", "alpha"]);
    assert_eq!(
        broken.status.code(),
        Some(2),
        "the corrupt hour is read without the window"
    );
    let beta = sql(&["--cluster-name", "beta"]);
    assert_eq!(beta.status.code(), Some(0), "{}", stderr(&beta));
    assert_eq!(json(&beta)[0]["n"], 2664);
    // the fleet: top clients per cluster, findings name the cluster
    let fleet = crate::kscope(&[
        "report",
        "--store",
        s,
        "--query",
        "AUD020",
        "--until",
        "2026-11-01T23:59:59Z",
        "--format",
        "json",
    ]);
    let doc = json(&fleet);
    let q = &doc["queries"][0];
    assert_eq!(q["columns"][0], "cluster");
    let clusters: std::collections::BTreeSet<&str> = q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(
        clusters.into_iter().collect::<Vec<_>>(),
        vec!["alpha", "beta"]
    );
    assert!(
        doc["findings"][0]["subject"]["name"]
            .as_str()
            .unwrap()
            .starts_with("cluster "),
        "{}",
        doc["findings"][0]
    );
    // one cluster selected: no cluster column
    let one = json(&crate::kscope(&[
        "report",
        "--store",
        s,
        "--cluster-name",
        "beta",
        "--query",
        "AUD020",
        "--format",
        "json",
    ]));
    assert_eq!(one["queries"][0]["columns"][0], "client");
    // a bad cluster name is refused before anything is written
    let bad = ingest(&store, &["samples/audit"], "../etc");
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("cluster name"), "{}", stderr(&bad));
}

/// The kept partial-aggregate states below `dir`.
/// The kept states below `dir` (not the version markers).
fn state_files(dir: &Path) -> Vec<String> {
    files_below(dir, |_| true)
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .collect()
}

/// `(hour states read, computed, over the data)` from a `-v` report's log.
fn partial_counts(log: &str) -> (u64, u64, u64) {
    let line = log
        .lines()
        .find(|l| l.contains("partial aggregates:"))
        .unwrap_or_else(|| panic!("no partial-aggregate line in {log}"));
    let nums: Vec<u64> = line
        .split("partial aggregates:")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

/// Each query's code and rows.
fn rows(doc: &Value) -> Vec<(String, Value)> {
    doc["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["code"].as_str().unwrap().to_string(), q["rows"].clone()))
        .collect()
}

#[test]
fn partial_aggregates_are_kept_per_hour_and_never_read_stale() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    // the EKS sample spans hours 23 and 00: A holds hour 23 and half of hour 00's requests, B
    // the other half (split by request, so the stages of one request stay in one source)
    let text = std::fs::read("samples/audit/eks-apiserver-audit.jsonl").unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut zero: std::collections::HashMap<String, bool> = Default::default();
    for line in text.split_inclusive(|c| *c == b'\n') {
        let event = std::str::from_utf8(line)
            .ok()
            .and_then(|l| serde_json::from_str::<Value>(l).ok());
        let to_b = event.is_some_and(|v| {
            let late = v["requestReceivedTimestamp"]
                .as_str()
                .is_some_and(|t| t.starts_with("2026-11-02T00"));
            let id = v["auditID"].as_str().unwrap_or_default().to_string();
            let n = zero.len();
            late && *zero.entry(id).or_insert(n % 2 == 1)
        });
        if to_b {
            b.extend_from_slice(line);
        } else {
            a.extend_from_slice(line);
        }
    }
    let (fa, fb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&fa, &a).unwrap();
    std::fs::write(&fb, &b).unwrap();
    let (fa, fb) = (fa.to_str().unwrap(), fb.to_str().unwrap());
    let quiet = crate::kscope(&[
        "ingest",
        fa,
        "--store",
        s,
        "--cluster-name",
        "prod",
        "--no-partials",
    ]);
    assert_eq!(quiet.status.code(), Some(2));
    assert!(!stdout(&quiet).contains("kept"), "{}", stdout(&quiet));
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "--format", "json", "-v"];
        args.extend_from_slice(extra);
        let out = crate::kscope(&args);
        // findings (1), or the raw sample's malformed lines (2)
        assert!(matches!(out.status.code(), Some(1 | 2)), "{}", stderr(&out));
        (rows(&json(&out)), stderr(&out))
    };
    let raw = report(&[fa]).0;
    let (first, log) = report(&["--store", s]);
    let (read, computed, live) = partial_counts(&log);
    assert!(computed >= 2 * 15, "two hours, most queries: {log}");
    assert_eq!(computed % 2, 0, "each aggregate once per hour: {log}");
    // a state used twice in one run (AUD005 reads its per-minute counts twice) is computed once
    let uses = read + computed;
    let states = store.join("_kscope/partials");
    let kept = state_files(&states);
    assert_eq!(kept.len() as u64, computed, "{kept:?}");
    assert!(
        kept.iter()
            .all(|f| f.contains("/cluster=prod/date=2026-11-0")),
        "{kept:?}"
    );
    let (second, log) = report(&["--store", s]);
    assert_eq!(partial_counts(&log), (uses, 0, live), "{log}");
    let (none, log) = report(&["--store", s, "--no-partials"]);
    assert!(!log.contains("partial aggregates:"), "{log}");
    for (name, got) in [("computed", &first), ("read", &second), ("off", &none)] {
        assert_eq!(got.len(), raw.len());
        for ((code, r), (_, g)) in raw.iter().zip(got.iter()) {
            assert_eq!(r, g, "{code}: states {name}");
        }
    }
    // a damaged state: its queries read the data, with a warning, and answer the same
    let damaged = states.join(&kept[0]);
    let good = std::fs::read(&damaged).unwrap();
    std::fs::write(&damaged, b"PAR1 not a state").unwrap();
    let (read_back, log) = report(&["--store", s]);
    assert!(
        log.contains("the kept partial aggregates could not be read"),
        "{log}"
    );
    assert_eq!(read_back, raw);
    std::fs::write(&damaged, good).unwrap();
    // states another kscope version kept (no marker of this version): ingest deletes them
    let stale = states.join("00000000deadbeef/cluster=prod/date=2026-11-01/hour=23");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("0123.parquet"), b"old").unwrap();
    std::fs::write(stale.join("../../../written-by-kscope-0.0.1"), b"").unwrap();
    // B adds requests to hour 00 only: ingest computes hour 00's states again, hour 23's stay
    let warm = ingest(&store, &[fb], "prod");
    assert_eq!(warm.status.code(), Some(0));
    assert!(
        stdout(&warm).contains(&format!("kept {} hour state(s)", computed / 2)),
        "{} computed {computed} first",
        stdout(&warm)
    );
    assert!(
        stdout(&warm).contains("deleted 2 file(s) of states other kscope versions kept"),
        "{}",
        stdout(&warm)
    );
    assert!(!states.join("00000000deadbeef").exists());
    let marks: Vec<String> = files_below(&states, |_| true)
        .into_iter()
        .filter(|f| f.contains("written-by-kscope-"))
        .collect();
    assert!(!marks.is_empty());
    let this = format!("written-by-kscope-{}", env!("CARGO_PKG_VERSION"));
    assert!(marks.iter().all(|f| f.ends_with(&this)), "{marks:?}");
    let both = report(&[fa, fb]).0;
    assert_ne!(both, raw, "B changes the answers");
    let (after, log) = report(&["--store", s]);
    assert_eq!(partial_counts(&log), (uses, 0, live), "{log}");
    for ((code, r), (_, g)) in both.iter().zip(after.iter()) {
        assert_eq!(r, g, "{code}: after hour 00 changed");
    }
    assert_eq!(
        state_files(&states).len() as u64,
        computed,
        "hour 00's old states are gone"
    );
    // whole hours keep using states; a cut hour filters rows below the aggregates, so none
    let window = |since: &str, until: &str| {
        let r = report(&[fb, fa, "--since", since, "--until", until]).0;
        let (st, log) = report(&["--store", s, "--since", since, "--until", until]);
        for ((code, r), (_, g)) in r.iter().zip(st.iter()) {
            assert_eq!(r, g, "{code}: {since}..{until}");
        }
        log
    };
    let log = window("2026-11-02T00:00:00Z", "2026-11-02T01:00:00Z");
    assert_eq!(partial_counts(&log), (uses / 2, 0, live), "{log}");
    let log = window("2026-11-01T23:30:00Z", "2026-11-02T01:00:00Z");
    assert!(!log.contains("partial aggregates:"), "{log}");
    // the same requests in a second cluster: a fleet, whose per-second counts (AUD004) meet in the
    // same hours of two clusters, so they cannot be completed hour by hour; answers as without
    assert_eq!(ingest(&store, &[fa, fb], "beta").status.code(), Some(2));
    let (fleet, log) = report(&["--store", s]);
    let (_, computed, _) = partial_counts(&log);
    assert_eq!(computed, 0, "ingest kept the fleet's states too: {log}");
    let (plain, _) = report(&["--store", s, "--no-partials"]);
    for ((code, p), (_, f)) in plain.iter().zip(fleet.iter()) {
        assert_eq!(p, f, "{code}: the fleet");
    }
    let aud004 = &fleet.iter().find(|(c, _)| c == "AUD004").unwrap().1;
    let raw004 = &both.iter().find(|(c, _)| c == "AUD004").unwrap().1;
    assert_eq!(
        aud004[0]["peak_rps"].as_u64().unwrap(),
        2 * raw004[0]["peak_rps"].as_u64().unwrap(),
        "the busiest second counts both clusters' requests"
    );
}

/// Rows in each generated cluster log of [`cluster_logs`].
pub const ROWS_PER_CLUSTER: u64 = 40;

/// `n` small audit logs, one per cluster, each with [`ROWS_PER_CLUSTER`] distinct requests.
pub fn cluster_logs(dir: &std::path::Path, n: usize) -> Vec<std::path::PathBuf> {
    (0..n)
        .map(|c| {
            let lines: Vec<String> = (0..ROWS_PER_CLUSTER)
                .map(|i| {
                    serde_json::json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                        "auditID": format!("c{c}-{i}"), "stage": "ResponseComplete",
                        "requestURI": "/api/v1/namespaces/x/pods", "verb": "list",
                        "user": {"username": format!("user-{c}"), "groups": ["system:authenticated"]},
                        "sourceIPs": ["10.0.0.1"], "userAgent": "kubectl/v1.34.0",
                        "objectRef": {"resource": "pods", "namespace": "x", "apiVersion": "v1"},
                        "responseStatus": {"code": 200},
                        "requestReceivedTimestamp": format!("2026-11-20T10:{:02}:00.000000Z", i % 60),
                        "stageTimestamp": format!("2026-11-20T10:{:02}:00.100000Z", i % 60)})
                    .to_string()
                })
                .collect();
            let p = dir.join(format!("cluster-{c}.jsonl"));
            std::fs::write(&p, lines.join("\n") + "\n").unwrap();
            p
        })
        .collect()
}

/// A dozen ingests into one directory at once, then the same dozen again: every source is in the
/// manifest, no run fails, and ingesting again replaces instead of duplicating.
#[test]
fn concurrent_ingests_into_one_directory_lose_nothing_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let logs = cluster_logs(dir.path(), 12);
    let s = store.to_str().unwrap().to_string();
    for round in 0..2 {
        let runs: Vec<_> = (0..12)
            .map(|i| {
                std::process::Command::new(env!("CARGO_BIN_EXE_kscope"))
                    .args(["ingest", logs[i].to_str().unwrap(), "--store", &s])
                    .args(["--cluster-name", &format!("c{i:02}"), "--no-partials"])
                    .env_remove("KSCOPE_LOG")
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for r in runs {
            let o = r.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", stderr(&o));
        }
        let out = crate::kscope(&[
            "sql",
            "SELECT cluster, count(*) AS n FROM audit GROUP BY cluster ORDER BY cluster",
            "--store",
            &s,
            "--format",
            "json",
        ]);
        let per = crate::json(&out);
        let per = per.as_array().unwrap();
        assert_eq!(per.len(), 12, "round {round}: {per:?}");
        assert!(
            per.iter().all(|c| c["n"] == ROWS_PER_CLUSTER),
            "round {round}: {per:?}"
        );
        assert_eq!(
            std::fs::read_dir(store.join("_kscope/sources"))
                .unwrap()
                .count(),
            12
        );
    }
}
