//! `kscope preflight`: reads every source asked for (live cluster, Helm releases, manifests, audit
//! log, /metrics), hands what it found to the preflight engine and renders the verdict.

use std::io::Write;

use anyhow::{Context, Result, bail};

use super::input::{Audit, report_input_problems};
use super::{Outcome, gate};
use crate::catalogue::{Entry, Overrides};
use crate::cli::PreflightArgs;
use crate::gate::config::Config;
use crate::gate::{Check, Objects};
use crate::inventory::{Inventory, Version, live, manifests};
use crate::lint;
use crate::preflight::{self, Evidence, Inputs, NotChecked, Plan, Uses, metrics};
use crate::render;
use crate::rules::{self, Rule};

/// The CloudWatch window preflight reads by default: 30 days, like EKS upgrade insights.
const AUDIT_HOURS: i64 = 30 * 24;

fn not_checked(check: &str, reason: impl Into<String>) -> NotChecked {
    NotChecked {
        check: check.into(),
        reason: reason.into(),
    }
}

/// What a live scan reads for preflight: the risk rules' kinds, every kind of the API removal
/// table (metadata: managedFields and last-applied), `/metrics`, and Helm releases when asked.
fn needs(risk: &[&Rule], helm: bool, kubelet: bool) -> Result<live::Needs> {
    let mut all: Vec<&Rule> = risk.to_vec();
    all.extend(preflight::api_rules());
    let mut n = lint::needs(&all);
    n.metrics = true;
    n.helm = helm;
    n.kubelet = kubelet;
    Ok(n)
}

/// What the sources gave, gathered one source at a time.
#[derive(Default)]
struct Gathered {
    uses: Uses,
    not_checked: Vec<NotChecked>,
    problems: Vec<String>,
    sources: Vec<String>,
    fully_read: bool,
}

/// The live cluster: objects, nodes, `/metrics` and, with `--helm`, Helm releases.
async fn read_cluster(
    a: &PreflightArgs,
    target: Version,
    risk: &[&Rule],
    limits: crate::inventory::yaml::Limits,
    g: &mut Gathered,
) -> Result<Option<Inventory>> {
    if a.no_cluster {
        g.not_checked.push(not_checked(
            "live cluster",
            "not read (--no-cluster): live objects, node versions, webhooks, APIServices, \
             PodDisruptionBudgets, Helm releases and the /metrics gauge were not checked",
        ));
        return Ok(None);
    }
    let inv = live::load(&a.cluster.live_options(), &needs(risk, a.helm, a.kubelet)?).await?;
    g.uses.live_objects(&inv);
    match &inv.metrics {
        Some(Ok(text)) => g.uses.metrics(&metrics::requested(text)),
        Some(Err(e)) => g.not_checked.push(not_checked(
            "/metrics gauge apiserver_requested_deprecated_apis",
            e.clone(),
        )),
        None => {}
    }
    read_helm(&inv, limits, g);
    read_kubelets(&inv, target, g);
    g.problems.extend(inv.problems.iter().cloned());
    g.sources.insert(
        0,
        format!(
            "{} ({}; {} API requests)",
            inv.origin,
            inv.server_version
                .map(|v| format!("server {v}"))
                .unwrap_or_else(|| "server version unknown".into()),
            inv.requests
        ),
    );
    Ok(Some(inv))
}

/// The Helm releases the cluster scan read: the objects of each release's rendered manifest.
fn read_helm(inv: &Inventory, limits: crate::inventory::yaml::Limits, g: &mut Gathered) {
    match &inv.helm {
        None => g.not_checked.push(not_checked(
            "Helm releases",
            "not read: add --helm (needs list on Secrets of type helm.sh/release.v1)",
        )),
        Some(Err(e)) => g.not_checked.push(not_checked("Helm releases", e.clone())),
        Some(Ok(releases)) => {
            for r in releases {
                let objs = r.objects(limits);
                g.problems.extend(objs.problems.iter().cloned());
                g.uses.objects(&objs, |o| Evidence::Helm {
                    release: r.id(),
                    chart: r.chart.clone(),
                    revision: r.revision,
                    origin: o.origin.clone(),
                });
            }
            g.sources
                .push(format!("{} Helm release(s)", releases.len()));
        }
    }
}

/// What the kubelets said through the node proxy (`--kubelet`), and what could not be checked
/// without it or where it failed.
fn read_kubelets(inv: &Inventory, target: Version, g: &mut Gathered) {
    const CHECK: &str = "kubelet configuration and metrics (nodes/proxy)";
    // what the kubelets report concerns hops to 1.35 and later (failCgroupV1, the gates removed
    // from 1.35 on, containerd 1.x)
    const MATTERS_FROM: Version = Version::new(1, 35);
    match &inv.kubelets {
        None if target < MATTERS_FROM => {}
        None => g.not_checked.push(not_checked(
            CHECK,
            "not read: add --kubelet (needs get on nodes/proxy, which kscope never uses by default): \
             the kubelets' own feature gates and failCgroupV1 (configz), kubelet_cgroup_version and \
             kubelet_cri_losing_support (metrics) were not checked; cgroup and runtime were judged \
             from the nodes' reports",
        )),
        Some(Err(e)) => g.not_checked.push(not_checked(CHECK, e.clone())),
        Some(Ok(reports)) => {
            let nodes: usize = reports.iter().map(|r| r.group.len()).sum();
            for r in reports {
                let failed: Vec<&str> = [r.config.as_ref().err(), r.metrics_error.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                if !failed.is_empty() {
                    g.not_checked.push(not_checked(
                        &format!("kubelet of node {} ({} node(s))", r.node, r.group.len()),
                        failed.join("; "),
                    ));
                }
            }
            g.sources.push(format!(
                "{} kubelet(s) read through the node proxy, standing for {nodes} node(s)",
                reports.len()
            ));
        }
    }
}

/// Manifest files (`-f`), judged as of the current version `from`.
fn read_manifests(
    a: &PreflightArgs,
    cfg: &Config,
    limits: crate::inventory::yaml::Limits,
    from: Version,
    g: &mut Gathered,
) -> Result<Option<Inventory>> {
    if a.files.is_empty() {
        return Ok(None);
    }
    let mut inv = manifests::load_excluding(&a.files, limits, &|f| cfg.ignores_file(f))?;
    inv.server_version = Some(from);
    g.uses.objects(&inv, |o| Evidence::Manifest {
        origin: o.origin.clone(),
    });
    g.problems.extend(inv.problems.iter().cloned());
    g.sources
        .push(format!("manifests ({} objects)", inv.all().count()));
    Ok(Some(inv))
}

/// The audit log: raw logs or CloudWatch Logs, or the Parquet store.
async fn read_audit(a: &PreflightArgs, from: Version, g: &mut Gathered) -> Result<()> {
    if a.store.store.is_none() && a.audit.is_empty() && !a.input.cloudwatch.wanted() {
        g.not_checked.push(not_checked(
            "runtime callers (audit log)",
            "no audit source given (--audit FILES, --cluster NAME or --store): clients that call \
             removed APIs without a manifest kscope can see were not checked",
        ));
        return Ok(());
    }
    match super::input::audit(&a.audit, &a.store, &a.input, None, AUDIT_HOURS).await? {
        Audit::Store {
            store, sel, opts, ..
        } => {
            let (rows, stats) = preflight::audit::callers_store(&store, &sel, opts)
                .await
                .context("cannot read the audit store")?;
            g.uses.audit(&rows, from);
            g.sources.push(format!(
                "audit store {} ({} caller rows)",
                store.spec, stats.events
            ));
        }
        Audit::Raw(input) => {
            let origin = input.origin.clone();
            let dir_problems = input.problems.clone();
            let (rows, mut stats) = preflight::audit::callers(input.sources, input.opts)
                .await
                .context("cannot read the audit log")?;
            stats.read_errors.extend(dir_problems);
            report_input_problems(&stats);
            g.fully_read &= stats.fully_read();
            g.uses.audit(&rows, from);
            g.sources
                .push(format!("{origin} ({} requests)", stats.events));
        }
    }
    Ok(())
}

pub async fn run(a: PreflightArgs, cfg: &Config, out: &mut dyn Write) -> Result<Outcome> {
    let (only, skip) = gate::selection(&[], &a.select.skip, &cfg.rules);
    // an upgrade runs the upgrade risks; a rollback what the older release lacks, and node skew
    let rollback = a.rollback_to.is_some();
    let risk: Vec<&Rule> = rules::select(&only, &skip)?
        .into_iter()
        .filter(|r| match r.preflight {
            Some(rules::Gate::RollbackBlocker) => rollback,
            Some(_) => !rollback || r.check == "node-version-skew",
            None => false,
        })
        .collect();
    let params = Overrides::parse(&gate::params(cfg, &risk, &a.params.params), &risk)?;
    let target = match a.rollback_to {
        Some(to) => to,
        None => a.target_version.or(cfg.target_version()).context(
            "--target-version is required (or target_version in .kscope.yaml): the version to upgrade to",
        )?,
    };
    let plan_of = |from: Version| {
        if rollback {
            Plan::rollback(from, target)
        } else {
            Plan::new(from, target)
        }
    };
    if let Some(from) = a.from_version {
        // fail before reading anything
        plan_of(from).map_err(anyhow::Error::msg)?;
    }
    let limits = a.limits.limits();
    let mut g = Gathered {
        fully_read: true,
        ..Gathered::default()
    };
    let live_inv = read_cluster(&a, target, &risk, limits, &mut g).await?;
    let from = match (
        a.from_version,
        live_inv.as_ref().and_then(|i| i.server_version),
    ) {
        (Some(f), Some(s)) if f != s => {
            tracing::warn!("--from-version {f} overrides the cluster's version {s}");
            f
        }
        (Some(f), _) => f,
        (None, Some(s)) => s,
        (None, None) => bail!("the cluster's version is unknown: give --from-version 1.NN"),
    };
    let plan = plan_of(from).map_err(anyhow::Error::msg)?;
    let files_inv = read_manifests(&a, cfg, limits, from, &mut g)?;
    read_audit(&a, from, &mut g).await?;
    let Gathered {
        uses,
        not_checked: nc,
        problems,
        sources,
        mut fully_read,
    } = g;

    let _ = crate::render::stderr::problems("invalid", &problems, &mut std::io::stderr());
    fully_read &= problems.is_empty();
    let scanned: Vec<&Inventory> = live_inv.iter().chain(files_inv.iter()).collect();
    let objects = Objects::from_inventories(&scanned);
    let report = preflight::evaluate(
        plan,
        Inputs {
            scanned,
            uses: uses.into_vec(),
            not_checked: nc,
            problems,
            source: sources.join("; "),
            api_sources: sources.clone(),
        },
        &risk,
        &params,
    );
    tracing::info!(
        "preflight: {} hop(s), {} item(s), verdict {}",
        report.hops.len(),
        report.items.len(),
        report.verdict
    );
    let mut report = report;
    let gated = gate::apply(&a.output, cfg, objects, report.findings())?;
    report.regate(&gated);
    let mut described: Vec<_> = risk.iter().map(|r| r.describe()).collect();
    described.extend(preflight::api_rules().iter().map(|r| r.describe()));
    described.extend(gate::suppression_rules());
    let checks: Vec<Check> = described
        .iter()
        .map(|d| Check {
            code: d.code.clone(),
            name: d.name.clone(),
            subjects: Vec::new(),
            skipped: None,
        })
        .collect();
    let doc = gate::document(&a.output, "preflight", &gated, &described, &checks);
    let doc = render::build::preflight(doc, &report, &gated.all);
    gate::emit(&a.output, &doc, out)?;
    // an UNKNOWN verdict (hops past the reviewed release, no known blocker) is not a pass
    let judged = report.verdict != preflight::Verdict::Unknown;
    Ok(gate::outcome(&a.output, cfg, fully_read && judged, &gated))
}
