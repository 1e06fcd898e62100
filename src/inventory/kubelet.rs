//! What the kubelets say of themselves, read through the API server's node proxy
//! (`/api/v1/nodes/NAME/proxy/configz` and `/metrics`) when `preflight --kubelet` asks for it:
//! `nodes/proxy` is a powerful permission, so nothing else in kscope uses it.
//!
//! One node is read per group of nodes that share an OS image, kubelet and runtime version and
//! node group (nodes of a group are built from one template), so the cost does not grow with the
//! fleet.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Obj;
use super::prom;

/// The labels that name a node's group on the managed services and common provisioners.
const NODE_GROUP_LABELS: &[&str] = &[
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "node.kubernetes.io/instance-type",
];

/// What one kubelet reported.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeletReport {
    /// The node read.
    pub node: String,
    /// The nodes it stands for (itself included), sorted.
    pub group: Vec<String>,
    /// `kubeletconfig` of configz, or why it could not be read.
    pub config: Result<Value, String>,
    /// `kubelet_cgroup_version` (1 or 2; 0 on non-Linux hosts), when exposed.
    pub cgroup_version: Option<u8>,
    /// `kubelet_cri_losing_support{version}`: the release that drops the node's runtime.
    pub cri_losing_support: Option<String>,
    /// Why `/metrics` could not be read.
    pub metrics_error: Option<String>,
}

impl Default for KubeletReport {
    fn default() -> Self {
        KubeletReport {
            node: String::new(),
            group: Vec::new(),
            config: Err("not read".into()),
            cgroup_version: None,
            cri_losing_support: None,
            metrics_error: None,
        }
    }
}

impl KubeletReport {
    /// The kubelet's `featureGates` setting.
    pub fn feature_gates(&self) -> Vec<(String, bool)> {
        self.config
            .as_ref()
            .ok()
            .and_then(|c| c.get("featureGates"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_bool().map(|b| (k.clone(), b)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The kubelet's `failCgroupV1` setting, when configz was read and sets it.
    pub fn fail_cgroup_v1(&self) -> Option<bool> {
        self.config
            .as_ref()
            .ok()
            .and_then(|c| c.get("failCgroupV1"))
            .and_then(Value::as_bool)
    }
}

/// The nodes to read, one per group: (node read, every node of its group).
pub fn sample(nodes: &[Obj]) -> Vec<(String, Vec<String>)> {
    let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for n in nodes {
        let info = |f: &str| {
            n.str(&format!("status.nodeInfo.{f}"))
                .unwrap_or_default()
                .to_string()
        };
        let group = NODE_GROUP_LABELS
            .iter()
            .find_map(|l| {
                n.labels()
                    .and_then(|m| m.get(*l))
                    .and_then(Value::as_str)
                    .map(|v| format!("{l}={v}"))
            })
            .unwrap_or_default();
        let key = vec![
            info("osImage"),
            info("kubeletVersion"),
            info("containerRuntimeVersion"),
            group,
        ];
        groups.entry(key).or_default().push(n.name.clone());
    }
    groups
        .into_values()
        .filter_map(|mut names| {
            names.sort();
            Some((names.first()?.clone(), names))
        })
        .collect()
}

/// `kubeletconfig` of a configz response.
pub fn parse_configz(body: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("configz is not JSON: {e}"))?;
    v.get("kubeletconfig")
        .cloned()
        .ok_or_else(|| "configz has no kubeletconfig".to_string())
}

/// The two gauges preflight reads from a kubelet's `/metrics`.
pub fn parse_metrics(text: &str, report: &mut KubeletReport) {
    report.cgroup_version = prom::samples(text, "kubelet_cgroup_version")
        .first()
        .map(|s| s.value as u8);
    report.cri_losing_support = prom::samples(text, "kubelet_cri_losing_support")
        .into_iter()
        .find(|s| s.value > 0.0)
        .map(|s| s.label("version").to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, image: &str, group: &str) -> Obj {
        Obj::new(
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name, "labels": {"eks.amazonaws.com/nodegroup": group}},
                   "status": {"nodeInfo": {"osImage": image, "kubeletVersion": "v1.34.1",
                                           "containerRuntimeVersion": "containerd://1.7.27"}}}),
            "cluster".into(),
        )
    }

    #[test]
    fn one_node_per_group() {
        let nodes = [
            node("b", "Amazon Linux 2", "ng-1"),
            node("a", "Amazon Linux 2", "ng-1"),
            node("c", "Amazon Linux 2", "ng-2"),
            node("d", "Amazon Linux 2023", "ng-1"),
        ];
        let s = sample(&nodes);
        assert_eq!(s.len(), 3);
        assert!(s.contains(&("a".into(), vec!["a".into(), "b".into()])));
        assert!(s.contains(&("c".into(), vec!["c".into()])));
    }

    #[test]
    fn configz_and_metrics() {
        let c = parse_configz(
            r#"{"kubeletconfig": {"failCgroupV1": false, "featureGates": {"X": true}}}"#,
        );
        let mut r = KubeletReport {
            config: c,
            ..KubeletReport::default()
        };
        assert_eq!(r.fail_cgroup_v1(), Some(false));
        assert_eq!(r.feature_gates(), vec![("X".to_string(), true)]);
        assert!(parse_configz("{}").is_err());
        assert!(parse_configz("<html>").is_err());
        parse_metrics(
            "kubelet_cgroup_version 1\nkubelet_cri_losing_support{version=\"1.38.0\"} 1\n",
            &mut r,
        );
        assert_eq!(r.cgroup_version, Some(1));
        assert_eq!(r.cri_losing_support.as_deref(), Some("1.38.0"));
    }
}
