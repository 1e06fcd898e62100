//! API Priority and Fairness: FlowSchemas and PriorityLevelConfigurations (v1 and the betas).

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use super::{and_list, num, strings};
use crate::inventory::Obj;
use crate::rules::{Ctx, RuleError, data};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Defaults {
    priority_levels: Vec<DefaultLevel>,
    flow_schemas: Vec<DefaultFlow>,
}

#[derive(Debug, Deserialize)]
struct DefaultLevel {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    shares: f64,
    #[serde(default)]
    mandatory: bool,
}

#[derive(Debug, Deserialize)]
struct DefaultFlow {
    name: String,
    precedence: i64,
    level: String,
    subjects: Vec<String>,
    #[serde(default)]
    mandatory: bool,
    #[serde(default)]
    system: bool,
    #[serde(default)]
    eks: bool,
}

static DEFAULTS: LazyLock<Result<Defaults, String>> =
    LazyLock::new(|| data::load("apf-defaults.yaml").map_err(|e| e.to_string()));

/// The default APF objects of Kubernetes and EKS (checked when the rule registry loads, so a broken
/// table is an error, never an empty table that would silence the APF rules).
pub fn apf_defaults() -> Result<(), RuleError> {
    match &*DEFAULTS {
        Ok(d) if !d.priority_levels.is_empty() && !d.flow_schemas.is_empty() => Ok(()),
        Ok(_) => Err(RuleError::Definition {
            file: "rules/data/apf-defaults.yaml".into(),
            msg: "no default priority levels or flow schemas".into(),
        }),
        Err(e) => Err(RuleError::Definition {
            file: "rules/data/apf-defaults.yaml".into(),
            msg: e.clone(),
        }),
    }
}

fn defaults() -> &'static [DefaultFlow] {
    DEFAULTS
        .as_ref()
        .map(|d| d.flow_schemas.as_slice())
        .unwrap_or_default()
}

fn default_levels() -> &'static [DefaultLevel] {
    DEFAULTS
        .as_ref()
        .map(|d| d.priority_levels.as_slice())
        .unwrap_or_default()
}

fn is_default_name(name: &str) -> bool {
    defaults().iter().any(|f| f.name == name) || default_levels().iter().any(|p| p.name == name)
}

/// Suggested (not mandatory, not EKS) default objects: the ones `autoupdate-spec` concerns.
fn is_suggested(name: &str) -> bool {
    defaults()
        .iter()
        .any(|f| f.name == name && !f.mandatory && !f.eks)
        || default_levels()
            .iter()
            .any(|p| p.name == name && !p.mandatory)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subj {
    User(String),
    Group(String),
    Sa(String, String),
}

impl Subj {
    fn parse_default(s: &str) -> Option<Subj> {
        let (k, v) = s.split_once(':')?;
        Some(match k {
            "user" => Subj::User(v.into()),
            "group" => Subj::Group(v.into()),
            "sa" => {
                let (ns, n) = v.split_once('/')?;
                Subj::Sa(ns.into(), n.into())
            }
            _ => return None,
        })
    }

    fn from_value(v: &Value) -> Option<Subj> {
        let s = |p: &str| {
            crate::inventory::at(v, p)
                .and_then(Value::as_str)
                .map(String::from)
        };
        match v.get("kind").and_then(Value::as_str)? {
            "User" => Some(Subj::User(s("user.name").or_else(|| s("name"))?)),
            "Group" => Some(Subj::Group(s("group.name").or_else(|| s("name"))?)),
            "ServiceAccount" => Some(Subj::Sa(
                s("serviceAccount.namespace").or_else(|| s("namespace"))?,
                s("serviceAccount.name").or_else(|| s("name"))?,
            )),
            _ => None,
        }
    }

    /// Broad: everyone authenticated or not, every service account, any user.
    fn broad(&self) -> bool {
        match self {
            Subj::Group(g) => matches!(
                g.as_str(),
                "system:authenticated" | "system:unauthenticated" | "system:serviceaccounts" | "*"
            ),
            Subj::User(u) => u == "*",
            Subj::Sa(ns, _) => ns == "*",
        }
    }

    /// Whether every request `other` matches is also matched by `self`.
    fn covers(&self, other: &Subj) -> bool {
        match (self, other) {
            (Subj::Group(g), _) if g == "*" || g == "system:authenticated" => true,
            (Subj::User(u), Subj::User(_)) if u == "*" => true,
            (Subj::User(a), Subj::User(b)) => {
                a == b || (b.ends_with('*') && a.starts_with(b.trim_end_matches('*')))
            }
            (Subj::Group(a), Subj::Group(b)) => a == b,
            (Subj::Group(g), Subj::Sa(ns, _)) => {
                g == "system:serviceaccounts" || *g == format!("system:serviceaccounts:{ns}")
            }
            (Subj::Sa(ns, n), Subj::Sa(ons, on)) => {
                (ns == "*" || ns == ons) && (n == "*" || n == on)
            }
            _ => false,
        }
    }

    fn show(&self) -> String {
        match self {
            Subj::User(u) => format!("user {u}"),
            Subj::Group(g) => format!("group {g}"),
            Subj::Sa(ns, n) => format!("serviceaccount {ns}/{n}"),
        }
    }
}

struct Flow<'a> {
    obj: &'a Obj,
    precedence: i64,
    level: String,
    subjects: Vec<Subj>,
    distinguisher: Option<String>,
    resource_rules: Vec<[Vec<String>; 3]>,
    non_resource_rules: Vec<[Vec<String>; 2]>,
}

impl Flow<'_> {
    fn broad(&self) -> Vec<&Subj> {
        self.subjects.iter().filter(|s| s.broad()).collect()
    }
}

fn flows<'a>(ctx: &Ctx<'a>) -> Vec<Flow<'a>> {
    ctx.inv
        .of("FlowSchema")
        .iter()
        .map(|o| {
            let rules = o
                .get("spec.rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut subjects = Vec::new();
            let mut resource_rules = Vec::new();
            let mut non_resource_rules = Vec::new();
            for r in &rules {
                if let Some(ss) = r.get("subjects").and_then(Value::as_array) {
                    subjects.extend(ss.iter().filter_map(Subj::from_value));
                }
                for rr in r
                    .get("resourceRules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    resource_rules.push([
                        strings(rr.get("verbs")),
                        strings(rr.get("apiGroups")),
                        strings(rr.get("resources")),
                    ]);
                }
                for nr in r
                    .get("nonResourceRules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    non_resource_rules
                        .push([strings(nr.get("verbs")), strings(nr.get("nonResourceURLs"))]);
                }
            }
            subjects.dedup();
            Flow {
                obj: o,
                precedence: o
                    .get("spec.matchingPrecedence")
                    .and_then(Value::as_i64)
                    .unwrap_or(1000),
                level: o
                    .str("spec.priorityLevelConfiguration.name")
                    .unwrap_or_default()
                    .to_string(),
                subjects,
                distinguisher: o.str("spec.distinguisherMethod.type").map(String::from),
                resource_rules,
                non_resource_rules,
            }
        })
        .collect()
}

struct Level {
    name: String,
    exempt: bool,
    shares: f64,
    obj: Option<Obj>,
}

/// The priority levels of the inventory, plus the defaults the inventory does not contain.
fn levels(ctx: &Ctx) -> Vec<Level> {
    let mut out: Vec<Level> = ctx
        .inv
        .of("PriorityLevelConfiguration")
        .iter()
        .map(|o| {
            let exempt = o.str("spec.type") == Some("Exempt");
            let shares = if exempt {
                num(o.get("spec.exempt.nominalConcurrencyShares")).unwrap_or(0.0)
            } else {
                num(o.get("spec.limited.nominalConcurrencyShares"))
                    .or_else(|| num(o.get("spec.limited.assuredConcurrencyShares")))
                    .unwrap_or(30.0)
            };
            Level {
                name: o.name.clone(),
                exempt,
                shares,
                obj: Some(o.clone()),
            }
        })
        .collect();
    for d in default_levels() {
        if !out.iter().any(|l| l.name == d.name) {
            out.push(Level {
                name: d.name.clone(),
                exempt: d.kind == "Exempt",
                shares: d.shares,
                obj: None,
            });
        }
    }
    out
}

fn level_named<'a>(levels: &'a [Level], name: &str) -> Option<&'a Level> {
    levels.iter().find(|l| l.name == name)
}

fn subjects_text(s: &[&Subj]) -> String {
    and_list(&s.iter().map(|s| s.show()).collect::<Vec<_>>())
}

/// AP001: a custom FlowSchema sends broad subjects to an exempt level.
pub fn exempt_broad(ctx: &mut Ctx) {
    let lv = levels(ctx);
    for f in flows(ctx) {
        if is_default_name(&f.obj.name) {
            continue;
        }
        let b = f.broad();
        if b.is_empty() {
            continue;
        }
        if level_named(&lv, &f.level).is_some_and(|l| l.exempt) {
            let msg = format!(
                "FlowSchema {} sends {} to the exempt level {:?}: those requests bypass all limits",
                f.obj.name,
                subjects_text(&b),
                f.level
            );
            ctx.report(f.obj, msg);
        }
    }
}

/// AP002: a custom FlowSchema that matches before a system FlowSchema and takes its traffic into a
/// level with fewer shares.
pub fn shadow_system(ctx: &mut Ctx) {
    let lv = levels(ctx);
    let fl = flows(ctx);
    let shares = |name: &str| {
        level_named(&lv, name).map(|l| if l.exempt { f64::INFINITY } else { l.shares })
    };
    for f in &fl {
        if is_default_name(&f.obj.name) {
            continue;
        }
        let Some(f_shares) = shares(&f.level) else {
            continue;
        };
        let mut shadowed = Vec::new();
        for s in defaults().iter().filter(|d| d.system) {
            // The cluster's own copy wins over the table (precedence and level may be edited).
            let (prec, level) = match fl.iter().find(|x| x.obj.name == s.name) {
                Some(x) => (x.precedence, x.level.clone()),
                None => (s.precedence, s.level.clone()),
            };
            if f.precedence >= prec {
                continue;
            }
            let covered: Vec<Subj> = s
                .subjects
                .iter()
                .filter_map(|x| Subj::parse_default(x))
                .filter(|ss| f.subjects.iter().any(|fs| fs.covers(ss)))
                .collect();
            if covered.is_empty() {
                continue;
            }
            let Some(s_shares) = shares(&level) else {
                continue;
            };
            if f_shares < s_shares {
                shadowed.push(format!(
                    "{} ({}, precedence {prec}, level {level} with {s_shares} shares)",
                    s.name,
                    and_list(&covered.iter().map(Subj::show).collect::<Vec<_>>())
                ));
            }
        }
        if !shadowed.is_empty() {
            let msg = format!(
                "FlowSchema {} (precedence {}) matches before {} and sends that traffic to level {:?} with {} shares",
                f.obj.name,
                f.precedence,
                and_list(&shadowed),
                f.level,
                f_shares
            );
            ctx.report(f.obj, msg);
        }
    }
}

fn overlap(a: &[String], b: &[String]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x == "*" || y == "*" || x == y))
}

fn rules_overlap(a: &Flow, b: &Flow) -> bool {
    let res = a.resource_rules.iter().any(|ra| {
        b.resource_rules
            .iter()
            .any(|rb| (0..3).all(|i| overlap(&ra[i], &rb[i])))
    });
    let url = |x: &[String], y: &[String]| {
        x.iter().any(|u| {
            y.iter().any(|v| {
                u == v
                    || u == "*"
                    || v == "*"
                    || u.strip_suffix('*').is_some_and(|p| v.starts_with(p))
                    || v.strip_suffix('*').is_some_and(|p| u.starts_with(p))
            })
        })
    };
    let non = a.non_resource_rules.iter().any(|ra| {
        b.non_resource_rules
            .iter()
            .any(|rb| overlap(&ra[0], &rb[0]) && url(&ra[1], &rb[1]))
    });
    res || non
}

/// AP003: two FlowSchemas with the same precedence that can match the same request.
pub fn equal_precedence(ctx: &mut Ctx) {
    let fl = flows(ctx);
    for (i, a) in fl.iter().enumerate() {
        for b in &fl[i + 1..] {
            if a.precedence != b.precedence || a.level == b.level {
                continue;
            }
            if is_default_name(&a.obj.name) && is_default_name(&b.obj.name) {
                continue;
            }
            let subj = a
                .subjects
                .iter()
                .any(|x| b.subjects.iter().any(|y| x.covers(y) || y.covers(x)));
            if subj && rules_overlap(a, b) {
                let (first, second) = if a.obj.name <= b.obj.name {
                    (a, b)
                } else {
                    (b, a)
                };
                let msg = format!(
                    "FlowSchemas {} and {} both have matchingPrecedence {} and match overlapping requests; the tie goes to {} (name order), so its level {:?} wins over {:?}",
                    first.obj.name,
                    second.obj.name,
                    a.precedence,
                    first.obj.name,
                    first.level,
                    second.level
                );
                let target = if is_default_name(&a.obj.name) {
                    b.obj
                } else {
                    a.obj
                };
                ctx.report(target, msg);
            }
        }
    }
}

/// AP004: a FlowSchema naming a priority level that does not exist.
pub fn missing_level(ctx: &mut Ctx) {
    let lv = levels(ctx);
    for f in flows(ctx) {
        if level_named(&lv, &f.level).is_none() {
            let msg = format!(
                "FlowSchema {} names priority level {:?}, which does not exist: its requests fall through to later FlowSchemas",
                f.obj.name, f.level
            );
            ctx.report(f.obj, msg);
        }
    }
}

/// AP005, AP006: `apf.kubernetes.io/autoupdate-spec` set the risky way (`case` param).
pub fn autoupdate(ctx: &mut Ctx) {
    let case = ctx.text("case");
    const KEY: &str = "apf.kubernetes.io/autoupdate-spec";
    let objs: Vec<Obj> = ["FlowSchema", "PriorityLevelConfiguration"]
        .iter()
        .flat_map(|k| ctx.inv.of(k).iter().cloned())
        .collect();
    for o in &objs {
        let v = o.annotation(KEY);
        let msg = match case.as_str() {
            "pinned-suggested" if is_suggested(&o.name) && v == Some("false") => format!(
                "suggested {} {} is annotated {KEY}: \"false\": it no longer receives the fixes new Kubernetes releases bring",
                o.kind, o.name
            ),
            "custom-autoupdate" if !is_default_name(&o.name) && v == Some("true") => format!(
                "{} {} is not a Kubernetes default but is annotated {KEY}: \"true\": the API server deletes or overwrites it",
                o.kind, o.name
            ),
            _ => continue,
        };
        ctx.report(o, msg);
    }
}

/// AP007: a limited level with very few nominal seats fed by broad FlowSchemas.
pub fn small_level(ctx: &mut Ctx) {
    let scl = ctx.num("server_concurrency_limit");
    let max_seats = ctx.num("max_seats");
    let lv = levels(ctx);
    let total: f64 = lv.iter().map(|l| l.shares).sum();
    if total <= 0.0 {
        return;
    }
    let fl = flows(ctx);
    for l in lv.iter().filter(|l| !l.exempt) {
        let Some(obj) = &l.obj else { continue };
        let seats = (scl * l.shares / total).ceil();
        if seats > max_seats {
            continue;
        }
        let feeders: Vec<String> = fl
            .iter()
            .filter(|f| f.level == l.name && !f.broad().is_empty())
            .map(|f| format!("{} ({})", f.obj.name, subjects_text(&f.broad())))
            .collect();
        if feeders.is_empty() {
            continue;
        }
        let msg = format!(
            "priority level {} gets {seats} nominal seat(s) (ceil({scl} x {} / {total} shares); flagged at {max_seats} or fewer) but broad FlowSchemas feed it: {}",
            l.name,
            l.shares,
            and_list(&feeders)
        );
        ctx.report(obj, msg);
    }
}

/// AP008: `limitResponse: Reject` on a level other than catch-all.
pub fn reject(ctx: &mut Ctx) {
    for o in ctx.inv.of("PriorityLevelConfiguration") {
        if o.name != "catch-all" && o.str("spec.limited.limitResponse.type") == Some("Reject") {
            let msg = format!(
                "priority level {} rejects excess requests with 429 at once (limitResponse Reject) instead of queuing them",
                o.name
            );
            ctx.report(o, msg);
        }
    }
}

/// AP009: queuing parameters that defeat fair queuing or hold too much.
pub fn queuing(ctx: &mut Ctx) {
    let max_len = ctx.num("max_queue_length_limit");
    for o in ctx.inv.of("PriorityLevelConfiguration") {
        if o.str("spec.limited.limitResponse.type") != Some("Queue") {
            continue;
        }
        let q = |k: &str| num(o.get(&format!("spec.limited.limitResponse.queuing.{k}")));
        let queues = q("queues").unwrap_or(64.0);
        let hand = q("handSize").unwrap_or(8.0);
        let len = q("queueLengthLimit").unwrap_or(50.0);
        let mut problems = Vec::new();
        if queues == 1.0 {
            problems.push(
                "queues is 1 (no fair queuing: one flow can fill the only queue)".to_string(),
            );
        }
        if hand > queues {
            problems.push(format!("handSize {hand} is larger than queues {queues}"));
        }
        if len > max_len {
            problems.push(format!(
                "queueLengthLimit {len} is above {max_len} (requests wait long and hold memory)"
            ));
        }
        if !problems.is_empty() {
            let msg = format!("priority level {}: {}", o.name, problems.join("; "));
            ctx.report(o, msg);
        }
    }
}

/// AP010: a broad FlowSchema into a queuing level without a distinguisher: one flow for everyone.
pub fn no_distinguisher(ctx: &mut Ctx) {
    let lv = levels(ctx);
    for f in flows(ctx) {
        if is_default_name(&f.obj.name) || f.distinguisher.is_some() {
            continue;
        }
        let b = f.broad();
        if b.is_empty() || level_named(&lv, &f.level).is_none_or(|l| l.exempt) {
            continue;
        }
        let msg = format!(
            "FlowSchema {} matches {} without a distinguisherMethod: all of them share one flow, so one noisy client delays the rest",
            f.obj.name,
            subjects_text(&b)
        );
        ctx.report(f.obj, msg);
    }
}

/// AP011: a custom level holding a large part of all shares.
pub fn share_hog(ctx: &mut Ctx) {
    let max = ctx.num("max_share_percent");
    let lv = levels(ctx);
    let total: f64 = lv.iter().map(|l| l.shares).sum();
    if total <= 0.0 {
        return;
    }
    for l in &lv {
        let Some(obj) = &l.obj else { continue };
        if l.exempt || is_default_name(&l.name) {
            continue;
        }
        let pct = 100.0 * l.shares / total;
        if pct > max {
            let msg = format!(
                "priority level {} holds {:.0}% of all concurrency shares ({} of {total}; flagged above {max}%): every other level gets less",
                l.name, pct, l.shares
            );
            ctx.report(obj, msg);
        }
    }
}
