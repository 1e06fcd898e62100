//! Alert and recording rules (PrometheusRule objects, Prometheus rule files given as manifests)
//! whose expressions use a metric a release renames, removes or hides, or a label it drops: after
//! the hop the expression matches nothing and the alert never fires, without an error anywhere.
//! The table is `rules/data/removed-metrics.yaml`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::Value;

use crate::inventory::{Obj, Version};
use crate::rules::Ctx;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricRow {
    name: String,
    #[serde(default)]
    prefix: bool,
    release: String,
    #[serde(default)]
    replacement: Option<String>,
    component: String,
    #[allow(dead_code)]
    reference: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelRow {
    metrics: Vec<String>,
    label: String,
    release: String,
    replacement: String,
    #[allow(dead_code)]
    reference: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    metrics: Vec<MetricRow>,
    labels: Vec<LabelRow>,
}

/// The table with its releases parsed.
struct Removals {
    metrics: Vec<(MetricRow, Version)>,
    labels: Vec<(LabelRow, Version)>,
}

static TABLE: LazyLock<Result<Removals, String>> = LazyLock::new(|| {
    let t: Table = crate::rules::data::load("removed-metrics.yaml").map_err(|e| e.to_string())?;
    let ver = |s: &str| {
        Version::parse(s).ok_or_else(|| format!("removed-metrics.yaml: bad release {s:?}"))
    };
    Ok(Removals {
        metrics: t
            .metrics
            .into_iter()
            .map(|m| ver(&m.release).map(|v| (m, v)))
            .collect::<Result<_, _>>()?,
        labels: t
            .labels
            .into_iter()
            .map(|l| ver(&l.release).map(|v| (l, v)))
            .collect::<Result<_, _>>()?,
    })
});

/// The identifiers of a PromQL expression (metric, label and function names), string literals
/// and comments left out.
pub fn identifiers(expr: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            // a string literal: skip to its closing quote (backslash escapes, except in raw ones)
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            out.insert(&expr[start..i]);
        } else if c.is_ascii_digit() {
            // a number or duration (5m, 1e3, 0x1f): not an identifier
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Whether an identifier names `metric` or one of its histogram or summary series.
fn names(ident: &str, metric: &str, prefix: bool) -> bool {
    if prefix {
        return ident.starts_with(metric);
    }
    ident == metric
        || ident
            .strip_prefix(metric)
            .is_some_and(|rest| matches!(rest, "_bucket" | "_sum" | "_count"))
}

/// (kind of rule, name, expression) of every rule of a PrometheusRule's `spec.groups`.
fn rules_of(obj: &Obj) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in obj
        .get("spec.groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let group = g.get("name").and_then(Value::as_str).unwrap_or("?");
        for r in g
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(expr) = r.get("expr").and_then(Value::as_str) else {
                continue;
            };
            let who = match (
                r.get("alert").and_then(Value::as_str),
                r.get("record").and_then(Value::as_str),
            ) {
                (Some(a), _) => format!("alert {a} (group {group})"),
                (None, Some(rec)) => format!("recording rule {rec} (group {group})"),
                (None, None) => format!("a rule of group {group}"),
            };
            out.push((who, expr.to_string()));
        }
    }
    out
}

/// UP015: alert and recording rules using metrics or labels that are gone at the target.
pub fn alert_metrics(ctx: &mut Ctx) {
    let Ok(table) = TABLE.as_ref() else { return };
    let target = ctx.target;
    let current = ctx.inv.server_version;
    let when = |r: Version, gone: &str| match current {
        Some(c) if r <= c => {
            format!("{gone} {r}, before this cluster's {c}, so it already matches nothing")
        }
        _ => format!("{gone} {r}"),
    };
    for obj in ctx.inv.of("PrometheusRule") {
        let mut problems = Vec::new();
        for (who, expr) in rules_of(obj) {
            let ids = identifiers(&expr);
            for (m, r) in table.metrics.iter().filter(|(_, r)| *r <= target) {
                if let Some(used) = ids.iter().find(|i| names(i, &m.name, m.prefix)) {
                    let instead = m
                        .replacement
                        .as_ref()
                        .map(|x| format!("; use {x}"))
                        .unwrap_or_else(|| "; it has no replacement".into());
                    problems.push(format!(
                        "{who} uses {used} ({}, {}{instead})",
                        m.component,
                        when(*r, "not exposed from")
                    ));
                }
            }
            for (l, r) in table.labels.iter().filter(|(_, r)| *r <= target) {
                let metric = l
                    .metrics
                    .iter()
                    .find(|m| ids.iter().any(|i| names(i, m, false)));
                if let (Some(metric), true) = (metric, ids.contains(l.label.as_str())) {
                    problems.push(format!(
                        "{who} uses label {} of {metric} ({}; use {})",
                        l.label,
                        when(*r, "dropped in"),
                        l.replacement
                    ));
                }
            }
        }
        if !problems.is_empty() {
            ctx.report(
                obj,
                format!(
                    "{}: such a rule evaluates to nothing and its alert never fires, silently",
                    problems.join("; ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_skip_strings_numbers_and_comments() {
        let ids = identifiers(
            "sum by (resource) (rate(apiserver_storage_objects{resource=~\"pods|x_total\"}[5m])) > 1e3 # container_tasks_state\n",
        );
        assert!(ids.contains("apiserver_storage_objects"));
        assert!(ids.contains("resource"));
        assert!(!ids.contains("x_total"));
        assert!(!ids.contains("container_tasks_state"));
        assert!(!ids.contains("m"));
        assert!(!ids.contains("e3"));
    }

    #[test]
    fn names_match_series_of_a_histogram_and_prefixes() {
        assert!(names(
            "etcd_request_duration_seconds_bucket",
            "etcd_request_duration_seconds",
            false
        ));
        assert!(!names(
            "etcd_request_duration_seconds_total_x",
            "etcd_request_duration_seconds",
            false
        ));
        assert!(names(
            "container_application_requests",
            "container_application_",
            true
        ));
        let t = TABLE.as_ref().unwrap();
        assert!(t.metrics.len() >= 15);
    }
}
