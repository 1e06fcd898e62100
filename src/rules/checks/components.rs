//! What the control plane and the kubelet are started with: feature gates a release removes or
//! locks (a component given one fails to start), and kubeadm configuration API versions a release
//! no longer reads. Read from the static control-plane Pods (their command lines, in manifests),
//! the `kubeadm-config` ConfigMap (ClusterConfiguration: the components' extraArgs), and the
//! `kubelet-config` and `kube-proxy` ConfigMaps (their configuration's featureGates).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

use crate::inventory::{Obj, Version, yaml};
use crate::rules::Ctx;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Locked {
    since: String,
    value: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GateTable {
    removed: BTreeMap<String, Vec<String>>,
    locked: BTreeMap<String, Locked>,
}

/// A gate's fate: removed in a release, or locked to a value from one.
#[derive(Debug, Default)]
struct Gates {
    removed: BTreeMap<String, Version>,
    locked: BTreeMap<String, (Version, bool)>,
}

static GATES: LazyLock<Result<Gates, String>> = LazyLock::new(|| {
    let t: GateTable = crate::rules::data::load("feature-gates.yaml").map_err(|e| e.to_string())?;
    let ver =
        |s: &str| Version::parse(s).ok_or_else(|| format!("feature-gates.yaml: bad version {s:?}"));
    let mut g = Gates::default();
    for (rel, names) in &t.removed {
        let v = ver(rel)?;
        for n in names {
            g.removed.insert(n.clone(), v);
        }
    }
    for (n, l) in &t.locked {
        g.locked.insert(n.clone(), (ver(&l.since)?, l.value));
    }
    Ok(g)
});

/// `A=true,B=false` → [(A, true), (B, false)] (malformed pairs left out).
fn parse_gates(s: &str) -> Vec<(String, bool)> {
    s.split(',')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim().parse::<bool>().ok()?;
            Some((k.trim().to_string(), v))
        })
        .collect()
}

/// A YAML document held in a string (a ConfigMap's configuration file), parsed within limits.
fn yaml_in(text: &str) -> Option<Value> {
    yaml::documents(text)
        .into_iter()
        .next()?
        .ok()
        .map(|d| d.value)
}

/// The YAML documents a ConfigMap's data values hold (configuration files), parsed within limits.
fn config_files(obj: &Obj) -> Vec<Value> {
    obj.get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_str)
        .filter_map(yaml_in)
        .collect()
}

/// A `featureGates:` map of a component configuration.
fn gates_map(v: Option<&Value>) -> Vec<(String, bool)> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_bool().map(|b| (k.clone(), b)))
                .collect()
        })
        .unwrap_or_default()
}

/// Where a component's gates are set, and the gates.
struct Setting {
    component: String,
    gates: Vec<(String, bool)>,
}

/// The `--feature-gates` of every container of a static control-plane Pod.
fn from_pod(pod: &Obj) -> Vec<Setting> {
    let mut out = Vec::new();
    for c in ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.get(&format!("spec.{f}")).and_then(Value::as_array))
        .flatten()
    {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("container");
        let gates: Vec<(String, bool)> = ["command", "args"]
            .iter()
            .filter_map(|f| c.get(*f).and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|a| a.strip_prefix("--feature-gates="))
            .flat_map(parse_gates)
            .collect();
        if !gates.is_empty() {
            out.push(Setting {
                component: name.to_string(),
                gates,
            });
        }
    }
    out
}

/// The components' gates in kubeadm's ClusterConfiguration (extraArgs as a map in v1beta3, as a
/// list of name/value in v1beta4).
fn from_cluster_configuration(cc: &Value) -> Vec<Setting> {
    let mut out = Vec::new();
    for (key, component) in [
        ("apiServer", "kube-apiserver"),
        ("controllerManager", "kube-controller-manager"),
        ("scheduler", "kube-scheduler"),
    ] {
        let extra = cc.get(key).and_then(|c| c.get("extraArgs"));
        let value = match extra {
            Some(Value::Object(m)) => m.get("feature-gates").and_then(Value::as_str),
            Some(Value::Array(a)) => a
                .iter()
                .find(|e| e.get("name").and_then(Value::as_str) == Some("feature-gates"))
                .and_then(|e| e.get("value"))
                .and_then(Value::as_str),
            _ => None,
        };
        if let Some(v) = value {
            out.push(Setting {
                component: component.to_string(),
                gates: parse_gates(v),
            });
        }
    }
    out
}

/// Every gate setting an object holds.
fn settings(obj: &Obj) -> Vec<Setting> {
    match obj.kind.as_str() {
        "Pod" => from_pod(obj),
        "ConfigMap" => {
            let data = |k: &str| {
                obj.get("data")
                    .and_then(|d| d.get(k))
                    .and_then(Value::as_str)
            };
            if obj.name == "kubeadm-config" {
                data("ClusterConfiguration")
                    .and_then(yaml_in)
                    .map(|cc| from_cluster_configuration(&cc))
                    .unwrap_or_default()
            } else if obj.name.starts_with("kubelet-config") {
                let gates = data("kubelet")
                    .and_then(yaml_in)
                    .map(|k| gates_map(k.get("featureGates")))
                    .unwrap_or_default();
                vec![Setting {
                    component: "kubelet".into(),
                    gates,
                }]
            } else if obj.name.starts_with("kube-proxy") {
                let gates = config_files(obj)
                    .iter()
                    .flat_map(|c| gates_map(c.get("featureGates")))
                    .collect();
                vec![Setting {
                    component: "kube-proxy".into(),
                    gates,
                }]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// UP012: feature gates set on a component that the target release removed, or locked to the
/// other value: the component does not start after the hop.
pub fn feature_gates(ctx: &mut Ctx) {
    let Ok(gates) = GATES.as_ref() else { return };
    let target = ctx.target;
    let mut objs: Vec<(&Obj, Vec<Setting>)> = ["Pod", "ConfigMap"]
        .iter()
        .flat_map(|k| ctx.inv.of(k).iter())
        .map(|o| (o, settings(o)))
        .collect();
    // the kubelets' own configuration (`preflight --kubelet`), reported on the node read
    if let Some(Ok(reports)) = &ctx.inv.kubelets {
        for r in reports {
            let Some(node) = ctx.inv.of("Node").iter().find(|n| n.name == r.node) else {
                continue;
            };
            objs.push((
                node,
                vec![Setting {
                    component: format!(
                        "the kubelet (its configz; {} node(s) of this group)",
                        r.group.len()
                    ),
                    gates: r.feature_gates(),
                }],
            ));
        }
    }
    for (obj, settings) in objs {
        let mut problems = Vec::new();
        for s in settings {
            for (gate, value) in &s.gates {
                if let Some(r) = gates.removed.get(gate).filter(|r| **r <= target) {
                    problems.push(format!(
                        "{} sets {gate}={value}, a gate removed in {r} (\"unrecognized feature gate\")",
                        s.component
                    ));
                } else if let Some((since, locked)) = gates
                    .locked
                    .get(gate)
                    .filter(|(since, l)| *since <= target && l != value)
                {
                    problems.push(format!(
                        "{} sets {gate}={value}, a gate locked to {locked} from {since}",
                        s.component
                    ));
                }
            }
        }
        if !problems.is_empty() {
            ctx.report(
                obj,
                format!(
                    "{}: the component does not start after the upgrade until the setting is removed",
                    problems.join("; ")
                ),
            );
        }
    }
}

/// UP013: kubeadm's ClusterConfiguration in an API version the target's kubeadm no longer reads
/// (`api_version`, removed in the rule's first release).
pub fn kubeadm_config(ctx: &mut Ctx) {
    let old = ctx.text("api_version");
    let since = ctx.since();
    let cms: Vec<&Obj> = ctx
        .inv
        .of("ConfigMap")
        .iter()
        .filter(|c| c.name == "kubeadm-config")
        .collect();
    for cm in cms {
        let versions: Vec<String> = config_files(cm)
            .iter()
            .filter_map(|v| {
                v.get("apiVersion")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .filter(|v| *v == old)
            .collect();
        if let Some(v) = versions.first() {
            ctx.report(
                cm,
                format!(
                    "holds a kubeadm configuration in {v}, which kubeadm no longer reads from {since}: \
                     `kubeadm upgrade` fails until it is migrated (kubeadm config migrate)"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_from_flags_and_the_table() {
        assert_eq!(
            parse_gates("A=true, B=false,bad,C=maybe"),
            vec![("A".into(), true), ("B".into(), false)]
        );
        let g = GATES.as_ref().unwrap();
        assert_eq!(
            g.removed.get("SidecarContainers"),
            Some(&Version::new(1, 37))
        );
        assert_eq!(
            g.locked.get("GitRepoVolumeDriver"),
            Some(&(Version::new(1, 36), false))
        );
        let cc = serde_json::json!({"apiServer": {"extraArgs": [{"name": "feature-gates", "value": "X=true"}]},
                                    "scheduler": {"extraArgs": {"feature-gates": "Y=false"}}});
        let s = from_cluster_configuration(&cc);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].component, "kube-apiserver");
        assert_eq!(s[1].gates, vec![("Y".to_string(), false)]);
    }
}
