//! Rendering: the only place that writes results (to the writer the CLI hands in, normally stdout).

use std::io::{self, Write};

use comfy_table::{CellAlignment, ContentArrangement, presets};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::scan::IngestStats;
use crate::finding::{Finding, Severity};
use crate::query::Query;
use crate::table::Table;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
}

/// Width of rendered tables: fits a 100-column terminal.
pub const WIDTH: u16 = 100;

/// One query's result in a report.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub query: Query,
    pub table: Table,
    pub findings: Vec<Finding>,
}

/// A whole `kscope report`.
#[derive(Debug, Clone)]
pub struct Report {
    pub queries: Vec<QueryOutput>,
    pub findings: Vec<Finding>,
    pub ingest: IngestStats,
    /// First and last request time in the input.
    pub time_range: Option<(String, String)>,
    pub origin: String,
}

fn is_numeric(v: &Value) -> bool {
    matches!(v, Value::Number(_))
}

/// The first sentence of a text, wrapped to [`WIDTH`] columns.
pub fn one_line(text: &str) -> String {
    let end = text.find(". ").map(|i| i + 1).unwrap_or(text.len());
    wrap(&text[..end], WIDTH as usize)
}

/// Greedy word wrap.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if col > 0 && col + 1 + w > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
    }
    out
}

/// A comfy-table of a result, at most `max_rows` rows (0 = all).
pub fn text_table(t: &Table, max_rows: usize) -> String {
    let mut ct = comfy_table::Table::new();
    ct.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(WIDTH)
        .set_header(t.columns.iter().map(String::as_str));
    let n = if max_rows == 0 {
        t.rows.len()
    } else {
        t.rows.len().min(max_rows)
    };
    for r in 0..n {
        ct.add_row((0..t.columns.len()).map(|c| {
            let cell = comfy_table::Cell::new(t.display(r, c));
            if t.rows[r].get(c).is_some_and(is_numeric) {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    let mut s = ct.to_string();
    if n < t.rows.len() {
        s.push_str(&format!(
            "\n… {} more rows (--max-rows 0 shows all)",
            t.rows.len() - n
        ));
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn csv(t: &Table, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{}",
        t.columns
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for r in 0..t.rows.len() {
        let line: Vec<String> = (0..t.columns.len())
            .map(|c| csv_field(&t.display(r, c)))
            .collect();
        writeln!(w, "{}", line.join(","))?;
    }
    Ok(())
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(t: &Table, max_rows: usize, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "| {} |",
        t.columns
            .iter()
            .map(|c| md_cell(c))
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    writeln!(
        w,
        "|{}|",
        t.columns
            .iter()
            .map(|_| "---")
            .collect::<Vec<_>>()
            .join("|")
    )?;
    let n = if max_rows == 0 {
        t.rows.len()
    } else {
        t.rows.len().min(max_rows)
    };
    for r in 0..n {
        let cells: Vec<String> = (0..t.columns.len())
            .map(|c| md_cell(&t.display(r, c)))
            .collect();
        writeln!(w, "| {} |", cells.join(" | "))?;
    }
    if n < t.rows.len() {
        writeln!(w, "\n_… {} more rows_", t.rows.len() - n)?;
    }
    Ok(())
}

/// Rows as JSON objects keyed by column.
pub fn json_rows(t: &Table) -> Vec<Value> {
    t.rows
        .iter()
        .map(|r| Value::Object(t.columns.iter().cloned().zip(r.iter().cloned()).collect()))
        .collect()
}

/// The result of `kscope sql`.
pub fn sql_result(t: &Table, format: Format, max_rows: usize, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => writeln!(w, "{}", text_table(t, max_rows)),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &json_rows(t))?;
            writeln!(w)
        }
        Format::Csv => csv(t, w),
        Format::Markdown => markdown(t, max_rows, w),
    }
}

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

/// Counts of findings per severity, highest first.
pub fn severity_counts(findings: &[Finding]) -> Vec<(Severity, usize)> {
    [Severity::Error, Severity::Warning, Severity::Info]
        .into_iter()
        .map(|s| (s, findings.iter().filter(|f| f.severity == s).count()))
        .collect()
}

fn summary_lines(r: &Report) -> Vec<String> {
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
    if let Some((a, b)) = &r.time_range {
        lines.push(format!("time range: {a} .. {b}"));
    }
    if !i.fully_read() {
        lines.push(format!(
            "NOT FULLY READ: {} malformed line(s), {} unreadable source(s) (details on stderr and in JSON output)",
            i.malformed,
            i.read_errors.len()
        ));
    }
    let counts = severity_counts(&r.findings);
    lines.push(format!(
        "findings: {}",
        counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    lines
}

#[derive(Serialize)]
struct JsonQuery<'a> {
    code: &'a str,
    name: &'a str,
    title: &'a str,
    columns: &'a [String],
    rows: Vec<Value>,
}

/// The result of `kscope report`.
pub fn report(r: &Report, format: Format, max_rows: usize, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => {
            let doc = json!({
                "origin": r.origin,
                "time_range": r.time_range.as_ref().map(|(a, b)| json!({"first": a, "last": b})),
                "input": r.ingest,
                "queries": r.queries.iter().map(|q| JsonQuery {
                    code: &q.query.code, name: &q.query.name, title: &q.query.title,
                    columns: &q.table.columns, rows: json_rows(&q.table),
                }).collect::<Vec<_>>(),
                "findings": r.findings,
                "summary": severity_counts(&r.findings).into_iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            });
            serde_json::to_writer_pretty(&mut *w, &doc)?;
            writeln!(w)
        }
        Format::Csv => {
            // one CSV block per query, separated by a `# CODE title` line
            for q in &r.queries {
                writeln!(w, "# {} {}", q.query.code, q.query.title)?;
                csv(&q.table, w)?;
                writeln!(w)?;
            }
            writeln!(w, "# findings")?;
            csv(&findings_table(&r.findings), w)
        }
        Format::Markdown => {
            for q in &r.queries {
                writeln!(
                    w,
                    "## {} {}\n\n{}\n",
                    q.query.code, q.query.title, q.query.finds
                )?;
                if q.table.rows.is_empty() {
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
            Ok(())
        }
        Format::Table => {
            for q in &r.queries {
                writeln!(w, "{} {}", q.query.code, q.query.title)?;
                writeln!(w, "{}", one_line(&q.query.finds))?;
                if q.table.rows.is_empty() {
                    writeln!(w, "(no rows)\n")?;
                } else {
                    writeln!(w, "{}\n", text_table(&q.table, max_rows))?;
                }
            }
            writeln!(w, "Summary")?;
            for l in summary_lines(r) {
                for (i, part) in wrap(&l, WIDTH as usize - 4).lines().enumerate() {
                    writeln!(w, "{}{part}", if i == 0 { "  " } else { "    " })?;
                }
            }
            if !r.findings.is_empty() {
                writeln!(w, "\nFindings")?;
                writeln!(w, "{}", text_table(&findings_table(&r.findings), 0))?;
            }
            Ok(())
        }
    }
}

/// `kscope rules`: one line per rule.
pub fn rules_list(rules: &[crate::rules::Rule], w: &mut dyn Write) -> io::Result<()> {
    let t = Table {
        columns: ["code", "name", "severity", "kinds", "summary"]
            .map(String::from)
            .to_vec(),
        rows: rules
            .iter()
            .map(|r| {
                vec![
                    json!(r.code),
                    json!(r.name),
                    json!(r.severity.as_str()),
                    json!(r.kinds.join(", ")),
                    json!(r.summary),
                ]
            })
            .collect(),
    };
    writeln!(w, "{}", text_table(&t, 0))
}

/// `kscope rules explain CODE`: the rule's whole text.
pub fn rule_explain(r: &crate::rules::Rule, w: &mut dyn Write) -> io::Result<()> {
    let width = WIDTH as usize;
    writeln!(w, "{} {} ({})", r.code, r.name, r.severity)?;
    writeln!(w, "{}\n", wrap(&r.summary, width))?;
    writeln!(w, "Looks at: {}", r.kinds.join(", "))?;
    if !r.needs.is_empty() {
        writeln!(w, "Also needs: {}", r.needs.join(", "))?;
    }
    if r.from.is_some() || r.until.is_some() {
        let v = |x: Option<crate::inventory::Version>| x.map(|v| v.to_string()).unwrap_or_default();
        writeln!(w, "Kubernetes versions: {}..{}", v(r.from), v(r.until))?;
    }
    writeln!(w, "\nWhy it matters\n{}", indent(&r.why, width))?;
    writeln!(w, "\nRemediation\n{}", indent(&r.remediation, width))?;
    if !r.params.is_empty() {
        writeln!(w, "\nParameters (--param {}.NAME=VALUE)", r.code)?;
        for p in &r.params {
            writeln!(w, "  {} = {}", p.name, p.default)?;
            writeln!(
                w,
                "{}",
                indent(&p.doc, width - 4)
                    .replace("\n  ", "\n    ")
                    .replacen("  ", "    ", 1)
            )?;
        }
    }
    writeln!(w, "\nReferences")?;
    for u in &r.references {
        writeln!(w, "  {u}")?;
    }
    Ok(())
}

fn indent(text: &str, width: usize) -> String {
    text.split("\n\n")
        .map(|para| {
            wrap(para, width - 2)
                .lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
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

fn lint_summary(r: &crate::lint::LintReport) -> Vec<String> {
    let o = &r.outcome;
    let counts = severity_counts(&o.findings);
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
        format!(
            "findings: {}",
            counts
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
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
pub fn lint(r: &crate::lint::LintReport, format: Format, w: &mut dyn Write) -> io::Result<()> {
    let findings = &r.outcome.findings;
    match format {
        Format::Json => {
            let mut doc = serde_json::to_value(r).map_err(io::Error::other)?;
            if let Some(m) = doc.as_object_mut() {
                m.insert(
                    "summary".into(),
                    severity_counts(findings)
                        .into_iter()
                        .map(|(s, n)| (s.as_str().to_string(), json!(n)))
                        .collect::<serde_json::Map<_, _>>()
                        .into(),
                );
            }
            serde_json::to_writer_pretty(&mut *w, &doc)?;
            writeln!(w)
        }
        Format::Csv => {
            let all: Vec<&Finding> = findings.iter().collect();
            let mut t = lint_table(&all);
            t.columns.insert(1, "severity".into());
            for (row, f) in t.rows.iter_mut().zip(findings) {
                row.insert(1, json!(f.severity.as_str()));
            }
            csv(&t, w)
        }
        Format::Markdown | Format::Table => {
            let md = format == Format::Markdown;
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
                    writeln!(w, "{title}")?;
                    writeln!(w, "{}\n", text_table(&lint_table(&group), 0))?;
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
                    writeln!(
                        w,
                        "  {}",
                        wrap(&l, WIDTH as usize - 4).replace('\n', "\n    ")
                    )?;
                }
                for s in &r.outcome.skipped {
                    let l = format!("skipped {} {}: {}", s.code, s.name, s.reason);
                    writeln!(
                        w,
                        "  {}",
                        wrap(&l, WIDTH as usize - 4).replace('\n', "\n    ")
                    )?;
                }
            }
            Ok(())
        }
    }
}

/// `kscope cache ls`: the cached CloudWatch slices, one table per log group.
pub fn cache_list(
    slices: &[(
        crate::cloudwatch::cache::SlicePaths,
        crate::cloudwatch::cache::SliceState,
    )],
    root: &std::path::Path,
    w: &mut dyn Write,
) -> io::Result<()> {
    writeln!(w, "{}", root.display())?;
    if slices.is_empty() {
        return writeln!(w, "(empty)");
    }
    let mut groups: Vec<(String, Table)> = Vec::new();
    for (p, s) in slices {
        let title = format!("{} {}", s.region, s.log_group);
        if groups.last().is_none_or(|g| g.0 != title) {
            groups.push((
                title,
                Table {
                    columns: ["stream", "start", "span", "events", "MB", "state"]
                        .map(String::from)
                        .to_vec(),
                    rows: Vec::new(),
                },
            ));
        }
        let size = p.data.metadata().map(|m| m.len()).unwrap_or(0);
        let state = if s.settled() {
            "complete"
        } else if s.complete {
            "recent"
        } else {
            "partial"
        };
        if let Some((_, t)) = groups.last_mut() {
            t.rows.push(vec![
                json!(s.stream),
                json!(crate::timearg::format_micros(s.start_ms * 1000)),
                json!(crate::cloudwatch::human_duration(s.end_ms - s.start_ms)),
                json!(s.events),
                json!(format!("{:.2}", size as f64 / 1e6)),
                json!(state),
            ]);
        }
    }
    for (title, t) in groups {
        writeln!(w, "\n{title}\n{}", text_table(&t, 0))?;
    }
    writeln!(
        w,
        "recent: ends less than 10 minutes before it was downloaded, so it is downloaded again; \
         partial: an interrupted download, resumed by the next run"
    )
}
