//! The one findings document every writer reads. `report`, `lint` and `preflight` (and `sql` for
//! its table) build one ([`super::build`]); each format in [`super::format`] writes it. The model
//! holds what every medium needs (the summary, sections of rows and charts, the findings in order,
//! what each rule is, what did not run, the gate's view); strings in it are raw (they may quote
//! hostile input): each writer escapes them for its own medium.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::charts::Chart;
use crate::catalogue::Described;
use crate::finding::{Finding, Severity};
use crate::gate::Check;
use crate::table::Table;

/// How a line or verdict should look (colour in a terminal, a class in HTML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    Good,
    Warn,
    Bad,
    Muted,
}

/// One line of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub tone: Tone,
}

impl Line {
    pub fn plain(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            tone: Tone::Plain,
        }
    }

    pub fn bad(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            tone: Tone::Bad,
        }
    }
}

/// A titled part of the document: a table of rows, a chart, or both.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// An anchor (a query's code, `hops`, `evidence`).
    pub id: String,
    pub title: String,
    /// What it shows (a query's `finds`).
    pub about: String,
    pub table: Option<Cow<'a, Table>>,
    pub chart: Option<Chart>,
    /// Why it could not be computed.
    pub skipped: Option<String>,
    /// Only for pages (HTML): its table repeats what the findings already say in text.
    pub page_only: bool,
}

/// What a command adds to each finding: short tags (`hop 1.31`, `blocking yes`), written as
/// columns in CSV and after the subject elsewhere, and lines of evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    pub tags: Vec<(&'static str, String)>,
    pub evidence: Vec<String>,
}

/// One stage of a plan of work (a preflight hop): the findings to fix first, the warnings, and the
/// steps of the stage in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phase {
    pub title: String,
    /// Indices into [`Document::findings`].
    pub blockers: Vec<usize>,
    pub warnings: Vec<usize>,
    pub steps: Vec<String>,
}

/// A check that did not run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    pub what: String,
    pub reason: String,
}

/// The verdict a command gives (preflight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub text: String,
    pub tone: Tone,
}

/// What the gate did: counts, and with --show-suppressed what it held back.
#[derive(Debug, Clone)]
pub struct GateView<'a> {
    pub summary: &'a crate::gate::Summary,
    pub suppressed: Vec<(&'a Finding, &'a str)>,
    pub baselined: Vec<&'a Finding>,
    pub fixed: &'a [crate::gate::baseline::Entry],
    /// --show-suppressed.
    pub show: bool,
}

/// The findings document.
pub struct Document<'a> {
    /// `report`, `lint`, `preflight` or `sql` (named in machine formats only).
    pub command: &'static str,
    /// The page's or the ticket's title.
    pub title: String,
    /// Where the input came from.
    pub source: String,
    pub verdict: Option<Verdict>,
    pub summary: Vec<Line>,
    pub sections: Vec<Section<'a>>,
    /// The findings shown, in the one finding order.
    pub findings: Vec<&'a Finding>,
    /// What to say when there are none.
    pub no_findings: &'static str,
    /// Per finding (same index), when the command has more to say.
    pub details: Vec<Detail>,
    /// A plan of work (preflight's hops), when the command makes one: formats for tickets write
    /// it as a runbook.
    pub phases: Vec<Phase>,
    /// Every rule or query that was selected: what each code is.
    pub rules: &'a [Described],
    /// What each rule or query checked (JUnit's test cases).
    pub checks: &'a [Check],
    pub not_run: Vec<NotRun>,
    /// Input that could not be read (`file:line: reason`).
    pub problems: Vec<String>,
    pub gate: Option<GateView<'a>>,
    /// The command's own fields of the JSON envelope (built only when JSON is written).
    pub json: Box<dyn Fn() -> Map<String, Value> + 'a>,
    /// Rows shown per table for people (0: all).
    pub max_rows: usize,
}

/// The findings of one rule or query, together.
pub struct Group<'d, 'a> {
    pub code: &'d str,
    /// Indices into [`Document::findings`], in order.
    pub findings: Vec<usize>,
    pub about: Option<&'a Described>,
    pub first: &'a Finding,
}

impl Group<'_, '_> {
    /// What the rule or query finds, short: its summary up to the first colon or sentence end
    /// (its name when it has none).
    pub fn title(&self) -> &str {
        match self.about {
            Some(d) if !d.summary.is_empty() => {
                let end = [d.summary.find(": "), d.summary.find(". ")]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(d.summary.len());
                d.summary[..end].trim_end_matches('.')
            }
            _ => &self.first.name,
        }
    }
}

impl<'a> Document<'a> {
    /// A document with nothing in it yet (the fields a command fills are set with `..`).
    pub fn empty(command: &'static str) -> Document<'a> {
        Document {
            command,
            title: format!("kscope {command}"),
            source: String::new(),
            verdict: None,
            summary: Vec::new(),
            sections: Vec::new(),
            findings: Vec::new(),
            no_findings: "No findings.",
            details: Vec::new(),
            phases: Vec::new(),
            rules: &[],
            checks: &[],
            not_run: Vec::new(),
            problems: Vec::new(),
            gate: None,
            json: Box::new(Map::new),
            max_rows: 0,
        }
    }

    /// The findings grouped by code, groups in the order their first finding comes.
    pub fn groups(&self) -> Vec<Group<'_, 'a>> {
        let mut out: Vec<Group<'_, 'a>> = Vec::new();
        for (i, f) in self.findings.iter().enumerate() {
            match out.iter_mut().find(|g| g.code == f.code) {
                Some(g) => g.findings.push(i),
                None => out.push(Group {
                    code: &f.code,
                    findings: vec![i],
                    about: self.rules.iter().find(|d| d.code == f.code),
                    first: f,
                }),
            }
        }
        out
    }

    pub fn detail(&self, i: usize) -> Option<&Detail> {
        self.details.get(i)
    }

    /// Where finding `i` is: `file:line` when read from a file, else its origin.
    pub fn place(&self, i: usize) -> String {
        let f = self.findings[i];
        match &f.location {
            Some(l) => format!("{}:{}", l.file, l.start_line),
            None => f.subject.origin.clone(),
        }
    }

    /// [`Self::place`], unless it is the document's source (said once, in the summary).
    pub fn own_place(&self, i: usize) -> Option<String> {
        let f = self.findings[i];
        (f.location.is_some() || f.subject.origin != self.source).then(|| self.place(i))
    }

    /// Finding `i`'s tags for people: `hop 1.31, blocking yes`.
    pub fn tags_text(&self, i: usize) -> Option<String> {
        self.detail(i).filter(|d| !d.tags.is_empty()).map(|d| {
            d.tags
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// Finding `i`'s evidence lines.
    pub fn evidence(&self, i: usize) -> &[String] {
        self.detail(i).map(|d| d.evidence.as_slice()).unwrap_or(&[])
    }

    /// Counts of findings per severity, highest first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        [Severity::Error, Severity::Warning, Severity::Info]
            .into_iter()
            .map(|s| (s, self.findings.iter().filter(|f| f.severity == s).count()))
            .collect()
    }

    /// `findings: 4 error, 15 warning, 1 info`.
    pub fn counts_line(&self) -> String {
        let counts: Vec<String> = self
            .counts()
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        format!("findings: {}", counts.join(", "))
    }

    /// Names of the tag columns (the first finding's detail decides them).
    pub fn tag_names(&self) -> Vec<&'static str> {
        self.details
            .first()
            .map(|d| d.tags.iter().map(|(k, _)| *k).collect())
            .unwrap_or_default()
    }
}

impl GateView<'_> {
    /// Whether there is anything to say (no gate section otherwise).
    pub fn active(&self) -> bool {
        self.summary.suppressed > 0 || self.summary.baseline || !self.fixed.is_empty()
    }

    /// Lines for people (raw: they quote findings).
    pub fn lines(&self) -> Vec<String> {
        let s = self.summary;
        let mut out = Vec::new();
        if s.suppressed > 0 {
            out.push(format!(
                "suppressed: {} finding(s) (annotations, {}){}",
                s.suppressed,
                crate::gate::config::FILE_NAME,
                if self.show {
                    ""
                } else {
                    "; --show-suppressed lists them"
                }
            ));
        }
        if s.baseline {
            out.push(format!(
                "baseline: {} new, {} already in the baseline, fixed: {}",
                s.new, s.baselined, s.fixed
            ));
        }
        if self.show {
            for (f, why) in &self.suppressed {
                out.push(format!(
                    "suppressed {} {}: {} ({why})",
                    f.code, f.subject.name, f.message
                ));
            }
            for f in &self.baselined {
                out.push(format!(
                    "baselined {} {}: {}",
                    f.code, f.subject.name, f.message
                ));
            }
        }
        for e in self.fixed {
            out.push(format!(
                "fixed (in the baseline, no longer found): {} {}",
                e.id.code, e.id.subject
            ));
        }
        out
    }

    /// The `gate` field of the JSON envelope.
    pub fn json(&self) -> Value {
        let mut v = serde_json::json!({
            "suppressed": self.summary.suppressed,
            "baseline": self.summary.baseline,
            "new": self.summary.new,
            "baselined": self.summary.baselined,
            "fixed": self.fixed,
        });
        if self.show {
            v["suppressed_findings"] = serde_json::json!(
                self.suppressed
                    .iter()
                    .map(|(f, why)| serde_json::json!({"finding": f, "reason": why}))
                    .collect::<Vec<_>>()
            );
            v["baselined_findings"] = serde_json::json!(self.baselined);
        }
        v
    }
}
