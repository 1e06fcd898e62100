//! Garbage that piles up: Job history, finished Jobs, too many objects in one namespace.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::inventory::Obj;
use crate::rules::Ctx;

/// GC001: CronJobs whose Jobs are kept long (no TTL and high history limits).
pub fn cronjob_history(ctx: &mut Ctx) {
    let max = ctx.num("max_history") as i64;
    for c in ctx.inv.of("CronJob") {
        if c.get("spec.jobTemplate.spec.ttlSecondsAfterFinished")
            .is_some()
        {
            continue;
        }
        let ok = c
            .get("spec.successfulJobsHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(3);
        let failed = c
            .get("spec.failedJobsHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if ok + failed > max {
            let msg = format!(
                "CronJob {} keeps {ok} successful and {failed} failed Jobs ({} in all, flagged above {max}) and sets no ttlSecondsAfterFinished",
                c.name,
                ok + failed
            );
            ctx.report(c, msg);
        }
    }
}

fn finished(job: &Obj) -> bool {
    job.get("status.conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                matches!(
                    c.get("type").and_then(Value::as_str),
                    Some("Complete" | "Failed")
                ) && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
        || job.get("status.completionTime").is_some()
}

/// Objects per namespace, with the origin of the first one (where findings point).
fn per_namespace<'a>(objs: impl Iterator<Item = &'a Obj>) -> BTreeMap<String, (usize, String)> {
    let mut per_ns: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for o in objs {
        per_ns
            .entry(o.namespace.clone().unwrap_or_default())
            .or_insert((0, o.origin.clone()))
            .0 += 1;
    }
    per_ns
}

/// GC002: many finished Jobs in one namespace.
pub fn finished_jobs(ctx: &mut Ctx) {
    let max = ctx.num("max_finished") as usize;
    let per_ns = per_namespace(ctx.inv.of("Job").iter().filter(|j| finished(j)));
    for (ns, (n, origin)) in per_ns {
        if n > max {
            let msg = format!(
                "namespace {ns} holds {n} finished Jobs (flagged above {max}); set ttlSecondsAfterFinished so they are deleted"
            );
            ctx.report_at(ctx.rule.severity, format!("Namespace/{ns}"), origin, msg);
        }
    }
}

/// GC003: more objects of one kind in a namespace than the SIG-Scalability thresholds.
pub fn namespace_objects(ctx: &mut Ctx) {
    for limit in ctx.list("limits") {
        let Some((kind, n)) = limit.split_once('=') else {
            continue;
        };
        let Ok(n) = n.trim().parse::<usize>() else {
            continue;
        };
        for (ns, (count, origin)) in per_namespace(ctx.inv.of(kind.trim()).iter()) {
            if count > n {
                let msg = format!(
                    "namespace {ns} holds {count} {kind} objects (SIG-Scalability threshold per namespace: {n})"
                );
                ctx.report_at(ctx.rule.severity, format!("Namespace/{ns}"), origin, msg);
            }
        }
    }
}
