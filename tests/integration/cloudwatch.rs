//! CloudWatch Logs source against moto's server behind the fault proxy (tests/cloudwatch/harness.py),
//! over real HTTP on 127.0.0.1. Needs `pip install 'moto[server]'` (.ci/run does it).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use serde_json::{Value, json};

use super::{root, stderr, stdout};

const GROUP: &str = "/aws/eks/demo/cluster";

/// moto + the fault proxy, in one Python process that ends when its stdin closes.
struct Harness {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    proxy: u16,
    moto: u16,
    dir: tempfile::TempDir,
}

/// moto's server from PyPI, installed once when `import moto.server` fails.
fn ensure_moto(python: &str) {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let have = |py: &str| {
            Command::new(py)
                .args(["-c", "import moto.server, boto3"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have(python) {
            let st = Command::new(python)
                .args(["-m", "pip", "install", "--quiet", MOTO])
                .status()
                .unwrap_or_else(|e| panic!("cannot run {python} -m pip: {e}"));
            assert!(st.success() && have(python), "pip install '{MOTO}' failed");
        }
    });
}

/// The moto release line the harness is written against.
const MOTO: &str = "moto[server]>=5,<6";

impl Harness {
    fn start() -> Harness {
        let python = std::env::var("KSCOPE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        ensure_moto(&python);
        let mut child = Command::new(&python)
            .arg(root().join("tests/cloudwatch/harness.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ports: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "the CloudWatch test harness did not start (is moto installed? \
                 pip install 'moto[server]'): {line:?}"
            )
        });
        Harness {
            child,
            stdin,
            stdout,
            proxy: ports["proxy"].as_u64().unwrap() as u16,
            moto: ports["moto"].as_u64().unwrap() as u16,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&mut self, v: Value) -> Value {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let out: Value = serde_json::from_str(&line).unwrap();
        assert!(out.get("error").is_none(), "harness: {out}");
        out
    }

    fn config(&mut self, v: Value) {
        let mut v = v;
        v["cmd"] = json!("config");
        self.cmd(v);
    }

    fn stats(&mut self) -> Value {
        self.cmd(json!({"cmd": "stats"}))
    }

    fn reset(&mut self) {
        self.cmd(json!({"cmd": "reset_stats"}));
    }

    /// Seeds the demo cluster's log group from the EKS sample; returns the seed summary and the
    /// audit file holding exactly the lines put into the audit streams.
    fn seed(&mut self) -> (Value, PathBuf) {
        self.seed_aged(2400)
    }

    /// [`Harness::seed`] with the newest event `newest_age_s` seconds old (and, when it is not the
    /// default, without decoy streams: one of them repeats events three days back).
    fn seed_aged(&mut self, newest_age_s: u64) -> (Value, PathBuf) {
        let out = self.dir.path().join("seeded.jsonl");
        let s = self.cmd(json!({
            "cmd": "seed",
            "group": GROUP,
            "source": root().join("samples/audit/eks-apiserver-audit.jsonl"),
            "out": out,
            "same_ms_every": 5,
            "truncated": true,
            "newest_age_s": newest_age_s,
            "decoys": newest_age_s == 2400,
        }));
        (s, out)
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Runs kscope against the proxy, with test credentials and this harness's cache.
    fn kscope(&self, args: &[&str]) -> Output {
        let endpoint = format!("http://127.0.0.1:{}", self.proxy);
        let mut c = Command::new(env!("CARGO_BIN_EXE_kscope"));
        c.args(args);
        if args[0] != "cache" {
            c.args(["--endpoint-url", &endpoint]);
        }
        c.current_dir(root())
            .env_remove("KSCOPE_LOG")
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-central-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("KSCOPE_CACHE_DIR", self.cache_dir())
            .stdin(Stdio::null());
        c.output().unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seeded window: from a minute before the first event to a second after the last.
fn window(seed: &Value) -> (String, String) {
    let f = seed["first_ms"].as_i64().unwrap();
    let l = seed["last_ms"].as_i64().unwrap();
    (
        kscope::timearg::format_micros((f - 60_000) * 1000),
        kscope::timearg::format_micros((l + 1000) * 1000),
    )
}

/// A report without the parts that name where the events were read from.
fn comparable(mut report: Value) -> Value {
    let o = report.as_object_mut().unwrap();
    o.remove("source");
    for f in o["findings"].as_array_mut().unwrap() {
        f["subject"].as_object_mut().unwrap().remove("origin");
    }
    let input = o["input"].as_object_mut().unwrap();
    input.remove("sources");
    let mut reasons: Vec<String> = input["malformed_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reason"].as_str().unwrap().to_string())
        .collect();
    reasons.sort();
    input.insert("malformed_samples".into(), json!(reasons));
    report
}

fn parse(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

fn file_report(path: &Path, start: &str, end: &str) -> Value {
    let args = report_args(&[path.to_str().unwrap()], start, end);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = super::kscope(&args);
    assert_eq!(
        o.status.code(),
        Some(2),
        "4 malformed lines: {}",
        stderr(&o)
    );
    comparable(parse(&o))
}

/// `kscope report SOURCE… --start --end --format json`.
fn report_args(source: &[&str], start: &str, end: &str) -> Vec<String> {
    let mut args = vec!["report"];
    args.extend(source);
    args.extend(["--start", start, "--end", end, "--format", "json"]);
    args.into_iter().map(String::from).collect()
}

/// GetLogEvents and FilterLogEvents calls: the reads.
fn read_calls(stats: &Value) -> u64 {
    op_calls(stats, "GetLogEvents") + op_calls(stats, "FilterLogEvents")
}

fn op_calls(stats: &Value, op: &str) -> u64 {
    stats["calls"][op].as_u64().unwrap_or(0)
}

#[test]
fn cloudwatch_report_equals_the_file_report_with_and_without_faults() {
    let mut h = Harness::start();
    let (seed, file) = h.seed();
    assert_eq!(seed["events"], 2817);
    assert!(seed["same_ms_pairs"].as_u64().unwrap() > 400, "{seed}");
    let (start, end) = window(&seed);
    let expected = file_report(&file, &start, &end);
    assert_eq!(expected["input"]["malformed"], 4);
    assert!(
        expected["input"]["malformed_samples"]
            .to_string()
            .contains("truncated JSON: input ends inside a value at byte 262118")
    );
    let args = report_args(&["--cluster", "demo"], &start, &end);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // 1. no faults, pages of at most 100 events
    h.config(json!({"page_cap": 100}));
    let o = h.kscope(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let report = parse(&o);
    assert!(
        report["source"]
            .as_str()
            .unwrap()
            .starts_with("CloudWatch Logs /aws/eks/demo/cluster (eu-central-1)"),
        "{}",
        report["source"]
    );
    assert_eq!(comparable(report), expected);
    let err = stderr(&o);
    assert!(err.contains("2817 events (2817 downloaded"), "{err}");
    // not a terminal: no progress bar
    assert!(!err.contains("events/s") && !err.contains('\r'), "{err}");
    let stats = h.stats();
    let streams = stats["streams"].as_object().unwrap();
    for s in seed["audit_streams"].as_object().unwrap().keys() {
        assert!(
            streams.contains_key(s),
            "audit stream {s} not read: {stats}"
        );
    }
    // other control-plane logs, a name that is not an audit stream's, an audit stream that ended
    // days before the window: discovery leaves them all out
    let decoys = seed["decoy_streams"].as_array().unwrap();
    assert_eq!(decoys.len(), 5);
    for decoy in decoys {
        let d = decoy.as_str().unwrap();
        assert!(!streams.contains_key(d), "decoy {d} was read: {stats}");
    }
    // 2817 events, 100 per page: at least 29 pages
    assert!(read_calls(&stats) >= 29, "{stats}");
    // both quotas in use: runs read with GetLogEvents and with FilterLogEvents
    assert!(
        op_calls(&stats, "GetLogEvents") > 0 && op_calls(&stats, "FilterLogEvents") > 0,
        "{stats}"
    );

    // 2. the same window again: everything from the cache, no read call
    h.reset();
    let o = h.kscope(&args);
    assert_eq!(comparable(parse(&o)), expected);
    assert!(stderr(&o).contains("(0 downloaded"), "{}", stderr(&o));
    assert_eq!(read_calls(&h.stats()), 0);

    // the SQL command reads the same events
    let o = h.kscope(&[
        "sql",
        "SELECT count(*) AS n FROM audit",
        "--cluster",
        "demo",
        "--start",
        &start,
        "--end",
        &end,
        "--format",
        "json",
    ]);
    assert_eq!(
        parse(&o)[0]["n"],
        expected["input"]["events"],
        "{}",
        stderr(&o)
    );

    // 3. faults: throttling, 503s, dropped connections, a 10/s limit, small pages; --refresh
    h.config(json!({
        "page_cap": 50,
        "throttle_share": 0.15,
        "unavailable_share": 0.05,
        "drop_share": 0.05,
        "rate_limit": {"GetLogEvents": 10, "FilterLogEvents": 5},
        "seed": 3,
    }));
    h.reset();
    let mut with_faults = args.to_vec();
    with_faults.extend([
        "--refresh",
        "--max-tps",
        "8",
        "--max-filter-tps",
        "4",
        "--max-retries",
        "20",
    ]);
    let o = h.kscope(&with_faults);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(comparable(parse(&o)), expected);
    let stats = h.stats();
    for fault in ["throttle", "unavailable", "drop"] {
        assert!(stats["faults"][fault].as_u64().unwrap_or(0) > 0, "{stats}");
    }
    assert_eq!(
        stats["faults"]["rate_limited"].as_u64().unwrap_or(0),
        0,
        "kscope kept under 10/s and 5/s: {stats}"
    );
    assert!(
        stats["peak_per_second"]["GetLogEvents"].as_u64().unwrap() <= 8
            && stats["peak_per_second"]["FilterLogEvents"]
                .as_u64()
                .unwrap()
                <= 4,
        "never above --max-tps, --max-filter-tps: {stats}"
    );
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let mut h = Harness::start();
    let (seed, file) = h.seed();
    let (start, end) = window(&seed);
    let expected = file_report(&file, &start, &end);
    let args = report_args(&["--cluster", "demo"], &start, &end);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // after 12 pages every read fails
    h.config(json!({"page_cap": 100, "fail_after": 12}));
    let mut first = args.to_vec();
    first.extend(["--max-retries", "1"]);
    let o = h.kscope(&first);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("download incomplete:")
            && err.contains("run the same command again to resume")
            && err.contains("gave up after 2 attempts; last error: ServiceUnavailableException"),
        "{err}"
    );
    let ls = h.kscope(&["cache", "ls"]);
    assert!(stdout(&ls).contains("partial"), "{}", stdout(&ls));

    h.config(json!({"fail_after": -1}));
    h.reset();
    let o = h.kscope(&args);
    assert_eq!(comparable(parse(&o)), expected, "{}", stderr(&o));
    let resumed_calls = read_calls(&h.stats());

    // a fresh download of the same window takes more calls than the resumed one did
    h.reset();
    let mut again = args.to_vec();
    again.push("--refresh");
    let o = h.kscope(&again);
    assert_eq!(comparable(parse(&o)), expected);
    let full_calls = read_calls(&h.stats());
    assert!(
        resumed_calls + 10 <= full_calls,
        "resumed {resumed_calls}, full {full_calls}"
    );

    let o = h.kscope(&["cache", "clear"]);
    assert!(stdout(&o).starts_with("removed "), "{}", stdout(&o));
    assert!(stdout(&h.kscope(&["cache", "ls"])).contains("(empty)"));
}

#[test]
fn missing_permissions_and_log_groups_are_named() {
    let mut h = Harness::start();
    let (seed, file) = h.seed();
    let (start, end) = window(&seed);
    let expected = file_report(&file, &start, &end);
    let run = |h: &Harness, cluster: &str| {
        let args = report_args(&["--cluster", cluster, "--refresh"], &start, &end);
        h.kscope(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // without logs:FilterLogEvents, GetLogEvents reads everything
    h.config(json!({"deny": ["FilterLogEvents"]}));
    let o = run(&h, "demo");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(parse(&o)["input"]["events"], expected["input"]["events"]);
    assert!(
        stderr(&o)
            .contains("no permission for logs:FilterLogEvents: reading with GetLogEvents only"),
        "{}",
        stderr(&o)
    );
    h.config(json!({"deny": ["GetLogEvents"]}));
    let o = run(&h, "demo");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("access denied: the caller needs IAM permission logs:GetLogEvents"),
        "{}",
        stderr(&o)
    );
    h.config(json!({"deny": ["DescribeLogStreams"]}));
    let o = run(&h, "demo");
    assert!(
        stderr(&o).contains(
            "needs IAM permission logs:DescribeLogStreams on log group /aws/eks/demo/cluster"
        ),
        "{}",
        stderr(&o)
    );
    h.config(json!({"deny": []}));
    let o = run(&h, "other");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("log group /aws/eks/other/cluster not found")
            && stderr(&o).contains("audit logging"),
        "{}",
        stderr(&o)
    );
}

/// `preflight --cluster NAME` reads the last 30 days by default (the report reads 24 hours) and finds
/// the same callers of removed APIs as the same events read from a file.
#[test]
fn preflight_reads_thirty_days_of_cloudwatch_audit_evidence() {
    let mut h = Harness::start();
    // ten days old: outside the report's default window, inside preflight's
    let (_, file) = h.seed_aged(10 * 24 * 3600);
    let base = crate::preflight_1_29_to_1_32(&["--format", "json"]);
    let items = |o: &Output| -> Vec<String> {
        parse(o)["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let requests: u64 = i["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["requests"].as_u64())
                    .sum();
                format!("{} {} {} {requests}", i["hop"], i["code"], i["subject"])
            })
            .collect()
    };
    let mut args = base.to_vec();
    args.extend(["--cluster", "demo"]);
    let cw = h.kscope(&args);
    assert_eq!(
        cw.status.code(),
        Some(2),
        "truncated lines: {}",
        stderr(&cw)
    );
    let mut args = base.to_vec();
    args.extend(["--audit", file.to_str().unwrap()]);
    let local = super::kscope(&args);
    assert_eq!(local.status.code(), Some(2), "{}", stderr(&local));
    let want = items(&local);
    assert!(
        want.iter().any(|i| i.contains("pdb-guardian")),
        "the sample's callers of removed APIs: {want:?}"
    );
    assert_eq!(items(&cw), want);
    assert!(
        parse(&cw)["source"]
            .as_str()
            .unwrap()
            .starts_with("CloudWatch Logs /aws/eks/demo/cluster"),
        "{}",
        stdout(&cw)
    );
}

/// The Parquet store on S3 (moto's server): ingest, re-ingest replacing the same objects, and a
/// report equal to the one over a local store.
#[test]
fn the_store_on_s3_equals_the_local_store() {
    let mut h = Harness::start();
    let keys = |h: &mut Harness| -> Vec<String> {
        h.cmd(json!({"cmd": "s3_bucket", "name": "fleet-audit", "create": false}))["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    };
    h.cmd(json!({"cmd": "s3_bucket", "name": "fleet-audit"}));
    let endpoint = format!("http://127.0.0.1:{}", h.moto);
    let s3 = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kscope"))
            .args(args)
            .args(["--endpoint-url", &endpoint])
            .current_dir(root())
            .env_remove("KSCOPE_LOG")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-central-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let ingest = [
        "ingest",
        "samples/audit",
        "--store",
        "s3://fleet-audit/audit",
        "--cluster-name",
        "prod",
    ];
    let o = s3(&ingest);
    assert_eq!(
        o.status.code(),
        Some(2),
        "malformed sample lines: {}",
        stderr(&o)
    );
    let first = keys(&mut h);
    let data = |k: &&String| k.ends_with(".parquet") && !k.contains("/_kscope/");
    let parquet: Vec<&String> = first.iter().filter(data).collect();
    assert!(
        first
            .iter()
            .any(|k| k.starts_with("audit/_kscope/partials/") && k.ends_with(".parquet")),
        "ingest keeps the report's partial aggregates next to the data: {first:?}"
    );
    assert!(!parquet.is_empty(), "{first:?}");
    assert!(
        parquet
            .iter()
            .all(|k| k.starts_with("audit/cluster=prod/date=")),
        "{parquet:?}"
    );
    assert!(
        first
            .iter()
            .any(|k| k.starts_with("audit/_kscope/sources/") && k.ends_with(".json")),
        "one manifest object per source: {first:?}"
    );
    assert!(
        !first.iter().any(|k| k.contains("staging")),
        "staging objects are moved: {first:?}"
    );
    // states another kscope version kept: the next ingest deletes them
    let stale = [
        "audit/_kscope/partials/00000000deadbeef/cluster=prod/date=2026-11-01/hour=23/0123.parquet",
        "audit/_kscope/partials/00000000deadbeef/written-by-kscope-0.0.1",
    ];
    h.cmd(json!({"cmd": "s3_bucket", "name": "fleet-audit", "create": false, "put": stale}));
    // ingesting again replaces exactly those objects
    let o = s3(&ingest);
    assert!(
        stdout(&o).contains(&format!("({} replaced", parquet.len())),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("deleted 2 file(s) of states other kscope versions kept"),
        "{}",
        stdout(&o)
    );
    let second = keys(&mut h);
    assert!(!second.iter().any(|k| k.contains("deadbeef")), "{second:?}");
    let mark = format!("written-by-kscope-{}", env!("CARGO_PKG_VERSION"));
    assert!(second.iter().any(|k| k.ends_with(&mark)), "{second:?}");
    assert_eq!(second.iter().filter(data).count(), parquet.len());
    let report = |store: &str| {
        let o = s3(&["report", "--store", store, "--format", "json"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let doc = parse(&o);
        doc["queries"].clone()
    };
    let local = tempfile::tempdir().unwrap();
    let lo = super::kscope(&[
        "ingest",
        "samples/audit",
        "--store",
        local.path().to_str().unwrap(),
        "--cluster-name",
        "prod",
    ]);
    assert_eq!(lo.status.code(), Some(2));
    assert_eq!(
        report("s3://fleet-audit/audit"),
        report(local.path().to_str().unwrap())
    );
}

#[test]
fn missing_credentials_are_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["report", "--cluster", "demo", "--region", "eu-central-1"])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("KSCOPE_CACHE_DIR", home.path().join("cache"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no usable AWS credentials") && stderr(&o).contains("--profile"),
        "{}",
        stderr(&o)
    );
    // and without a region
    let o = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["report", "--cluster", "demo"])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("no AWS region: pass --region"),
        "{}",
        stderr(&o)
    );
}

/// A dozen ingests into one S3 store at once, then the same dozen again: every source is in the
/// manifest, no run fails, and ingesting again replaces instead of duplicating.
#[test]
fn concurrent_ingests_into_one_s3_store_lose_nothing_and_duplicate_nothing() {
    let mut h = Harness::start();
    h.cmd(json!({"cmd": "s3_bucket", "name": "fleet-many"}));
    let endpoint = format!("http://127.0.0.1:{}", h.moto);
    let dir = tempfile::tempdir().unwrap();
    let logs = crate::store::cluster_logs(dir.path(), 12);
    // kscope against moto, with test credentials
    let kscope = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kscope"));
        c.args(args)
            .args(["--endpoint-url", &endpoint])
            .env_remove("KSCOPE_LOG")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-central-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let spawn = |i: usize| {
        let cluster = format!("c{i:02}");
        kscope(&[
            "ingest",
            logs[i].to_str().unwrap(),
            "--store",
            "s3://fleet-many/audit",
            "--cluster-name",
            &cluster,
            "--no-partials",
        ])
        .spawn()
        .unwrap()
    };
    let count = || {
        let o = kscope(&[
            "sql",
            "SELECT cluster, count(*) AS n FROM audit GROUP BY cluster ORDER BY cluster",
            "--store",
            "s3://fleet-many/audit",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
        crate::json(&o)
    };
    for round in 0..2 {
        let runs: Vec<_> = (0..12).map(spawn).collect();
        for r in runs {
            let o = r.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", stderr(&o));
        }
        let per = count();
        let per = per.as_array().unwrap();
        assert_eq!(per.len(), 12, "round {round}: {per:?}");
        for c in per {
            assert_eq!(
                c["n"],
                crate::store::ROWS_PER_CLUSTER,
                "round {round}: {per:?}"
            );
        }
    }
    let keys =
        h.cmd(json!({"cmd": "s3_bucket", "name": "fleet-many", "create": false}))["keys"].clone();
    let fragments = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k.as_str().unwrap().starts_with("audit/_kscope/sources/"))
        .count();
    assert_eq!(fragments, 12, "{keys}");
}
