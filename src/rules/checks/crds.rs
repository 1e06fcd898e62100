//! CRD bloat: how many CRDs, how big, how many versions, how many objects, and etcd itself.

use serde_json::Value;

use super::strings;
use crate::finding::Severity;
use crate::inventory::prom::samples;
use crate::rules::Ctx;

/// CR001: the number of CRDs.
pub fn count(ctx: &mut Ctx) {
    let n = ctx.inv.of("CustomResourceDefinition").len() as f64;
    let warn = ctx.num("warn_at");
    let error = ctx.num("error_at");
    if n < warn {
        return;
    }
    let sev = if n >= error {
        Severity::Error
    } else {
        ctx.rule.severity
    };
    let msg = format!(
        "{n} CustomResourceDefinitions (warning at {warn}, error at {error}): each adds discovery documents, OpenAPI schema and watch caches to every API server"
    );
    ctx.report_at(
        sev,
        "CustomResourceDefinitions".into(),
        ctx.inv.origin.clone(),
        msg,
    );
}

/// CR002: CRD objects large enough to break client-side apply or to approach etcd's request limit.
pub fn size(ctx: &mut Ctx) {
    let warn = ctx.num("warn_bytes");
    let error = ctx.num("error_bytes");
    let mut crds: Vec<_> = ctx.inv.of("CustomResourceDefinition").iter().collect();
    crds.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(&b.name)));
    let total = crds.len();
    for (rank, c) in crds.into_iter().enumerate() {
        let s = c.size as f64;
        if s <= warn {
            break;
        }
        let sev = if s > error {
            Severity::Error
        } else {
            ctx.rule.severity
        };
        let msg = format!(
            "CRD {} is {:.0} KiB (largest #{} of {total}; warning above {:.0} KiB, where the last-applied annotation no longer fits, error above {:.0} KiB, near etcd's 1.5 MiB request limit)",
            c.name,
            s / 1024.0,
            rank + 1,
            warn / 1024.0,
            error / 1024.0
        );
        ctx.report_as(sev, c, msg);
    }
}

/// CR003, CR004: many served versions, or storedVersions naming versions no longer served.
pub fn versions(ctx: &mut Ctx) {
    let condition = ctx.text("condition");
    let max = ctx.num("max_served") as usize;
    for c in ctx.inv.of("CustomResourceDefinition") {
        let versions = c
            .get("spec.versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let served: Vec<String> = versions
            .iter()
            .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
            .filter_map(|v| v.get("name").and_then(Value::as_str).map(String::from))
            .collect();
        let msg = match condition.as_str() {
            "many-served" if served.len() > max => format!(
                "CRD {} serves {} versions ({}; flagged above {max}): every served version multiplies conversion and schema work",
                c.name,
                served.len(),
                served.join(", ")
            ),
            "stored-not-served" => {
                let stale: Vec<String> = strings(c.get("status.storedVersions"))
                    .into_iter()
                    .filter(|s| !served.contains(s))
                    .collect();
                if stale.is_empty() {
                    continue;
                }
                format!(
                    "CRD {} has status.storedVersions {} that it no longer serves: objects stored in them cannot be read until migrated",
                    c.name,
                    stale.join(", ")
                )
            }
            _ => continue,
        };
        ctx.report(c, msg);
    }
}

/// CR005, CR006: custom objects per CRD (counted without listing them): too many, or none.
pub fn objects(ctx: &mut Ctx) {
    let condition = ctx.text("condition");
    let max = ctx.num("max_objects");
    let Some(counts) = ctx.inv.cr_counts.clone() else {
        return;
    };
    for c in counts {
        let Some(n) = c.count else { continue };
        let Some(crd) = ctx
            .inv
            .of("CustomResourceDefinition")
            .iter()
            .find(|o| o.name == c.crd)
            .cloned()
        else {
            continue;
        };
        let msg = match condition.as_str() {
            "many" if n as f64 > max => format!(
                "CRD {} has {n} objects (flagged above {max}): lists and watches of it are expensive and it may be used as an event log",
                c.crd
            ),
            "none" if n == 0 => format!(
                "CRD {} has no objects: if nothing uses it, remove it",
                c.crd
            ),
            _ => continue,
        };
        ctx.report(&crd, msg);
    }
}

/// CR007: objects per resource in storage, from `/metrics`.
pub fn storage_objects(ctx: &mut Ctx) {
    let max = ctx.num("max_objects");
    let Some(Ok(text)) = ctx.inv.metrics.clone() else {
        return;
    };
    let mut rows: Vec<(String, f64)> = Vec::new();
    for name in ["apiserver_resource_objects", "apiserver_storage_objects"] {
        for s in samples(&text, name) {
            let res = match (s.label("group"), s.label("resource")) {
                (_, "") => continue,
                ("", r) => r.to_string(),
                (g, r) => format!("{r}.{g}"),
            };
            if !rows.iter().any(|(r, _)| *r == res) {
                rows.push((res, s.value));
            }
        }
    }
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (res, v) in rows {
        if v > max {
            let msg = format!(
                "{res}: {v} objects in storage (flagged above {max}, from apiserver metrics)"
            );
            ctx.report_at(
                ctx.rule.severity,
                format!("resource {res}"),
                ctx.inv.origin.clone(),
                msg,
            );
        }
    }
}

/// CR008: the etcd database size against the limit (8 GiB on EKS).
pub fn etcd_size(ctx: &mut Ctx) {
    let limit = ctx.num("limit_bytes");
    let warn = ctx.num("warn_percent");
    let error = ctx.num("error_percent");
    let Some(Ok(text)) = ctx.inv.metrics.clone() else {
        return;
    };
    let size = [
        "apiserver_storage_size_bytes",
        "apiserver_storage_db_total_size_in_bytes",
        "etcd_db_total_size_in_bytes",
    ]
    .iter()
    .flat_map(|n| samples(&text, n))
    .map(|s| s.value)
    .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let Some(size) = size else { return };
    let pct = 100.0 * size / limit;
    if pct < warn {
        return;
    }
    let sev = if pct >= error {
        Severity::Error
    } else {
        ctx.rule.severity
    };
    let gib = |b: f64| b / (1u64 << 30) as f64;
    let msg = format!(
        "etcd database is {:.2} GiB, {pct:.0}% of the {:.0} GiB limit (warning at {warn}%, error at {error}%); at the limit the cluster becomes read-only",
        gib(size),
        gib(limit)
    );
    ctx.report_at(sev, "etcd".into(), ctx.inv.origin.clone(), msg);
}
