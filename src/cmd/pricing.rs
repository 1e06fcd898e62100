//! Gathers what the APF estimate rests on (`--context`, `--apf-config`, `--object-stats`,
//! `--server-version`, `--server-seats`) and hands it to the estimator before any query is planned.

use std::collections::HashMap;

use anyhow::{Context, Result};

use crate::apf::{self, Pricing};
use crate::cli::PricingArgs;
use crate::inventory::{Inventory, live, manifests};

pub async fn prepare(a: &PricingArgs) -> Result<()> {
    let mut objects_from = String::new();
    let mut inv = Inventory::default();
    let mut stats = HashMap::new();
    let mut version = a
        .server_version
        .map(|v| (v, "--server-version".to_string()));
    let mut notes = Vec::new();
    let mut unread = Vec::new();
    if a.context.is_some() || a.kubeconfig.is_some() {
        let opts = live::LiveOptions {
            kubeconfig: a.kubeconfig.clone(),
            context: a.context.clone().filter(|c| !c.is_empty()),
            ..Default::default()
        };
        let mut needs = live::Needs::default();
        for k in ["FlowSchema", "PriorityLevelConfiguration"] {
            needs.kinds.insert(k.to_string(), false);
        }
        needs.metrics = true;
        let live = live::load(&opts, &needs).await?;
        if version.is_none() {
            version = live
                .server_version
                .map(|v| (v, format!("{} /version", live.origin)));
        }
        match &live.metrics {
            Some(Ok(text)) => {
                stats = apf::stats_from_metrics(text);
                notes.push(format!(
                    "object counts from {} /metrics ({} resources)",
                    live.origin,
                    stats.len()
                ));
            }
            Some(Err(e)) => notes.push(format!("object counts: {} /metrics: {e}", live.origin)),
            None => {}
        }
        for k in ["FlowSchema", "PriorityLevelConfiguration"] {
            if let crate::inventory::Availability::Missing(why) = live.availability(k) {
                // said, not hidden: the estimate then rests on the server's default objects
                unread.push(format!("APF objects: {k} of {}: {why}", live.origin));
            }
        }
        // half a configuration would classify wrongly: without both kinds, the server's own
        // objects are used (and the reason said)
        if unread.is_empty() {
            objects_from = live.origin.clone();
            inv = live;
        }
    }
    if !a.apf_config.is_empty() {
        let files = manifests::load(&a.apf_config).context("cannot read --apf-config")?;
        for p in &files.problems {
            tracing::warn!("--apf-config: {p}");
        }
        objects_from = format!("--apf-config ({} objects)", files.all().count());
        inv = files;
    }
    if let Some(p) = &a.object_stats {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read --object-stats {}", p.display()))?;
        stats = apf::stats_from_file(&text)
            .map_err(|e| anyhow::anyhow!("--object-stats {}: {e}", p.display()))?;
        notes.push(format!(
            "object counts from --object-stats {} ({} resources)",
            p.display(),
            stats.len()
        ));
    }
    let objs: Vec<&crate::inventory::Obj> = inv.all().collect();
    let mut pricing = Pricing::new(&objs, &objects_from, stats, a.server_seats, version);
    if !notes.is_empty() {
        // the named sources replace the generic line about counts
        pricing.sources.truncate(1);
        pricing.sources.extend(notes);
    }
    pricing.sources.extend(unread);
    apf::set_current(pricing);
    Ok(())
}
