//! Findings documents: `kscope report` and `kscope lint` (and what comes next) as a table,
//! Markdown, CSV, or one JSON envelope shared by all of them.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};

use super::rows::{JsonRows, csv, markdown, text_table};
use super::{DocFormat, GateView, WIDTH, escape, one_line, write_hanging};
use crate::analysis::Report;
use crate::finding::{Finding, Severity};
use crate::lint::LintReport;
use crate::table::Table;

/// Version of the JSON envelope; raised when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

fn findings_table(findings: &[Finding]) -> Table {
    Table {
        columns: vec![
            "severity".into(),
            "code".into(),
            "subject".into(),
            "message".into(),
        ],
        rows: findings
            .iter()
            .map(|f| {
                vec![
                    json!(f.severity.as_str()),
                    json!(f.code),
                    json!(f.subject.name),
                    json!(f.message),
                ]
            })
            .collect(),
    }
}

/// Findings for a terminal, the way compilers print them: per finding one header line
/// `severity[CODE] subject  origin` (never broken), the message wrapped under it; the findings of
/// one rule or query together, and what to do printed once for the group. An origin every finding
/// shares (`common`: the report's input, named in its summary) is not repeated.
fn findings_text(findings: &[&Finding], common: Option<&str>, w: &mut dyn Write) -> io::Result<()> {
    let esc = |s: &str| escape::terminal(s).into_owned();
    let mut codes: Vec<&str> = Vec::new();
    for f in findings {
        if !codes.contains(&f.code.as_str()) {
            codes.push(&f.code);
        }
    }
    for code in codes {
        let group: Vec<&&Finding> = findings.iter().filter(|f| f.code == code).collect();
        for f in &group {
            let origin = match &f.location {
                Some(l) => format!("  {}:{}", l.file, l.start_line),
                None if common == Some(f.subject.origin.as_str()) => String::new(),
                None => format!("  {}", f.subject.origin),
            };
            writeln!(
                w,
                "{}[{}] {}{}",
                f.severity.as_str(),
                f.code,
                esc(&f.subject.name),
                esc(&origin)
            )?;
            write_hanging(w, "  ", "  ", &esc(&f.message), WIDTH as usize - 2)?;
        }
        if let Some(f) = group.first() {
            let fix = format!("= fix ({}): {}", f.code, esc(&f.remediation));
            write_hanging(w, "  ", "    ", &fix, WIDTH as usize - 4)?;
            if let Some(r) = &f.reference {
                writeln!(w, "  = see: {}", esc(r))?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}

/// Counts of findings per severity, highest first.
pub fn severity_counts(findings: &[Finding]) -> Vec<(Severity, usize)> {
    [Severity::Error, Severity::Warning, Severity::Info]
        .into_iter()
        .map(|s| (s, findings.iter().filter(|f| f.severity == s).count()))
        .collect()
}

/// `findings: 4 error, 15 warning, 1 info`.
fn counts_line(findings: &[Finding]) -> String {
    let counts: Vec<String> = severity_counts(findings)
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    format!("findings: {}", counts.join(", "))
}

/// The JSON envelope of every findings document: the same head for every command, then the
/// command's own fields.
pub(super) fn envelope<'a, R: Serialize>(
    command: &'a str,
    source: &'a str,
    findings: &'a [Finding],
    gate: &GateView<'_>,
    rest: R,
) -> Envelope<'a, R> {
    Envelope {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "kscope",
            version: env!("CARGO_PKG_VERSION"),
        },
        command,
        source,
        summary: severity_counts(findings)
            .into_iter()
            .map(|(s, n)| (s.as_str().to_string(), json!(n)))
            .collect(),
        findings,
        gate: gate.active().then(|| gate.json()),
        rest,
    }
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

/// A findings document as JSON, serialized as it is written (a report's rows are not copied into
/// a `serde_json::Value` first).
#[derive(Serialize)]
pub(super) struct Envelope<'a, R: Serialize> {
    schema_version: u32,
    tool: Tool,
    command: &'a str,
    source: &'a str,
    summary: serde_json::Map<String, Value>,
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<Value>,
    #[serde(flatten)]
    rest: R,
}

/// The gate's lines after a table or Markdown document.
pub(super) fn write_gate(gate: &GateView<'_>, md: bool, w: &mut dyn Write) -> io::Result<()> {
    if !gate.active() && gate.fixed.is_empty() {
        return Ok(());
    }
    if md {
        writeln!(w, "\n## Gate\n")?;
        for l in gate.lines() {
            writeln!(w, "- {l}")?;
        }
    } else {
        writeln!(w, "\nGate")?;
        for l in gate.lines() {
            write_hanging(w, "  ", "    ", &l, WIDTH as usize - 4)?;
        }
    }
    Ok(())
}

pub(super) fn write_json(doc: &impl Serialize, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, doc)?;
    writeln!(w)
}

/// Lines escaped for a text medium (summaries quote input: origins, reasons).
fn escaped(lines: Vec<String>) -> Vec<String> {
    lines
        .iter()
        .map(|l| escape::terminal(l).into_owned())
        .collect()
}

/// The summary of a report, escaped for a text medium.
fn summary_lines(r: &Report) -> Vec<String> {
    escaped(raw_summary_lines(r))
}

fn raw_summary_lines(r: &Report) -> Vec<String> {
    let i = &r.ingest;
    let mut lines = vec![format!(
        "input: {} source(s), {} lines, {} requests ({} ResponseStarted merged with their completion, {} RequestReceived skipped, {} outside the window)",
        i.sources,
        i.lines,
        i.events,
        i.merged_started,
        i.skipped_request_received,
        i.outside_window
    )];
    if i.duplicates > 0 {
        lines.push(format!(
            "{} duplicate event(s) dropped (same auditID, stage and stageTimestamp delivered again)",
            i.duplicates
        ));
    }
    if i.not_audit > 0 {
        lines.push(format!(
            "{} record(s) are not Kubernetes API audit events (other services, categories or log streams): skipped",
            i.not_audit
        ));
    }
    if let Some((a, b)) = &r.time_range {
        lines.push(format!(
            "window judged: {a} .. {b} ({}; rates and thresholds are per this window)",
            r.window.as_deref().unwrap_or("length unknown")
        ));
    }
    if !i.fully_read() {
        lines.push(format!(
            "NOT FULLY READ: {} malformed line(s), {} unreadable source(s) (details on stderr and in JSON output)",
            i.malformed,
            i.read_errors.len()
        ));
    }
    let skipped: Vec<&str> = r
        .queries
        .iter()
        .filter(|q| q.skipped.is_some())
        .map(|q| q.query.code.as_str())
        .collect();
    if !skipped.is_empty() {
        lines.push(format!(
            "NOT COMPLETE: {} could not run within {} (see each query)",
            skipped.join(", "),
            r.memory.budget
        ));
    }
    lines.push(counts_line(&r.findings));
    lines
}

#[derive(Serialize)]
struct JsonReport<'a> {
    time_range: Option<TimeRange<'a>>,
    input: &'a crate::audit::scan::IngestStats,
    queries: Vec<JsonQuery<'a>>,
}

#[derive(Serialize)]
struct TimeRange<'a> {
    first: &'a str,
    last: &'a str,
}

#[derive(Serialize)]
struct JsonQuery<'a> {
    code: &'a str,
    name: &'a str,
    title: &'a str,
    columns: &'a [String],
    rows: JsonRows<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
}

/// The result of `kscope report`.
pub fn report(
    r: &Report,
    format: DocFormat,
    max_rows: usize,
    gate: &GateView<'_>,
    w: &mut dyn Write,
) -> io::Result<()> {
    match format {
        DocFormat::Html => super::html::report(r, gate, w),
        DocFormat::Json => {
            let doc = envelope(
                "report",
                &r.origin,
                &r.findings,
                gate,
                JsonReport {
                    time_range: r
                        .time_range
                        .as_ref()
                        .map(|(first, last)| TimeRange { first, last }),
                    input: &r.ingest,
                    queries: r
                        .queries
                        .iter()
                        .map(|q| JsonQuery {
                            code: &q.query.code,
                            name: &q.query.name,
                            title: &q.query.title,
                            columns: &q.table.columns,
                            rows: JsonRows(&q.table),
                            skipped: q.skipped.as_deref(),
                        })
                        .collect(),
                },
            );
            write_json(&doc, w)
        }
        DocFormat::Csv => {
            // one CSV block per query, separated by a `# CODE title` line
            for q in &r.queries {
                writeln!(w, "# {} {}", q.query.code, q.query.title)?;
                if let Some(why) = &q.skipped {
                    writeln!(w, "# not computed: {why}")?;
                }
                csv(&q.table, w)?;
                writeln!(w)?;
            }
            writeln!(w, "# findings")?;
            csv(&findings_table(&r.findings), w)
        }
        DocFormat::Markdown => {
            for q in &r.queries {
                writeln!(
                    w,
                    "## {} {}\n\n{}\n",
                    q.query.code, q.query.title, q.query.finds
                )?;
                if let Some(why) = &q.skipped {
                    writeln!(w, "**Not computed:** {why}\n")?;
                } else if q.table.rows.is_empty() {
                    writeln!(w, "_no rows_\n")?;
                } else {
                    markdown(&q.table, max_rows, w)?;
                    writeln!(w)?;
                }
            }
            writeln!(w, "## Summary\n")?;
            for l in summary_lines(r) {
                writeln!(w, "- {l}")?;
            }
            if !r.findings.is_empty() {
                writeln!(w, "\n## Findings\n")?;
                markdown(&findings_table(&r.findings), 0, w)?;
            }
            write_gate(gate, true, w)
        }
        DocFormat::Table => {
            for q in &r.queries {
                writeln!(w, "{} {}", q.query.code, q.query.title)?;
                writeln!(w, "{}", one_line(&q.query.finds))?;
                if let Some(why) = &q.skipped {
                    writeln!(w, "NOT COMPUTED: {}\n", one_line(why))?;
                } else if q.table.rows.is_empty() {
                    writeln!(w, "(no rows)\n")?;
                } else {
                    writeln!(w, "{}\n", text_table(&q.table, max_rows))?;
                }
            }
            writeln!(w, "Summary")?;
            for l in summary_lines(r) {
                write_hanging(w, "  ", "    ", &l, WIDTH as usize - 4)?;
            }
            if !r.findings.is_empty() {
                writeln!(w, "\nFindings\n")?;
                let all: Vec<&Finding> = r.findings.iter().collect();
                findings_text(&all, Some(&r.origin), w)?;
            }
            write_gate(gate, false, w)
        }
    }
}

fn lint_table(findings: &[&Finding]) -> Table {
    Table {
        columns: ["code", "object", "origin", "message"]
            .map(String::from)
            .to_vec(),
        rows: findings
            .iter()
            .map(|f| {
                vec![
                    json!(f.code),
                    json!(f.subject.name),
                    json!(f.subject.origin),
                    json!(f.message),
                ]
            })
            .collect(),
    }
}

/// The summary of a lint, each line escaped for a text medium.
fn lint_summary(r: &LintReport) -> Vec<String> {
    escaped(raw_lint_summary(r))
}

fn raw_lint_summary(r: &LintReport) -> Vec<String> {
    let o = &r.outcome;
    let mut lines = vec![
        format!(
            "source: {}{}; target version {}{}",
            r.source,
            r.server_version
                .map(|v| format!(" (server {v})"))
                .unwrap_or_default(),
            r.target_version,
            if r.requests > 0 {
                format!("; {} API requests", r.requests)
            } else {
                String::new()
            }
        ),
        format!(
            "{} objects; {} rules: {} ran, {} skipped, {} not applicable (no objects of their kinds)",
            r.objects,
            r.rules,
            o.ran.len(),
            o.skipped.len(),
            o.not_applicable.len()
        ),
        counts_line(&o.findings),
    ];
    if !r.problems.is_empty() {
        lines.push(format!(
            "NOT FULLY READ: {} invalid document(s) or object(s) (listed on stderr and in JSON output)",
            r.problems.len()
        ));
    }
    lines
}

/// The result of `kscope lint`: findings grouped by severity, then a summary with skipped rules.
pub fn lint(
    r: &LintReport,
    format: DocFormat,
    gate: &GateView<'_>,
    w: &mut dyn Write,
) -> io::Result<()> {
    let findings = &r.outcome.findings;
    match format {
        DocFormat::Html => super::html::lint(r, gate, w),
        DocFormat::Json => {
            let mut rest = serde_json::to_value(r).map_err(io::Error::other)?;
            if let Some(m) = rest.as_object_mut() {
                m.remove("findings");
                m.remove("source");
            }
            write_json(&envelope("lint", &r.source, findings, gate, rest), w)
        }
        DocFormat::Csv => {
            let all: Vec<&Finding> = findings.iter().collect();
            let mut t = lint_table(&all);
            t.columns.insert(1, "severity".into());
            for (row, f) in t.rows.iter_mut().zip(findings) {
                row.insert(1, json!(f.severity.as_str()));
            }
            csv(&t, w)
        }
        DocFormat::Markdown | DocFormat::Table => {
            let md = format == DocFormat::Markdown;
            for sev in [Severity::Error, Severity::Warning, Severity::Info] {
                let group: Vec<&Finding> = findings.iter().filter(|f| f.severity == sev).collect();
                if group.is_empty() {
                    continue;
                }
                let title = format!("{} ({})", sev.as_str().to_uppercase(), group.len());
                if md {
                    writeln!(w, "## {title}\n")?;
                    markdown(&lint_table(&group), 0, w)?;
                    writeln!(w)?;
                } else {
                    writeln!(w, "{title}\n")?;
                    findings_text(&group, None, w)?;
                }
            }
            if md {
                writeln!(w, "## Summary\n")?;
                for l in lint_summary(r) {
                    writeln!(w, "- {l}")?;
                }
                for s in &r.outcome.skipped {
                    writeln!(w, "- skipped {} {}: {}", s.code, s.name, s.reason)?;
                }
            } else {
                writeln!(w, "Summary")?;
                for l in lint_summary(r) {
                    write_hanging(w, "  ", "    ", &l, WIDTH as usize - 4)?;
                }
                for s in &r.outcome.skipped {
                    // the reason quotes what the API server answered
                    let l = format!("skipped {} {}: {}", s.code, s.name, s.reason);
                    write_hanging(w, "  ", "    ", &escape::terminal(&l), WIDTH as usize - 4)?;
                }
            }
            write_gate(gate, md, w)
        }
    }
}
