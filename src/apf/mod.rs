//! API Priority and Fairness, priced: which FlowSchema and priority level the server would pick for
//! each request of the audit log, and the seats its work estimator would charge (`est_seats`,
//! `served_from`, `est_objects`, `flow_schema`, `priority_level` of the `audit` table).
//!
//! What the estimate rests on is gathered by the command ([`Pricing`]): the APF objects (a live
//! cluster's, manifests, else the server's own mandatory and suggested objects), object counts and
//! sizes (the live `/metrics`, a file), the server's version (a flag, the live `/version`, the log's
//! own kube-apiserver user agent) and the server's total seats. Every input used is named
//! ([`Pricing::describe`]).

pub mod config;
pub mod estimate;
pub mod udf;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};

use crate::inventory::{Inventory, Obj, Version, manifests, prom};
use config::{Config, Request};
use estimate::{Line, ObjectStat, Req};

/// The bootstrap objects of kube-apiserver (1.34+), embedded.
const BOOTSTRAP: &str = include_str!("../../rules/data/apf-bootstrap.yaml");

/// The default server concurrency limit: --max-requests-inflight 400 + --max-mutating-requests-inflight 200.
pub const DEFAULT_TOTAL_SEATS: u32 = 600;

/// The release line assumed when nothing tells the server's version.
const ASSUMED: Version = Version::new(1, 34);

/// The columns the estimator adds to `audit`.
pub const DERIVED: &[(&str, &str)] = &[
    (
        "flow_schema",
        "The FlowSchema API Priority and Fairness would classify the request into (the first matching by matchingPrecedence, then name), from the APF objects the report names",
    ),
    ("priority_level", "That FlowSchema's priority level"),
    (
        "est_seats",
        "Seats the server's work estimator charges the request while it runs (kube-apiserver's list/mutating estimators for the server's release line); NULL when the LIST's object count is unknown; 0 for exempt requests",
    ),
    (
        "served_from",
        "`cache` or `etcd`: where the estimator counts a LIST (or a WATCH costed as a LIST) as served from; NULL otherwise",
    ),
    (
        "est_objects",
        "The objects the LIST estimate counted (count-based up to 1.33, objects in memory from 1.34); NULL when not a LIST or unknown",
    ),
    (
        "est_seats_paged",
        "For a LIST: the seats one page of it would cost with `limit=500` (a later page, read from etcd)",
    ),
    (
        "est_seats_cached",
        "For a LIST: the seats it would cost served from the watch cache (`resourceVersion=0`, as an informer's first LIST)",
    ),
];

/// Everything an estimate rests on.
#[derive(Debug)]
pub struct Pricing {
    pub config: Config,
    pub total_seats: u32,
    /// The server's version and where it came from; set before queries run.
    version: RwLock<Option<(Version, String)>>,
    /// What was used, for the report.
    pub sources: Vec<String>,
    /// Object counts and sizes by group, then resource (looked up without building a key).
    by_group: HashMap<String, HashMap<String, ObjectStat>>,
    /// Per FlowSchema (by index): its level's seat limit per request and whether it is exempt.
    flow_levels: Vec<(u32, bool)>,
}

static CURRENT: OnceLock<Arc<Pricing>> = OnceLock::new();
static DEFAULT: LazyLock<Arc<Pricing>> = LazyLock::new(|| {
    Arc::new(Pricing::new(
        &[],
        "kube-apiserver's mandatory and suggested objects",
        HashMap::new(),
        DEFAULT_TOTAL_SEATS,
        None,
    ))
});

/// Sets what this run's estimates rest on (once, by the command, before the queries are planned).
pub fn set_current(p: Pricing) {
    let _ = CURRENT.set(Arc::new(p));
}

/// This run's pricing, or the defaults.
pub fn current() -> Arc<Pricing> {
    CURRENT.get().cloned().unwrap_or_else(|| DEFAULT.clone())
}

/// The bootstrap objects, parsed once.
fn bootstrap() -> &'static Inventory {
    static INV: LazyLock<Inventory> = LazyLock::new(|| {
        let mut inv = Inventory::new("kube-apiserver bootstrap", false);
        manifests::add_text(&mut inv, "rules/data/apf-bootstrap.yaml", BOOTSTRAP);
        inv
    });
    &INV
}

fn bootstrap_objects(mandatory_only: bool) -> Vec<&'static Obj> {
    bootstrap()
        .all()
        .filter(|o| {
            !mandatory_only
                || o.labels()
                    .and_then(|l| l.get("kscope.io/bootstrap"))
                    .and_then(serde_json::Value::as_str)
                    == Some("mandatory")
        })
        .collect()
}

/// The key of a resource's stats.
pub fn stat_key(group: &str, resource: &str) -> String {
    format!("{group}/{resource}")
}

impl Pricing {
    /// From APF objects (empty: the server's own suggested ones), named `objects_from`.
    pub fn new(
        objects: &[&Obj],
        objects_from: &str,
        stats: HashMap<String, ObjectStat>,
        total_seats: u32,
        version: Option<(Version, String)>,
    ) -> Pricing {
        let given: Vec<&Obj> = objects
            .iter()
            .copied()
            .filter(|o| matches!(o.kind.as_str(), "FlowSchema" | "PriorityLevelConfiguration"))
            .collect();
        let (objs, from) = if given.is_empty() {
            (
                bootstrap_objects(false),
                "kube-apiserver's mandatory and suggested objects (rules/data/apf-bootstrap.yaml, 1.34+)".to_string(),
            )
        } else {
            (
                given,
                format!("{objects_from} (with kube-apiserver's mandatory objects)"),
            )
        };
        let config = Config::new(&objs, &bootstrap_objects(true), total_seats);
        let mut sources = vec![format!(
            "APF: {} FlowSchemas and {} priority levels from {from}; {total_seats} seats in the server",
            config.flows.len(),
            config.levels.len()
        )];
        sources.push(if stats.is_empty() {
            "object counts: none given, so LIST estimates are unknown (give --context, or --object-stats)".into()
        } else {
            format!("object counts: {} resources", stats.len())
        });
        let mut by_group: HashMap<String, HashMap<String, ObjectStat>> = HashMap::new();
        for (k, v) in &stats {
            if let Some((g, r)) = k.split_once('/') {
                by_group
                    .entry(g.to_string())
                    .or_default()
                    .insert(r.to_string(), *v);
            }
        }
        let level_max = |name: &str| {
            config.levels.get(name).map_or((0, false), |l| {
                (
                    estimate::level_max_seats(l.nominal, l.hand_size, l.queues),
                    l.exempt,
                )
            })
        };
        let flow_levels = config.flows.iter().map(|f| level_max(&f.level)).collect();
        Pricing {
            config,
            total_seats,
            version: RwLock::new(version),
            sources,
            by_group,
            flow_levels,
        }
    }

    /// Sets the server version when nothing set it yet (found in the log).
    pub fn version_found(&self, v: Version, from: &str) {
        if let Ok(mut g) = self.version.write() {
            if g.is_none() {
                *g = Some((v, from.to_string()));
            }
        }
    }

    pub fn version_known(&self) -> bool {
        self.version.read().is_ok_and(|g| g.is_some())
    }

    pub fn version(&self) -> (Version, String) {
        self.version
            .read()
            .ok()
            .and_then(|g| g.clone())
            .unwrap_or((ASSUMED, "assumed: nothing told the server's version".into()))
    }

    /// The lines the report shows about the estimate.
    pub fn describe(&self) -> Vec<String> {
        let (v, from) = self.version();
        let line = if Line::of(v).size_based {
            "size-based LIST estimate (1.34+)"
        } else {
            "count-based LIST estimate (up to 1.33)"
        };
        let mut out = self.sources.clone();
        out.push(format!("estimator: server {v} ({from}): {line}"));
        out
    }

    /// The seat limit a level sets on one request (0: none).
    pub fn level_max(&self, level: &str) -> u32 {
        self.config.levels.get(level).map_or(0, |l| {
            estimate::level_max_seats(l.nominal, l.hand_size, l.queues)
        })
    }
}

/// One priced request.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced<'a> {
    pub flow_schema: Option<&'a str>,
    pub priority_level: Option<&'a str>,
    pub seats: Option<u32>,
    pub served_from: Option<&'static str>,
    pub objects: Option<u64>,
    /// A LIST's seats as a later page of `limit=500`, and served from the cache.
    pub seats_paged: Option<u32>,
    pub seats_cached: Option<u32>,
}

impl Pricing {
    /// The stats of a resource.
    fn stat(&self, group: &str, resource: &str) -> Option<ObjectStat> {
        self.by_group.get(group)?.get(resource).copied()
    }

    /// Classifies and prices one request.
    pub fn price(&self, who: &Request, req: &Req, line: Line) -> Priced<'_> {
        let flow = self.config.flows.iter().position(|f| f.matches(who));
        self.price_in(flow, req, line)
    }

    /// Prices a request already classified into `flow` (an index of `config.flows`).
    pub fn price_in(&self, flow: Option<usize>, req: &Req, line: Line) -> Priced<'_> {
        let f = flow.and_then(|i| self.config.flows.get(i));
        let (max, exempt) = flow
            .and_then(|i| self.flow_levels.get(i).copied())
            .unwrap_or((0, false));
        let stat = req.resource.and_then(|r| self.stat(req.api_group, r));
        let e = estimate::estimate(req, line, max, stat);
        let (seats_paged, seats_cached) = if req.verb == "list" && !exempt {
            let paged = Req {
                limit: Some(500),
                continue_token: true,
                resource_version: None,
                resource_version_match: None,
                ..*req
            };
            let cached = Req {
                limit: None,
                continue_token: false,
                resource_version: Some("0"),
                resource_version_match: None,
                ..*req
            };
            (
                estimate::estimate(&paged, line, max, stat).seats,
                estimate::estimate(&cached, line, max, stat).seats,
            )
        } else {
            (None, None)
        };
        Priced {
            seats_paged,
            seats_cached,
            flow_schema: f.map(|f| f.name.as_str()),
            priority_level: f.map(|f| f.level.as_str()),
            seats: if exempt { Some(0) } else { e.seats },
            served_from: e.served_from,
            objects: e.objects,
        }
    }
}

/// Object counts and sizes from a `/metrics` text: `apiserver_resource_objects` (1.34+) or
/// `apiserver_storage_objects`, and `apiserver_resource_size_estimate_bytes` (the total bytes).
pub fn stats_from_metrics(text: &str) -> HashMap<String, ObjectStat> {
    let mut out: HashMap<String, ObjectStat> = HashMap::new();
    let key = |s: &prom::Sample| {
        let (g, r) = (s.label("group"), s.label("resource"));
        // apiserver_storage_objects names `resource.group` in one label
        match (g, r.split_once('.')) {
            ("", Some((res, grp))) => stat_key(grp, res),
            _ => stat_key(g, r),
        }
    };
    for name in ["apiserver_resource_objects", "apiserver_storage_objects"] {
        for s in prom::samples(text, name) {
            if s.value >= 0.0 && !s.label("resource").is_empty() {
                out.entry(key(&s)).or_insert(ObjectStat {
                    count: s.value as u64,
                    avg_bytes: None,
                });
            }
        }
    }
    for s in prom::samples(text, "apiserver_resource_size_estimate_bytes") {
        if let Some(st) = out.get_mut(&key(&s)) {
            if s.value > 0.0 && st.count > 0 {
                st.avg_bytes = Some(s.value / st.count as f64);
            }
        }
    }
    out
}

/// Object counts and sizes from a file: a `/metrics` dump, or YAML/JSON rows
/// `{group, resource, count, avg_bytes}`.
pub fn stats_from_file(text: &str) -> Result<HashMap<String, ObjectStat>, String> {
    if text.lines().any(|l| l.starts_with("apiserver_")) {
        return Ok(stats_from_metrics(text));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        #[serde(default)]
        group: String,
        resource: String,
        count: u64,
        #[serde(default)]
        avg_bytes: Option<f64>,
    }
    let docs = crate::inventory::yaml::documents(text);
    let mut out = HashMap::new();
    for d in docs {
        let d = d.map_err(|e| format!("line {}: {}", e.line, e.reason))?;
        let rows: Vec<Row> = serde_json::from_value(d.value).map_err(|e| {
            format!(
                "line {}: expected a list of {{group, resource, count, avg_bytes}}: {e}",
                d.line
            )
        })?;
        for r in rows {
            out.insert(
                stat_key(&r.group, &r.resource),
                ObjectStat {
                    count: r.count,
                    avg_bytes: r.avg_bytes,
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
