//! Checks: the Rust logic behind rules. A rule file names its check by key; several rules may share
//! one check with different parameters. One table maps keys to functions.

mod alerts;
mod apf;
mod apis;
mod components;
mod crds;
mod garbage;
mod helm;
mod traffic;
pub mod upgrade;
mod webhooks;
mod workloads;

pub use apf::apf_defaults;
pub use traffic::system_traffic;

use serde_json::Value;

use super::Ctx;

pub type CheckFn = fn(&mut Ctx);

/// The type of a check parameter, which a rule file's default and a `--param` value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Num,
    Bool,
    /// A list of strings.
    List,
    Text,
    /// A string that selects behaviour: one of these values (a typo is an error at load, never a
    /// rule that silently never fires).
    OneOf(&'static [&'static str]),
}

use ParamType::{Bool, List, Num, OneOf, Text};

impl ParamType {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Num => v.is_number(),
            Bool => v.is_boolean(),
            List => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Text => v.is_string(),
            OneOf(values) => v.as_str().is_some_and(|s| values.contains(&s)),
        }
    }

    fn name(self) -> String {
        match self {
            Num => "a number".into(),
            Bool => "true or false".into(),
            List => "a list of strings".into(),
            Text => "a string".into(),
            OneOf(values) => format!("one of {}", values.join(", ")),
        }
    }
}

/// A check: its key (named by rule files), its function, and the parameters it reads, typed. A rule
/// file may set only these (a misspelt name is an error naming the valid ones, never a silent
/// default).
pub struct Check {
    pub key: &'static str,
    pub run: CheckFn,
    pub params: &'static [(&'static str, ParamType)],
}

impl Check {
    /// Whether a rule may give this check the parameter `name` with the default `v`.
    pub fn validate(&self, name: &str, v: &Value) -> Result<(), String> {
        match self.params.iter().find(|(n, _)| *n == name) {
            None => {
                let valid: Vec<&str> = self.params.iter().map(|(n, _)| *n).collect();
                Err(format!(
                    "parameter {name:?} is not a parameter of check {:?}; valid names: {}",
                    self.key,
                    if valid.is_empty() {
                        "(none)".to_string()
                    } else {
                        valid.join(", ")
                    }
                ))
            }
            Some((_, t)) if !t.accepts(v) => Err(format!(
                "parameter {name:?} of check {:?} must be {}, the default is {v}",
                self.key,
                t.name()
            )),
            Some(_) => Ok(()),
        }
    }
}

/// KS001, KS002: their findings come from the suppression pass of the gate (`gate::suppress`),
/// which sees the whole run; looking at objects finds nothing.
fn suppressions(_: &mut Ctx) {}

/// Every check, by key.
#[rustfmt::skip]
pub const CHECKS: &[Check] = &[
    Check { key: "webhook-system-namespaces", run: webhooks::system_namespaces, params: &[] },
    Check { key: "webhook-catch-all", run: webhooks::catch_all, params: &[] },
    Check { key: "webhook-critical-resources", run: webhooks::critical_resources, params: &[] },
    Check { key: "webhook-timeout", run: webhooks::timeout, params: &[("fires_at_seconds", Num), ("fail_closed_only", Bool)] },
    Check { key: "mutating-timeout-sum", run: webhooks::mutating_timeout_sum, params: &[("max_total_seconds", Num), ("resources", List)] },
    Check { key: "webhook-backend", run: webhooks::backend, params: &[("condition", OneOf(&["missing", "no-endpoints"]))] },
    Check { key: "webhook-workload", run: webhooks::workload, params: &[("condition", OneOf(&["replicas", "pdb", "zones"])), ("min_replicas", Num)] },
    Check { key: "webhook-url-localhost", run: webhooks::url_localhost, params: &[] },
    Check { key: "webhook-ca-bundle", run: webhooks::ca_bundle, params: &[] },
    Check { key: "webhook-ca-expiry", run: webhooks::ca_expiry, params: &[("days", Num)] },
    Check { key: "webhook-field", run: webhooks::field, params: &[("field", OneOf(&["sideEffects", "matchPolicy", "admissionReviewVersions"])), ("bad", List)] },
    Check { key: "apiservice-unavailable", run: webhooks::apiservice_unavailable, params: &[] },
    Check { key: "crd-conversion-webhook", run: webhooks::crd_conversion, params: &[] },
    Check { key: "apf-exempt-broad", run: apf::exempt_broad, params: &[] },
    Check { key: "apf-shadow-system", run: apf::shadow_system, params: &[] },
    Check { key: "apf-equal-precedence", run: apf::equal_precedence, params: &[] },
    Check { key: "apf-missing-level", run: apf::missing_level, params: &[] },
    Check { key: "apf-autoupdate", run: apf::autoupdate, params: &[("case", OneOf(&["pinned-suggested", "custom-autoupdate"]))] },
    Check { key: "apf-small-level", run: apf::small_level, params: &[("server_concurrency_limit", Num), ("max_seats", Num)] },
    Check { key: "apf-reject", run: apf::reject, params: &[] },
    Check { key: "apf-queuing", run: apf::queuing, params: &[("max_queue_length_limit", Num)] },
    Check { key: "apf-no-distinguisher", run: apf::no_distinguisher, params: &[] },
    Check { key: "apf-share-hog", run: apf::share_hog, params: &[("max_share_percent", Num)] },
    Check { key: "api-not-yet-served", run: apis::not_yet_served, params: &[] },
    Check { key: "api-version", run: apis::api_version, params: &[("state", OneOf(&["removed", "deprecated"]))] },
    Check { key: "crd-count", run: crds::count, params: &[("warn_at", Num), ("error_at", Num)] },
    Check { key: "crd-size", run: crds::size, params: &[("warn_bytes", Num), ("error_bytes", Num)] },
    Check { key: "crd-versions", run: crds::versions, params: &[("condition", OneOf(&["many-served", "stored-not-served"])), ("max_served", Num)] },
    Check { key: "crd-objects", run: crds::objects, params: &[("condition", OneOf(&["many", "none"])), ("max_objects", Num)] },
    Check { key: "storage-objects", run: crds::storage_objects, params: &[("max_objects", Num)] },
    Check { key: "etcd-size", run: crds::etcd_size, params: &[("limit_bytes", Num), ("warn_percent", Num), ("error_percent", Num)] },
    Check { key: "cronjob-history", run: garbage::cronjob_history, params: &[("max_history", Num)] },
    Check { key: "finished-jobs", run: garbage::finished_jobs, params: &[("max_finished", Num)] },
    Check { key: "namespace-objects", run: garbage::namespace_objects, params: &[("limits", List)] },
    Check { key: "node-version-skew", run: upgrade::node_skew, params: &[] },
    Check { key: "suppressions", run: suppressions, params: &[] },
    Check { key: "pdb-blocks-drain", run: upgrade::pdb_blocks_drain, params: &[] },
    Check { key: "single-replica", run: upgrade::single_replica, params: &[("namespaces", List)] },
    Check { key: "node-runtime", run: upgrade::node_runtime, params: &[("runtime", Text), ("min_major", Num), ("removed_in", Text)] },
    Check { key: "node-cgroup", run: upgrade::node_cgroup, params: &[("condition", OneOf(&["v1", "unverified"]))] },
    Check { key: "helm-kube-version", run: helm::kube_version, params: &[] },
    Check { key: "feature-gates", run: components::feature_gates, params: &[] },
    Check { key: "kubeadm-config", run: components::kubeadm_config, params: &[("api_version", Text)] },
    Check { key: "pod-volume", run: workloads::pod_volume, params: &[("volume", Text)] },
    Check { key: "container-image", run: workloads::container_image, params: &[("images", List), ("what", Text)] },
    Check { key: "service-external-ips", run: workloads::service_external_ips, params: &[] },
    Check { key: "selinux-mount", run: workloads::selinux_mount, params: &[] },
    Check { key: "kube-proxy-mode", run: workloads::kube_proxy_mode, params: &[("mode", Text)] },
    Check { key: "alert-metrics", run: alerts::alert_metrics, params: &[] },
];

pub fn find(key: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.key == key)
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

/// A label selector as kubectl writes it: `a=b,c in (d,e),!f`.
pub fn selector_text(selector: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values = strings(e.get("values")).join(",");
            parts.push(match e.get("operator").and_then(Value::as_str) {
                Some("In") => format!("{key} in ({values})"),
                Some("NotIn") => format!("{key} notin ({values})"),
                Some("Exists") => key.to_string(),
                Some("DoesNotExist") => format!("!{key}"),
                other => format!("{key} {} ({values})", other.unwrap_or("?")),
            });
        }
    }
    parts.join(",")
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

#[cfg(test)]
mod closed_set_tests {
    #[test]
    fn a_misspelt_selector_names_the_valid_values() {
        let c = super::find("webhook-workload").unwrap();
        let e = c
            .validate("condition", &serde_json::json!("replica"))
            .unwrap_err();
        assert!(e.contains("one of replicas, pdb, zones"), "{e}");
        assert!(c.validate("condition", &serde_json::json!("pdb")).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_read_like_kubectl() {
        let s = json!({"matchLabels": {"app": "x"}, "matchExpressions": [
            {"key": "inject", "operator": "In", "values": ["true"]},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["a", "b"]},
            {"key": "e", "operator": "Exists"},
            {"key": "d", "operator": "DoesNotExist"}]});
        assert_eq!(
            selector_text(&s),
            "app=x,inject in (true),kubernetes.io/metadata.name notin (a,b),e,!d"
        );
    }

    #[test]
    fn a_rule_may_set_only_the_parameters_its_check_declares() {
        let c = find("webhook-timeout").unwrap();
        assert!(c.validate("fires_at_seconds", &json!(11)).is_ok());
        let e = c.validate("fires_at_second", &json!(11)).unwrap_err();
        assert!(
            e.contains("\"fires_at_second\" is not a parameter of check \"webhook-timeout\"; valid names: fires_at_seconds, fail_closed_only"),
            "{e}"
        );
        let e = c.validate("fail_closed_only", &json!("yes")).unwrap_err();
        assert!(e.contains("must be true or false"), "{e}");
        let e = find("webhook-field")
            .unwrap()
            .validate("bad", &json!([1]))
            .unwrap_err();
        assert!(e.contains("a list of strings"), "{e}");
    }
}
