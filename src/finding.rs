//! The one result type shared by audit queries and (later) lint rules.

use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about, and where that was seen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Subject {
    /// The client, user, source IP or object the finding names.
    pub name: String,
    /// Where it was seen: the audit input, `file:line`, or a cluster context.
    pub origin: String,
}

/// Where in a file a finding's object is written (manifests only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// The path as given on the command line (relative to the working directory).
    pub file: String,
    pub start_line: usize,
    pub end_line: usize,
}

/// The object a finding is about, as the check that made it saw it: what the gate matches its
/// ignores (kind, namespace, name, labels) and annotations against. Never re-derived from the
/// finding's display strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// Where the object was read (a file, a cluster context).
    pub origin: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// One result of a query or a rule: the only thing reports and gates look at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Finding {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    pub subject: Subject,
    /// The fact and the threshold it crossed.
    pub message: String,
    pub remediation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The object's place in its file, when it was read from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The object the finding is about (rules over objects; none for audit queries).
    #[serde(skip)]
    pub object: Option<ObjectRef>,
}

/// `--fail-on`: the lowest severity that makes the run exit with code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    /// Never fail because of findings.
    None,
}

impl FailOn {
    pub fn fails<'f>(self, findings: impl IntoIterator<Item = &'f Finding>) -> bool {
        let min = match self {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Info => Severity::Info,
            FailOn::None => return false,
        };
        findings.into_iter().any(|f| f.severity >= min)
    }
}

/// The one finding order, for every command: most severe first, then by code; within one code the
/// order the query or check ranked them (a query's ORDER BY, a rule's subjects) is kept. Exact
/// duplicates (the same fact reached twice) are dropped.
pub fn sort_and_dedup(findings: &mut Vec<Finding>) {
    let idx = order(findings, (0..findings.len()).collect());
    let mut all: Vec<Option<Finding>> = std::mem::take(findings).into_iter().map(Some).collect();
    *findings = idx.into_iter().filter_map(|i| all[i].take()).collect();
}

/// The one finding order over indices into `all` (stable), each distinct finding once.
pub fn order(all: &[Finding], mut idx: Vec<usize>) -> Vec<usize> {
    idx.sort_by(|&a, &b| {
        all[b]
            .severity
            .cmp(&all[a].severity)
            .then_with(|| all[a].code.cmp(&all[b].code))
    });
    let mut seen = std::collections::HashSet::new();
    idx.retain(|&i| seen.insert(&all[i]));
    idx
}
