//! `kscope preflight`: one upgrade-readiness verdict, hop by hop, from everything kscope can read:
//! the live cluster (objects, nodes, `/metrics`), Helm releases, manifest files and the audit log.
//!
//! The engine gathers *API uses* (a removed or deprecated group/version/kind, used by one object or
//! one client, with every piece of evidence for it), judges each against the hops of the upgrade,
//! runs the upgrade-risk rules (`preflight:` in their rule file) for every hop, and decides the
//! verdict. It reads nothing and prints nothing: commands hand it what they read.

pub mod audit;
pub mod metrics;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::finding::{Finding, Severity, Subject};
use crate::inventory::{Inventory, Obj, Version};
use crate::rules::apis::{self, Removal};
use crate::rules::{self, Gate, Rule, RuleParams};

pub use audit::AuditUse;

/// The upgrade: from the current version to the target, one minor version per hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub from: Version,
    pub target: Version,
    pub hops: Vec<Version>,
    /// The newest release kscope's catalogue is reviewed through: hops after it are judged as far
    /// as the data goes and end UNKNOWN, never READY.
    pub reviewed: Version,
    /// A rollback of the control plane to `target` (one minor below `from`), not an upgrade.
    pub rollback: bool,
}

/// Releases past the reviewed one a plan may reach (the horizon of announced API removals).
pub const BEYOND_REVIEWED: u32 = 6;

impl Plan {
    /// Validates the versions against what kscope knows (1.16 to the API table's newest release;
    /// targets up to [`BEYOND_REVIEWED`] releases past it are planned, their hops UNKNOWN).
    pub fn new(from: Version, target: Version) -> Result<Plan, String> {
        let newest = apis::table().map_err(|e| e.to_string())?.newest;
        let known = format!(
            "kscope knows Kubernetes {} to {newest} (and plans up to {} with those hops UNKNOWN)",
            apis::OLDEST,
            Version::new(1, newest.minor + BEYOND_REVIEWED)
        );
        let knows = |v: Version| v.major == 1 && v >= apis::OLDEST && v <= newest;
        if !(target.major == 1
            && target >= apis::OLDEST
            && target.minor <= newest.minor + BEYOND_REVIEWED)
        {
            return Err(format!("--target-version {target} is unknown: {known}"));
        }
        if !knows(from) {
            return Err(format!("the current version {from} is unknown: {known}"));
        }
        if target <= from {
            return Err(format!(
                "--target-version {target} is not newer than the current version {from}: {known}; \
                 name a newer one (the control plane cannot be downgraded)"
            ));
        }
        Ok(Plan {
            from,
            target,
            hops: (from.minor + 1..=target.minor)
                .map(|m| Version::new(1, m))
                .collect(),
            reviewed: newest,
            rollback: false,
        })
    }

    /// A rollback from `from` to `to`: one minor version down (what a managed control plane
    /// allows), one hop.
    pub fn rollback(from: Version, to: Version) -> Result<Plan, String> {
        let newest = apis::table().map_err(|e| e.to_string())?.newest;
        if to.major != from.major || to.minor + 1 != from.minor {
            return Err(format!(
                "--rollback-to {to}: a control plane rolls back one minor version, from {from} to {}",
                Version::new(from.major, from.minor.saturating_sub(1))
            ));
        }
        if from > newest || to < apis::OLDEST {
            return Err(format!(
                "--rollback-to {to}: kscope knows Kubernetes {} to {newest}",
                apis::OLDEST
            ));
        }
        Ok(Plan {
            from,
            target: to,
            hops: vec![to],
            reviewed: newest,
            rollback: true,
        })
    }
}

/// Why an API version is believed to be in use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Evidence {
    /// An object in a manifest file, written in the version.
    Manifest { origin: String },
    /// An object of a deployed Helm release's rendered manifest.
    Helm {
        release: String,
        chart: String,
        revision: u64,
        origin: String,
    },
    /// A live object whose last writers used the version (`managedFields`,
    /// `last-applied-configuration`). May be stale: the object itself is served under a current
    /// version, so this never blocks on its own.
    LiveObject { via: String, origin: String },
    /// Requests in the audit log.
    Audit {
        client: String,
        user: String,
        user_agent: String,
        requests: u64,
        first_seen: String,
        last_seen: String,
        /// The API server annotated them `k8s.io/removed-release` (it does only for APIs it knows
        /// to be deprecated).
        annotated: bool,
        /// Where one of them was read (`file:line`).
        example: String,
    },
    /// The API server's `apiserver_requested_deprecated_apis` gauge: requested since it started.
    Metrics { removed_release: String },
}

impl Evidence {
    /// Evidence that may describe the past rather than current use.
    pub fn stale(&self) -> bool {
        matches!(self, Evidence::LiveObject { .. })
    }

    /// What kind of source it is, for people (`manifest`, `audit log`).
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::Manifest { .. } => "manifest",
            Evidence::Helm { .. } => "Helm release",
            Evidence::LiveObject { .. } => "live object",
            Evidence::Audit { .. } => "audit log",
            Evidence::Metrics { .. } => "/metrics",
        }
    }

    /// Where it was seen, as a finding's origin.
    pub fn origin(&self) -> String {
        match self {
            Evidence::Manifest { origin }
            | Evidence::Helm { origin, .. }
            | Evidence::LiveObject { origin, .. } => origin.clone(),
            Evidence::Audit { example, .. } => example.clone(),
            Evidence::Metrics { .. } => "/metrics".into(),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Evidence::Manifest { origin } => format!("manifest {origin}"),
            Evidence::Helm {
                release,
                chart,
                revision,
                origin,
            } => format!("Helm release {release} (chart {chart}, revision {revision}) at {origin}"),
            Evidence::LiveObject { via, origin } => {
                format!("live object ({origin}): {via} records it (may be stale)")
            }
            Evidence::Audit {
                client,
                user,
                requests,
                first_seen,
                last_seen,
                annotated,
                example,
                ..
            } => format!(
                "audit log: {client} as {user}, {requests} request(s) from {first_seen} to {last_seen} (e.g. {example}){}",
                if *annotated {
                    ""
                } else {
                    " (not annotated by the API server)"
                }
            ),
            Evidence::Metrics { removed_release } => format!(
                "/metrics: apiserver_requested_deprecated_apis (requested since the API server started; removed_release {removed_release})"
            ),
        }
    }
}

/// One removed or deprecated API version used by one object or client.
#[derive(Debug, Clone)]
pub struct ApiUse {
    pub removal: Removal,
    /// Where the first object written in the version is in its file (manifests).
    pub location: Option<crate::finding::Location>,
    /// The object (`Kind/ns/name`) or client (`client (user)`).
    pub subject: String,
    /// The object written in the version (manifests, live objects): what the gate matches.
    pub object: Option<crate::finding::ObjectRef>,
    pub evidence: Vec<Evidence>,
}

/// Collects API uses, merged per (group/version/kind, object or client).
#[derive(Debug, Default)]
pub struct Uses {
    by_key: BTreeMap<(String, String, String), ApiUse>,
}

impl Uses {
    fn add(&mut self, removal: &Removal, subject: String, e: Evidence) {
        self.add_at(removal, subject, e, None, None);
    }

    fn add_at(
        &mut self,
        removal: &Removal,
        subject: String,
        e: Evidence,
        location: Option<crate::finding::Location>,
        object: Option<crate::finding::ObjectRef>,
    ) {
        let key = (
            removal.api_version.clone(),
            removal.kind.clone(),
            subject.clone(),
        );
        let u = self.by_key.entry(key).or_insert_with(|| ApiUse {
            removal: removal.clone(),
            location: None,
            subject,
            object: None,
            evidence: Vec::new(),
        });
        if u.location.is_none() {
            u.location = location;
        }
        if u.object.is_none() {
            u.object = object;
        }
        if !u.evidence.contains(&e) {
            u.evidence.push(e);
        }
    }

    /// Objects of manifest files (or a Helm release, through `evidence`), by their apiVersion.
    pub fn objects(&mut self, inv: &Inventory, evidence: impl Fn(&Obj) -> Evidence) {
        for o in inv.all() {
            if let Some(r) = apis::lookup(&o.api_version, &o.kind) {
                self.add_at(
                    r,
                    o.display(),
                    evidence(o),
                    o.span.clone(),
                    Some(o.reference()),
                );
            }
        }
    }

    /// Live objects, by the versions their last writers used.
    pub fn live_objects(&mut self, inv: &Inventory) {
        for o in inv.all() {
            for (v, via) in apis::written_versions(o) {
                if let Some(r) = apis::lookup(&v, &o.kind).filter(|r| !r.control_plane_writes) {
                    self.add_at(
                        r,
                        o.display(),
                        Evidence::LiveObject {
                            via: via.to_string(),
                            origin: o.origin.clone(),
                        },
                        None,
                        Some(o.reference()),
                    );
                }
            }
        }
    }

    /// Callers in the audit log (kscope's own requests are already left out).
    pub fn audit(&mut self, rows: &[AuditUse], from: Version) {
        for a in rows {
            let removal = apis::lookup_resource(&a.group, &a.version, &a.resource)
                .cloned()
                .or_else(|| a.annotated_removal(from));
            let Some(r) = removal else {
                continue;
            };
            self.add(
                &r,
                format!("{} ({})", a.client, a.user),
                Evidence::Audit {
                    client: a.client.clone(),
                    user: a.user.clone(),
                    user_agent: a.user_agent.clone(),
                    requests: a.requests,
                    first_seen: a.first_seen.clone(),
                    last_seen: a.last_seen.clone(),
                    annotated: a.removed_release.is_some(),
                    example: a.example.clone(),
                },
            );
        }
    }

    /// The `apiserver_requested_deprecated_apis` gauge.
    pub fn metrics(&mut self, requested: &[metrics::Requested]) {
        for m in requested {
            if let Some(r) = apis::lookup_resource(&m.group, &m.version, &m.resource) {
                self.add(
                    r,
                    "(clients since the API server started)".into(),
                    Evidence::Metrics {
                        removed_release: m.removed_release.clone(),
                    },
                );
            }
        }
    }

    pub fn into_vec(self) -> Vec<ApiUse> {
        self.by_key.into_values().collect()
    }
}

/// The verdict of one hop, or of the whole upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ready,
    ReadyWithWarnings,
    /// A hop past the release the catalogue is reviewed through, with no known blocker.
    Unknown,
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "READY",
            Verdict::ReadyWithWarnings => "READY WITH WARNINGS",
            Verdict::Unknown => "UNKNOWN",
            Verdict::Blocked => "BLOCKED",
        }
    }

    fn of(items: &[&Item]) -> Verdict {
        if items.iter().any(|i| i.blocking) {
            Verdict::Blocked
        } else if items.is_empty() {
            Verdict::Ready
        } else {
            Verdict::ReadyWithWarnings
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One blocker or warning, at the hop it concerns, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub hop: Version,
    pub blocking: bool,
    pub finding: Finding,
    /// Why an API version is believed in use (empty for rule findings: the finding is the evidence).
    pub evidence: Vec<Evidence>,
    /// Its finding's index among the findings the CI gate saw (set by [`PreflightReport::regate`]).
    #[serde(skip)]
    pub index: usize,
}

/// One hop's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct HopResult {
    pub version: Version,
    pub verdict: Verdict,
    pub blockers: usize,
    pub warnings: usize,
}

/// Something preflight could not check, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotChecked {
    pub check: String,
    pub reason: String,
}

/// Everything `kscope preflight` prints.
#[derive(Debug, Clone, Serialize)]
pub struct PreflightReport {
    /// The sources read, for people.
    pub source: String,
    pub plan: Plan,
    pub verdict: Verdict,
    pub hops: Vec<HopResult>,
    pub items: Vec<Item>,
    pub not_checked: Vec<NotChecked>,
    /// Input that could not be read (`file:line: reason`).
    pub problems: Vec<String>,
    /// The checks that ran (what a verdict rests on), sorted.
    pub checks_ran: BTreeSet<String>,
}

impl PreflightReport {
    /// The findings of every item, in item order (blockers first, then by hop).
    pub fn findings(&self) -> Vec<Finding> {
        self.items.iter().map(|i| i.finding.clone()).collect()
    }

    /// Keeps the items whose findings the CI gate shows (suppressions, baseline; `gated` ran over
    /// [`Self::findings`], so item `i` is finding `i`), adds the gate's own findings at the first
    /// hop, and judges the hops again. A blocker stays one only while its finding is an error.
    /// Each item remembers its finding's index in `gated.all`.
    pub fn regate(&mut self, gated: &crate::gate::Gated) {
        let first = self.plan.hops.first().copied().unwrap_or(self.plan.target);
        let mut old: Vec<Option<Item>> = std::mem::take(&mut self.items)
            .into_iter()
            .map(Some)
            .collect();
        let mut items = Vec::new();
        for &i in &gated.shown {
            let f = &gated.all[i];
            let item = match old.get_mut(i).and_then(Option::take) {
                Some(mut item) => {
                    item.blocking = item.blocking && f.severity == Severity::Error;
                    item.finding.severity = f.severity;
                    item.index = i;
                    item
                }
                // the gate's own findings (KS001, KS002)
                None => Item {
                    hop: first,
                    blocking: false,
                    finding: f.clone(),
                    evidence: Vec::new(),
                    index: i,
                },
            };
            items.push(item);
        }
        let (hops, verdict) = judge(&self.plan, &mut items);
        self.items = items;
        self.hops = hops;
        self.verdict = verdict;
    }
}

/// Orders the items (blockers first, then by hop, code, subject) and judges every hop.
fn judge(plan: &Plan, items: &mut [Item]) -> (Vec<HopResult>, Verdict) {
    // blockers first, then by hop, code, subject
    items.sort_by(|a, b| {
        (!a.blocking, a.hop, &a.finding.code, &a.finding.subject.name).cmp(&(
            !b.blocking,
            b.hop,
            &b.finding.code,
            &b.finding.subject.name,
        ))
    });
    let hops: Vec<HopResult> = plan
        .hops
        .iter()
        .map(|h| {
            let at: Vec<&Item> = items.iter().filter(|i| i.hop == *h).collect();
            let verdict = match Verdict::of(&at) {
                Verdict::Blocked => Verdict::Blocked,
                _ if *h > plan.reviewed => Verdict::Unknown,
                v => v,
            };
            HopResult {
                version: *h,
                verdict,
                blockers: at.iter().filter(|i| i.blocking).count(),
                warnings: at.iter().filter(|i| !i.blocking).count(),
            }
        })
        .collect();
    let verdict = hops
        .iter()
        .map(|h| h.verdict)
        .max()
        .unwrap_or(Verdict::Ready);
    (hops, verdict)
}

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
    // the removed-API check ran over every source given; the rules, where their objects were
    let mut skipped: Vec<(String, String, (String, String))> = Vec::new();
    let mut checks_ran: BTreeSet<String> = inputs
        .api_sources
        .iter()
        .map(|s| format!("removed and deprecated APIs: {s}"))
        .collect();
    for inv in &inputs.scanned {
        for hop in &plan.hops {
            let out = rules::run(risk_rules, inv, *hop, params);
            for code in &out.ran {
                if let Some(r) = risk_rules.iter().find(|r| &r.code == code) {
                    checks_ran.insert(format!("{} {}", r.code, r.name));
                }
            }
            // a rule outside its release window at a hop is not applicable there (not listed)
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
        if checks_ran
            .iter()
            .any(|c| c.starts_with(&format!("{code} ")))
        {
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
