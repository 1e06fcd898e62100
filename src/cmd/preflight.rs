//! `kscope preflight`: reads every source asked for (live cluster, Helm releases, manifests, audit
//! log, /metrics), hands what it found to the preflight engine and renders the verdict.

use std::io::Write;

use anyhow::{Context, Result, bail};

use super::input::{gather, report_input_problems};
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
fn needs(risk: &[&Rule], helm: bool) -> Result<live::Needs> {
    let mut all: Vec<&Rule> = risk.to_vec();
    all.extend(preflight::api_rules());
    let mut n = lint::needs(&all);
    n.metrics = true;
    n.helm = helm;
    Ok(n)
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
    let mut uses = Uses::default();
    let mut nc: Vec<NotChecked> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let mut fully_read = true;

    // the live cluster: objects, nodes, /metrics, Helm releases
    let live_inv: Option<Inventory> = if a.no_cluster {
        nc.push(not_checked(
            "live cluster",
            "not read (--no-cluster): live objects, node versions, webhooks, APIServices, \
             PodDisruptionBudgets, Helm releases and the /metrics gauge were not checked",
        ));
        None
    } else {
        let inv = live::load(&a.cluster.live_options(), &needs(&risk, a.helm)?).await?;
        uses.live_objects(&inv);
        match &inv.metrics {
            Some(Ok(text)) => uses.metrics(&metrics::requested(text)),
            Some(Err(e)) => nc.push(not_checked(
                "/metrics gauge apiserver_requested_deprecated_apis",
                e.clone(),
            )),
            None => {}
        }
        match &inv.helm {
            None => nc.push(not_checked(
                "Helm releases",
                "not read: add --helm (needs list on Secrets of type helm.sh/release.v1)",
            )),
            Some(Err(e)) => nc.push(not_checked("Helm releases", e.clone())),
            Some(Ok(releases)) => {
                for r in releases {
                    let objs = r.objects(limits);
                    problems.extend(objs.problems.iter().cloned());
                    uses.objects(&objs, |o| Evidence::Helm {
                        release: r.id(),
                        chart: r.chart.clone(),
                        revision: r.revision,
                        origin: o.origin.clone(),
                    });
                }
                sources.push(format!("{} Helm release(s)", releases.len()));
            }
        }
        problems.extend(inv.problems.iter().cloned());
        sources.insert(
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
        Some(inv)
    };

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

    // manifest files
    let files_inv: Option<Inventory> = if a.files.is_empty() {
        None
    } else {
        let mut inv = manifests::load_excluding(&a.files, limits, &|f| cfg.ignores_file(f))?;
        inv.server_version = Some(from);
        uses.objects(&inv, |o| Evidence::Manifest {
            origin: o.origin.clone(),
        });
        problems.extend(inv.problems.iter().cloned());
        sources.push(format!("manifests ({} objects)", inv.all().count()));
        Some(inv)
    };

    // the audit log: raw logs or CloudWatch, or the Parquet store
    if let Some((store, sel, opts)) = super::input::store_input(&a.store, &a.input).await? {
        let (rows, stats) = preflight::audit::callers_store(&store, &sel, opts)
            .await
            .context("cannot read the audit store")?;
        uses.audit(&rows, from);
        sources.push(format!(
            "audit store {} ({} caller rows)",
            store.spec, stats.events
        ));
    } else if a.audit.is_empty() && !a.input.cloudwatch.wanted() {
        nc.push(not_checked(
            "runtime callers (audit log)",
            "no audit source given (--audit FILES, --cluster NAME or --store): clients that call \
             removed APIs without a manifest kscope can see were not checked",
        ));
    } else {
        let input = gather(&a.audit, &a.input, AUDIT_HOURS).await?;
        let origin = input.origin.clone();
        let dir_problems = input.problems.clone();
        let (rows, mut stats) = preflight::audit::callers(input.sources, input.opts)
            .await
            .context("cannot read the audit log")?;
        stats.read_errors.extend(dir_problems);
        report_input_problems(&stats);
        fully_read &= stats.fully_read();
        uses.audit(&rows, from);
        sources.push(format!("{origin} ({} requests)", stats.events));
    }

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
