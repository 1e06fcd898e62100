//! Admission webhooks, APIServices and CRD conversion webhooks.

use std::collections::BTreeMap;

use serde_json::Value;

use super::traffic::{self, Traffic};
use super::{and_list, selector_matches, selector_requires_label, selector_text, strings};
use crate::finding::Severity;
use crate::inventory::{Availability, Inventory, Obj};
use crate::rules::Ctx;

/// One rule of a webhook (`rules[]`).
struct HookRule {
    groups: Vec<String>,
    versions: Vec<String>,
    resources: Vec<String>,
    operations: Vec<String>,
    scope: String,
}

/// One request as the API server's admission rule matcher sees it.
struct Request<'a> {
    group: &'a str,
    /// `None`: whichever version (the rules' apiVersions are not compared).
    version: Option<&'a str>,
    /// `RESOURCE` or `RESOURCE/SUBRESOURCE`.
    resource: &'a str,
    operation: &'a str,
    /// In a namespace (Namespace objects themselves are cluster-scoped).
    namespaced: bool,
}

impl HookRule {
    /// Whether the rule matches `req`, as k8s.io/apiserver's rule matcher decides
    /// (pkg/admission/plugin/webhook/predicates/rules): `*` in apiGroups, apiVersions and operations;
    /// `*` resources are every resource but no subresource, `*/*` everything, `RES/*` and `*/SUB`
    /// what they say; scope Namespaced, Cluster or `*`. With matchPolicy Equivalent (`exact` false)
    /// the API server converts a request to the version a rule names, so versions are not compared.
    fn matches(&self, req: &Request, exact: bool) -> bool {
        let any = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
        let (res, sub) = req.resource.split_once('/').unwrap_or((req.resource, ""));
        let resource = self.resources.iter().any(|r| {
            let (r_res, r_sub) = r.split_once('/').unwrap_or((r.as_str(), ""));
            (r_res == "*" || r_res == res) && (r_sub == "*" || r_sub == sub)
        });
        let version = match req.version {
            Some(v) if exact => any(&self.versions, v),
            _ => true,
        };
        let scope = match self.scope.as_str() {
            "Cluster" => !req.namespaced,
            "Namespaced" => req.namespaced,
            _ => true,
        };
        any(&self.groups, req.group)
            && version
            && resource
            && any(&self.operations, req.operation)
            && scope
    }
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
    /// Names of its matchConditions (CEL, which kscope does not evaluate).
    match_conditions: Vec<String>,
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

/// The label every namespace carries (set by the API server), and the name kscope gives "any other
/// namespace": not a valid namespace name, so no selector lists it.
const NAME_LABEL: &str = "kubernetes.io/metadata.name";
const OTHER_NAMESPACE: &str = "<any other namespace>";

impl Hook<'_> {
    fn label(&self) -> String {
        format!("webhook {}", self.name)
    }

    fn matches(&self, req: &Request) -> bool {
        let exact = self.match_policy == "Exact";
        self.rules.iter().any(|r| r.matches(req, exact))
    }

    /// Whether a rule of the hook covers `group`/`resource` for `op`, in whichever version.
    fn covers(&self, group: &str, resource: &str, namespaced: bool, op: &str) -> bool {
        self.matches(&Request {
            group,
            version: None,
            resource,
            operation: op,
            namespaced,
        })
    }

    fn catch_all(&self) -> bool {
        self.rules.iter().any(|r| {
            r.groups.iter().any(|g| g == "*") && r.resources.iter().any(|x| x == "*" || x == "*/*")
        })
    }

    /// Whether the namespaceSelector selects namespace `ns` (labels from the inventory's
    /// Namespace object, else only the `kubernetes.io/metadata.name` label the API server sets).
    /// [`OTHER_NAMESPACE`] stands for any namespace a selector does not name.
    fn selects_namespace(&self, inv: &Inventory, ns: &str) -> bool {
        let obj = inv.of("Namespace").iter().find(|n| n.name == ns);
        let lookup = |k: &str| -> Option<String> {
            if let Some(o) = obj {
                if let Some(v) = o.labels().and_then(|l| l.get(k)).and_then(Value::as_str) {
                    return Some(v.to_string());
                }
            }
            (k == NAME_LABEL).then(|| ns.to_string())
        };
        selector_matches(self.ns_selector, &lookup)
    }

    /// Why what the hook matches depends on the objects themselves: an objectSelector that only
    /// lets labelled objects through (the control plane's objects carry no such label unless
    /// someone adds it), or matchConditions. Empty when it sees every object.
    fn conditions(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(sel) = self
            .obj_selector
            .filter(|s| selector_requires_label(Some(s)))
        {
            out.push(format!(
                "only for objects labelled to match its objectSelector ({}), which the control plane's objects are not unless someone labels them",
                selector_text(sel)
            ));
        }
        if !self.match_conditions.is_empty() {
            out.push(format!(
                "unless its matchConditions ({}) exclude them (CEL, which kscope does not evaluate)",
                self.match_conditions.join(", ")
            ));
        }
        out
    }

    /// The control plane's requests (`traffic`) that the hook's rules and namespaceSelector let
    /// through, in the table's order. The objectSelector and matchConditions are left to
    /// [`Hook::conditions`].
    fn reaches<'t>(&self, inv: &Inventory, traffic: &'t [Traffic]) -> Vec<Reached<'t>> {
        let system = traffic::system_namespaces(traffic);
        let mut out = Vec::new();
        for entry in traffic {
            let namespaces = if let Some(ns) = &entry.namespace {
                if !self.selects_namespace(inv, ns) {
                    continue;
                }
                None
            } else if entry.namespace_objects() {
                // the namespaceSelector is matched against the Namespace being admitted
                let of: Vec<&str> = system
                    .iter()
                    .copied()
                    .filter(|ns| self.selects_namespace(inv, ns))
                    .collect();
                let others = self.selects_namespace(inv, OTHER_NAMESPACE);
                if of.is_empty() && !others {
                    continue;
                }
                Some(NamespaceObjects {
                    system: system.clone(),
                    of,
                    others,
                })
            } else {
                // cluster-scoped: a namespaceSelector does not apply
                None
            };
            let mut resources = Vec::new();
            for resource in &entry.resources {
                let ops: Vec<&str> = entry
                    .operations
                    .iter()
                    .map(String::as_str)
                    .filter(|op| {
                        self.matches(&Request {
                            group: &entry.group,
                            version: Some(&entry.version),
                            resource,
                            operation: op,
                            namespaced: entry.namespace.is_some(),
                        })
                    })
                    .collect();
                if !ops.is_empty() {
                    resources.push((resource.as_str(), ops));
                }
            }
            if !resources.is_empty() {
                out.push(Reached {
                    entry,
                    resources,
                    namespaces,
                });
            }
        }
        out
    }
}

/// Namespace objects a hook sees (its namespaceSelector matched against each Namespace's labels).
struct NamespaceObjects<'t> {
    /// The system namespaces of the table.
    system: Vec<&'t str>,
    /// Those whose own Namespace object it sees.
    of: Vec<&'t str>,
    /// Whether it sees every other namespace.
    others: bool,
}

/// A part of the control plane's requests that a hook reaches.
struct Reached<'t> {
    entry: &'t Traffic,
    /// Resources of the entry the hook matches, with the operations it matches.
    resources: Vec<(&'t str, Vec<&'t str>)>,
    namespaces: Option<NamespaceObjects<'t>>,
}

impl Reached<'_> {
    /// Cluster-scoped requests, other than those on Namespace objects: no namespaceSelector
    /// excludes them.
    fn cluster_wide(&self) -> bool {
        self.entry.namespace.is_none() && self.namespaces.is_none()
    }

    /// Where the requests are (` in kube-system`, ` cluster-wide`, or nothing for Namespace
    /// objects) and what they are, for messages.
    fn place_and_note(&self) -> (String, String) {
        let what = &self.entry.what;
        match (&self.entry.namespace, &self.namespaces) {
            (Some(ns), _) => (format!(" in {ns}"), what.clone()),
            (None, Some(n)) => {
                let names =
                    |v: &[&str]| and_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
                let excluded: Vec<&str> = n
                    .system
                    .iter()
                    .copied()
                    .filter(|s| !n.of.contains(s))
                    .collect();
                let whose = if n.of.is_empty() {
                    String::new()
                } else if n.of.len() == 1 {
                    format!("{}'s own Namespace object included", n.of[0])
                } else {
                    format!("the Namespace objects of {} included", names(&n.of))
                };
                let scope = match (n.others, excluded.is_empty()) {
                    (true, true) => format!("every namespace, {whose}"),
                    (true, false) if whose.is_empty() => {
                        format!("every namespace but {}", names(&excluded))
                    }
                    (true, false) => format!("every namespace but {}, {whose}", names(&excluded)),
                    (false, _) => format!("the Namespace objects of {} only", names(&n.of)),
                };
                (String::new(), format!("{scope}; {what}"))
            }
            (None, None) => (" cluster-wide".to_string(), what.clone()),
        }
    }
}

/// `CREATE/UPDATE of leases in kube-node-lease (node heartbeats)`: entries in the same place for the
/// same reason share one phrase, and resources with the same operations one list.
fn describe(reached: &[&Reached]) -> Vec<String> {
    /// Requests in one place for one reason: operations (`CREATE/UPDATE`) and their resources.
    struct Phrase<'t> {
        place: String,
        note: String,
        parts: Vec<(String, Vec<&'t str>)>,
    }
    let mut phrases: Vec<Phrase> = Vec::new();
    for r in reached {
        let (place, note) = r.place_and_note();
        if !phrases
            .last()
            .is_some_and(|p| p.place == place && p.note == note)
        {
            phrases.push(Phrase {
                place,
                note,
                parts: Vec::new(),
            });
        }
        let Some(phrase) = phrases.last_mut() else {
            continue;
        };
        for (resource, ops) in &r.resources {
            let ops = ops.join("/");
            match phrase.parts.iter_mut().find(|(o, _)| *o == ops) {
                Some((_, list)) => list.push(resource),
                None => phrase.parts.push((ops, vec![resource])),
            }
        }
    }
    phrases
        .iter()
        .map(|p| {
            let parts: Vec<String> = p
                .parts
                .iter()
                .map(|(ops, rs)| format!("{ops} of {}", rs.join(", ")))
                .collect();
            format!("{}{} ({})", parts.join(" and "), p.place, p.note)
        })
        .collect()
}

/// Parts of a message listed, the first few of a long list (a catch-all webhook reaches nearly
/// everything; WH002 says so).
fn at_most(parts: &[String]) -> String {
    const SHOWN: usize = 6;
    if parts.len() <= SHOWN + 1 {
        return and_list(parts);
    }
    format!(
        "{} and {} more parts of the control plane's requests",
        parts[..SHOWN].join(", "),
        parts.len() - SHOWN
    )
}

/// The control plane's requests (`rules/data/system-traffic.yaml`; loaded with the rule registry).
fn traffic() -> &'static [Traffic] {
    super::system_traffic().unwrap_or_default()
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
                                versions: strings(r.get("apiVersions")),
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
                let match_conditions = w
                    .get("matchConditions")
                    .and_then(Value::as_array)
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                c.get("name")
                                    .and_then(Value::as_str)
                                    .unwrap_or("(unnamed)")
                                    .to_string()
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
                    match_conditions,
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

/// Severity for a finding that matters most when the webhook fails closed.
fn by_policy(ctx: &Ctx, h: &Hook) -> Severity {
    if h.fail {
        ctx.rule.severity
    } else {
        Severity::Warning.min(ctx.rule.severity)
    }
}

/// The severity and message tail of a reach that depends on the objects (see [`Hook::conditions`]):
/// at most a warning.
fn conditional(sev: Severity, h: &Hook) -> (Severity, String) {
    let c = h.conditions();
    if c.is_empty() {
        (sev, String::new())
    } else {
        (Severity::Warning.min(sev), format!(", {}", c.join(" and ")))
    }
}

/// Requests in its own namespace that a webhook must not block: while it is down its pods could
/// not come back.
const OWN_NAMESPACE: &[(&str, &str, &str)] = &[
    (
        "",
        "pods",
        "its own pods cannot be recreated while it is down",
    ),
    (
        "apps",
        "replicasets",
        "its own Deployment cannot roll out while it is down",
    ),
];

/// WH001: fail-closed webhooks that reach what the control plane writes in the system namespaces,
/// Namespace objects, or pod creation in their own namespace.
pub fn system_namespaces(ctx: &mut Ctx) {
    let traffic = traffic();
    let system = traffic::system_namespaces(traffic);
    for h in hooks(ctx.inv) {
        if !h.fail {
            continue;
        }
        // its own deadlock first, then the table's order
        let mut parts = Vec::new();
        let backend = backend_of(&h, ctx.inv);
        if let Some(ns) = backend.as_ref().and_then(Backend::namespace) {
            if !system.contains(&ns) && h.selects_namespace(ctx.inv, ns) {
                for (group, resource, why) in OWN_NAMESPACE {
                    if h.covers(group, resource, true, "CREATE") {
                        parts.push(format!(
                            "CREATE of {resource} in its own namespace {ns:?} ({why})"
                        ));
                    }
                }
            }
        }
        let reached = h.reaches(ctx.inv, traffic);
        let system_parts: Vec<&Reached> = reached.iter().filter(|r| !r.cluster_wide()).collect();
        parts.extend(describe(&system_parts));
        if parts.is_empty() {
            continue;
        }
        let (sev, tail) = conditional(ctx.rule.severity, &h);
        let msg = format!(
            "{} has failurePolicy Fail and reaches {}{tail}; its namespaceSelector does not exclude {}",
            h.label(),
            at_most(&parts),
            if parts.len() > 1 { "them" } else { "it" }
        );
        ctx.report_as(sev, h.cfg, msg);
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

/// WH003: webhooks on requests the control plane cannot do without (the `critical` entries of the
/// traffic table).
pub fn critical_resources(ctx: &mut Ctx) {
    let traffic = traffic();
    for h in hooks(ctx.inv) {
        let all = h.reaches(ctx.inv, traffic);
        let reached: Vec<&Reached> = all.iter().filter(|r| r.entry.critical).collect();
        if reached.is_empty() {
            continue;
        }
        let parts = describe(&reached);
        let cluster = if reached.iter().any(|r| r.cluster_wide()) {
            "; a namespaceSelector cannot exclude cluster-wide requests"
        } else {
            ""
        };
        let (sev, tail) = conditional(by_policy(ctx, &h), &h);
        let msg = format!(
            "{} (failurePolicy {}) intercepts {}{tail}{cluster}",
            h.label(),
            h.failure_policy,
            at_most(&parts)
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

    /// One fail-closed webhook with `rules` and `extra` fields (YAML flow mappings).
    fn hook(rules: &str, extra: &str) -> Inventory {
        inventory(&format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {{name: c}}\nwebhooks:\n- name: h.example.com\n  clientConfig: {{service: {{namespace: hooks, name: svc}}}}\n  rules: {rules}\n{extra}"
        ))
    }

    fn req<'a>(
        group: &'a str,
        resource: &'a str,
        operation: &'a str,
        namespaced: bool,
    ) -> Request<'a> {
        Request {
            group,
            version: Some("v1"),
            resource,
            operation,
            namespaced,
        }
    }

    #[test]
    fn rules_match_as_the_api_server_matches_them() {
        let inv = hook(
            r#"[{apiGroups: [""], apiVersions: [v1], resources: ["*"], operations: [CREATE]}, {apiGroups: [apps], apiVersions: [v1beta1], resources: ["*/status"], operations: ["*"], scope: Namespaced}]"#,
            "",
        );
        let hs = hooks(&inv);
        let h = &hs[0];
        // `*` is every resource, no subresource
        assert!(h.matches(&req("", "pods", "CREATE", true)));
        assert!(!h.matches(&req("", "pods/binding", "CREATE", true)));
        assert!(!h.matches(&req("", "pods", "DELETE", true)));
        // `*/status`, namespaced only; Equivalent: the API server converts v1 requests to v1beta1
        assert!(h.matches(&req("apps", "deployments/status", "UPDATE", true)));
        assert!(!h.matches(&req("apps", "deployments", "UPDATE", true)));
        let exact = hook(
            r#"[{apiGroups: [apps], apiVersions: [v1beta1], resources: ["*/status"], operations: ["*"]}]"#,
            "  matchPolicy: Exact\n",
        );
        assert!(!hooks(&exact)[0].matches(&req("apps", "deployments/status", "UPDATE", true)));
        // Namespace objects are cluster-scoped
        let ns = hook(
            r#"[{apiGroups: [""], apiVersions: ["*"], resources: ["namespaces", "pods/*"], operations: [CREATE, UPDATE], scope: Cluster}]"#,
            "",
        );
        let h = &hooks(&ns)[0];
        assert!(h.matches(&req("", "namespaces", "CREATE", false)));
        assert!(!h.matches(&req("", "pods/status", "UPDATE", true)));
    }

    fn namespace_objects(extra: &str) -> Option<(Vec<String>, bool)> {
        let inv = hook(
            r#"[{apiGroups: [""], apiVersions: ["*"], resources: [namespaces], operations: [CREATE]}]"#,
            extra,
        );
        let h = &hooks(&inv)[0];
        let reached = h.reaches(&inv, traffic());
        let r = reached.iter().find(|r| r.entry.namespace_objects())?;
        let n = r.namespaces.as_ref()?;
        Some((n.of.iter().map(|s| s.to_string()).collect(), n.others))
    }

    /// The namespaceSelector of a webhook on namespaces is matched against the Namespace admitted.
    #[test]
    fn a_webhook_on_namespaces_sees_the_namespaces_its_selector_selects() {
        let everything = namespace_objects("").unwrap();
        assert_eq!(
            everything,
            (
                vec![
                    "default".into(),
                    "kube-node-lease".into(),
                    "kube-system".into()
                ],
                true
            )
        );
        let not_system = namespace_objects(
            "  namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]}\n",
        )
        .unwrap();
        assert_eq!(
            not_system,
            (vec!["default".into(), "kube-node-lease".into()], true)
        );
        let only_system = namespace_objects(
            "  namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [kube-system]}]}\n",
        )
        .unwrap();
        assert_eq!(only_system, (vec!["kube-system".into()], false));
        // an opt-in label: no namespace carries it
        assert_eq!(
            namespace_objects("  namespaceSelector: {matchLabels: {policy: enforced}}\n"),
            None
        );
    }

    #[test]
    fn an_opt_in_object_selector_and_match_conditions_are_conditions() {
        let inv = hook(
            r#"[{apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}]"#,
            "  objectSelector: {matchLabels: {inject: \"true\"}}\n  matchConditions: [{name: not-system, expression: \"true\"}]\n",
        );
        let c = hooks(&inv)[0].conditions();
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].contains("objectSelector (inject=true)"), "{c:?}");
        assert!(c[1].contains("matchConditions (not-system)"), "{c:?}");
        let opt_out = hook(
            r#"[{apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}]"#,
            "  objectSelector: {matchExpressions: [{key: control-plane, operator: DoesNotExist}]}\n",
        );
        assert!(hooks(&opt_out)[0].conditions().is_empty());
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
