//! The rule engine: rules described in `rules/*.yaml` (embedded), checks in [`checks`], run over an
//! [`Inventory`], producing [`Finding`]s.

pub mod apis;
pub mod checks;
pub mod data;

use std::collections::{BTreeMap, BTreeSet};

use crate::catalogue::{self, CatalogueError, Entry, ParamDef};
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use crate::finding::{Finding, Severity, Subject};
use crate::inventory::{Availability, Inventory, Obj, Version, kinds, yaml};

include!(concat!(env!("OUT_DIR"), "/rules.rs"));

/// Needs that are not kinds.
pub const NEED_METRICS: &str = "metrics";
pub const NEED_CR_COUNTS: &str = "custom-object-counts";
/// The deployed Helm releases (`kscope preflight --helm`).
pub const NEED_HELM: &str = "helm-releases";
/// In `kinds`: any object (the deprecated-API rules).
pub const ANY_KIND: &str = "*";

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: {msg}")]
    Definition { file: String, msg: String },
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
}

impl Entry for Rule {
    fn code(&self) -> &str {
        &self.code
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn params(&self) -> &[ParamDef] {
        &self.params
    }
    fn describe(&self) -> catalogue::Described {
        catalogue::Described {
            code: self.code.clone(),
            name: self.name.clone(),
            summary: self.summary.clone(),
            why: self.why.clone(),
            remediation: self.remediation.clone(),
            help_uri: self.references.first().cloned(),
            severity: self.severity,
        }
    }
}

/// `--param` values of rules (the catalogue's one parser).
pub type RuleParams = catalogue::Overrides;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    code: String,
    name: String,
    check: String,
    severity: String,
    kinds: Vec<String>,
    #[serde(default)]
    needs: Vec<String>,
    #[serde(default)]
    reads: Vec<String>,
    #[serde(default)]
    versions: Option<WindowDoc>,
    #[serde(default)]
    params: serde_json::Map<String, Value>,
    #[serde(default)]
    preflight: Option<String>,
    #[serde(default)]
    full: bool,
    summary: String,
    why: String,
    remediation: String,
    references: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowDoc {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamDoc {
    default: Value,
    doc: String,
}

/// One rule: its file in `rules/`, parsed.
/// What a rule's finding means to `kscope preflight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// Blocks the upgrade.
    Blocker,
    /// A risk during the upgrade.
    Warning,
    /// Blocks a rollback (`preflight --rollback-to`); not run for upgrades.
    RollbackBlocker,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub file: String,
    pub code: String,
    pub name: String,
    pub check: String,
    pub severity: Severity,
    /// Kinds the rule looks at (`*`: any).
    pub kinds: Vec<String>,
    /// Other kinds or data it needs (`metrics`, `custom-object-counts`).
    pub needs: Vec<String>,
    /// Kinds it reads when they can be read (a live scan lists them), without which it still runs:
    /// the labels of Namespaces, the APIServices behind webhooks.
    pub reads: Vec<String>,
    /// The rule applies to target versions `from..=until` (either end open).
    pub from: Option<Version>,
    pub until: Option<Version>,
    pub params: Vec<ParamDef>,
    /// Whether `kscope preflight` runs the rule as an upgrade risk, and what its findings mean there.
    pub preflight: Option<Gate>,
    /// Its kinds are read whole from a live cluster, even those the kind table lists as metadata.
    pub full: bool,
    pub summary: String,
    pub why: String,
    pub remediation: String,
    pub references: Vec<String>,
    pub text: &'static str,
}

/// Parses YAML text (one document) into a value.
pub fn yaml_value(file: &str, text: &str) -> Result<Value, RuleError> {
    let def = |msg: String| RuleError::Definition {
        file: file.into(),
        msg,
    };
    let mut docs = yaml::documents(text);
    if docs.len() != 1 {
        return Err(def(format!(
            "expected one YAML document, found {}",
            docs.len()
        )));
    }
    docs.remove(0)
        .map(|d| d.value)
        .map_err(|e| def(format!("line {}: {}", e.line, e.reason)))
}

fn parse(file: &str, text: &'static str) -> Result<Rule, RuleError> {
    let def = |msg: String| RuleError::Definition {
        file: file.into(),
        msg,
    };
    let doc: RuleDoc =
        serde_json::from_value(yaml_value(file, text)?).map_err(|e| def(e.to_string()))?;
    let base = file.rsplit('/').next().unwrap_or(file);
    let expected = format!("{}-{}.yaml", doc.code, doc.name);
    if base != expected {
        return Err(def(format!("file name must be {expected}")));
    }
    let severity = Severity::parse(&doc.severity)
        .ok_or_else(|| def(format!("bad severity {:?}", doc.severity)))?;
    let ver = |s: &Option<String>| -> Result<Option<Version>, RuleError> {
        match s {
            None => Ok(None),
            Some(s) => Version::parse(s)
                .map(Some)
                .ok_or_else(|| def(format!("bad version {s:?}"))),
        }
    };
    let (from, until) = match &doc.versions {
        Some(w) => (ver(&w.from)?, ver(&w.until)?),
        None => (None, None),
    };
    let Some(check) = checks::find(&doc.check) else {
        return Err(def(format!("unknown check {:?}", doc.check)));
    };
    let mut params = Vec::new();
    for (name, v) in doc.params {
        let p: ParamDoc =
            serde_json::from_value(v).map_err(|e| def(format!("param {name}: {e}")))?;
        check.validate(&name, &p.default).map_err(def)?;
        params.push(ParamDef {
            name,
            default: p.default,
            doc: p.doc,
        });
    }
    let preflight = match doc.preflight.as_deref() {
        None => None,
        Some("blocker") => Some(Gate::Blocker),
        Some("warning") => Some(Gate::Warning),
        Some("rollback-blocker") => Some(Gate::RollbackBlocker),
        Some(o) => {
            return Err(def(format!(
                "preflight must be blocker, warning or rollback-blocker, not {o:?}"
            )));
        }
    };
    for k in doc.kinds.iter().chain(&doc.needs) {
        let known = k == ANY_KIND
            || k == NEED_METRICS
            || k == NEED_CR_COUNTS
            || k == NEED_HELM
            || kinds::info(k).is_some();
        if !known {
            return Err(def(format!("unknown kind or need {k:?}")));
        }
    }
    if let Some(k) = doc.reads.iter().find(|k| kinds::info(k).is_none()) {
        return Err(def(format!("reads: unknown kind {k:?}")));
    }
    Ok(Rule {
        file: file.to_string(),
        code: doc.code,
        name: doc.name,
        check: doc.check,
        severity,
        kinds: doc.kinds,
        needs: doc.needs,
        reads: doc.reads,
        from,
        until,
        params,
        preflight,
        full: doc.full,
        summary: doc.summary.trim().to_string(),
        why: doc.why.trim().to_string(),
        remediation: doc.remediation.trim().to_string(),
        references: doc.references,
        text,
    })
}

static REGISTRY: LazyLock<Result<Vec<Rule>, String>> = LazyLock::new(|| {
    // the data tables the checks rely on load here, so a broken table stops every lint loudly
    apis::table().map_err(|e| e.to_string())?;
    checks::apf_defaults().map_err(|e| e.to_string())?;
    checks::system_traffic().map_err(|e| e.to_string())?;
    let mut out: Vec<Rule> = Vec::new();
    for (file, text) in RULE_FILES {
        let r = parse(file, text).map_err(|e| e.to_string())?;
        if let Some(dup) = out.iter().find(|o| o.code == r.code || o.name == r.name) {
            return Err(format!("{file}: code or name already used by {}", dup.file));
        }
        out.push(r);
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(out)
});

/// Every embedded rule, by code.
pub fn registry() -> Result<&'static [Rule], RuleError> {
    REGISTRY.as_deref().map_err(|e| RuleError::Definition {
        file: "rules/".into(),
        msg: e.clone(),
    })
}

/// Rules chosen by `--rule` (code, name or code prefix such as `WH`) minus `--skip`.
pub fn select(only: &[String], skip: &[String]) -> Result<Vec<&'static Rule>, RuleError> {
    Ok(catalogue::select(registry()?, only, skip, "rule", "rules")?)
}

/// What one rule run sees: the rule, its parameters, the inventory and the target version.
pub struct Ctx<'a> {
    pub rule: &'a Rule,
    pub inv: &'a Inventory,
    pub target: Version,
    params: BTreeMap<String, Value>,
    findings: Vec<Finding>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        rule: &'a Rule,
        inv: &'a Inventory,
        target: Version,
        params: BTreeMap<String, Value>,
    ) -> Self {
        Ctx {
            rule,
            inv,
            target,
            params,
            findings: Vec::new(),
        }
    }

    /// The first release a rule concerns (its window's start, else the target): what a message
    /// names instead of the target, so that preflight reports a risk once, at its first hop.
    pub fn since(&self) -> Version {
        self.rule.from.unwrap_or(self.target)
    }

    fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// A numeric parameter (0 when the rule does not define it: a rule-file bug the meta-tests catch).
    pub fn num(&self, name: &str) -> f64 {
        self.param(name).and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// A string parameter ("" when absent).
    pub fn text(&self, name: &str) -> String {
        self.param(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.param(name).and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        match self.param(name) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// Reports `obj` at the rule's severity.
    pub fn report(&mut self, obj: &Obj, message: String) {
        self.report_as(self.rule.severity, obj, message);
    }

    pub fn report_as(&mut self, severity: Severity, obj: &Obj, message: String) {
        self.report_at(severity, obj.display(), obj.origin.clone(), message);
        if let Some(f) = self.findings.last_mut() {
            f.location = obj.span.clone();
            f.object = Some(obj.reference());
        }
    }

    /// Reports a subject that is not one object (a resource, the cluster).
    pub fn report_at(&mut self, severity: Severity, name: String, origin: String, message: String) {
        self.findings.push(Finding {
            code: self.rule.code.clone(),
            name: self.rule.name.clone(),
            severity,
            subject: Subject { name, origin },
            message,
            remediation: self.rule.remediation.clone(),
            reference: self.rule.references.first().cloned(),
            location: None,
            object: None,
        });
    }
}

/// A rule that did not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub code: String,
    pub name: String,
    pub reason: String,
}

/// The result of running rules over one inventory.
#[derive(Debug, Default, serde::Serialize)]
pub struct LintOutcome {
    pub findings: Vec<Finding>,
    /// Codes of the rules that ran.
    pub ran: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// Rules with nothing to look at in the input (no object of their kinds in the files).
    pub not_applicable: Vec<String>,
}

/// Whether a need (a kind, `metrics`, `custom-object-counts`) can be met; if not, why.
fn need_met(inv: &Inventory, need: &str) -> Result<(), String> {
    match need {
        NEED_METRICS => match &inv.metrics {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e.clone()),
            None if inv.live => Err("/metrics was not read".into()),
            None => Err("needs a live cluster (/metrics)".into()),
        },
        NEED_CR_COUNTS => match &inv.cr_counts {
            Some(_) => Ok(()),
            None if inv.live => Err("custom objects were not counted".into()),
            None => Err("needs a live cluster (custom objects are counted on the server)".into()),
        },
        NEED_HELM => match &inv.helm {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e.clone()),
            None if inv.live => {
                Err("Helm releases are read by `kscope preflight --helm` only".into())
            }
            None => {
                Err("needs a live cluster (Helm release Secrets, with preflight --helm)".into())
            }
        },
        ANY_KIND => Ok(()),
        kind => match inv.availability(kind) {
            Availability::Read => Ok(()),
            Availability::Missing(why) => Err(why),
        },
    }
}

/// Runs `rules` over `inv` for `target`.
pub fn run(rules: &[&Rule], inv: &Inventory, target: Version, params: &RuleParams) -> LintOutcome {
    let mut out = LintOutcome::default();
    for r in rules {
        let skip = |reason: String| Skipped {
            code: r.code.clone(),
            name: r.name.clone(),
            reason,
        };
        // a rule for other releases (upgrade risks from 1.35 on) does not concern this target; a
        // rule on Helm releases has none to look at unless `preflight --helm` read them
        if r.from.is_some_and(|f| target < f)
            || r.until.is_some_and(|u| target > u)
            || (r.needs.iter().any(|n| n == NEED_HELM) && inv.helm.is_none())
        {
            out.not_applicable.push(r.code.clone());
            continue;
        }
        if !inv.live
            && !r.kinds.iter().any(|k| k == ANY_KIND)
            && r.kinds.iter().all(|k| inv.of(k).is_empty())
        {
            out.not_applicable.push(r.code.clone());
            continue;
        }
        let missing: Vec<String> = if inv.live {
            r.kinds
                .iter()
                .chain(&r.needs)
                .filter_map(|n| need_met(inv, n).err())
                .collect()
        } else {
            r.needs
                .iter()
                .filter_map(|n| need_met(inv, n).err())
                .collect()
        };
        if !missing.is_empty() {
            let reasons: BTreeSet<String> = missing.into_iter().collect();
            out.skipped
                .push(skip(reasons.into_iter().collect::<Vec<_>>().join("; ")));
            continue;
        }
        let Some(check) = checks::find(&r.check) else {
            out.skipped.push(skip(format!("unknown check {}", r.check)));
            continue;
        };
        let mut ctx = Ctx::new(r, inv, target, params.values_for(*r));
        (check.run)(&mut ctx);
        // a rule ranks its findings by subject, where it was seen, and message
        ctx.findings.sort_by(|a, b| {
            (a.severity, &a.subject.name, &a.subject.origin, &a.message).cmp(&(
                b.severity,
                &b.subject.name,
                &b.subject.origin,
                &b.message,
            ))
        });
        out.findings.append(&mut ctx.findings);
        out.ran.push(r.code.clone());
    }
    crate::finding::sort_and_dedup(&mut out.findings);
    out
}
