//! Upgrade risks: node version skew, PodDisruptionBudgets that block every drain, single-replica
//! system Deployments. `kscope preflight` runs them per hop; `kscope lint` against the current
//! (or `--target-version`) control plane.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::inventory::{Obj, Version};
use crate::rules::Ctx;

/// How many minors a kubelet (or kube-proxy) may lag the API server: three from 1.28 on, two
/// before (Kubernetes version skew policy).
pub fn allowed_lag(control_plane: Version) -> u32 {
    if control_plane >= Version::new(1, 28) {
        3
    } else {
        2
    }
}

/// Names of up to five nodes, then how many more.
fn first_names(names: &[String]) -> String {
    let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(&format!(" and {} more", names.len() - 5));
    }
    s
}

/// UP001: kubelets and kube-proxies newer than the control plane, or older than the skew the
/// target control plane allows. One finding per component and version, with the node count.
pub fn node_skew(ctx: &mut Ctx) {
    let target = ctx.target;
    let current = ctx.inv.server_version;
    let lag = allowed_lag(target);
    for (component, field) in [
        ("kubelet", "status.nodeInfo.kubeletVersion"),
        ("kube-proxy", "status.nodeInfo.kubeProxyVersion"),
    ] {
        let mut by_version: BTreeMap<Version, Vec<String>> = BTreeMap::new();
        for n in ctx.inv.of("Node") {
            if let Some(v) = n.str(field).and_then(Version::parse) {
                by_version.entry(v).or_default().push(n.name.clone());
            }
        }
        for (v, mut names) in by_version {
            names.sort();
            let problem = if current.is_some_and(|c| v > c) {
                format!(
                    "is newer than the control plane ({}): a {component} may never be newer than the API server",
                    current.map(|c| c.to_string()).unwrap_or_default()
                )
            } else if v.major == target.major && target.minor.saturating_sub(v.minor) > lag {
                format!(
                    "would be {} minor versions older than the control plane at {target} (the skew policy allows {lag}): upgrade these nodes first",
                    target.minor - v.minor
                )
            } else if v.major != target.major {
                format!("has another major version than the control plane at {target}")
            } else {
                continue;
            };
            let msg = format!(
                "{} node(s) run {component} {v}, which {problem}: {}",
                names.len(),
                first_names(&names)
            );
            ctx.report_at(
                ctx.rule.severity,
                format!("{component} {v}"),
                ctx.inv.origin.clone(),
                msg,
            );
        }
    }
}

/// An int-or-string field as (number, is a percentage).
fn int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => match s.strip_suffix('%') {
            Some(p) => p.trim().parse().ok().map(|n| (n, true)),
            None => s.trim().parse().ok().map(|n| (n, false)),
        },
        _ => None,
    }
}

fn pdb_blocks(pdb: &Obj) -> Option<String> {
    let expected = pdb.get("status.expectedPods").and_then(Value::as_i64);
    if let Some(mu) = pdb.get("spec.maxUnavailable").and_then(int_or_percent) {
        if mu.0 == 0 {
            return Some(format!(
                "maxUnavailable is {}: no pod may ever be evicted",
                if mu.1 { "0%" } else { "0" }
            ));
        }
    }
    if let Some((n, pct)) = pdb.get("spec.minAvailable").and_then(int_or_percent) {
        if pct && n >= 100 {
            return Some(format!("minAvailable is {n}%: no pod may ever be evicted"));
        }
        if let Some(e) = expected.filter(|e| *e > 0 && !pct && n >= *e) {
            return Some(format!(
                "minAvailable is {n} with {e} pod(s) expected: no pod may ever be evicted"
            ));
        }
    }
    let allowed = pdb.get("status.disruptionsAllowed").and_then(Value::as_i64);
    if let (Some(0), Some(e)) = (allowed, expected.filter(|e| *e > 0)) {
        let healthy = pdb
            .get("status.currentHealthy")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        return Some(format!(
            "disruptionsAllowed is 0 ({healthy} of {e} expected pod(s) healthy): a drain waits for it forever"
        ));
    }
    None
}

/// UP002: PodDisruptionBudgets that let no pod be evicted, so a node drain never finishes.
pub fn pdb_blocks_drain(ctx: &mut Ctx) {
    let pdbs: Vec<&Obj> = ctx.inv.of("PodDisruptionBudget").iter().collect();
    for p in pdbs {
        if let Some(why) = pdb_blocks(p) {
            ctx.report(
                p,
                format!("{why}; node drains during the upgrade stall on it"),
            );
        }
    }
}

/// UP003: Deployments with one replica in the given namespaces: each node replacement takes them
/// down.
pub fn single_replica(ctx: &mut Ctx) {
    let namespaces = ctx.list("namespaces");
    let objs: Vec<&Obj> = ctx
        .inv
        .of("Deployment")
        .iter()
        .filter(|d| {
            d.namespace
                .as_deref()
                .is_some_and(|n| namespaces.iter().any(|x| x == n))
        })
        .collect();
    for d in objs {
        // an absent spec.replicas means 1
        let replicas = d.get("spec.replicas").and_then(Value::as_i64).unwrap_or(1);
        if replicas == 1 {
            ctx.report(
                d,
                "runs 1 replica: it is down while its node is drained and replaced during the upgrade".into(),
            );
        }
    }
}
