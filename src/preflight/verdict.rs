//! The verdict: items (blockers and warnings at the hop they concern), each hop's verdict and the
//! upgrade's, and the report `kscope preflight` prints.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Evidence, Plan};
use crate::finding::{Finding, Severity};
use crate::inventory::Version;

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
pub(super) fn judge(plan: &Plan, items: &mut [Item]) -> (Vec<HopResult>, Verdict) {
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
