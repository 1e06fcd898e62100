//! What workloads carry into an upgrade: pod templates with volume types a release disables,
//! container images of retired projects, Services with fields a release deprecates, kube-proxy's
//! mode. Read from pod templates of Deployments, StatefulSets, DaemonSets, Jobs, CronJobs (and
//! bare Pods in manifests).

use serde_json::Value;

use crate::inventory::Obj;
use crate::rules::Ctx;

/// Kinds whose objects hold a pod template (or are pods).
pub const WORKLOADS: [&str; 6] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
];

/// The pod spec of a workload (a Pod's own spec, a template's, a CronJob's job template's).
pub fn pod_spec(obj: &Obj) -> Option<&Value> {
    match obj.kind.as_str() {
        "Pod" => obj.get("spec"),
        "CronJob" => obj.get("spec.jobTemplate.spec.template.spec"),
        _ => obj.get("spec.template.spec"),
    }
}

fn workloads<'a>(ctx: &Ctx<'a>) -> Vec<&'a Obj> {
    WORKLOADS
        .iter()
        .flat_map(|k| ctx.inv.of(k).iter())
        .collect()
}

/// Every container of a pod spec (init and ephemeral too).
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|f| spec.get(f).and_then(Value::as_array))
        .flatten()
}

/// UP007 and the like: pod templates with a volume of type `volume` (`gitRepo`).
pub fn pod_volume(ctx: &mut Ctx) {
    let volume = ctx.text("volume");
    let since = ctx.since();
    for obj in workloads(ctx) {
        let Some(spec) = pod_spec(obj) else { continue };
        let names: Vec<&str> = spec
            .get("volumes")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.get(&volume).is_some())
                    .filter_map(|v| v.get("name").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            continue;
        }
        ctx.report(
            obj,
            format!(
                "its pods mount {} {volume} volume(s) ({}), which the kubelet does not mount from \
                 {since}: the pods fail to start after the nodes are upgraded",
                names.len(),
                names.join(", ")
            ),
        );
    }
}

/// Containers whose image is one of `images` (repository prefixes), described by `what`.
pub fn container_image(ctx: &mut Ctx) {
    let images = ctx.list("images");
    let what = ctx.text("what");
    for obj in workloads(ctx) {
        let Some(spec) = pod_spec(obj) else { continue };
        let found: Vec<&str> = containers(spec)
            .filter_map(|c| c.get("image").and_then(Value::as_str))
            .filter(|img| images.iter().any(|p| img.starts_with(p.as_str())))
            .collect();
        if let Some(img) = found.first() {
            ctx.report(obj, format!("runs {img}: {what}"));
        }
    }
}

/// Services with `spec.externalIPs`.
pub fn service_external_ips(ctx: &mut Ctx) {
    let services: Vec<&Obj> = ctx.inv.of("Service").iter().collect();
    for s in services {
        let ips: Vec<&str> = s
            .get("spec.externalIPs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if ips.is_empty() {
            continue;
        }
        ctx.report(
            s,
            format!(
                "sets spec.externalIPs ({}), which Kubernetes deprecates: any user who can create \
                 Services can claim an IP this way (CVE-2020-8554)",
                ips.join(", ")
            ),
        );
    }
}

/// kube-proxy started in `mode` (`ipvs`), from its DaemonSet's command line or the config file
/// of a kube-proxy ConfigMap in the manifests.
pub fn kube_proxy_mode(ctx: &mut Ctx) {
    let mode = ctx.text("mode");
    let since = ctx.since();
    let flag = format!("--proxy-mode={mode}");
    let mut hits: Vec<(&Obj, String)> = Vec::new();
    for ds in ctx.inv.of("DaemonSet") {
        if !ds.name.starts_with("kube-proxy") {
            continue;
        }
        let Some(spec) = pod_spec(ds) else { continue };
        let uses = containers(spec).any(|c| {
            ["command", "args"].iter().any(|f| {
                c.get(*f).and_then(Value::as_array).is_some_and(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .any(|s| s == flag || s.split_whitespace().any(|w| w == flag))
                })
            })
        });
        if uses {
            hits.push((ds, format!("its command line sets {flag}")));
        }
    }
    for cm in ctx.inv.of("ConfigMap") {
        if !cm.name.starts_with("kube-proxy") {
            continue;
        }
        let Some(data) = cm.get("data").and_then(Value::as_object) else {
            continue;
        };
        let set = data.values().filter_map(Value::as_str).any(|text| {
            text.lines().any(|l| {
                let l = l.trim();
                l.strip_prefix("mode:")
                    .map(|v| v.trim().trim_matches(['"', '\'']) == mode)
                    .unwrap_or(false)
            })
        });
        if set {
            hits.push((cm, format!("its configuration sets mode: {mode}")));
        }
    }
    for (obj, how) in hits {
        ctx.report(
            obj,
            format!("kube-proxy runs in {mode} mode ({how}), which Kubernetes deprecates from {since}: plan the move to nftables (or iptables)"),
        );
    }
}

/// The SELinux label a pod spec asks for (`user:role:type:level`, empty parts left out), unless
/// it opts out of mount-time labelling (`seLinuxChangePolicy: Recursive`).
fn selinux_label(spec: &Value) -> Option<String> {
    let sc = spec.get("securityContext");
    if sc
        .and_then(|s| s.get("seLinuxChangePolicy"))
        .and_then(Value::as_str)
        == Some("Recursive")
    {
        return None;
    }
    let opts = sc.and_then(|s| s.get("seLinuxOptions")).or_else(|| {
        containers(spec).find_map(|c| {
            c.get("securityContext")
                .and_then(|s| s.get("seLinuxOptions"))
        })
    })?;
    let part = |k: &str| opts.get(k).and_then(Value::as_str).unwrap_or("");
    Some(format!(
        "{}:{}:{}:{}",
        part("user"),
        part("role"),
        part("type"),
        part("level")
    ))
}

/// UP015: with SELinuxMount (GA in 1.37) a volume of a CSI driver that declares `seLinuxMount:
/// true` is mounted with one SELinux context; workloads that share a claim with different labels
/// then fail to start.
pub fn selinux_mount(ctx: &mut Ctx) {
    let since = ctx.since();
    let drivers: Vec<String> = ctx
        .inv
        .of("CSIDriver")
        .iter()
        .filter(|d| d.get("spec.seLinuxMount").and_then(Value::as_bool) == Some(true))
        .map(|d| d.name.clone())
        .collect();
    if drivers.is_empty() {
        return;
    }
    // (namespace, claim) → [(workload, label)]
    let mut by_claim: std::collections::BTreeMap<(String, String), Vec<(&Obj, String)>> =
        Default::default();
    for obj in workloads(ctx) {
        let Some(spec) = pod_spec(obj) else { continue };
        let Some(label) = selinux_label(spec) else {
            continue;
        };
        for v in spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(claim) = v
                .get("persistentVolumeClaim")
                .and_then(|p| p.get("claimName"))
                .and_then(Value::as_str)
            {
                by_claim
                    .entry((obj.namespace.clone().unwrap_or_default(), claim.to_string()))
                    .or_default()
                    .push((obj, label.clone()));
            }
        }
    }
    let mut found: Vec<(&Obj, String)> = Vec::new();
    for ((_, claim), users) in by_claim {
        let labels: std::collections::BTreeSet<&str> =
            users.iter().map(|(_, l)| l.as_str()).collect();
        if labels.len() < 2 {
            continue;
        }
        for (obj, label) in &users {
            let others: Vec<String> = users
                .iter()
                .filter(|(o, l)| l != label && o.display() != obj.display())
                .map(|(o, l)| format!("{} ({l})", o.display()))
                .collect();
            found.push((
                obj,
                format!(
                    "mounts claim {claim} with SELinux label {label}; it is also mounted with another label by {}; \
                     from {since} (SELinuxMount GA) a volume of a CSI driver with seLinuxMount: true \
                     ({}) is mounted with one context, so pods with another label fail to start",
                    others.join(", "),
                    drivers.join(", ")
                ),
            ));
        }
    }
    for (obj, msg) in found {
        ctx.report(obj, msg);
    }
}
