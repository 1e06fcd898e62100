//! `kscope preflight`: one upgrade-readiness verdict, hop by hop, from everything kscope can read:
//! the live cluster (objects, nodes, `/metrics`), Helm releases, manifest files and the audit log.
//!
//! The engine gathers *API uses* (a removed or deprecated group/version/kind, used by one object or
//! one client, with every piece of evidence for it), judges each against the hops of the upgrade,
//! runs the upgrade-risk rules (`preflight:` in their rule file) for every hop, and decides the
//! verdict. It reads nothing and prints nothing: commands hand it what they read. [`plan`] is the
//! hop plan (upgrade or rollback), [`evidence`] the API uses and their evidence, [`verdict`] the
//! items, the hops' verdicts and the report; this module turns them into one another
//! ([`evaluate`]), judging APIs with the one judgement `lint` uses too (`rules::apis::judge`).

pub mod audit;
mod evidence;
pub mod metrics;
mod plan;
mod verdict;

use std::collections::BTreeSet;

use crate::finding::{Finding, Severity, Subject};
use crate::inventory::Inventory;
use crate::rules::apis;
use crate::rules::{self, Gate, Rule, RuleParams};

pub use audit::AuditUse;
pub use evidence::{ApiUse, Evidence, Uses};
pub use plan::{BEYOND_REVIEWED, Plan};
use verdict::judge;
pub use verdict::{HopResult, Item, NotChecked, PreflightReport, Verdict};

/// What the sources gave.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    /// Inventories the upgrade-risk rules run over (the live cluster, manifest files).
    pub scanned: Vec<&'a Inventory>,
    pub uses: Vec<ApiUse>,
    pub not_checked: Vec<NotChecked>,
    pub problems: Vec<String>,
    pub source: String,
    /// The sources the API uses were read from (manifests, Helm releases, live objects, the
    /// audit log, /metrics).
    pub api_sources: Vec<String>,
}

/// The rules of the deprecated-API check (`check: api-version`), found by check and state, never
/// by code: DA001 (`state: removed`) and DA002 (`state: deprecated`) today.
pub fn api_rules() -> Vec<&'static Rule> {
    rules::registry()
        .map(|r| r.iter().filter(|r| r.check == API_CHECK).collect())
        .unwrap_or_default()
}

/// The check key of the deprecated-API rules.
pub const API_CHECK: &str = "api-version";

fn api_rule(state: &str) -> Option<&'static Rule> {
    api_rules().into_iter().find(|r| {
        r.params
            .iter()
            .any(|p| p.name == "state" && p.default.as_str() == Some(state))
    })
}

fn api_item(plan: &Plan, u: &ApiUse) -> Option<Item> {
    let r = &u.removal;
    let current = u.evidence.iter().any(|e| !e.stale());
    let first = *plan.hops.first()?;
    let (judged, what) = apis::judge(r, Some(plan.from), plan.target)?;
    let (hop, blocking) = match judged {
        apis::ApiState::Removed { at } => (at.max(first), current),
        _ => (plan.target, false),
    };
    let rule = api_rule(judged.check_state());
    let stale = if current {
        String::new()
    } else {
        "; only live-object records (may be stale): confirm no client still writes it".into()
    };
    let mut evidence = u.evidence.clone();
    evidence.sort();
    let sources: BTreeSet<&'static str> = evidence.iter().map(Evidence::kind).collect();
    let step = match r.since {
        Some(s) if s > plan.from => format!(
            " (not served by {} yet: move to an API version both {} and {hop} serve first)",
            plan.from, plan.from
        ),
        _ => String::new(),
    };
    let message = format!(
        "{} {}{} {what}; {}{step}; seen in: {}{stale}",
        r.api_version,
        r.kind,
        r.stage_note(),
        r.migration(),
        sources.into_iter().collect::<Vec<_>>().join(", ")
    );
    let origin = evidence.first().map(Evidence::origin).unwrap_or_default();
    Some(Item {
        hop,
        blocking,
        finding: Finding {
            code: rule.map(|r| r.code.clone()).unwrap_or_default(),
            name: rule.map(|r| r.name.clone()).unwrap_or_default(),
            severity: if blocking {
                Severity::Error
            } else {
                Severity::Warning
            },
            subject: Subject {
                name: u.subject.clone(),
                origin,
            },
            message,
            remediation: rule.map(|r| r.remediation.clone()).unwrap_or_default(),
            reference: rule.and_then(|r| r.references.first().cloned()),
            location: u.location.clone(),
            object: u.object.clone(),
        },
        evidence,
        index: 0,
    })
}

/// Judges the upgrade: API uses per hop, the upgrade-risk rules per hop over every scanned
/// inventory, the verdicts.
pub fn evaluate(
    plan: Plan,
    inputs: Inputs<'_>,
    risk_rules: &[&Rule],
    params: &RuleParams,
) -> PreflightReport {
    // removals concern upgrades; a rollback is judged by the rules (what the older release lacks)
    let mut items: Vec<Item> = if plan.rollback {
        Vec::new()
    } else {
        inputs
            .uses
            .iter()
            .filter_map(|u| api_item(&plan, u))
            .collect()
    };
    let mut not_checked = inputs.not_checked;
    let mut seen: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    // rules that could not run, per source (a rule outside its release window at a hop is not
    // applicable there, and never skipped)
    let mut skipped: Vec<(String, String, (String, String))> = Vec::new();
    // codes of the rules that ran at some hop over some source
    let mut ran: BTreeSet<String> = BTreeSet::new();
    for inv in &inputs.scanned {
        for hop in &plan.hops {
            let out = rules::run(risk_rules, inv, *hop, params);
            ran.extend(out.ran.iter().cloned());
            for sk in out.skipped {
                if !skipped
                    .iter()
                    .any(|(c, o, _)| *c == sk.code && *o == inv.origin)
                {
                    skipped.push((sk.code.clone(), inv.origin.clone(), (sk.name, sk.reason)));
                }
            }
            for f in out.findings {
                // a risk found at an earlier hop is reported once, at the first hop it concerns
                let key = (
                    f.code.clone(),
                    f.subject.name.clone(),
                    f.subject.origin.clone(),
                    f.message.clone(),
                );
                if !seen.insert(key) {
                    continue;
                }
                let gate = risk_rules
                    .iter()
                    .find(|r| r.code == f.code)
                    .and_then(|r| r.preflight);
                let blocking = matches!(gate, Some(Gate::Blocker | Gate::RollbackBlocker))
                    && f.severity == Severity::Error;
                let mut finding = f;
                if !blocking {
                    finding.severity = finding.severity.min(Severity::Warning);
                }
                items.push(Item {
                    hop: *hop,
                    blocking,
                    finding,
                    evidence: Vec::new(),
                    index: 0,
                });
            }
        }
    }
    // rules that could not run where the plan needed them (and never ran elsewhere)
    for (code, origin, (name, reason)) in skipped {
        if ran.contains(&code) {
            continue;
        }
        let nc = NotChecked {
            check: format!("{code} {name} ({origin})"),
            reason,
        };
        if !not_checked.contains(&nc) {
            not_checked.push(nc);
        }
    }
    for hop in plan.hops.iter().filter(|h| **h > plan.reviewed) {
        not_checked.push(NotChecked {
            check: format!("what changes in {hop}"),
            reason: format!(
                "kscope's catalogue of upgrade checks is reviewed through {}: removals already \
                 announced for {hop} are judged, anything else {hop} changes is not known",
                plan.reviewed
            ),
        });
    }
    // what the verdict rests on: the removed-API check over every source given, and the rules
    // that ran
    let checks_ran: BTreeSet<String> = inputs
        .api_sources
        .iter()
        .map(|s| format!("removed and deprecated APIs: {s}"))
        .chain(
            risk_rules
                .iter()
                .filter(|r| ran.contains(&r.code))
                .map(|r| format!("{} {}", r.code, r.name)),
        )
        .collect();
    let (hops, verdict) = judge(&plan, &mut items);
    PreflightReport {
        source: inputs.source,
        plan,
        verdict,
        hops,
        items,
        not_checked,
        problems: inputs.problems,
        checks_ran,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Version;

    fn v(m: u32) -> Version {
        Version::new(1, m)
    }

    #[test]
    fn plans_hop_by_hop_and_validates_versions() {
        let p = Plan::new(v(29), v(32)).unwrap();
        assert_eq!(p.hops, vec![v(30), v(31), v(32)]);
        let e = Plan::new(v(30), v(29)).unwrap_err();
        assert!(e.contains("not newer than the current version 1.30"), "{e}");
        assert!(e.contains("kscope knows Kubernetes 1.16 to 1.37"), "{e}");
        let e = Plan::new(v(30), v(45)).unwrap_err();
        assert!(e.contains("1.45 is unknown"), "{e}");
        // past the reviewed release (1.37): planned, judged as far as the data goes
        let p = Plan::new(v(36), v(39)).unwrap();
        assert_eq!(p.hops, vec![v(37), v(38), v(39)]);
        assert_eq!(p.reviewed, v(37));
        assert!(Plan::new(v(30), v(30)).is_err());
    }

    fn uses(api_version: &str, kind: &str, e: Evidence) -> ApiUse {
        ApiUse {
            location: None,
            removal: apis::lookup(api_version, kind).unwrap().clone(),
            subject: format!("{kind}/x"),
            object: None,
            evidence: vec![e],
        }
    }

    #[test]
    fn removals_block_their_own_hop_and_stale_records_only_warn() {
        let plan = Plan::new(v(29), v(32)).unwrap();
        let manifest = Evidence::Manifest {
            origin: "a.yaml:1".into(),
        };
        let stale = Evidence::LiveObject {
            via: "managedFields".into(),
            origin: "cluster c".into(),
        };
        let inputs = Inputs {
            uses: vec![
                uses(
                    "flowcontrol.apiserver.k8s.io/v1beta3",
                    "FlowSchema",
                    manifest.clone(),
                ),
                uses(
                    "flowcontrol.apiserver.k8s.io/v1beta3",
                    "PriorityLevelConfiguration",
                    stale,
                ),
                uses("networking.k8s.io/v1beta1", "ServiceCIDR", manifest.clone()),
                uses("extensions/v1beta1", "Ingress", manifest),
            ],
            ..Default::default()
        };
        let r = evaluate(plan, inputs, &[], &RuleParams::default());
        let got: Vec<(String, bool, String)> = r
            .items
            .iter()
            .map(|i| {
                (
                    i.hop.to_string(),
                    i.blocking,
                    i.finding.subject.name.clone(),
                )
            })
            .collect();
        let want: Vec<(String, bool, String)> = vec![
            // removed in 1.22, long before: blocks the first hop
            ("1.30".into(), true, "Ingress/x".into()),
            ("1.32".into(), true, "FlowSchema/x".into()),
            // only a stale managedFields record: a warning at its hop
            ("1.32".into(), false, "PriorityLevelConfiguration/x".into()),
            // ServiceCIDR v1beta1 is deprecated only in 1.34: nothing yet
        ];
        assert_eq!(got, want);
        assert_eq!(r.verdict, Verdict::Blocked);
        let hops: Vec<Verdict> = r.hops.iter().map(|h| h.verdict).collect();
        assert_eq!(
            hops,
            vec![Verdict::Blocked, Verdict::Ready, Verdict::Blocked]
        );
    }

    #[test]
    fn a_deprecation_removed_after_the_target_warns_with_its_removal() {
        let plan = Plan::new(v(33), v(35)).unwrap();
        let inputs = Inputs {
            uses: vec![uses(
                "networking.k8s.io/v1beta1",
                "ServiceCIDR",
                Evidence::Manifest {
                    origin: "a.yaml:1".into(),
                },
            )],
            ..Default::default()
        };
        let r = evaluate(plan, inputs, &[], &RuleParams::default());
        assert_eq!(r.items.len(), 1);
        let i = &r.items[0];
        assert_eq!((i.hop, i.blocking), (v(35), false));
        assert_eq!(i.finding.code, "DA002");
        assert!(
            i.finding.message.contains("removed in 1.37"),
            "{}",
            i.finding.message
        );
        assert_eq!(r.verdict, Verdict::ReadyWithWarnings);
    }
}
