//! Deprecated and removed API versions, from the table in `rules/api-removals.yaml`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::finding::Severity;
use crate::inventory::Obj;
use crate::rules::Ctx;
use crate::rules::apis::{Removal, lookup};

/// The apiVersions an object is known by: as written (manifests), or for live objects the versions
/// in `managedFields` and in kubectl's last-applied configuration (approximate: the last writers).
fn versions_of(obj: &Obj, live: bool) -> Vec<(String, &'static str)> {
    if !live {
        return vec![(obj.api_version.clone(), "")];
    }
    let mut out = BTreeSet::new();
    if let Some(mf) = obj.get("metadata.managedFields").and_then(Value::as_array) {
        for m in mf {
            if let Some(v) = m.get("apiVersion").and_then(Value::as_str) {
                out.insert((v.to_string(), "managedFields"));
            }
        }
    }
    if let Some(la) = obj.annotation("kubectl.kubernetes.io/last-applied-configuration") {
        if let Some(v) = serde_json::from_str::<Value>(la).ok().and_then(|v| {
            v.get("apiVersion")
                .and_then(Value::as_str)
                .map(String::from)
        }) {
            out.insert((v, "last-applied-configuration"));
        }
    }
    out.into_iter().collect()
}

fn describe(r: &Removal) -> String {
    match (&r.replacement, r.since) {
        (Some(rep), Some(s)) => format!("migrate to {rep} (served since {s})"),
        (Some(rep), None) => format!("migrate to {rep}"),
        (None, _) => "no replacement API exists".to_string(),
    }
}

/// DA001, DA002: objects written in an API version that is removed (`state: removed`) or only
/// deprecated (`state: deprecated`) at the target version.
pub fn api_version(ctx: &mut Ctx) {
    let state = ctx.text("state");
    let target = ctx.target;
    let current = ctx.inv.server_version;
    let live = ctx.inv.live;
    let objs: Vec<&Obj> = ctx.inv.all().collect();
    for obj in objs {
        for (v, via) in versions_of(obj, live) {
            let Some(r) = lookup(&v, &obj.kind) else {
                continue;
            };
            let removed = r.removed.is_some_and(|x| x <= target);
            let deprecated = r.deprecated <= target;
            let no_replacement = r.replacement.is_none() && deprecated;
            let mut sev = ctx.rule.severity;
            let mut note = String::new();
            let fire = match state.as_str() {
                "removed" => {
                    if let (Some(cur), Some(since)) = (current, r.since) {
                        if removed && since > cur {
                            note = format!(
                                "; the cluster ({cur}) does not serve the replacement yet (from {since}): upgrade in steps"
                            );
                        }
                    }
                    removed || no_replacement
                }
                "deprecated" => {
                    sev = ctx.rule.severity.min(Severity::Warning);
                    deprecated && !removed && !no_replacement
                }
                _ => false,
            };
            if !fire {
                continue;
            }
            let what = if removed {
                format!(
                    "is no longer served from {}",
                    r.removed.map(|x| x.to_string()).unwrap_or_default()
                )
            } else {
                format!("is deprecated since {}", r.deprecated)
            };
            let seen = if via.is_empty() {
                String::new()
            } else {
                format!(" (seen in {via}; approximate: the last writer used it)")
            };
            let msg = format!(
                "{} {} {what} (target {target}){seen}; {}{note}",
                v,
                obj.kind,
                describe(r)
            );
            ctx.report_as(sev, obj, msg);
        }
    }
}
