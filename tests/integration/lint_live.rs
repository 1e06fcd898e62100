//! `kscope lint` against a live cluster: the real kube client over HTTP against the test API server
//! serving the realistic fixture cluster, with paging, RBAC denials, throttling, errors and slowness.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kscope::inventory::live::{LiveOptions, USER_AGENT};
use kscope::lint::{self, Source};
use kscope::rules::{self, RuleParams};

use crate::apiserver::{FakeApi, Fault};

fn realistic() -> PathBuf {
    PathBuf::from("tests/fixtures/clusters/realistic.json")
}

async fn cluster() -> FakeApi {
    FakeApi::from_files(&[realistic()], "v1.30.4-eks-a737599", None).await
}

/// Runs the kscope binary against the test API server (from a blocking thread, so the server keeps
/// serving on this runtime).
async fn kscope_lint(api: &FakeApi, extra: &[&str]) -> std::process::Output {
    api.kscope("lint", extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_cluster_findings_and_a_well_behaved_client() {
    let api = cluster().await;
    let out = kscope_lint(&api, &["--format", "json", "-v"]).await;
    let err = crate::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let doc = crate::json(&out);
    assert_eq!(doc["target_version"], "1.30");
    assert_eq!(doc["server_version"], "1.30");
    assert_eq!(
        doc["skipped"].as_array().unwrap().len(),
        2,
        "{}",
        doc["skipped"]
    ); // /metrics forbidden
    for s in doc["skipped"].as_array().unwrap() {
        assert!(s["reason"].as_str().unwrap().contains("forbidden"), "{s}");
    }
    // The default APF objects of Kubernetes and EKS give no findings.
    assert!(
        !doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"].as_str().unwrap().starts_with("AP")),
        "{}",
        doc["findings"]
    );
    let findings: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(crate::finding_line)
        .collect();
    insta::assert_snapshot!("realistic_cluster_findings", findings.join("\n"));

    // -v reports the request count, and it matches what the server saw.
    let log = api.log();
    assert!(
        err.contains(&format!("lint: {} API requests", log.len())),
        "{err}"
    );
    for l in &log {
        assert_eq!(l.method, "GET", "{l:?}");
        assert_eq!(l.user_agent, USER_AGENT, "{l:?}");
        assert!(
            !l.path.contains("/secrets"),
            "secrets are never read: {l:?}"
        );
        let is_list = l.path.split('/').count() >= 4 && l.path != "/version";
        if is_list {
            assert!(
                l.query.contains("limit=500") || l.query.contains("limit=1"),
                "unpaginated list: {l:?}"
            );
        }
        if l.path.ends_with("/pods") {
            assert!(
                l.accept.contains("as=PartialObjectMetadataList"),
                "pods are listed metadata-only: {l:?}"
            );
        }
    }
    // Custom objects are counted with limit=1, one request per CRD, never listed in full.
    let counts = log
        .iter()
        .filter(|l| l.query.split('&').any(|q| q == "limit=1") && l.path.contains(".example.io/"))
        .count();
    assert_eq!(counts, 300);
    assert!(
        !log.iter()
            .any(|l| l.path.contains(".example.io/") && l.query.contains("limit=500"))
    );
}

async fn scan(api: &FakeApi, codes: &[&str], opts: LiveOptions) -> lint::LintReport {
    let codes: Vec<String> = codes.iter().map(|s| s.to_string()).collect();
    let selected = rules::select(&codes, &[]).unwrap();
    let source = Source::Cluster(LiveOptions {
        kubeconfig: Some(api.kubeconfig()),
        ..opts
    });
    let inv = lint::inventory(&source, &selected, &|_| false)
        .await
        .unwrap();
    let target = lint::target(&inv, None).unwrap();
    lint::run(&inv, &selected, target, &RuleParams::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_limit_and_continue() {
    let api = cluster().await;
    let r = scan(
        &api,
        &["CR001"],
        LiveOptions {
            page_size: 70,
            ..LiveOptions::default()
        },
    )
    .await;
    assert_eq!(r.objects, 300);
    let pages: Vec<_> = api
        .log()
        .into_iter()
        .filter(|l| l.path.ends_with("/customresourcedefinitions"))
        .collect();
    assert_eq!(pages.len(), 5, "300 CRDs in pages of 70: {pages:?}");
    assert!(pages[0].query.contains("limit=70") && !pages[0].query.contains("continue"));
    assert!(pages[4].query.contains("continue=280"));
    assert_eq!(
        r.outcome.findings.len(),
        1,
        "300 CRDs is at the warning threshold"
    );
    assert!(
        r.outcome.findings[0]
            .message
            .starts_with("300 CustomResourceDefinitions")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_resource_skips_only_the_rules_that_need_it() {
    let api = cluster().await;
    api.fault("/flowschemas", Fault::Status(403), usize::MAX);
    let out = kscope_lint(
        &api,
        &["--rule", "AP", "--rule", "WH012", "--format", "json"],
    )
    .await;
    let doc = crate::json(&out);
    let skipped = doc["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 11, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .all(|s| s["code"].as_str().unwrap().starts_with("AP")
                && s["reason"]
                    .as_str()
                    .unwrap()
                    .contains("forbidden: cannot list flowschemas")),
        "{skipped:?}"
    );
    assert_eq!(doc["ran"], serde_json::json!(["WH012"]));
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let text = kscope_lint(&api, &["--rule", "AP001"]).await;
    assert!(
        crate::stdout(&text).contains("  - AP001 apf-broad-subjects-exempt: forbidden"),
        "{}",
        crate::stdout(&text)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_wait_for_retry_after_and_succeed() {
    let api = cluster().await;
    api.fault("/validatingwebhookconfigurations", Fault::TooMany(1), 2);
    let started = Instant::now();
    let r = scan(&api, &["WH002"], LiveOptions::default()).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 twice: {:?}",
        started.elapsed()
    );
    assert_eq!(r.outcome.ran, vec!["WH002".to_string()]);
    assert_eq!(r.outcome.findings.len(), 4, "{:#?}", r.outcome.findings);
    let tries = api
        .log()
        .iter()
        .filter(|l| l.path.ends_with("/validatingwebhookconfigurations"))
        .count();
    assert_eq!(tries, 3);
    assert_eq!(r.requests as usize, api.log().len(), "retries are counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_timeouts_skip_rules_and_the_scan_completes() {
    let api = cluster().await;
    api.fault("/customresourcedefinitions", Fault::Status(500), usize::MAX);
    api.fault(
        "/priorityleve",
        Fault::Slow(Duration::from_millis(2500)),
        usize::MAX,
    );
    let r = scan(
        &api,
        &["CR001", "AP008", "WH002"],
        LiveOptions {
            request_timeout: Duration::from_secs(1),
            ..LiveOptions::default()
        },
    )
    .await;
    assert_eq!(r.outcome.ran, vec!["WH002".to_string()]);
    let reasons: Vec<(String, String)> = r
        .outcome
        .skipped
        .iter()
        .map(|s| (s.code.clone(), s.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].0 == "AP008"
            && reasons[0].1.contains("list prioritylevelconfigurations")
            && reasons[0].1.contains("timed out"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == "CR001" && reasons[1].1.contains("HTTP 500"),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_is_a_clear_error() {
    let api = cluster().await;
    let kubeconfig = std::fs::read_to_string(api.kubeconfig()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        kubeconfig.replace(&api.addr.to_string(), &closed.to_string()),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        crate::kscope(&["lint", "--kubeconfig", kc.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = crate::stderr(&out);
    assert!(
        err.contains("cannot reach the cluster at http://127.0.0.1:")
            && err.contains("aws eks update-kubeconfig"),
        "{err}"
    );
}

/// The benchmark (benches/lint.sh runs it): a simulated cluster of 500 CRDs and 50 000 custom
/// objects; prints the requests made and the time taken. Not a timed test: it asserts only counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by benches/lint.sh"]
#[allow(clippy::print_stdout)] // the benchmark reports on stdout
async fn bench_lint_500_crds_50k_objects() {
    let mut objects = Vec::new();
    for i in 0..500 {
        let group = format!("g{}.bench.example.io", i % 20);
        let (kind, plural) = (format!("Kind{i:03}"), format!("kind{i:03}s"));
        objects.push(serde_json::json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {"group": group, "scope": "Namespaced", "names": {"kind": kind, "plural": plural},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}}));
        for j in 0..100 {
            objects.push(
                serde_json::json!({"apiVersion": format!("{group}/v1"), "kind": kind,
                "metadata": {"name": format!("o{j}"), "namespace": "default"}}),
            );
        }
    }
    let api = FakeApi::start(objects, "v1.31.2", None).await;
    let started = Instant::now();
    let out = kscope_lint(
        &api,
        &["--format", "json", "--rule", "CR", "--rule", "WH019", "-v"],
    )
    .await;
    let took = started.elapsed();
    let doc = crate::json(&out);
    assert_eq!(doc["objects"], 500, "{}", doc["skipped"]);
    let requests = api.log().len();
    assert_eq!(doc["requests"].as_u64().unwrap() as usize, requests);
    println!(
        "BENCH lint 500 CRDs / 50000 custom objects: {requests} API requests, {:.2} s (whole process)",
        took.as_secs_f64()
    );
}
