//! The memory budget: a report, `sql` and `preflight` within `--memory-limit` give what they give
//! in memory (the shared scan and the queries' sorts spill to the cache directory), say so when a
//! query cannot be exact within it, check the disk before spilling, and leave no spill files.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{json, kscope, root, stderr, stdout};

/// The samples' JSON lines log, `copies` times, each copy with its own audit IDs (so requests stay
/// distinct and a watch's two stages still pair up): an input whose columns outgrow a small budget.
fn bigger_log(dir: &Path, copies: usize) -> PathBuf {
    // one line of the samples is deliberately not UTF-8: read lossily
    let bytes = std::fs::read(root().join("samples/audit/eks-apiserver-audit.jsonl")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut out = String::with_capacity(text.len() * copies);
    for k in 0..copies {
        out.push_str(&text.replace("\"auditID\":\"", &format!("\"auditID\":\"c{k}-")));
    }
    let p = dir.join("big.jsonl");
    std::fs::write(&p, out).unwrap();
    p
}

/// `args` twice with the cache directory `cache`: with the default budget, and with `-v` and
/// `--memory-limit 16M`.
fn free_and_tight(args: &[&str], cache: &str) -> (std::process::Output, std::process::Output) {
    let free = kscope(&[args, &["--cache-dir", cache]].concat());
    let tight = kscope(
        &[
            &["-v"][..],
            args,
            &["--memory-limit", "16M", "--cache-dir", cache],
        ]
        .concat(),
    );
    (free, tight)
}

fn spill_dirs(cache: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache.join("spill")) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_report_within_a_small_budget_spills_and_equals_the_in_memory_report() {
    let t = tempfile::tempdir().unwrap();
    let log = bigger_log(t.path(), 12);
    let log = log.to_str().unwrap();
    let cache = t.path().join("cache");
    let cache_s = cache.to_str().unwrap();

    let (free, tight) = free_and_tight(&["report", log, "--format", "json"], cache_s);
    let err = stderr(&tight);
    assert!(
        err.contains("shared scan: more than 8.0 MiB of columns; spilling them to")
            && err.contains(&format!("{cache_s}/spill/")),
        "the shared scan did not spill to the cache directory: {err}"
    );
    assert!(
        err.contains(
            "memory: --memory-limit 16.0 MiB; shared scan beyond the memory budget: spilled"
        ),
        "-v does not report the spill: {err}"
    );
    assert!(
        !err.contains("Not computed") && !err.contains("skipped, over the memory budget"),
        "{err}"
    );
    assert_eq!(free.status.code(), tight.status.code(), "{err}");
    let (a, b) = (json(&free), json(&tight));
    assert!(
        a["queries"].as_array().unwrap().len() >= 20,
        "{}",
        stdout(&free)
    );
    assert!(!a["findings"].as_array().unwrap().is_empty());
    assert_eq!(
        a["queries"], b["queries"],
        "query results differ when spilling"
    );
    assert_eq!(a["findings"], b["findings"]);
    assert_eq!(a["input"], b["input"]);
    // the spill files are gone when the run ends
    assert!(
        spill_dirs(&cache).is_empty(),
        "left behind: {:?}",
        spill_dirs(&cache)
    );
}

#[test]
fn sql_sorts_spill_within_the_budget_and_give_the_same_rows() {
    let t = tempfile::tempdir().unwrap();
    let log = bigger_log(t.path(), 12);
    let log = log.to_str().unwrap();
    let cache = t.path().join("cache");
    let cache_s = cache.to_str().unwrap();
    // every request, sorted on a wide key, and an exact median per verb
    let sql = "SELECT audit_id, request_uri, \
               median(latency_ms) OVER (PARTITION BY verb) AS verb_median \
               FROM audit ORDER BY request_uri, audit_id";
    let (free, tight) = free_and_tight(&["sql", sql, log, "--format", "csv"], cache_s);
    let err = stderr(&tight);
    assert!(
        err.contains("the query spilled"),
        "the sort did not spill: {err}"
    );
    assert_eq!(free.status.code(), tight.status.code(), "{err}");
    let rows = stdout(&free).lines().count();
    assert!(rows > 20_000, "{rows} rows");
    assert!(stdout(&free) == stdout(&tight), "rows differ when spilling");
    assert!(spill_dirs(&cache).is_empty());
}

#[test]
fn a_statement_that_cannot_be_exact_within_the_budget_says_so() {
    let t = tempfile::tempdir().unwrap();
    let log = bigger_log(t.path(), 4);
    // one group holding every distinct wide value: nothing to spill
    let o = kscope(&[
        "sql",
        "SELECT count(DISTINCT repeat(request_uri, 60) || audit_id) AS n FROM audit",
        log.to_str().unwrap(),
        "--memory-limit",
        "16M",
        "--cache-dir",
        t.path().join("cache").to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the query needs more memory than --memory-limit 16.0 MiB allows")
            && err.contains("raise --memory-limit"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "a partial answer was printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_query_over_the_budget_is_skipped_with_its_reason() {
    use kscope::audit::scan::ScanOptions;
    let t = tempfile::tempdir().unwrap();
    let log = bigger_log(t.path(), 4);
    let q = kscope::query::parse(
        "aud999-wide-distinct.sql",
        "-- code: AUD999\n-- name: wide-distinct\n-- title: Wide distinct\n-- finds: x\n-- why: x\n\
         -- columns: n\n-- requires: Metadata\n\
         SELECT count(DISTINCT repeat(request_uri, 60) || audit_id) AS n FROM audit\n",
    )
    .unwrap();
    let top = kscope::query::select(&["AUD001".to_string()], &[]).unwrap();
    let queries = vec![top[0], &q];
    let mut opts = ScanOptions::default();
    opts.memory.limit = 16 << 20;
    opts.memory.default = false;
    opts.memory.spill_root = t.path().join("spill");
    let sources = vec![kscope::audit::source::SourceSpec::File(log)];
    let params = kscope::catalogue::Overrides::parse(&[], &queries).unwrap();
    let r = kscope::analysis::report(sources, "test".into(), opts, &queries, &params)
        .await
        .unwrap();
    assert!(r.queries[0].skipped.is_none());
    assert!(!r.queries[0].table.rows.is_empty());
    let why = r.queries[1]
        .skipped
        .as_deref()
        .expect("AUD999 was not skipped");
    assert!(
        why.contains("needs more memory than the budget allows") && why.contains("--memory-limit"),
        "{why}"
    );
    assert!(r.queries[1].table.rows.is_empty());
    assert!(!r.complete(), "a report with a skipped query is complete");
}

#[test]
fn spilling_checks_the_disk_first_and_names_the_directory() {
    let t = tempfile::tempdir().unwrap();
    let log = bigger_log(t.path(), 12);
    let cache = t.path().join("cache");
    let o = kscope(&[
        "report",
        log.to_str().unwrap(),
        "--memory-limit",
        "16M",
        "--min-free-disk",
        "1000000G",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not enough free disk space to spill in")
            && err.contains(&format!("{}/spill/", cache.display()))
            && err.contains("more needed"),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
    assert!(spill_dirs(&cache).is_empty());
}

#[cfg(unix)]
#[test]
fn ctrl_c_removes_the_spill_files() {
    let t = tempfile::tempdir().unwrap();
    let log = bigger_log(t.path(), 60);
    let cache = t.path().join("cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args([
            "report",
            log.to_str().unwrap(),
            "--memory-limit",
            "16M",
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(['/', '-'], "_"))
        .unwrap_or_else(|_| "host".into());
    let dir = cache.join("spill").join(format!("{host}-{}", child.id()));
    // wait until the shared scan has written Parquet
    let started = std::time::Instant::now();
    let spilled = loop {
        let files = kscope::walk::walk(&dir, kscope::walk::WalkOptions::default()).files;
        if files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "parquet"))
        {
            break true;
        }
        if started.elapsed() > std::time::Duration::from_secs(120)
            || child.try_wait().unwrap().is_some()
        {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(spilled, "the report never spilled into {}", dir.display());
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(!dir.exists(), "{} is still there", dir.display());
}

#[test]
fn a_report_over_a_store_too_large_for_the_budget_reads_the_store_per_query() {
    let t = tempfile::tempdir().unwrap();
    let log = bigger_log(t.path(), 12);
    let store = t.path().join("store");
    let cache = t.path().join("cache");
    let (store_s, cache_s) = (store.to_str().unwrap(), cache.to_str().unwrap());
    let o = kscope(&[
        "ingest",
        log.to_str().unwrap(),
        "--store",
        store_s,
        "--cluster-name",
        "big",
        "--cache-dir",
        cache_s,
    ]);
    // the samples' malformed lines are counted (exit 2), the rest ingested
    assert!(stdout(&o).contains("ingested"), "{}", stderr(&o));
    // the shared scan (without the per-hour partial aggregates, which need little memory)
    let (free, tight) = free_and_tight(
        &[
            "report",
            "--store",
            store_s,
            "--format",
            "json",
            "--no-partials",
        ],
        cache_s,
    );
    let err = stderr(&tight);
    assert!(
        err.contains("beyond the memory budget: every query reads the store"),
        "{err}"
    );
    assert_eq!(free.status.code(), tight.status.code(), "{err}");
    let (a, b) = (json(&free), json(&tight));
    assert_eq!(a["queries"], b["queries"]);
    assert_eq!(a["findings"], b["findings"]);
    assert_eq!(a["input"]["events"], b["input"]["events"]);
    assert!(a["input"]["events"].as_u64().unwrap() > 20_000);
    assert!(spill_dirs(&cache).is_empty());
    // with them, in the same budget: the same answers
    let (_, states) = free_and_tight(&["report", "--store", store_s, "--format", "json"], cache_s);
    let err = stderr(&states);
    assert!(err.contains("partial aggregates:"), "{err}");
    assert_eq!(free.status.code(), states.status.code(), "{err}");
    let c = json(&states);
    assert_eq!(a["queries"], c["queries"]);
    assert_eq!(a["findings"], c["findings"]);
}
