//! The distributed engine: a Ballista scheduler and two executors started as processes from the
//! kscope binary on loopback (free ports), every query compared with the local engine, and an
//! executor killed during a run: the run completes on the surviving executor with the same
//! answers, and the cluster still serves the next run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{json, stderr};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two consecutive free ports (an executor's Flight and gRPC services).
fn free_pair() -> u16 {
    loop {
        let p = free_port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], log: &Path) -> Proc {
    let f = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(env!("CARGO_BIN_EXE_kscope"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    )
}

fn wait_for(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on {port}");
}

/// The scheduler's and executors' logs, for a failure's message.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["scheduler.log", "executor-0.log", "executor-1.log"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        out.push_str(&format!("--- {name}\n{text}\n"));
    }
    out
}

#[test]
fn the_same_answers_on_a_ballista_cluster_even_when_an_executor_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let ing = crate::kscope(&[
        "ingest",
        "samples/audit",
        "--store",
        s,
        "--cluster-name",
        "alpha",
    ]);
    assert_eq!(
        ing.status.code(),
        Some(2),
        "malformed sample lines: {}",
        stderr(&ing)
    );
    let ing = crate::kscope(&[
        "ingest",
        "samples/audit/eks-apiserver-audit.jsonl",
        "--store",
        s,
        "--cluster-name",
        "beta",
    ]);
    assert_eq!(ing.status.code(), Some(2));

    let sp = free_port();
    let scheduler = format!("df://127.0.0.1:{sp}");
    let _sched = spawn(
        &[
            "ballista",
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{sp}"),
            "--executor-timeout",
            "5",
        ],
        &dir.path().join("scheduler.log"),
    );
    wait_for(sp);
    let mut executors = Vec::new();
    for i in 0..2 {
        let p = free_pair();
        executors.push(spawn(
            &[
                "ballista",
                "executor",
                "--scheduler",
                &scheduler,
                "--bind",
                &format!("127.0.0.1:{p}"),
                "--heartbeat",
                "1",
                "--work-dir",
                dir.path().join(format!("work-{i}")).to_str().unwrap(),
            ],
            &dir.path().join(format!("executor-{i}.log")),
        ));
        wait_for(p);
    }
    std::thread::sleep(Duration::from_secs(2));

    let local = json(&crate::kscope(&[
        "report", "--store", s, "--format", "json",
    ]));
    // the report on the Ballista cluster, each query within `timeout` seconds
    let on_ballista = |timeout| {
        [
            "report",
            "--store",
            s,
            "--engine",
            "ballista",
            "--scheduler",
            &scheduler,
            "--query-timeout",
            timeout,
            "--format",
            "json",
        ]
    };
    let lq = local["queries"].as_array().unwrap();
    assert_eq!(lq.len(), kscope::query::registry().unwrap().len());
    // the APF estimate runs on the local engine only: its queries are compared apart
    let estimate: Vec<String> = kscope::query::registry()
        .unwrap()
        .iter()
        .filter(|q| kscope::apf::udf::uses_estimate(&q.sql))
        .map(|q| q.code.clone())
        .collect();
    let local_only: Vec<String> = kscope::query::registry()
        .unwrap()
        .iter()
        .filter(|q| kscope::apf::udf::local_only(&q.sql))
        .map(|q| q.code.clone())
        .collect();
    let plain = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|x| !estimate.iter().any(|c| *c == x["code"]))
            .cloned()
            .collect()
    };
    // a run on Ballista that completed with the local engine's answers
    let same_as_local = |out: &std::process::Output| {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}\n{}",
            stderr(out),
            logs(dir.path())
        );
        let doc = json(out);
        let rq = doc["queries"].as_array().unwrap();
        // the queries that read the levels' seats do not run there
        assert_eq!(rq.len(), lq.len() - local_only.len());
        assert!(
            !rq.iter()
                .any(|q| local_only.iter().any(|c| *c == q["code"]))
        );
        for (l, r) in plain(&local["queries"])
            .iter()
            .zip(plain(&doc["queries"]).iter())
        {
            assert_eq!(l["code"], r["code"]);
            assert_eq!(l["rows"], r["rows"], "{} differs on Ballista", l["code"]);
        }
        assert_eq!(plain(&local["findings"]), plain(&doc["findings"]));
        assert_eq!(local["input"]["events"], doc["input"]["events"]);
    };
    same_as_local(&crate::kscope(&on_ballista("120")));
    let sql = crate::kscope(&[
        "sql",
        "SELECT cluster, count(*) AS n FROM audit GROUP BY cluster ORDER BY cluster",
        "--store",
        s,
        "--engine",
        "ballista",
        "--scheduler",
        &scheduler,
        "--format",
        "json",
    ]);
    assert_eq!(
        json(&sql),
        serde_json::json!([{"cluster": "alpha", "n": 2894}, {"cluster": "beta", "n": 2664}])
    );

    // the report on Ballista with `timeout`, an executor killed 1.5 s into it: its output and time
    let run_killing_one = |executors: &mut Vec<Proc>, timeout| {
        let started = std::time::Instant::now();
        let run = Command::new(env!("CARGO_BIN_EXE_kscope"))
            .args(on_ballista(timeout))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        drop(executors.pop());
        (run.wait_with_output().unwrap(), started.elapsed())
    };

    // an executor killed while the report runs: kscope's scheduler cancels the jobs running when
    // it is declared lost and the client submits them again, so the report completes on the
    // surviving executor with the same answers, within its timeout (never a hang, never a
    // partial or recovered-but-wrong answer)
    let (out, elapsed) = run_killing_one(&mut executors, "60");
    same_as_local(&out);
    assert!(elapsed < Duration::from_secs(60), "bounded: {elapsed:?}");
    // the scheduler names the lost executor and cancels the job running then (had it been declared
    // lost between two queries, there would be none); the client submits it again
    let log = std::fs::read_to_string(dir.path().join("scheduler.log")).unwrap();
    if log.contains(" lost: job ") {
        assert!(
            log.contains("(127.0.0.1:"),
            "the lost executor's address: {log}"
        );
        assert!(
            stderr(&out).contains("an executor was lost under it")
                && stderr(&out).contains("submitting it again"),
            "scheduler:\n{log}\nclient:\n{}",
            stderr(&out)
        );
    } else {
        eprintln!("note: the executor was declared lost between two queries");
    }

    // the cluster is still usable with one executor: Ballista 55 would have leaked the survivor's
    // vcores to the rolled-back stage and hung every later query
    let out = crate::kscope(&on_ballista("60"));
    same_as_local(&out);

    // the last executor killed too: the run ends within its timeout, with the error and no document
    let (out, elapsed) = run_killing_one(&mut executors, "15");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no partial document");
    assert!(
        stderr(&out).contains("on the Ballista cluster")
            && stderr(&out).contains("no partial answer is shown"),
        "{}",
        stderr(&out)
    );
    assert!(elapsed < Duration::from_secs(40), "bounded: {elapsed:?}");
}

#[test]
fn the_local_build_says_how_to_get_ballista_when_asked_without_a_store() {
    let out = crate::kscope(&[
        "report",
        "samples/audit",
        "--engine",
        "ballista",
        "--scheduler",
        "df://127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--store"), "{}", stderr(&out));
}
