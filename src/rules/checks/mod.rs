//! Checks: the Rust logic behind rules. A rule file names its check by key; several rules may share
//! one check with different parameters. One table maps keys to functions.

mod apf;
mod apis;
mod crds;
mod garbage;
mod webhooks;

pub use apf::defaults_loaded;

use serde_json::Value;

use super::Ctx;

pub type CheckFn = fn(&mut Ctx);

/// Every check, by key.
pub const CHECKS: &[(&str, CheckFn)] = &[
    ("webhook-system-namespaces", webhooks::system_namespaces),
    ("webhook-catch-all", webhooks::catch_all),
    ("webhook-critical-resources", webhooks::critical_resources),
    ("webhook-timeout", webhooks::timeout),
    ("mutating-timeout-sum", webhooks::mutating_timeout_sum),
    ("webhook-backend", webhooks::backend),
    ("webhook-workload", webhooks::workload),
    ("webhook-url-localhost", webhooks::url_localhost),
    ("webhook-ca-bundle", webhooks::ca_bundle),
    ("webhook-ca-expiry", webhooks::ca_expiry),
    ("webhook-field", webhooks::field),
    ("apiservice-unavailable", webhooks::apiservice_unavailable),
    ("crd-conversion-webhook", webhooks::crd_conversion),
    ("apf-exempt-broad", apf::exempt_broad),
    ("apf-shadow-system", apf::shadow_system),
    ("apf-equal-precedence", apf::equal_precedence),
    ("apf-missing-level", apf::missing_level),
    ("apf-autoupdate", apf::autoupdate),
    ("apf-small-level", apf::small_level),
    ("apf-reject", apf::reject),
    ("apf-queuing", apf::queuing),
    ("apf-no-distinguisher", apf::no_distinguisher),
    ("apf-share-hog", apf::share_hog),
    ("api-version", apis::api_version),
    ("crd-count", crds::count),
    ("crd-size", crds::size),
    ("crd-versions", crds::versions),
    ("crd-objects", crds::objects),
    ("storage-objects", crds::storage_objects),
    ("etcd-size", crds::etcd_size),
    ("cronjob-history", garbage::cronjob_history),
    ("finished-jobs", garbage::finished_jobs),
    ("namespace-objects", garbage::namespace_objects),
];

pub fn find(key: &str) -> Option<CheckFn> {
    CHECKS.iter().find(|(k, _)| *k == key).map(|(_, f)| *f)
}

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects `labels`. An absent or
/// empty selector selects everything.
pub fn selector_matches(selector: Option<&Value>, labels: &dyn Fn(&str) -> Option<String>) -> bool {
    let Some(sel) = selector.filter(|s| !s.is_null()) else {
        return true;
    };
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if labels(k).as_deref() != v.as_str() {
                return false;
            }
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let op = e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = labels(key);
            let ok = match op {
                "In" => have.as_deref().is_some_and(|h| values.contains(&h)),
                "NotIn" => have.as_deref().is_none_or(|h| !values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// Whether a selector only selects objects that carry some label (so unlabelled objects escape it).
pub fn selector_requires_label(selector: Option<&Value>) -> bool {
    let Some(sel) = selector else { return false };
    let has_labels = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty());
    let has_positive = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|e| {
                matches!(
                    e.get("operator").and_then(Value::as_str),
                    Some("In" | "Exists")
                )
            })
        });
    has_labels || has_positive
}

/// Strings of a JSON array (empty when absent).
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A number at `v` (integers or floats).
pub fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// A human list: `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
