//! `kscope preflight`: the binary against the test API server (nodes with skewed kubelets, PDBs that
//! block drains, Helm release Secrets built here from manifests with removed APIs, `/metrics` with
//! the deprecated-API gauge) and the audit fixture (callers with and without the removed-release
//! annotation, and kscope's own requests), hop by hop.

use std::io::Write;

use base64::Engine;
use serde_json::{Value, json};

use crate::apiserver::{FakeApi, Fault};

const AUDIT: &str = "tests/fixtures/preflight/audit.jsonl";

fn node(name: &str, kubelet: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "eu-west-1a"}},
           "status": {"nodeInfo": {"kubeletVersion": kubelet, "kubeProxyVersion": kubelet,
                      "containerRuntimeVersion": "containerd://1.7.11", "osImage": "Amazon Linux 2"}}})
}

/// A Helm v3 release Secret, encoded as Helm writes it: JSON, gzip, base64 (then base64 again as
/// Secret data).
fn helm_secret(name: &str, revision: u64, status: &str, manifest: &str) -> Value {
    helm_release_secret(
        name,
        revision,
        status,
        manifest,
        json!({"name": "legacy-app", "version": "0.3.1"}),
    )
}

/// [`helm_secret`] with the chart's metadata.
fn helm_release_secret(
    name: &str,
    revision: u64,
    status: &str,
    manifest: &str,
    chart: Value,
) -> Value {
    let release = json!({"name": name, "namespace": "apps", "version": revision, "info": {"status": status},
        "chart": {"metadata": chart}, "manifest": manifest});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(release.to_string().as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.encode(gz.finish().unwrap());
    json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
           "metadata": {"name": format!("sh.helm.release.v1.{name}.v{revision}"), "namespace": "apps",
                        "labels": {"owner": "helm", "name": name, "status": status, "version": revision.to_string()}},
           "data": {"release": b64.encode(payload)}})
}

const HELM_MANIFEST: &str = "---
# Source: legacy-app/templates/pdb.yaml
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: legacy-app
  namespace: apps
spec:
  minAvailable: 1
---
# Source: legacy-app/templates/cronjob.yaml
apiVersion: batch/v1beta1
kind: CronJob
metadata:
  name: legacy-app-report
  namespace: apps
spec:
  schedule: '0 3 * * *'
---
# Source: legacy-app/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: legacy-app-token
  namespace: apps
data:
  token: c3VwZXJzZWNyZXQ=
";

fn deployment(ns: &str, name: &str, replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": "x"}]}}},
           "status": {"replicas": replicas, "readyReplicas": replicas}})
}

/// The objects of rule fixtures (`tests/fixtures/rules/CODE/FILE`).
fn rule_fixtures(files: &[&str]) -> Vec<Value> {
    let paths: Vec<std::path::PathBuf> = files
        .iter()
        .map(|f| crate::root().join("tests/fixtures/rules").join(f))
        .collect();
    let inv = kscope::inventory::manifests::load(&paths).unwrap();
    assert!(inv.problems.is_empty(), "{:?}", inv.problems);
    inv.all().map(|o| o.value.clone()).collect()
}

/// A 1.24 cluster on its way to 1.27, with a fail-closed webhook whose Service has no ready
/// endpoints.
fn old_cluster() -> Vec<Value> {
    let mut objects = rule_fixtures(&["WH008/fire-no-ready-endpoints.yaml"]);
    objects.extend([
        node("ip-10-0-1-10.ec2.internal", "v1.24.17-eks-8cb36c9"),
        node("ip-10-0-1-11.ec2.internal", "v1.24.17-eks-8cb36c9"),
        node("ip-10-0-1-12.ec2.internal", "v1.24.17-eks-8cb36c9"),
        node("ip-10-0-9-1.ec2.internal", "v1.22.17-eks-0a21954"),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "ledger", "namespace": "finance"},
               "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "ledger"}}},
               "status": {"expectedPods": 2, "currentHealthy": 2, "desiredHealthy": 2, "disruptionsAllowed": 0}}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "web", "namespace": "frontend",
                            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "autoscaling/v2beta2"}]},
               "spec": {"minReplicas": 2, "maxReplicas": 5, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}),
        deployment("kube-system", "coredns", 2),
        deployment("kube-system", "metrics-server", 1),
        helm_secret("legacy-app", 1, "superseded", HELM_MANIFEST),
        helm_secret("legacy-app", 2, "deployed", HELM_MANIFEST),
        helm_secret(
            "legacy-app",
            3,
            "failed",
            "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: never-deployed\n",
        ),
    ]);
    objects
}

const METRICS: &str = "# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group=\"flowcontrol.apiserver.k8s.io\",removed_release=\"1.26\",resource=\"flowschemas\",subresource=\"\",version=\"v1beta1\"} 1
apiserver_storage_objects{resource=\"pods\"} 40
";

async fn preflight(api: &FakeApi, extra: &[&str]) -> std::process::Output {
    api.kscope("preflight", extra).await
}

fn hop_verdicts(doc: &Value) -> Vec<(String, String, u64, u64)> {
    doc["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["version"].as_str().unwrap().to_string(),
                h["verdict"].as_str().unwrap().to_string(),
                h["blockers"].as_u64().unwrap(),
                h["warnings"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// (hop, blocking, code, subject) of every item.
fn items(doc: &Value) -> Vec<String> {
    doc["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {} {} {}",
                i["hop"].as_str().unwrap(),
                if i["blocking"].as_bool().unwrap() {
                    "BLOCKER"
                } else {
                    "warning"
                },
                i["code"].as_str().unwrap(),
                i["subject"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_cluster_1_24_to_1_27_is_blocked_hop_by_hop() {
    let api = FakeApi::start(old_cluster(), "v1.24.17-eks-8cb36c9", Some(METRICS.into())).await;
    let base = [
        "--target-version",
        "1.27",
        "--helm",
        "--audit",
        AUDIT,
        "--format",
    ];
    let run = |fmt: &'static str| {
        let mut a: Vec<&str> = base.to_vec();
        a.push(fmt);
        a
    };
    let out = preflight(&api, &run("json")).await;
    assert_eq!(out.status.code(), Some(1), "{}", crate::stderr(&out));
    let doc = crate::json(&out);
    assert_eq!(doc["command"], "preflight");
    assert_eq!(doc["verdict"], "BLOCKED");
    assert_eq!(doc["from_version"], "1.24");
    assert_eq!(doc["target_version"], "1.27");
    assert_eq!(
        hop_verdicts(&doc),
        vec![
            ("1.25".into(), "BLOCKED".into(), 6, 3),
            ("1.26".into(), "BLOCKED".into(), 4, 1),
            ("1.27".into(), "BLOCKED".into(), 4, 0),
        ]
    );
    assert_eq!(
        items(&doc),
        vec![
            "1.25 BLOCKER DA001 CronJob/apps/legacy-app-report",
            "1.25 BLOCKER DA001 PodDisruptionBudget/apps/legacy-app",
            "1.25 BLOCKER DA001 legacy-operator (system:serviceaccount:ops:legacy-operator)",
            "1.25 BLOCKER UP001 kube-proxy 1.22",
            "1.25 BLOCKER UP001 kubelet 1.22",
            // fail-closed, no ready endpoints: blocks
            "1.25 BLOCKER WH008 ValidatingWebhookConfiguration/fire-no-endpoints",
            "1.26 BLOCKER DA001 (clients since the API server started)",
            "1.26 BLOCKER DA001 hpa-tool (alice@example.com)",
            "1.26 BLOCKER UP001 kube-proxy 1.22",
            "1.26 BLOCKER UP001 kubelet 1.22",
            "1.27 BLOCKER UP001 kube-proxy 1.22",
            "1.27 BLOCKER UP001 kube-proxy 1.24",
            "1.27 BLOCKER UP001 kubelet 1.22",
            "1.27 BLOCKER UP001 kubelet 1.24",
            "1.25 warning UP002 PodDisruptionBudget/finance/ledger",
            "1.25 warning UP003 Deployment/kube-system/metrics-server",
            // a preflight: warning rule, error severity in lint: a warning here
            "1.25 warning WH001 ValidatingWebhookConfiguration/fire-no-endpoints",
            "1.26 warning DA001 HorizontalPodAutoscaler/frontend/web",
        ]
    );
    // evidence says why: the Helm release and chart, the audit caller with and without annotation
    let ev = |subject: &str| -> Vec<Value> {
        doc["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["subject"] == subject)
            .unwrap()["evidence"]
            .as_array()
            .unwrap()
            .clone()
    };
    let helm = ev("CronJob/apps/legacy-app-report");
    assert_eq!(helm[0]["source"], "helm");
    assert_eq!(helm[0]["release"], "apps/legacy-app");
    assert_eq!(helm[0]["chart"], "legacy-app-0.3.1");
    assert_eq!(helm[0]["revision"], 2, "the newest deployed revision");
    let op = ev("legacy-operator (system:serviceaccount:ops:legacy-operator)");
    assert_eq!(op[0]["requests"], 12);
    assert_eq!(op[0]["annotated"], true);
    assert_eq!(op[0]["last_seen"], "2026-11-20T10:11:00Z");
    let hpa = ev("hpa-tool (alice@example.com)");
    assert_eq!(
        hpa[0]["annotated"], false,
        "found by the table, not the annotation"
    );
    let stale = ev("HorizontalPodAutoscaler/frontend/web");
    assert_eq!(stale[0]["source"], "live_object");
    assert_eq!(stale[0]["via"], "managedFields");
    // kscope's own requests in the audit log are no evidence; Secret data is never printed
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !text.contains("kscope/0.1.0") && !text.contains("Ingress"),
        "{text}"
    );
    for fmt in ["json", "table", "markdown", "csv"] {
        let o = preflight(&api, &run(fmt)).await;
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !all.contains("c3VwZXJzZWNyZXQ") && !all.contains("supersecret"),
            "{fmt} prints Secret data"
        );
        assert!(!all.contains("H4sI"), "{fmt} prints a release payload");
        assert_eq!(o.status.code(), Some(1), "{fmt}");
        if fmt != "json" {
            insta::assert_snapshot!(
                format!("preflight_1_24_to_1_27_{fmt}"),
                String::from_utf8_lossy(&o.stdout)
            );
        } else {
            insta::assert_json_snapshot!("preflight_1_24_to_1_27_json", crate::json(&o));
        }
    }
    // a well-behaved client: read-only, identified, preferred versions only, so kscope never
    // shows up as a deprecated-API caller itself
    let log = api.log();
    assert!(!log.is_empty());
    for r in &log {
        assert_eq!(r.method, "GET", "{}", r.path);
        assert!(r.user_agent.starts_with("kscope/"), "{}", r.user_agent);
        let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        let gvr = match parts.as_slice() {
            ["api", v, res, ..] => Some(("", *v, *res)),
            ["apis", g, v, res, ..] => Some((*g, *v, *res)),
            _ => None,
        };
        if let Some((g, v, res)) = gvr {
            assert!(
                kscope::rules::apis::lookup_resource(g, v, res).is_none(),
                "kscope requested a deprecated API: {}",
                r.path
            );
        }
    }
    let secrets: Vec<_> = log
        .iter()
        .filter(|r| r.path.ends_with("/secrets"))
        .collect();
    assert!(!secrets.is_empty());
    for s in secrets {
        assert!(
            s.query
                .contains("fieldSelector=type%3Dhelm.sh%2Frelease.v1")
                || s.query.contains("fieldSelector=type=helm.sh/release.v1"),
            "{}",
            s.query
        );
        assert!(s.query.contains("limit="), "{}", s.query);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_cluster_1_29_to_1_32_ready_with_warnings_and_what_was_not_checked() {
    // risks that warn: an unavailable APIService, a CRD with a stored version no longer served, a
    // suggested APF object pinned against updates
    let mut objects = rule_fixtures(&[
        "WH018/fire-metrics-unavailable.yaml",
        "CR004/fire-stored-unserved.yaml",
        "AP005/fire-pinned-global-default.yaml",
    ]);
    objects.extend([
        node("ip-10-0-1-10.ec2.internal", "v1.29.8-eks-a737599"),
        node("ip-10-0-1-11.ec2.internal", "v1.29.8-eks-a737599"),
        json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
               "metadata": {"name": "batch-jobs", "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3"}]},
               "spec": {"priorityLevelConfiguration": {"name": "workload-low"}, "matchingPrecedence": 8000}}),
        deployment("kube-system", "coredns", 2),
    ]);
    // no /metrics (403), and Helm release Secrets forbidden
    let api = FakeApi::start(objects, "v1.29.8-eks-a737599", None).await;
    api.fault("/secrets", Fault::Status(403), 100);
    let out = preflight(
        &api,
        &["--target-version", "1.32", "--helm", "--format", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let doc = crate::json(&out);
    assert_eq!(doc["verdict"], "READY WITH WARNINGS");
    assert_eq!(
        hop_verdicts(&doc),
        vec![
            ("1.30".into(), "READY WITH WARNINGS".into(), 0, 3),
            ("1.31".into(), "READY".into(), 0, 0),
            ("1.32".into(), "READY WITH WARNINGS".into(), 0, 1),
        ]
    );
    assert_eq!(
        items(&doc),
        vec![
            "1.30 warning AP005 FlowSchema/global-default",
            "1.30 warning CR004 CustomResourceDefinition/fire-stored.example.com",
            "1.30 warning WH018 APIService/v1beta1.metrics.k8s.io",
            "1.32 warning DA001 FlowSchema/batch-jobs",
        ]
    );
    let nc: Vec<String> = doc["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}: {}",
                n["check"].as_str().unwrap(),
                n["reason"].as_str().unwrap()
            )
        })
        .collect();
    let has = |needle: &str| nc.iter().any(|n| n.contains(needle));
    assert!(has("Helm releases: forbidden"), "{nc:?}");
    assert!(
        has("/metrics gauge apiserver_requested_deprecated_apis: forbidden"),
        "{nc:?}"
    );
    assert!(
        has("runtime callers (audit log): no audit source given"),
        "{nc:?}"
    );
    // warnings fail the run only when asked
    let out = preflight(&api, &["--target-version", "1.32", "--fail-on", "warning"]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("VERDICT: READY WITH WARNINGS"), "{text}");
    assert!(text.contains("may be stale"), "{text}");
}

#[test]
fn files_and_audit_1_29_to_1_32_blocked() {
    let out = crate::kscope(&crate::preflight_1_29_to_1_32(&[
        "-f",
        "tests/fixtures/preflight/legacy.yaml",
        "--audit",
        AUDIT,
        "--format",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", crate::stderr(&out));
    let doc = crate::json(&out);
    assert_eq!(doc["verdict"], "BLOCKED");
    assert_eq!(
        hop_verdicts(&doc),
        vec![
            ("1.30".into(), "BLOCKED".into(), 3, 0),
            ("1.31".into(), "READY".into(), 0, 0),
            ("1.32".into(), "BLOCKED".into(), 2, 0),
        ]
    );
    assert_eq!(
        items(&doc),
        vec![
            "1.30 BLOCKER DA001 CSIStorageCapacity/storage/capacity-zone-a",
            "1.30 BLOCKER DA001 hpa-tool (alice@example.com)",
            "1.30 BLOCKER DA001 legacy-operator (system:serviceaccount:ops:legacy-operator)",
            "1.32 BLOCKER DA001 FlowSchema/batch-jobs",
            "1.32 BLOCKER DA001 grafana-agent (system:serviceaccount:monitoring:agent)",
        ]
    );
    let f = doc["findings"].as_array().unwrap();
    assert!(f.iter().all(|f| f["severity"] == "error"));
    let flow = f
        .iter()
        .find(|f| f["subject"]["name"] == "FlowSchema/batch-jobs")
        .unwrap();
    assert_eq!(
        flow["subject"]["origin"],
        "tests/fixtures/preflight/legacy.yaml:2"
    );
    assert!(
        flow["message"]
            .as_str()
            .unwrap()
            .contains("migrate to flowcontrol.apiserver.k8s.io/v1"),
        "{flow}"
    );
    let nc = doc["not_checked"].to_string();
    assert!(nc.contains("--no-cluster"), "{nc}");
}

#[test]
fn ready_and_ready_with_warnings_from_files() {
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "preflight",
            "--no-cluster",
            "--from-version",
            "1.30",
            "--target-version",
            "1.31",
            "-f",
            "tests/fixtures/preflight/clean.yaml",
        ];
        a.extend_from_slice(extra);
        a
    };
    let out = crate::kscope(&args(&[]));
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("VERDICT: READY: no known blocker among the "),
        "{text}"
    );
    assert!(text.contains("checks that ran"), "{text}");
    assert!(
        text.contains("no audit source given"),
        "a preflight without audit says runtime callers were not checked: {text}"
    );
    let md = crate::kscope(&args(&["--format", "markdown"]));
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.starts_with("# Kubernetes upgrade preflight: 1.30 → 1.31: **READY: no known blocker"),
        "{md}"
    );
    assert!(md.contains("Nothing to do before the upgrade."), "{md}");

    let warn = args(&[
        "-f",
        "tests/fixtures/preflight/strict-pdb.yaml",
        "--format",
        "json",
    ]);
    let out = crate::kscope(&warn);
    assert_eq!(out.status.code(), Some(0));
    let doc = crate::json(&out);
    assert_eq!(doc["verdict"], "READY WITH WARNINGS");
    assert_eq!(
        items(&doc),
        vec!["1.31 warning UP002 PodDisruptionBudget/finance/ledger"]
    );
    let mut failing = warn.clone();
    failing.extend(["--fail-on", "warning"]);
    assert_eq!(crate::kscope(&failing).status.code(), Some(1));
}

/// A chart whose kubeVersion excludes a hop blocks that hop (Helm refuses to upgrade the release
/// there); one that allows every hop does not; an unreadable constraint is said, not guessed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_chart_kube_version_blocks_the_hops_it_excludes() {
    let chart = |name: &str, kv: &str| json!({"name": name, "version": "1.0.0", "kubeVersion": kv});
    let api = FakeApi::start(
        vec![
            helm_release_secret(
                "old",
                1,
                "deployed",
                "",
                chart("old-chart", ">= 1.20.0-0 < 1.36.0-0"),
            ),
            helm_release_secret("fine", 1, "deployed", "", chart("fine-chart", ">=1.20.0-0")),
            helm_release_secret("odd", 1, "deployed", "", chart("odd-chart", ">= banana")),
        ],
        "v1.34.2",
        None,
    )
    .await;
    let out = crate::kscope(&[
        "preflight",
        "--kubeconfig",
        api.kubeconfig().to_str().unwrap(),
        "--target-version",
        "1.37",
        "--helm",
        "--format",
        "json",
    ]);
    let doc = crate::json(&out);
    let up011: Vec<String> = doc["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "UP011")
        .map(|e| {
            format!(
                "{} {} {}",
                e["hop"].as_str().unwrap(),
                e["blocking"],
                e["subject"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        up011,
        // blockers first, then by hop
        [
            "1.36 true HelmRelease/apps/old",
            "1.37 true HelmRelease/apps/old",
            // an unreadable constraint is said once, at the first hop
            "1.35 false HelmRelease/apps/odd",
        ]
        .map(String::from)
        .to_vec(),
        "{}",
        doc["findings"]
    );
    let hops: Vec<&str> = doc["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["READY WITH WARNINGS", "BLOCKED", "BLOCKED"]);
    assert_eq!(out.status.code(), Some(1));
}

/// A rollback one minor down blocks on what only the newer release serves (manifests in a version
/// it introduced, kubelets already upgraded); two minors down is refused.
#[test]
fn rollback_blocks_on_what_only_the_newer_release_serves() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("new.yaml");
    std::fs::write(
        &f,
        "apiVersion: resource.k8s.io/v1\nkind: DeviceTaintRule\nmetadata:\n  name: t\nspec: {}\n---\n\
         apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nstatus:\n  nodeInfo:\n    kubeletVersion: v1.37.1\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: x\nspec:\n  replicas: 3\n",
    )
    .unwrap();
    let run = |to: &str, file: &str| {
        crate::kscope(&[
            "preflight",
            "--no-cluster",
            "--from-version",
            "1.37",
            "--rollback-to",
            to,
            "-f",
            file,
            "--format",
            "json",
        ])
    };
    let out = run("1.36", f.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", crate::stderr(&out));
    let doc = crate::json(&out);
    assert_eq!(doc["verdict"], "BLOCKED");
    let codes: Vec<String> = doc["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["code"].as_str().unwrap(),
                e["blocking"],
                e["subject"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        codes.contains(&"DA003 true DeviceTaintRule/t".to_string()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"UP001 true kubelet 1.37".to_string()),
        "{codes:?}"
    );
    // the Deployment is fine either way; no removal is judged going down
    assert!(!codes.iter().any(|c| c.contains("Deployment")), "{codes:?}");
    let text = crate::kscope(&[
        "preflight",
        "--no-cluster",
        "--from-version",
        "1.37",
        "--rollback-to",
        "1.36",
        "-f",
        f.to_str().unwrap(),
    ]);
    assert!(
        crate::stdout(&text).contains("rollback 1.37 → 1.36"),
        "{}",
        crate::stdout(&text)
    );
    // a clean manifest rolls back READY
    let out = run("1.36", "tests/fixtures/preflight/clean.yaml");
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    // two minors is not a rollback a control plane allows
    let out = run("1.35", "tests/fixtures/preflight/clean.yaml");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::stderr(&out).contains("one minor version"),
        "{}",
        crate::stderr(&out)
    );
}

/// containerd 1.x: a warning while it is losing support, a blocker at the hop whose kubelet drops it.
#[test]
fn containerd_1_warns_then_blocks_at_the_release_that_drops_it() {
    let out = crate::kscope(&[
        "preflight",
        "--no-cluster",
        "--from-version",
        "1.35",
        "--target-version",
        "1.38",
        "-f",
        "tests/fixtures/rules/UP004/fire-containerd-1-losing-support.yaml",
        "--format",
        "json",
    ]);
    let doc = crate::json(&out);
    let up004: Vec<String> = doc["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "UP004")
        .map(|e| format!("{} {}", e["hop"].as_str().unwrap(), e["blocking"]))
        .collect();
    assert_eq!(up004, ["1.38 true", "1.36 false"], "{}", doc["findings"]);
    assert_eq!(doc["verdict"], "BLOCKED");
    assert_eq!(out.status.code(), Some(1));
}

/// Past the release the catalogue is reviewed through, a hop is UNKNOWN (exit 2), never READY;
/// removals already announced still block there.
#[test]
fn hops_past_the_reviewed_release_are_unknown_not_ready() {
    let run = |file: &str| {
        crate::kscope(&[
            "preflight",
            "--no-cluster",
            "--from-version",
            "1.36",
            "--target-version",
            "1.39",
            "-f",
            file,
            "--format",
            "json",
        ])
    };
    let out = run("tests/fixtures/preflight/clean.yaml");
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    let doc = crate::json(&out);
    assert_eq!(doc["verdict"], "UNKNOWN");
    assert_eq!(doc["reviewed_through"], "1.37");
    let verdicts: Vec<&str> = doc["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["READY", "UNKNOWN", "UNKNOWN"]);
    let nc = doc["not_checked"].to_string();
    assert!(
        nc.contains("what changes in 1.38") && nc.contains("what changes in 1.39"),
        "{nc}"
    );
    assert!(
        doc["checks_ran"]
            .to_string()
            .contains("removed and deprecated APIs: manifests"),
        "{}",
        doc["checks_ran"]
    );
    // an announced removal blocks its hop beyond the reviewed release all the same
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("lc.yaml");
    std::fs::write(
        &f,
        "apiVersion: resource.k8s.io/v1beta2\nkind: DeviceClass\nmetadata:\n  name: gpu\nspec: {}\n",
    )
    .unwrap();
    let out = run(f.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", crate::stderr(&out));
    let doc = crate::json(&out);
    assert_eq!(doc["verdict"], "BLOCKED");
    assert_eq!(doc["hops"][2]["verdict"], "BLOCKED", "{}", doc["hops"]);
    assert_eq!(doc["hops"][1]["verdict"], "UNKNOWN", "{}", doc["hops"]);
}

#[test]
fn target_versions_are_validated() {
    let run = |from: &str, to: &str| {
        crate::kscope(&[
            "preflight",
            "--no-cluster",
            "--from-version",
            from,
            "--target-version",
            to,
            "-f",
            "tests/fixtures/preflight/clean.yaml",
        ])
    };
    let out = run("1.30", "1.45");
    assert_eq!(out.status.code(), Some(2));
    let err = crate::stderr(&out);
    assert!(
        err.contains("1.45 is unknown")
            && err.contains("1.16 to 1.37")
            && err.contains("up to 1.43"),
        "{err}"
    );
    let out = run("1.30", "1.28");
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::stderr(&out).contains("not newer than the current version 1.30"));
    let out = crate::kscope(&["preflight", "--no-cluster", "--target-version", "1.31"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::stderr(&out).contains("--from-version"),
        "{}",
        crate::stderr(&out)
    );
    let out = crate::kscope(&["preflight", "--target-version", "one.two"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreadable_audit_source_is_an_input_error_not_a_ready() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("audit.jsonl");
    std::fs::write(&bad, "{\"kind\":\"Event\",\"verb\"\n").unwrap();
    let out = crate::kscope(&[
        "preflight",
        "--no-cluster",
        "--from-version",
        "1.30",
        "--target-version",
        "1.31",
        "--audit",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(
        crate::stderr(&out).contains("malformed"),
        "{}",
        crate::stderr(&out)
    );
}

/// The README's worked example is what the command prints.
#[test]
fn readme_worked_example_is_current() {
    let readme = std::fs::read_to_string(crate::root().join("README.md")).unwrap();
    let start = readme
        .find("Worked example on the bundled samples")
        .expect("README has the worked example");
    let block = &readme[start..];
    let body = block
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let out = crate::kscope(&crate::preflight_samples());
    assert_eq!(
        out.status.code(),
        Some(2),
        "the samples hold malformed lines"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut checked = 0;
    for line in body.lines().filter(|l| l.trim() != "..." && !l.is_empty()) {
        assert!(
            text.contains(line),
            "README line not in the output: {line:?}\n{text}"
        );
        checked += 1;
    }
    assert!(checked > 10);
}

/// A node of a node group, with what its kubelet says through the node proxy (test annotations the
/// test API server serves as configz and metrics; none: 403, as without nodes/proxy).
fn group_node(
    name: &str,
    group: &str,
    image: &str,
    runtime: &str,
    kubelet: Option<(&str, &str)>,
) -> Value {
    let mut n = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"eks.amazonaws.com/nodegroup": group}},
        "status": {"nodeInfo": {"kubeletVersion": "v1.34.2", "kubeProxyVersion": "v1.34.2",
                   "containerRuntimeVersion": runtime, "osImage": image}}});
    if let Some((configz, metrics)) = kubelet {
        n["metadata"]["annotations"] =
            json!({"test.kscope.io/configz": configz, "test.kscope.io/metrics": metrics});
    }
    n
}

fn kube_system(kind: &str, name: &str, mirror: bool, body: Value) -> Value {
    let mut o = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "kube-system"}});
    if mirror {
        o["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "0d1e2f"});
    }
    for (k, v) in body.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

/// A self-managed 1.34 cluster carrying one of each node and component blocker class: nodes on a
/// cgroup v1 image with containerd 1.7, a node group whose image says cgroup v2 but whose kubelet
/// reports v1 and sets a removed gate, a static kube-apiserver Pod with a removed gate, kube-proxy
/// in IPVS mode, kubeadm's v1beta3 configuration and alert rules on removed metrics. Only the
/// mirror Pods and component ConfigMaps are read whole; the kubelets only with --kubelet, one node
/// per group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_and_component_blocker_class_blocks_its_hops() {
    let configz =
        r#"{"kubeletconfig": {"featureGates": {"SidecarContainers": true}, "failCgroupV1": true}}"#;
    let metrics = "# TYPE kubelet_cgroup_version gauge\nkubelet_cgroup_version 1\n";
    let gates = |g: &str| {
        json!({"spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.34.2",
        "command": ["kube-apiserver", format!("--feature-gates={g}")]}]}})
    };
    let objects = vec![
        group_node(
            "al2-a",
            "legacy",
            "Amazon Linux 2",
            "containerd://1.7.27",
            None,
        ),
        group_node(
            "al2-b",
            "legacy",
            "Amazon Linux 2",
            "containerd://1.7.27",
            None,
        ),
        group_node(
            "new-a",
            "modern",
            "Amazon Linux 2023.6.20250115",
            "containerd://2.0.5",
            Some((configz, metrics)),
        ),
        group_node(
            "new-b",
            "modern",
            "Amazon Linux 2023.6.20250115",
            "containerd://2.0.5",
            Some((configz, metrics)),
        ),
        kube_system(
            "Pod",
            "kube-apiserver-cp-1",
            true,
            gates("StructuredAuthenticationConfiguration=true"),
        ),
        // not a static Pod: listed as metadata only, its command line never read
        kube_system(
            "Pod",
            "some-operator",
            false,
            gates("SidecarContainers=true"),
        ),
        kube_system(
            "ConfigMap",
            "kube-proxy",
            false,
            json!({"data": {"config.conf":
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"}}),
        ),
        kube_system(
            "ConfigMap",
            "kubeadm-config",
            false,
            json!({"data": {"ClusterConfiguration":
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.34.2\n"}}),
        ),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-settings", "namespace": "apps"},
               "data": {"secretish": "never read"}}),
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
               "metadata": {"name": "kube-apiserver", "namespace": "monitoring"},
               "spec": {"groups": [{"name": "apiserver", "rules": [
                   {"alert": "TooManyObjects", "expr": "max(apiserver_storage_objects) > 100000"},
                   {"alert": "CpuLoad", "expr": "avg(container_cpu_load_average_10s) > 4"}]}]}}),
    ];
    let api = FakeApi::start(objects, "v1.34.2", None).await;
    let run = |kubelet: bool| {
        let mut args = vec!["--target-version", "1.37", "--format", "json"];
        if kubelet {
            args.push("--kubelet");
        }
        args
    };

    // without --kubelet: no node proxy request, and the verdict says what that left unchecked
    let out = preflight(&api, &run(false)).await;
    let doc = crate::json(&out);
    assert!(!api.log().iter().any(|r| r.path.contains("/proxy/")));
    let nc = doc["not_checked"].to_string();
    assert!(nc.contains("add --kubelet"), "{nc}");
    let without = items(&doc);
    assert!(
        !without
            .iter()
            .any(|i| i.contains("new-a") || i.contains("modern")),
        "{without:?}"
    );

    let out = preflight(&api, &run(true)).await;
    assert_eq!(out.status.code(), Some(1), "{}", crate::stderr(&out));
    let doc = crate::json(&out);
    let got = items(&doc);
    for want in [
        // the cgroup v1 image, and the kubelet that reports v1 on an image that says v2
        "1.35 BLOCKER UP005 nodes on Amazon Linux 2",
        "1.35 BLOCKER UP005 nodes on Amazon Linux 2023.6.20250115",
        "1.35 warning UP004 containerd 1.x nodes",
        "1.37 BLOCKER UP012 Pod/kube-system/kube-apiserver-cp-1",
        "1.37 BLOCKER UP012 Node/new-a",
        "1.35 warning UP010 ConfigMap/kube-system/kube-proxy",
        "1.37 BLOCKER UP013 ConfigMap/kube-system/kubeadm-config",
        "1.36 warning UP015 PrometheusRule/monitoring/kube-apiserver",
        "1.37 warning UP015 PrometheusRule/monitoring/kube-apiserver",
    ] {
        assert!(
            got.iter().any(|i| i == want),
            "missing {want:?} in {got:#?}"
        );
    }
    assert!(!got.iter().any(|i| i.contains("some-operator")), "{got:?}");
    // a risk is reported once, at the first hop it concerns
    for code in ["UP005", "UP010", "UP004"] {
        let n = got.iter().filter(|i| i.contains(code)).count();
        assert_eq!(n, if code == "UP005" { 2 } else { 1 }, "{code}: {got:#?}");
    }
    let hops: Vec<&str> = doc["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["BLOCKED", "READY WITH WARNINGS", "BLOCKED"]);
    // the kubelet of the group without proxy access is named as not checked
    let nc = doc["not_checked"].to_string();
    assert!(
        nc.contains("kubelet of node al2-a (2 node(s))") && nc.contains("forbidden"),
        "{nc}"
    );

    let log = api.log();
    let proxied: Vec<&str> = log
        .iter()
        .filter(|r| r.path.contains("/proxy/"))
        .map(|r| r.path.as_str())
        .collect();
    // one node per group, configz and metrics each
    assert_eq!(proxied.len(), 4, "{proxied:?}");
    assert!(
        proxied
            .iter()
            .all(|p| p.contains("/al2-a/") || p.contains("/new-a/")),
        "{proxied:?}"
    );
    // whole objects: the mirror Pod and the two component ConfigMaps, one GET each; lists of Pods
    // and ConfigMaps are metadata only
    let gets: Vec<&str> = log
        .iter()
        .filter(|r| r.path.contains("/namespaces/"))
        .map(|r| r.path.as_str())
        .collect();
    let mut gets_sorted = gets.clone();
    gets_sorted.sort();
    gets_sorted.dedup();
    assert_eq!(
        gets_sorted,
        [
            "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
            "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
            "/api/v1/namespaces/kube-system/pods/kube-apiserver-cp-1",
        ]
    );
    for r in log
        .iter()
        .filter(|r| r.path == "/api/v1/pods" || r.path == "/api/v1/configmaps")
    {
        assert!(r.accept.contains("as=PartialObjectMetadataList"), "{r:?}");
    }
    assert!(log.iter().all(|r| r.method == "GET"));
}
