//! `kscope lint`: choose rules, read what they need from one source, run them.

use std::path::PathBuf;

use crate::inventory::live::{self, LiveOptions, Needs};
use crate::inventory::{Inventory, Version, kinds, manifests};
use crate::rules::{
    self, ANY_KIND, LintOutcome, NEED_CR_COUNTS, NEED_HELM, NEED_METRICS, Rule, RuleParams, apis,
};

/// Where objects come from.
#[derive(Debug, Clone)]
pub enum Source {
    Files(Vec<PathBuf>, crate::inventory::yaml::Limits),
    Cluster(LiveOptions),
}

/// Everything `kscope lint` prints.
#[derive(Debug, serde::Serialize)]
pub struct LintReport {
    /// `manifests` or `cluster <context>`.
    pub source: String,
    pub target_version: Version,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<Version>,
    /// API requests made (live scans).
    pub requests: u64,
    pub objects: usize,
    pub rules: usize,
    #[serde(flatten)]
    pub outcome: LintOutcome,
    /// Documents or objects that could not be read.
    pub problems: Vec<String>,
    /// Every CRD read, with its size and (live scans) its object count: the HTML page's CRD chart.
    #[serde(skip)]
    pub crds: Vec<CrdStat>,
}

/// One CRD's weight: its own size, and how many custom objects it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdStat {
    pub name: String,
    /// The CRD object as JSON, in bytes.
    pub bytes: usize,
    /// Custom objects (counted on live clusters).
    pub objects: Option<u64>,
}

/// What a live scan must read for `rules`: their kinds, needs and reads (metadata only where the kind
/// table says so), and for `*` rules the kinds of the API removal table that kscope can list.
pub fn needs(rules: &[&Rule]) -> Needs {
    let mut n = Needs::default();
    for r in rules {
        for k in r.kinds.iter().chain(&r.needs).chain(&r.reads) {
            match k.as_str() {
                NEED_METRICS => n.metrics = true,
                NEED_CR_COUNTS => n.cr_counts = true,
                // Helm release Secrets are read only by `kscope preflight --helm`
                NEED_HELM => {}
                ANY_KIND => {
                    if let Ok(t) = apis::table() {
                        for row in &t.rows {
                            if let Some(info) = kinds::info(&row.kind) {
                                n.kinds.entry(info.kind.to_string()).or_insert(true);
                            }
                        }
                    }
                }
                kind => {
                    let meta = !r.full && kinds::info(kind).is_some_and(|i| i.metadata_only);
                    let e = n.kinds.entry(kind.to_string()).or_insert(meta);
                    *e = *e && meta;
                }
            }
        }
        if r.needs.iter().any(|k| k == NEED_CR_COUNTS) {
            n.kinds.insert("CustomResourceDefinition".into(), false);
        }
    }
    n
}

/// Reads the source; `exclude` leaves manifest files out.
pub async fn inventory(
    source: &Source,
    rules: &[&Rule],
    exclude: &dyn Fn(&std::path::Path) -> bool,
) -> anyhow::Result<Inventory> {
    Ok(match source {
        Source::Files(paths, limits) => manifests::load_excluding(paths, *limits, exclude)?,
        Source::Cluster(opts) => live::load(opts, &needs(rules)).await?,
    })
}

/// What each rule checked (the objects of its kinds) or why it did not run: JUnit's test cases.
pub fn checks(inv: &Inventory, rules: &[&Rule], outcome: &LintOutcome) -> Vec<crate::gate::Check> {
    rules
        .iter()
        .map(|r| {
            let skipped = outcome
                .skipped
                .iter()
                .find(|s| s.code == r.code)
                .map(|s| s.reason.clone())
                .or_else(|| {
                    outcome
                        .not_applicable
                        .contains(&r.code)
                        .then(|| "no objects of its kinds in the input".to_string())
                });
            let subjects = if skipped.is_some() || r.kinds.iter().any(|k| k == ANY_KIND) {
                Vec::new()
            } else {
                r.kinds
                    .iter()
                    .flat_map(|k| inv.of(k))
                    .map(|o| o.display())
                    .collect()
            };
            crate::gate::Check {
                code: r.code.clone(),
                name: r.name.clone(),
                subjects,
                skipped,
            }
        })
        .collect()
}

/// The version findings are judged against: `--target-version`, else the cluster's version, else
/// the newest Kubernetes the API table knows.
pub fn target(inv: &Inventory, arg: Option<Version>) -> anyhow::Result<Version> {
    if let Some(v) = arg {
        return Ok(v);
    }
    if let Some(v) = inv.server_version {
        return Ok(v);
    }
    Ok(apis::table()?.newest)
}

pub fn run(inv: &Inventory, rules: &[&Rule], target: Version, params: &RuleParams) -> LintReport {
    let outcome = rules::run(rules, inv, target, params);
    LintReport {
        source: inv.origin.clone(),
        target_version: target,
        server_version: inv.server_version,
        requests: inv.requests,
        objects: inv.all().count(),
        rules: rules.len(),
        outcome,
        problems: inv.problems.clone(),
        crds: inv
            .of("CustomResourceDefinition")
            .iter()
            .map(|c| CrdStat {
                name: c.name.clone(),
                bytes: c.size,
                objects: inv
                    .cr_counts
                    .as_ref()
                    .and_then(|cs| cs.iter().find(|x| x.crd == c.name))
                    .and_then(|x| x.count),
            })
            .collect(),
    }
}
