//! Admission webhooks, APIServices and CRD conversion webhooks.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{and_list, selector_matches, selector_requires_label, strings};
use crate::finding::Severity;
use crate::inventory::{Availability, Inventory, Obj};
use crate::rules::Ctx;

/// One rule of a webhook (`rules[]`).
struct HookRule {
    groups: Vec<String>,
    resources: Vec<String>,
    operations: Vec<String>,
    scope: String,
}

/// One webhook of a Validating/MutatingWebhookConfiguration, with the defaults of its API version.
struct Hook<'a> {
    cfg: &'a Obj,
    mutating: bool,
    name: String,
    fail: bool,
    failure_policy: String,
    timeout: i64,
    side_effects: String,
    match_policy: String,
    review_versions: Vec<String>,
    rules: Vec<HookRule>,
    ns_selector: Option<&'a Value>,
    obj_selector: Option<&'a Value>,
    service: Option<ServiceRef>,
    url: Option<String>,
    ca_bundle: Option<String>,
}

/// `clientConfig.service` of a webhook or a CRD conversion webhook.
struct ServiceRef {
    namespace: String,
    name: String,
    path: Option<String>,
}

impl ServiceRef {
    fn from(svc: &Value) -> ServiceRef {
        let f = |k: &str| svc.get(k).and_then(Value::as_str).map(String::from);
        ServiceRef {
            namespace: f("namespace").unwrap_or_default(),
            name: f("name").unwrap_or_default(),
            path: f("path"),
        }
    }
}

impl Hook<'_> {
    fn label(&self) -> String {
        format!("webhook {}", self.name)
    }

    /// Whether a rule of the hook covers `group`/`resource` (a main resource) for `op`.
    fn covers(&self, group: &str, resource: &str, namespaced: bool, op: &str) -> bool {
        self.rules.iter().any(|r| {
            let g = r.groups.iter().any(|x| x == "*" || x == group);
            let res = r
                .resources
                .iter()
                .any(|x| x == "*" || x == "*/*" || x == resource);
            let o = op.is_empty() || r.operations.iter().any(|x| x == "*" || x == op);
            let s = match r.scope.as_str() {
                "Cluster" => !namespaced,
                "Namespaced" => namespaced,
                _ => true,
            };
            g && res && o && s
        })
    }

    fn catch_all(&self) -> bool {
        self.rules.iter().any(|r| {
            r.groups.iter().any(|g| g == "*") && r.resources.iter().any(|x| x == "*" || x == "*/*")
        })
    }

    /// Whether the namespaceSelector selects namespace `ns` (labels from the inventory's
    /// Namespace object, else the automatic `kubernetes.io/metadata.name` label).
    fn selects_namespace(&self, inv: &Inventory, ns: &str) -> bool {
        let obj = inv.of("Namespace").iter().find(|n| n.name == ns);
        let lookup = |k: &str| -> Option<String> {
            if let Some(o) = obj {
                if let Some(v) = o.labels().and_then(|l| l.get(k)).and_then(Value::as_str) {
                    return Some(v.to_string());
                }
            }
            (k == "kubernetes.io/metadata.name").then(|| ns.to_string())
        };
        selector_matches(self.ns_selector, &lookup)
    }

    /// Whether the objectSelector lets unlabelled objects through.
    fn sees_unlabelled(&self) -> bool {
        !selector_requires_label(self.obj_selector)
    }
}

fn hooks(inv: &Inventory) -> Vec<Hook<'_>> {
    let mut out = Vec::new();
    for (kind, mutating) in [
        ("ValidatingWebhookConfiguration", false),
        ("MutatingWebhookConfiguration", true),
    ] {
        for cfg in inv.of(kind) {
            let v1beta1 = cfg.api_version.ends_with("/v1beta1");
            let Some(list) = cfg.get("webhooks").and_then(Value::as_array) else {
                continue;
            };
            for w in list {
                let s = |k: &str| w.get(k).and_then(Value::as_str).map(String::from);
                let failure_policy = s("failurePolicy")
                    .unwrap_or_else(|| if v1beta1 { "Ignore" } else { "Fail" }.into());
                let cc = w.get("clientConfig");
                let rules = w
                    .get("rules")
                    .and_then(Value::as_array)
                    .map(|rs| {
                        rs.iter()
                            .map(|r| HookRule {
                                groups: strings(r.get("apiGroups")),
                                resources: strings(r.get("resources")),
                                operations: strings(r.get("operations")),
                                scope: r
                                    .get("scope")
                                    .and_then(Value::as_str)
                                    .unwrap_or("*")
                                    .to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Hook {
                    cfg,
                    mutating,
                    name: s("name").unwrap_or_default(),
                    fail: failure_policy == "Fail",
                    failure_policy,
                    timeout: w
                        .get("timeoutSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(if v1beta1 { 30 } else { 10 }),
                    side_effects: s("sideEffects")
                        .unwrap_or_else(|| if v1beta1 { "Unknown" } else { "" }.into()),
                    match_policy: s("matchPolicy")
                        .unwrap_or_else(|| if v1beta1 { "Exact" } else { "Equivalent" }.into()),
                    review_versions: if w.get("admissionReviewVersions").is_some() {
                        strings(w.get("admissionReviewVersions"))
                    } else if v1beta1 {
                        vec!["v1beta1".into()]
                    } else {
                        Vec::new()
                    },
                    rules,
                    ns_selector: w.get("namespaceSelector"),
                    obj_selector: w.get("objectSelector"),
                    service: cc.and_then(|c| c.get("service")).map(ServiceRef::from),
                    url: cc
                        .and_then(|c| c.get("url"))
                        .and_then(Value::as_str)
                        .map(String::from),
                    ca_bundle: cc
                        .and_then(|c| c.get("caBundle"))
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                });
            }
        }
    }
    out
}

/// Built-in cluster-scoped resources: a rule naming only these never touches a namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "namespaces",
    "nodes",
    "persistentvolumes",
    "clusterroles",
    "clusterrolebindings",
    "customresourcedefinitions",
    "storageclasses",
    "priorityclasses",
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
];

/// Groups served by Kubernetes itself (not by CRDs or aggregated APIs).
fn builtin_group(g: &str) -> bool {
    g == "*" || g.is_empty() || !g.contains('.') || g.ends_with(".k8s.io")
}

/// Severity for a finding that matters most when the webhook fails closed.
fn by_policy(ctx: &Ctx, h: &Hook) -> Severity {
    if h.fail {
        ctx.rule.severity
    } else {
        Severity::Warning.min(ctx.rule.severity)
    }
}

/// WH001: fail-closed webhooks that intercept built-in objects in system namespaces or their own.
pub fn system_namespaces(ctx: &mut Ctx) {
    let system = ctx.list("namespaces");
    for h in hooks(ctx.inv) {
        if !h.fail || !h.sees_unlabelled() {
            continue;
        }
        let namespaced_builtin = h.rules.iter().any(|r| {
            r.scope != "Cluster"
                && r.groups.iter().any(|g| builtin_group(g))
                && r.resources
                    .iter()
                    .any(|res| !CLUSTER_SCOPED.contains(&res.split('/').next().unwrap_or_default()))
        });
        if !namespaced_builtin {
            continue;
        }
        let mut hit: Vec<String> = system
            .iter()
            .filter(|ns| h.selects_namespace(ctx.inv, ns))
            .cloned()
            .collect();
        let mut own = None;
        let backend = backend_of(&h, ctx.inv);
        if let Some(ns) = backend.as_ref().and_then(Backend::namespace) {
            let pods = ["pods", "deployments", "replicasets"]
                .iter()
                .any(|r| h.covers(if *r == "pods" { "" } else { "apps" }, r, true, "CREATE"));
            if pods && !system.iter().any(|s| s == ns) && h.selects_namespace(ctx.inv, ns) {
                own = Some(ns.to_string());
            }
        }
        if hit.is_empty() && own.is_none() {
            continue;
        }
        let mut parts = Vec::new();
        if !hit.is_empty() {
            hit.iter_mut().for_each(|n| *n = format!("{n:?}"));
            parts.push(format!("intercepts namespace {}", and_list(&hit)));
        }
        if let Some(ns) = own {
            parts.push(format!(
                "intercepts pod creation in its own namespace {ns:?} (when its pods are down they cannot be recreated)"
            ));
        }
        let msg = format!(
            "{} has failurePolicy Fail and {}; its namespaceSelector does not exclude {}",
            h.label(),
            parts.join(" and "),
            if parts.len() > 1 { "them" } else { "it" }
        );
        ctx.report(h.cfg, msg);
    }
}

/// WH002: rules with `*` groups and `*` resources.
pub fn catch_all(ctx: &mut Ctx) {
    for h in hooks(ctx.inv) {
        if h.catch_all() {
            let sev = by_policy(ctx, &h);
            let msg = format!(
                "{} matches every resource of every API group (apiGroups [\"*\"], resources [\"*\"]) with failurePolicy {}",
                h.label(),
                h.failure_policy
            );
            ctx.report_as(sev, h.cfg, msg);
        }
    }
}

/// WH003: webhooks on objects the control plane itself depends on.
pub fn critical_resources(ctx: &mut Ctx) {
    for h in hooks(ctx.inv) {
        if !h.sees_unlabelled() {
            continue;
        }
        let mut hit = Vec::new();
        for entry in ctx.list("cluster_resources") {
            let (group, resource) = entry.split_once('/').unwrap_or(("", entry.as_str()));
            if h.covers(group, resource, false, "") {
                hit.push(format!(
                    "{resource} (cluster-scoped: a namespaceSelector cannot exclude it)"
                ));
            }
        }
        for entry in ctx.list("namespaced_resources") {
            // group/resource@namespace
            let (gr, ns) = entry
                .split_once('@')
                .unwrap_or((entry.as_str(), "kube-system"));
            let (group, resource) = gr.split_once('/').unwrap_or(("", gr));
            if h.covers(group, resource, true, "") && h.selects_namespace(ctx.inv, ns) {
                hit.push(format!("{resource} in {ns}"));
            }
        }
        if hit.is_empty() {
            continue;
        }
        let sev = by_policy(ctx, &h);
        let msg = format!(
            "{} (failurePolicy {}) intercepts {}",
            h.label(),
            h.failure_policy,
            and_list(&hit)
        );
        ctx.report_as(sev, h.cfg, msg);
    }
}

/// WH004, WH005: long timeouts (optionally only for fail-closed webhooks).
pub fn timeout(ctx: &mut Ctx) {
    let at = ctx.num("fires_at_seconds") as i64;
    let fail_only = ctx.flag("fail_closed_only");
    for h in hooks(ctx.inv) {
        if h.timeout >= at && (!fail_only || h.fail) {
            let msg = format!(
                "{} has timeoutSeconds {} (flagged at {at} s or more) with failurePolicy {}",
                h.label(),
                h.timeout,
                h.failure_policy
            );
            ctx.report(h.cfg, msg);
        }
    }
}

/// WH006: the mutating webhooks that apply to one resource run one after another; their timeouts add up.
pub fn mutating_timeout_sum(ctx: &mut Ctx) {
    let max = ctx.num("max_total_seconds") as i64;
    let all = hooks(ctx.inv);
    let mutating: Vec<&Hook> = all.iter().filter(|h| h.mutating).collect();
    let mut resources: Vec<(String, String)> = ctx
        .list("resources")
        .iter()
        .map(|e| {
            let (g, r) = e.split_once('/').unwrap_or(("", e.as_str()));
            (g.to_string(), r.to_string())
        })
        .collect();
    for h in &mutating {
        for r in &h.rules {
            for g in &r.groups {
                for res in &r.resources {
                    if g != "*" && !res.contains('*') && !res.contains('/') {
                        resources.push((g.clone(), res.clone()));
                    }
                }
            }
        }
    }
    resources.sort();
    resources.dedup();
    for (g, r) in resources {
        let applying: Vec<&&Hook> = mutating
            .iter()
            .filter(|h| h.covers(&g, &r, true, "CREATE") || h.covers(&g, &r, false, "CREATE"))
            .collect();
        let total: i64 = applying.iter().map(|h| h.timeout).sum();
        if total > max && applying.len() > 1 {
            let names: Vec<String> = applying
                .iter()
                .map(|h| format!("{} ({} s)", h.name, h.timeout))
                .collect();
            let gr = if g.is_empty() {
                r.clone()
            } else {
                format!("{r}.{g}")
            };
            let origin = applying[0].cfg.origin.clone();
            let msg = format!(
                "{} mutating webhooks apply to CREATE {gr}: their timeouts add up to {total} s (limit {max} s): {}",
                applying.len(),
                and_list(&names)
            );
            ctx.report_at(ctx.rule.severity, format!("resource {gr}"), origin, msg);
        }
    }
}

fn service<'a>(inv: &'a Inventory, ns: &str, name: &str) -> Option<&'a Obj> {
    inv.of("Service")
        .iter()
        .find(|s| s.name == name && s.namespace.as_deref() == Some(ns))
}

/// The API server's own Service: a webhook that names it reaches an aggregated API server through
/// the APIService serving its path (as old cert-manager releases did).
const API_SERVER: (&str, &str) = ("default", "kubernetes");

/// Where the calls to a `clientConfig.service` go.
enum Backend<'a> {
    /// A Service: the one named, or, when that is the API server's own, the one of the APIService
    /// the API server forwards the path to (with the APIService and the path).
    Service {
        namespace: String,
        name: String,
        via: Option<(&'a Obj, String)>,
    },
    /// The API server serves the path itself (an APIService without a Service).
    ApiServer,
    /// The API server's own Service on a path that no APIService in the input serves, with the
    /// group and version an APIService would need (`None`: not an `/apis/GROUP/VERSION` path).
    NoApiService {
        path: String,
        group_version: Option<(String, String)>,
    },
}

/// `/apis/GROUP/VERSION[/...]` → (group, version).
fn group_version(path: &str) -> Option<(String, String)> {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("apis"), Some(g), Some(v)) if !g.is_empty() && !v.is_empty() => {
            Some((g.to_string(), v.to_string()))
        }
        _ => None,
    }
}

/// Follows a service reference to the Service that answers: through the APIService serving the
/// path when the reference is the API server's own Service.
fn resolve<'a>(inv: &'a Inventory, svc: &ServiceRef) -> Backend<'a> {
    if (svc.namespace.as_str(), svc.name.as_str()) != API_SERVER {
        return Backend::Service {
            namespace: svc.namespace.clone(),
            name: svc.name.clone(),
            via: None,
        };
    }
    let path = svc.path.clone().unwrap_or_else(|| "/".into());
    let gv = group_version(&path);
    let api = gv.as_ref().and_then(|(g, v)| {
        inv.of("APIService").iter().find(|a| {
            a.str("spec.group") == Some(g.as_str()) && a.str("spec.version") == Some(v.as_str())
        })
    });
    match api {
        Some(a) => match a.get("spec.service").filter(|s| !s.is_null()) {
            Some(s) => {
                let to = ServiceRef::from(s);
                Backend::Service {
                    namespace: to.namespace,
                    name: to.name,
                    via: Some((a, path)),
                }
            }
            None => Backend::ApiServer,
        },
        None => Backend::NoApiService {
            path,
            group_version: gv,
        },
    }
}

impl Backend<'_> {
    /// The namespace of the Service that answers.
    fn namespace(&self) -> Option<&str> {
        match self {
            Backend::Service { namespace, .. } => Some(namespace),
            _ => None,
        }
    }

    /// `Service ns/name`, with the APIService it is reached through.
    fn short(&self) -> String {
        match self {
            Backend::Service {
                namespace,
                name,
                via,
            } => match via {
                None => format!("Service {namespace}/{name}"),
                Some((a, _)) => format!("Service {namespace}/{name} behind APIService {}", a.name),
            },
            Backend::ApiServer | Backend::NoApiService { .. } => {
                format!("the API server's Service {}/{}", API_SERVER.0, API_SERVER.1)
            }
        }
    }
}

/// A call to the API server's own Service, for messages.
fn on_api_server(path: &str) -> String {
    format!(
        "the API server (Service {}/{}) on {path}",
        API_SERVER.0, API_SERVER.1
    )
}

/// Ready endpoints of a Service, from its EndpointSlices.
fn ready_endpoints(inv: &Inventory, ns: &str, name: &str) -> usize {
    inv.of("EndpointSlice")
        .iter()
        .filter(|s| {
            s.namespace.as_deref() == Some(ns)
                && s.labels()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    .and_then(Value::as_str)
                    == Some(name)
        })
        .flat_map(|s| {
            s.get("endpoints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|e| {
            e.get("conditions")
                .and_then(|c| c.get("ready"))
                .and_then(Value::as_bool)
                != Some(false)
        })
        .count()
}

/// A backend that is missing or has no ready endpoints: what the webhook calls and what is wrong,
/// and whether kscope knows it (`false`: it could not look).
struct Problem {
    text: String,
    certain: bool,
}

/// Checks a backend: `missing` or `no-endpoints` (condition param); `None` when fine.
fn backend_problem(inv: &Inventory, condition: &str, b: &Backend) -> Option<Problem> {
    let certain = |text: String| {
        Some(Problem {
            text,
            certain: true,
        })
    };
    match (condition, b) {
        (_, Backend::ApiServer) => None,
        (
            "missing",
            Backend::NoApiService {
                path,
                group_version,
            },
        ) => {
            let Some((g, v)) = group_version else {
                return certain(format!(
                    "{}, which is not the path of an aggregated API (/apis/GROUP/VERSION/...)",
                    on_api_server(path)
                ));
            };
            match inv.availability("APIService") {
                Availability::Read => certain(format!(
                    "{}, but no APIService serves {g}/{v}",
                    on_api_server(path)
                )),
                Availability::Missing(why) => Some(Problem {
                    text: format!(
                        "{}; the APIService of {g}/{v} that would forward it to a Service could not be checked ({why})",
                        on_api_server(path)
                    ),
                    certain: false,
                }),
            }
        }
        (
            _,
            Backend::Service {
                namespace,
                name,
                via,
            },
        ) => {
            let called = |state: &str| match via {
                None => format!("Service {namespace}/{name}, which {state}"),
                Some((a, path)) => format!(
                    "{}, which APIService {} forwards to Service {namespace}/{name}; that Service {state}",
                    on_api_server(path),
                    a.name
                ),
            };
            match (condition, service(inv, namespace, name)) {
                ("missing", None) => certain(called("does not exist")),
                ("no-endpoints", Some(svc)) => {
                    if svc.str("spec.type") == Some("ExternalName") {
                        return None;
                    }
                    (ready_endpoints(inv, namespace, name) == 0)
                        .then(|| called("has no ready endpoints"))
                        .and_then(certain)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn backend_of<'a>(h: &Hook, inv: &'a Inventory) -> Option<Backend<'a>> {
    h.service.as_ref().map(|s| resolve(inv, s))
}

/// WH007, WH008: the Service behind a webhook is missing or has no ready endpoints (followed
/// through the APIService when the webhook calls the API server's own Service).
pub fn backend(ctx: &mut Ctx) {
    let condition = ctx.text("condition");
    for h in hooks(ctx.inv) {
        let Some(b) = backend_of(&h, ctx.inv) else {
            continue;
        };
        if let Some(p) = backend_problem(ctx.inv, &condition, &b) {
            let (sev, outcome) = match (p.certain, h.fail) {
                (true, true) => (by_policy(ctx, &h), ": matching requests are rejected"),
                (true, false) => (
                    by_policy(ctx, &h),
                    ": matching requests wait for the timeout",
                ),
                (false, _) => (Severity::Warning.min(ctx.rule.severity), ""),
            };
            let msg = format!(
                "{} (failurePolicy {}) calls {}{outcome}",
                h.label(),
                h.failure_policy,
                p.text
            );
            ctx.report_as(sev, h.cfg, msg);
        }
    }
}

fn template_labels(w: &Obj) -> BTreeMap<String, String> {
    w.get("spec.template.metadata.labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Deployments and StatefulSets in the Service's namespace whose pods its selector selects.
fn workloads_behind<'a>(inv: &'a Inventory, svc: &Obj) -> Vec<&'a Obj> {
    let Some(sel) = svc.get("spec.selector").and_then(Value::as_object) else {
        return Vec::new();
    };
    if sel.is_empty() {
        return Vec::new();
    }
    ["Deployment", "StatefulSet"]
        .iter()
        .flat_map(|k| inv.of(k))
        .filter(|w| w.namespace == svc.namespace)
        .filter(|w| {
            let labels = template_labels(w);
            sel.iter()
                .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
        })
        .collect()
}

fn zones(inv: &Inventory) -> Vec<String> {
    let mut z: Vec<String> = inv
        .of("Node")
        .iter()
        .filter_map(|n| {
            n.labels()
                .and_then(|l| l.get("topology.kubernetes.io/zone"))
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    z.sort();
    z.dedup();
    z
}

fn spreads_over_zones(w: &Obj) -> bool {
    const ZONE: &str = "topology.kubernetes.io/zone";
    let tsc = w
        .get("spec.template.spec.topologySpreadConstraints")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|c| c.get("topologyKey").and_then(Value::as_str) == Some(ZONE))
        });
    let anti = w
        .get("spec.template.spec.affinity.podAntiAffinity")
        .map(|a| a.to_string().contains(ZONE))
        .unwrap_or(false);
    tsc || anti
}

/// WH009–WH011: the workload behind a fail-closed webhook: replicas, PodDisruptionBudget, zones.
pub fn workload(ctx: &mut Ctx) {
    let condition = ctx.text("condition");
    let min = ctx.num("min_replicas") as i64;
    let zs = zones(ctx.inv);
    let mut seen = std::collections::BTreeSet::new();
    for h in hooks(ctx.inv) {
        if !h.fail {
            continue;
        }
        let Some(b) = backend_of(&h, ctx.inv) else {
            continue;
        };
        let Some(svc) = b.namespace().and_then(|ns| match &b {
            Backend::Service { name, .. } => service(ctx.inv, ns, name),
            _ => None,
        }) else {
            continue;
        };
        for w in workloads_behind(ctx.inv, svc) {
            let problem = match condition.as_str() {
                "replicas" => {
                    let r = w.get("spec.replicas").and_then(Value::as_i64).unwrap_or(1);
                    (r < min).then(|| format!("runs {r} replica(s) (fewer than {min})"))
                }
                "pdb" => {
                    let labels = template_labels(w);
                    let covered = ctx.inv.of("PodDisruptionBudget").iter().any(|p| {
                        p.namespace == w.namespace
                            && p.get("spec.selector").is_some()
                            && selector_matches(p.get("spec.selector"), &|k| labels.get(k).cloned())
                    });
                    (!covered).then(|| "has no PodDisruptionBudget".to_string())
                }
                "zones" => (zs.len() > 1 && !spreads_over_zones(w)).then(|| {
                    format!(
                        "does not spread its pods over zones (nodes span {} zones; no topologySpreadConstraints or pod anti-affinity on topology.kubernetes.io/zone)",
                        zs.len()
                    )
                }),
                _ => None,
            };
            if let Some(p) = problem {
                if seen.insert((w.display(), h.cfg.display())) {
                    let msg = format!(
                        "{} behind fail-closed {} ({}) {p}",
                        w.display(),
                        h.label(),
                        b.short()
                    );
                    ctx.report(w, msg);
                }
            }
        }
    }
}

/// WH012: `url` webhooks that point at the loopback interface.
pub fn url_localhost(ctx: &mut Ctx) {
    for h in hooks(ctx.inv) {
        let Some(url) = &h.url else { continue };
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(url)
            .split(['/', '?'])
            .next()
            .unwrap_or_default();
        let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
        let host = if host.starts_with('[') {
            host.split(']')
                .next()
                .unwrap_or(host)
                .trim_start_matches('[')
        } else {
            host.split(':').next().unwrap_or(host)
        };
        if host == "localhost" || host.starts_with("127.") || host == "::1" || host == "0.0.0.0" {
            let msg = format!(
                "{} calls {url}: the loopback address of whichever API server handles the request",
                h.label()
            );
            ctx.report(h.cfg, msg);
        }
    }
}

/// WH013: service webhooks without a caBundle (unless cert-manager's CA injector fills it in).
pub fn ca_bundle(ctx: &mut Ctx) {
    for h in hooks(ctx.inv) {
        if h.service.is_none() || h.ca_bundle.is_some() {
            continue;
        }
        let injected = [
            "cert-manager.io/inject-ca-from",
            "cert-manager.io/inject-ca-from-secret",
            "cert-manager.io/inject-apiserver-ca",
        ]
        .iter()
        .any(|a| h.cfg.annotation(a).is_some());
        if injected && !ctx.inv.live {
            continue;
        }
        let msg = format!(
            "{} calls a Service but clientConfig.caBundle is empty: the API server cannot verify its certificate",
            h.label()
        );
        ctx.report(h.cfg, msg);
    }
}

/// WH014: CA certificates in caBundle that expired or expire soon.
pub fn ca_expiry(ctx: &mut Ctx) {
    let days = ctx.num("days");
    let now = chrono::Utc::now().timestamp();
    for h in hooks(ctx.inv) {
        let Some(b64) = &h.ca_bundle else { continue };
        let pem = match base64_decode(b64) {
            Some(p) => p,
            None => {
                let msg = format!("{}: clientConfig.caBundle is not valid base64", h.label());
                ctx.report_as(Severity::Error, h.cfg, msg);
                continue;
            }
        };
        for (i, not_after) in cert_expiries(&pem).into_iter().enumerate() {
            let left = (not_after - now) as f64 / 86_400.0;
            if left < days {
                let when = chrono::DateTime::from_timestamp(not_after, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                let (sev, state) = if left < 0.0 {
                    (Severity::Error, format!("expired on {when}"))
                } else {
                    (
                        ctx.rule.severity,
                        format!(
                            "expires on {when}, in {} day(s) (flagged under {days})",
                            left.floor()
                        ),
                    )
                };
                let msg = format!(
                    "{}: CA certificate #{} in caBundle {state}",
                    h.label(),
                    i + 1
                );
                ctx.report_as(sev, h.cfg, msg);
            }
        }
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

/// `notAfter` (Unix seconds) of every PEM certificate in `pem`.
fn cert_expiries(pem: &[u8]) -> Vec<i64> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .filter_map(|p| {
            p.parse_x509()
                .ok()
                .map(|c| c.validity().not_after.timestamp())
        })
        .collect()
}

/// WH015–WH017: one field with a value that causes trouble (`field`, `bad` params).
pub fn field(ctx: &mut Ctx) {
    let field = ctx.text("field");
    let bad = ctx.list("bad");
    for h in hooks(ctx.inv) {
        let (value, problem) = match field.as_str() {
            "sideEffects" => (h.side_effects.clone(), bad.contains(&h.side_effects)),
            "matchPolicy" => (h.match_policy.clone(), bad.contains(&h.match_policy)),
            "admissionReviewVersions" => (
                format!("[{}]", h.review_versions.join(", ")),
                !h.review_versions.iter().any(|v| v == "v1"),
            ),
            _ => continue,
        };
        if problem {
            let msg = format!("{} has {field} {value}", h.label());
            ctx.report(h.cfg, msg);
        }
    }
}

/// WH018: aggregated APIs reported unavailable.
pub fn apiservice_unavailable(ctx: &mut Ctx) {
    for a in ctx.inv.of("APIService") {
        let Some(conds) = a.get("status.conditions").and_then(Value::as_array) else {
            continue;
        };
        for c in conds {
            if c.get("type").and_then(Value::as_str) == Some("Available")
                && c.get("status").and_then(Value::as_str) == Some("False")
            {
                let reason = c
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason");
                let svc = a
                    .get("spec.service")
                    .map(|s| {
                        format!(
                            " (Service {}/{})",
                            s.get("namespace")
                                .and_then(Value::as_str)
                                .unwrap_or_default(),
                            s.get("name").and_then(Value::as_str).unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                let msg = format!("APIService {}{svc} is Available=False: {reason}", a.name);
                ctx.report(a, msg);
            }
        }
    }
}

/// WH019: CRD conversion webhooks whose Service is missing or has no ready endpoints.
pub fn crd_conversion(ctx: &mut Ctx) {
    for crd in ctx.inv.of("CustomResourceDefinition") {
        if crd.str("spec.conversion.strategy") != Some("Webhook") {
            continue;
        }
        let svc = crd
            .get("spec.conversion.webhook.clientConfig.service")
            .or_else(|| crd.get("spec.conversion.webhookClientConfig.service"));
        let Some(svc) = svc else { continue };
        let b = resolve(ctx.inv, &ServiceRef::from(svc));
        let mut problem = backend_problem(ctx.inv, "missing", &b);
        if problem.is_none() && ctx.inv.availability("EndpointSlice") == Availability::Read {
            problem = backend_problem(ctx.inv, "no-endpoints", &b);
        }
        if let Some(p) = problem {
            let (sev, outcome) = if p.certain {
                (
                    ctx.rule.severity,
                    "; reads of stored versions other than the requested one fail",
                )
            } else {
                (Severity::Warning.min(ctx.rule.severity), "")
            };
            let msg = format!(
                "conversion webhook of CRD {} calls {}{outcome}",
                crd.name, p.text
            );
            ctx.report_as(sev, crd, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::manifests;

    fn inventory(text: &str) -> Inventory {
        let mut inv = Inventory::new("manifests", false);
        manifests::add_text(&mut inv, "test.yaml", text);
        assert!(inv.problems.is_empty(), "{:?}", inv.problems);
        inv
    }

    #[test]
    fn the_api_servers_own_service_is_followed_through_the_apiservice() {
        assert_eq!(
            group_version("/apis/webhook.cert-manager.io/v1beta1/mutations"),
            Some(("webhook.cert-manager.io".into(), "v1beta1".into()))
        );
        assert_eq!(group_version("/apis/webhook.cert-manager.io"), None);
        assert_eq!(group_version("/validate"), None);
        let inv = inventory(
            "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1beta1.webhook.cert-manager.io}\nspec: {group: webhook.cert-manager.io, version: v1beta1, service: {namespace: cert-manager, name: cert-manager-webhook}}\n---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1.apps}\nspec: {group: apps, version: v1}\n",
        );
        let to = |path: &str| {
            resolve(
                &inv,
                &ServiceRef {
                    namespace: "default".into(),
                    name: "kubernetes".into(),
                    path: Some(path.into()),
                },
            )
        };
        match to("/apis/webhook.cert-manager.io/v1beta1/mutations") {
            Backend::Service {
                namespace,
                name,
                via,
            } => {
                assert_eq!(
                    (namespace.as_str(), name.as_str()),
                    ("cert-manager", "cert-manager-webhook")
                );
                assert_eq!(
                    via.map(|(a, _)| a.name.clone()).as_deref(),
                    Some("v1beta1.webhook.cert-manager.io")
                );
            }
            _ => panic!("not followed"),
        }
        assert!(matches!(to("/apis/apps/v1/x"), Backend::ApiServer));
        assert!(matches!(
            to("/apis/other.example.com/v1/x"),
            Backend::NoApiService {
                group_version: Some(_),
                ..
            }
        ));
        let other = ServiceRef {
            namespace: "default".into(),
            name: "other".into(),
            path: Some("/apis/webhook.cert-manager.io/v1beta1/x".into()),
        };
        assert!(matches!(
            resolve(&inv, &other),
            Backend::Service { via: None, .. }
        ));
    }
}
