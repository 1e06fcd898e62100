//! Upgrade risks: node version skew, PodDisruptionBudgets that block every drain, single-replica
//! system Deployments. `kscope preflight` runs them per hop; `kscope lint` against the current
//! (or `--target-version`) control plane.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::inventory::kubelet::KubeletReport;
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
            // after a rollback the control plane is the (older) target
            let control_plane = current.map(|c| c.min(target));
            let problem = if control_plane.is_some_and(|c| v > c) {
                format!(
                    "is newer than the control plane ({}): a {component} may never be newer than the API server",
                    control_plane.map(|c| c.to_string()).unwrap_or_default()
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

/// Nodes grouped by a value of theirs: (value, names sorted).
fn nodes_by(ctx: &Ctx, value: impl Fn(&Obj) -> Option<String>) -> BTreeMap<String, Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in ctx.inv.of("Node") {
        if let Some(v) = value(n) {
            by.entry(v).or_default().push(n.name.clone());
        }
    }
    for names in by.values_mut() {
        names.sort();
    }
    by
}

/// `containerd://1.7.27` → (`containerd`, 1, 7).
fn runtime_version(s: &str) -> Option<(String, u64, u64)> {
    let (name, ver) = s.split_once("://")?;
    let mut parts = ver.trim_start_matches('v').split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((name.to_string(), major, minor))
}

/// UP004: nodes whose container runtime (`status.nodeInfo.containerRuntimeVersion`) is older
/// than `min_major`: losing support (a warning) until the release `removed_in`, unsupported (the
/// rule's severity) from it.
pub fn node_runtime(ctx: &mut Ctx) {
    let runtime = ctx.text("runtime");
    let min_major = ctx.num("min_major") as u64;
    let removed_in = Version::parse(&ctx.text("removed_in"));
    let target = ctx.target;
    let gone = removed_in.is_none_or(|r| target >= r);
    let by = nodes_by(ctx, |n| {
        n.str("status.nodeInfo.containerRuntimeVersion")
            .map(String::from)
    });
    for (version, names) in by {
        let Some((name, major, _)) = runtime_version(&version) else {
            continue;
        };
        if name != runtime || major >= min_major {
            continue;
        }
        let (severity, state) = if gone {
            (
                ctx.rule.severity,
                format!(
                    "from {} the kubelet needs {runtime} {min_major}.0 or newer",
                    removed_in.unwrap_or(target)
                ),
            )
        } else {
            (
                crate::finding::Severity::Warning,
                format!(
                    "{runtime} {major}.x is losing support (removed in {})",
                    removed_in.map(|r| r.to_string()).unwrap_or_default()
                ),
            )
        };
        let said = kubelets_of(ctx, &names)
            .into_iter()
            .find_map(|r| {
                r.cri_losing_support.as_ref().map(|v| {
                    format!(
                        " (the kubelet of node {} reports kubelet_cri_losing_support{{version=\"{v}\"}})",
                        r.node
                    )
                })
            })
            .unwrap_or_default();
        let msg = format!(
            "{} node(s) run {version}; {state}{said}: move these nodes to a {runtime} {min_major} image: {}",
            names.len(),
            first_names(&names)
        );
        ctx.report_at(
            severity,
            format!("{name} {major}.x nodes"),
            ctx.inv.origin.clone(),
            msg,
        );
    }
}

/// How a node's cgroup version is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupEvidence {
    /// From its OS image, by the table in `rules/data/node-os.yaml` (the row's note).
    Image { cgroup: u8, why: String },
    /// From the kubelet's `kubelet_cgroup_version` gauge, read on `node`.
    Kubelet { cgroup: u8, node: String },
    /// Neither the kubelet's report nor the OS image tells.
    Unknown,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OsRow {
    /// A regular expression over `status.nodeInfo.osImage`.
    image: String,
    /// 1, 2, or absent when the image does not settle it.
    #[serde(default)]
    cgroup: Option<u8>,
    note: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OsTable {
    images: Vec<OsRow>,
}

/// A row of the OS table, compiled: the image pattern, the cgroup version, the note.
type OsImage = (regex::Regex, Option<u8>, String);

static OS: std::sync::LazyLock<Result<Vec<OsImage>, String>> = std::sync::LazyLock::new(|| {
    let t: OsTable = crate::rules::data::load("node-os.yaml").map_err(|e| e.to_string())?;
    t.images
        .into_iter()
        .map(|r| {
            regex::Regex::new(&r.image)
                .map(|re| (re, r.cgroup, r.note))
                .map_err(|e| format!("rules/data/node-os.yaml: {}: {e}", r.image))
        })
        .collect()
});

/// The cgroup version of a node, from the first row of the OS table its image matches.
pub fn cgroup_of(os_image: &str) -> CgroupEvidence {
    let Ok(rows) = OS.as_ref() else {
        return CgroupEvidence::Unknown;
    };
    match rows.iter().find(|(re, _, _)| re.is_match(os_image)) {
        Some((_, Some(c), note)) => CgroupEvidence::Image {
            cgroup: *c,
            why: note.clone(),
        },
        _ => CgroupEvidence::Unknown,
    }
}

/// The kubelet reports (`preflight --kubelet`) read from any of `names`.
fn kubelets_of<'a>(ctx: &'a Ctx, names: &[String]) -> Vec<&'a KubeletReport> {
    match &ctx.inv.kubelets {
        Some(Ok(reports)) => reports.iter().filter(|r| names.contains(&r.node)).collect(),
        _ => Vec::new(),
    }
}

/// The cgroup version of a group of nodes on one OS image: the kubelets' own
/// `kubelet_cgroup_version` where read (any v1 wins), else the image table.
fn cgroup_of_group(image: &str, reports: &[&KubeletReport]) -> CgroupEvidence {
    let said: Vec<(&str, u8)> = reports
        .iter()
        .filter_map(|r| r.cgroup_version.map(|c| (r.node.as_str(), c)))
        .collect();
    if let Some((node, _)) = said.iter().find(|(_, c)| *c == 1) {
        return CgroupEvidence::Kubelet {
            cgroup: 1,
            node: node.to_string(),
        };
    }
    match said.first() {
        Some((node, c)) => CgroupEvidence::Kubelet {
            cgroup: *c,
            node: node.to_string(),
        },
        None => cgroup_of(image),
    }
}

/// UP005: nodes on cgroup v1, which the kubelet of the target release refuses by default; nodes
/// whose cgroup version cannot be told are reported as not verified (`condition: unverified`).
/// The kubelet's own metric (`--kubelet`) settles it where read; a kubelet configured with
/// `failCgroupV1: false` still starts, so its nodes are a warning, not a blocker.
pub fn node_cgroup(ctx: &mut Ctx) {
    let unverified = ctx.text("condition") == "unverified";
    let since = ctx.since();
    let by = nodes_by(ctx, |n| n.str("status.nodeInfo.osImage").map(String::from));
    for (image, names) in by {
        let reports = kubelets_of(ctx, &names);
        let evidence = cgroup_of_group(&image, &reports);
        let overridden = reports.iter().any(|r| r.fail_cgroup_v1() == Some(false));
        let v1 = |why: &str| {
            format!(
                "{} node(s) run {image:?}, which uses cgroup v1 ({why}); from {since} the kubelet \
                 does not start on cgroup v1 by default: move them to an image on cgroup v2 first: {}",
                names.len(),
                first_names(&names)
            )
        };
        let (severity, msg) = match (evidence, unverified) {
            (CgroupEvidence::Image { cgroup: 1, why }, false) => (ctx.rule.severity, v1(&why)),
            (CgroupEvidence::Kubelet { cgroup: 1, node }, false) if overridden => (
                crate::finding::Severity::Warning,
                format!(
                    "{} node(s) run {image:?} on cgroup v1 (kubelet_cgroup_version of node {node}); \
                     their kubelet sets failCgroupV1: false, so it still starts from {since}, but \
                     cgroup v1 is deprecated and will be removed: plan the move to cgroup v2: {}",
                    names.len(),
                    first_names(&names)
                ),
            ),
            (CgroupEvidence::Kubelet { cgroup: 1, node }, false) => (
                ctx.rule.severity,
                v1(&format!("kubelet_cgroup_version of node {node}")),
            ),
            (CgroupEvidence::Unknown, true) => (
                ctx.rule.severity,
                format!(
                    "{} node(s) run {image:?}: its cgroup version could not be verified from the OS image \
                     (from {since} the kubelet does not start on cgroup v1 by default); check with \
                     `stat -fc %T /sys/fs/cgroup` on one of them (cgroup2fs is v2), or run preflight \
                     with --kubelet to read kubelet_cgroup_version: {}",
                    names.len(),
                    first_names(&names)
                ),
            ),
            _ => continue,
        };
        ctx.report_at(
            severity,
            format!("nodes on {image}"),
            ctx.inv.origin.clone(),
            msg,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_versions_and_os_images() {
        assert_eq!(
            runtime_version("containerd://1.7.27"),
            Some(("containerd".into(), 1, 7))
        );
        assert_eq!(
            runtime_version("containerd://2.0.5-1.eks"),
            Some(("containerd".into(), 2, 0))
        );
        assert_eq!(runtime_version("docker-ish"), None);
        assert!(matches!(
            cgroup_of("Amazon Linux 2"),
            CgroupEvidence::Image { cgroup: 1, .. }
        ));
        assert!(matches!(
            cgroup_of("Amazon Linux 2023.6.20250115"),
            CgroupEvidence::Image { cgroup: 2, .. }
        ));
        assert_eq!(cgroup_of("Some Unknown Linux 7"), CgroupEvidence::Unknown);
    }
}
