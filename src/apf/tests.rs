//! Classification against kube-apiserver's own objects (rules/data/apf-bootstrap.yaml, read from
//! k8s.io/apiserver pkg/apis/flowcontrol/bootstrap/default.go at 24a394e5) and against custom
//! FlowSchemas of equal precedence.

use super::config::{Request, implied_groups};
use super::estimate::{Line, Req};
use super::*;
use crate::inventory::Obj;

fn who<'a>(
    user: &'a str,
    groups: &'a [&'a str],
    verb: &'a str,
    res: Option<(&'a str, &'a str)>,
    ns: Option<&'a str>,
    path: &'a str,
) -> Request<'a> {
    Request {
        user,
        groups,
        verb,
        resource: res.map(|(_, r)| r),
        subresource: None,
        api_group: res.map(|(g, _)| g).unwrap_or_default(),
        namespace: ns,
        path,
    }
}

fn level_of(
    p: &Pricing,
    user: &str,
    groups: &[&str],
    verb: &str,
    res: Option<(&str, &str)>,
    ns: Option<&str>,
    path: &str,
) -> (String, String) {
    let mut gs: Vec<&str> = groups.to_vec();
    let sa = implied_groups(user, &mut gs);
    let sa_group = sa.map(|n| format!("system:serviceaccounts:{n}"));
    if let Some(g) = &sa_group {
        gs.push(g);
    }
    let f = p
        .config
        .classify(&who(user, &gs, verb, res, ns, path))
        .expect("the mandatory catch-all matches everyone");
    (f.name.clone(), f.level.clone())
}

#[test]
fn the_servers_own_objects_place_the_usual_callers() {
    let p = Pricing::new(&[], "", HashMap::new(), DEFAULT_TOTAL_SEATS, None);
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    // the controller manager's lease renewal, then its other work
    assert_eq!(
        level_of(
            &p,
            "system:kube-controller-manager",
            &[],
            "update",
            Some(("coordination.k8s.io", "leases")),
            Some("kube-system"),
            ""
        ),
        pair("system-leader-election", "leader-election")
    );
    assert_eq!(
        level_of(
            &p,
            "system:kube-controller-manager",
            &[],
            "list",
            Some(("", "pods")),
            None,
            ""
        ),
        pair("kube-controller-manager", "workload-high")
    );
    // a node: its own Node and Lease at node-high, the rest at system
    let node = ["system:nodes"];
    assert_eq!(
        level_of(
            &p,
            "system:node:ip-10-0-0-1",
            &node,
            "patch",
            Some(("", "nodes")),
            None,
            ""
        ),
        pair("system-node-high", "node-high")
    );
    assert_eq!(
        level_of(
            &p,
            "system:node:ip-10-0-0-1",
            &node,
            "get",
            Some(("", "configmaps")),
            Some("apps"),
            ""
        ),
        pair("system-nodes", "system")
    );
    // service accounts: kube-system's at workload-high, the others at workload-low
    assert_eq!(
        level_of(
            &p,
            "system:serviceaccount:kube-system:coredns",
            &[],
            "list",
            Some(("", "services")),
            None,
            ""
        ),
        pair("kube-system-service-accounts", "workload-high")
    );
    assert_eq!(
        level_of(
            &p,
            "system:serviceaccount:apps:web",
            &[],
            "get",
            Some(("", "secrets")),
            Some("apps"),
            ""
        ),
        pair("service-accounts", "workload-low")
    );
    // people, anonymous probes, and system:masters
    assert_eq!(
        level_of(
            &p,
            "alice",
            &[],
            "list",
            Some(("apps", "deployments")),
            Some("x"),
            ""
        ),
        pair("global-default", "global-default")
    );
    assert_eq!(
        level_of(&p, "system:anonymous", &[], "get", None, None, "/healthz"),
        pair("probes", "exempt")
    );
    assert_eq!(
        level_of(&p, "system:anonymous", &[], "get", None, None, "/version"),
        pair("global-default", "global-default")
    );
    assert_eq!(
        level_of(
            &p,
            "admin",
            &["system:masters"],
            "delete",
            Some(("", "pods")),
            Some("x"),
            ""
        ),
        pair("exempt", "exempt")
    );
    // the levels' seats at 600 (fact sheet §6: CTL R134:863, 880-894)
    let l = |n: &str| p.config.levels[n].nominal;
    assert_eq!(
        (l("workload-low"), l("system"), l("catch-all")),
        (245, 74, 13)
    );
    assert_eq!(p.level_max("workload-low"), 37);
    assert_eq!(p.level_max("catch-all"), 0);
}

fn obj(yaml: &str) -> Obj {
    let mut inv = Inventory::default();
    manifests::add_text(&mut inv, "t.yaml", yaml);
    inv.all().next().cloned().expect("one object")
}

#[test]
fn custom_flow_schemas_of_equal_precedence_are_ordered_by_name() {
    let fs = |name: &str, level: &str| {
        obj(&format!(
            "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: FlowSchema\nmetadata:\n  name: {name}\nspec:\n  \
             matchingPrecedence: 500\n  priorityLevelConfiguration:\n    name: {level}\n  rules:\n  - subjects:\n    \
             - kind: Group\n      group:\n        name: batch\n    resourceRules:\n    - verbs: [\"list\"]\n      \
             apiGroups: [\"*\"]\n      resources: [\"*\"]\n      namespaces: [\"*\"]\n"
        ))
    };
    let level = obj(
        "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: PriorityLevelConfiguration\nmetadata:\n  name: batch\nspec:\n  \
         type: Limited\n  limited:\n    nominalConcurrencyShares: 10\n    limitResponse:\n      type: Queue\n      \
         queuing: {queues: 16, handSize: 4, queueLengthLimit: 50}\n",
    );
    let (b, a, l) = (
        fs("b-batch", "batch"),
        fs("a-batch", "global-default"),
        level,
    );
    let p = Pricing::new(
        &[&b, &a, &l],
        "test",
        HashMap::new(),
        DEFAULT_TOTAL_SEATS,
        None,
    );
    // the mandatory objects are added; the given ones are all there is otherwise
    assert!(p.config.flows.iter().any(|f| f.name == "catch-all"));
    assert!(!p.config.flows.iter().any(|f| f.name == "global-default"));
    let batch = ["batch"];
    let r = level_of(&p, "job", &batch, "list", Some(("", "pods")), Some("x"), "");
    assert_eq!(r.0, "a-batch");
    // not a LIST, or not in the group: the mandatory catch-all
    assert_eq!(
        level_of(&p, "job", &batch, "get", Some(("", "pods")), Some("x"), "").0,
        "catch-all"
    );
    // shares: batch 10 and catch-all 5 of 600 seats (exempt has none)
    assert_eq!(p.config.levels["batch"].nominal, 400);
}

#[test]
fn prices_follow_the_inputs() {
    let mut stats = HashMap::new();
    stats.insert(
        stat_key("", "pods"),
        estimate::ObjectStat {
            count: 20_000,
            avg_bytes: Some(4000.0),
        },
    );
    let p = Pricing::new(
        &[],
        "",
        stats,
        DEFAULT_TOTAL_SEATS,
        Some((Version::new(1, 34), "test".into())),
    );
    let groups = ["system:authenticated", "system:serviceaccounts"];
    let w = who(
        "system:serviceaccount:apps:web",
        &groups,
        "list",
        Some(("", "pods")),
        None,
        "",
    );
    let r = Req {
        verb: "list",
        resource: Some("pods"),
        resource_version_match: Some("Exact"),
        ..Req::default()
    };
    let line = Line::of(p.version().0);
    let priced = p.price(&w, &r, line);
    // 20 000 × 4 KB from etcd = 80 MB → 800 seats, capped by workload-low's 37
    assert_eq!(priced.seats, Some(37));
    assert_eq!(priced.served_from, Some("etcd"));
    assert_eq!(priced.seats_cached, Some(10));
    assert_eq!(priced.seats_paged, Some(20));
    // stats from a /metrics text
    let s = stats_from_metrics(
        "apiserver_resource_objects{group=\"\",resource=\"pods\"} 100\n\
         apiserver_resource_size_estimate_bytes{group=\"\",resource=\"pods\"} 250000\n\
         apiserver_storage_objects{resource=\"deployments.apps\"} 7\n",
    );
    assert_eq!(s[&stat_key("", "pods")].avg_bytes, Some(2500.0));
    assert_eq!(s[&stat_key("apps", "deployments")].count, 7);
    let f = stats_from_file("- {group: apps, resource: deployments, count: 3}\n").unwrap();
    assert_eq!(f[&stat_key("apps", "deployments")].count, 3);
    assert!(stats_from_file("- {resource: x}\n").is_err());
}
