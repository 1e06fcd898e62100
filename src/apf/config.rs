//! The API Priority and Fairness configuration a request is classified against: FlowSchemas in the
//! server's order and PriorityLevelConfigurations with the seats they have. Read from objects (a
//! live cluster's, manifests, or kube-apiserver's own mandatory and suggested objects in
//! `rules/data/apf-bootstrap.yaml`); the mandatory objects are always there, as on a server.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::inventory::Obj;

/// A subject of a FlowSchema rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User(String),
    Group(String),
    /// namespace, name (`*` for any)
    ServiceAccount(String, String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub cluster_scope: bool,
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub subjects: Vec<Subject>,
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSchema {
    pub name: String,
    pub precedence: i64,
    pub level: String,
    pub rules: Vec<Rule>,
}

/// A priority level and the seats it has on one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub name: String,
    pub exempt: bool,
    /// `nominalConcurrencyShares` (`assuredConcurrencyShares` before v1beta3).
    pub shares: f64,
    pub lendable_percent: f64,
    pub borrowing_limit_percent: Option<f64>,
    /// Queuing's `handSize` (1 when the level rejects instead of queuing).
    pub hand_size: f64,
    /// `limitResponse.type: Queue` (a per-level seat limit applies only to queuing levels).
    pub queues: bool,
    /// Seats: the nominal concurrency limit on a server with the configured total.
    pub nominal: u32,
}

/// What one request looks like to the classifier.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub user: &'a str,
    pub groups: &'a [&'a str],
    pub verb: &'a str,
    /// `None` for a non-resource request (then `path` is matched).
    pub resource: Option<&'a str>,
    pub subresource: Option<&'a str>,
    pub api_group: &'a str,
    /// `None` or empty for cluster-scoped requests and cluster-wide LIST/WATCH.
    pub namespace: Option<&'a str>,
    pub path: &'a str,
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn subject(v: &Value) -> Option<Subject> {
    let s = |path: &[&str]| {
        let mut cur = v;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().map(String::from)
    };
    match v.get("kind")?.as_str()? {
        "User" => Some(Subject::User(s(&["user", "name"])?)),
        "Group" => Some(Subject::Group(s(&["group", "name"])?)),
        "ServiceAccount" => Some(Subject::ServiceAccount(
            s(&["serviceAccount", "namespace"])?,
            s(&["serviceAccount", "name"])?,
        )),
        _ => None,
    }
}

impl FlowSchema {
    /// A FlowSchema object (any served version: the fields read are the same).
    pub fn from_obj(o: &Obj) -> Option<FlowSchema> {
        let spec = o.get("spec")?;
        let rules = spec
            .get("rules")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| Rule {
                        subjects: r
                            .get("subjects")
                            .and_then(Value::as_array)
                            .map(|s| s.iter().filter_map(subject).collect())
                            .unwrap_or_default(),
                        resource_rules: r
                            .get("resourceRules")
                            .and_then(Value::as_array)
                            .map(|rr| {
                                rr.iter()
                                    .map(|x| ResourceRule {
                                        verbs: strs(x.get("verbs")),
                                        api_groups: strs(x.get("apiGroups")),
                                        resources: strs(x.get("resources")),
                                        cluster_scope: x
                                            .get("clusterScope")
                                            .and_then(Value::as_bool)
                                            .unwrap_or(false),
                                        namespaces: strs(x.get("namespaces")),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        non_resource_rules: r
                            .get("nonResourceRules")
                            .and_then(Value::as_array)
                            .map(|rr| {
                                rr.iter()
                                    .map(|x| NonResourceRule {
                                        verbs: strs(x.get("verbs")),
                                        urls: strs(x.get("nonResourceURLs")),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(FlowSchema {
            name: o.name.clone(),
            precedence: spec
                .get("matchingPrecedence")
                .and_then(Value::as_i64)
                .unwrap_or(1000),
            level: spec
                .get("priorityLevelConfiguration")?
                .get("name")?
                .as_str()?
                .to_string(),
            rules,
        })
    }

    /// Whether the FlowSchema matches the request: a rule whose subjects include the user and
    /// whose resource (or non-resource) rules include the request.
    pub fn matches(&self, r: &Request) -> bool {
        self.rules.iter().any(|rule| {
            rule.subjects.iter().any(|s| subject_matches(s, r))
                && match r.resource {
                    Some(res) => rule
                        .resource_rules
                        .iter()
                        .any(|rr| resource_matches(rr, r, res)),
                    None => rule
                        .non_resource_rules
                        .iter()
                        .any(|nr| non_resource_matches(nr, r)),
                }
        })
    }
}

fn has(list: &[String], v: &str, all: &str) -> bool {
    list.iter().any(|x| x == all || x == v)
}

fn subject_matches(s: &Subject, r: &Request) -> bool {
    match s {
        Subject::User(n) => n == "*" || n == r.user,
        Subject::Group(n) => n == "*" || r.groups.contains(&n.as_str()),
        Subject::ServiceAccount(ns, n) => r
            .user
            .strip_prefix("system:serviceaccount:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(sa_ns, sa)| sa_ns == ns && (n == "*" || n == sa)),
    }
}

fn resource_matches(rr: &ResourceRule, r: &Request, resource: &str) -> bool {
    let resource_ok = rr.resources.iter().any(|x| {
        x == "*"
            || match r.subresource.filter(|s| !s.is_empty()) {
                None => x == resource,
                Some(sub) => x
                    .split_once('/')
                    .is_some_and(|(a, b)| a == resource && b == sub),
            }
    });
    let namespace_ok = match r.namespace.filter(|n| !n.is_empty()) {
        None => rr.cluster_scope,
        Some(ns) => has(&rr.namespaces, ns, "*"),
    };
    has(&rr.verbs, r.verb, "*")
        && has(&rr.api_groups, r.api_group, "*")
        && resource_ok
        && namespace_ok
}

fn non_resource_matches(nr: &NonResourceRule, r: &Request) -> bool {
    has(&nr.verbs, r.verb, "*")
        && nr.urls.iter().any(|u| {
            u == "*"
                || u == r.path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| r.path.starts_with(prefix))
        })
}

impl Level {
    pub fn from_obj(o: &Obj) -> Option<Level> {
        let spec = o.get("spec")?;
        let exempt = spec.get("type").and_then(Value::as_str) == Some("Exempt");
        let limited = spec.get("limited");
        let num = |k: &str| limited.and_then(|l| l.get(k)).and_then(Value::as_f64);
        let shares = num("nominalConcurrencyShares")
            .or_else(|| num("assuredConcurrencyShares"))
            .unwrap_or(30.0);
        let queuing = limited
            .and_then(|l| l.get("limitResponse"))
            .and_then(|r| r.get("queuing"));
        let queues = limited
            .and_then(|l| l.get("limitResponse"))
            .and_then(|r| r.get("type"))
            .and_then(Value::as_str)
            == Some("Queue");
        Some(Level {
            name: o.name.clone(),
            exempt,
            queues,
            shares: if exempt { 0.0 } else { shares },
            lendable_percent: num("lendablePercent").unwrap_or(0.0),
            borrowing_limit_percent: num("borrowingLimitPercent"),
            hand_size: queuing
                .and_then(|q| q.get("handSize"))
                .and_then(Value::as_f64)
                .unwrap_or(1.0)
                .max(1.0),
            nominal: 0,
        })
    }
}

/// FlowSchemas in the order the server evaluates them, and levels with their seats.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub flows: Vec<FlowSchema>,
    pub levels: BTreeMap<String, Level>,
}

impl Config {
    /// From objects, with the mandatory objects added where missing (the server always has
    /// them), ordered as the server orders them: matchingPrecedence, then name. `total_seats` is
    /// the server's concurrency limit (`--max-requests-inflight` + `--max-mutating-requests-inflight`).
    pub fn new(objects: &[&Obj], mandatory: &[&Obj], total_seats: u32) -> Config {
        let mut flows: Vec<FlowSchema> = objects
            .iter()
            .filter(|o| o.kind == "FlowSchema")
            .filter_map(|o| FlowSchema::from_obj(o))
            .collect();
        let mut levels: BTreeMap<String, Level> = objects
            .iter()
            .filter(|o| o.kind == "PriorityLevelConfiguration")
            .filter_map(|o| Level::from_obj(o))
            .map(|l| (l.name.clone(), l))
            .collect();
        for m in mandatory {
            match m.kind.as_str() {
                "FlowSchema" if !flows.iter().any(|f| f.name == m.name) => {
                    flows.extend(FlowSchema::from_obj(m))
                }
                "PriorityLevelConfiguration" if !levels.contains_key(&m.name) => {
                    if let Some(l) = Level::from_obj(m) {
                        levels.insert(l.name.clone(), l);
                    }
                }
                _ => {}
            }
        }
        flows.sort_by(|a, b| (a.precedence, &a.name).cmp(&(b.precedence, &b.name)));
        let sum: f64 = levels
            .values()
            .filter(|l| !l.exempt)
            .map(|l| l.shares)
            .sum();
        for l in levels.values_mut().filter(|l| !l.exempt) {
            l.nominal = if sum > 0.0 {
                (f64::from(total_seats) * l.shares / sum).ceil() as u32
            } else {
                0
            };
        }
        Config { flows, levels }
    }

    /// The FlowSchema and level the server would pick: the first matching FlowSchema in order.
    pub fn classify(&self, r: &Request) -> Option<&FlowSchema> {
        self.flows.iter().find(|f| f.matches(r))
    }
}

/// Adds the groups the authenticator always gives a user, which some logs leave out:
/// `system:unauthenticated` for `system:anonymous`, else `system:authenticated`, and
/// `system:serviceaccounts` for a service account (whose namespace is returned, for the
/// `system:serviceaccounts:NAMESPACE` group the caller adds).
pub fn implied_groups<'a>(user: &'a str, groups: &mut Vec<&'a str>) -> Option<&'a str> {
    let mut add = |g: &'a str| {
        if !groups.contains(&g) {
            groups.push(g);
        }
    };
    if user == "system:anonymous" {
        add("system:unauthenticated");
        return None;
    }
    add("system:authenticated");
    let ns = user
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .map(|(ns, _)| ns);
    if ns.is_some() {
        add("system:serviceaccounts");
    }
    ns
}
