//! One self-contained HTML page per run (`--format html`): no network access when opened (a
//! Content-Security-Policy allows nothing external), light and dark, printable. The summary and
//! the findings first, then the detail: charts (inline SVG from [`super::charts`]) and sortable
//! tables.

use std::io::{self, Write};

use super::GateView;
use super::charts::{self, Chart, Series, X};
use crate::analysis::Report;
use crate::finding::{Finding, Severity};
use crate::lint::LintReport;
use crate::preflight::{Evidence, PreflightReport};
use crate::query::ChartKind;
use crate::table::Table;

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE: &str = r#"
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #ffffff; --muted: #5f6368; --line: #d9d9de;
  --error: #b3261e; --warning: #8a5a00; --info: #1a5fb4; --ok: #1e7b34; --panel: #f5f6f8; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ea; --bg: #161618; --muted: #a8a8ad; --line: #3a3a3f; --error: #ff8a80;
    --warning: #ffcc66; --info: #8ab4f8; --ok: #81c995; --panel: #222226; }
  svg.chart { filter: invert(0.88) hue-rotate(180deg); }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px; font: 14px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
.muted { color: var(--muted); } .skipped { color: var(--error); } .summary { background: var(--panel); padding: 12px 16px; border-radius: 8px; }
.summary ul { margin: 4px 0; padding-left: 20px; }
.verdict { font-size: 20px; font-weight: 700; }
.sev-error, .BLOCKED { color: var(--error); } .sev-warning, .READY-WITH-WARNINGS { color: var(--warning); }
.sev-info { color: var(--info); } .READY { color: var(--ok); }
.counts span { margin-right: 16px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { cursor: pointer; user-select: none; background: var(--panel); position: sticky; top: 0; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
table.findings td:nth-child(-n+2) { white-space: nowrap; overflow-wrap: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
details { margin: 2px 0; } summary { cursor: pointer; color: var(--muted); }
svg.chart { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.more { color: var(--muted); font-style: italic; }
@media print { body { max-width: none; padding: 0; font-size: 11px; } th { position: static; }
  details { display: block; } details > summary { display: none; } details > * { display: block; }
  section, table, svg { break-inside: avoid-page; } @page { size: A4; margin: 14mm; } }
"#;

/// Sorts a table by the clicked column (numbers as numbers); no framework.
const SCRIPT: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v") || a.cells[col].textContent;
      var y = b.cells[col].getAttribute("data-v") || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny) && String(nx) === x.trim() && String(ny) === y.trim()) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"#;

/// Rows shown per detail table in the page (the JSON holds all).
const MAX_ROWS: usize = 200;

pub fn escape(s: &str) -> String {
    super::escape::html(s)
}

fn severity_counts(findings: &[Finding]) -> String {
    [Severity::Error, Severity::Warning, Severity::Info]
        .iter()
        .map(|s| {
            format!(
                "<span class=\"sev-{s}\">{} {s}</span>",
                findings.iter().filter(|f| f.severity == *s).count()
            )
        })
        .collect()
}

/// Why and reference of a code: the query's or the rule's own text.
fn explain(code: &str, report: Option<&Report>) -> (String, Option<String>) {
    if let Some(q) = report.and_then(|r| r.queries.iter().find(|q| q.query.code == code)) {
        return (q.query.why.clone(), q.query.reference.clone());
    }
    crate::rules::registry()
        .ok()
        .and_then(|r| r.iter().find(|r| r.code == code))
        .map(|r| (r.why.clone(), r.references.first().cloned()))
        .unwrap_or_default()
}

fn findings_table(findings: &[Finding], report: Option<&Report>, out: &mut String) {
    if findings.is_empty() {
        out.push_str("<p class=\"muted\">No findings.</p>\n");
        return;
    }
    out.push_str("<table class=\"sortable findings\"><thead><tr><th>severity</th><th>code</th><th>subject</th><th>message</th><th>remediation</th></tr></thead><tbody>\n");
    for f in findings {
        let (why, reference) = explain(&f.code, report);
        let rank = match f.severity {
            Severity::Error => 3,
            Severity::Warning => 2,
            Severity::Info => 1,
        };
        out.push_str(&format!(
            "<tr><td class=\"sev-{sev}\" data-v=\"{rank}\">{sev}</td><td>{code}<br><span class=\"muted\">{name}</span></td><td>{subject}<br><span class=\"muted\">{origin}</span></td><td>{msg}</td><td>{fix}<details><summary>why</summary><p>{why}</p>{reference}</details></td></tr>\n",
            sev = f.severity,
            code = escape(&f.code),
            name = escape(&f.name),
            subject = escape(&f.subject.name),
            origin = escape(&f.subject.origin),
            msg = escape(&f.message),
            fix = escape(&f.remediation),
            why = escape(&why),
            reference = reference
                .map(|u| format!("<p class=\"muted\">Reference: {}</p>", escape(&u)))
                .unwrap_or_default(),
        ));
    }
    out.push_str("</tbody></table>\n");
}

fn data_table(t: &Table, out: &mut String) {
    out.push_str("<table class=\"sortable\"><thead><tr>");
    for c in &t.columns {
        out.push_str(&format!("<th>{}</th>", escape(c)));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (r, row) in t.rows.iter().enumerate().take(MAX_ROWS) {
        out.push_str("<tr>");
        for (c, v) in row.iter().enumerate() {
            let text = t.display(r, c);
            if v.is_number() {
                out.push_str(&format!("<td class=\"num\">{}</td>", escape(&text)));
            } else {
                out.push_str(&format!("<td>{}</td>", escape(&text)));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    if t.rows.len() > MAX_ROWS {
        out.push_str(&format!(
            "<p class=\"more\">{} more rows (the JSON output holds every row)</p>\n",
            t.rows.len() - MAX_ROWS
        ));
    }
}

/// Summary items for what could not be read (`file:line: reason`).
fn not_read(problems: &[String], out: &mut String) {
    for p in problems {
        out.push_str(&format!(
            "<li class=\"sev-error\">Not read: {}</li>",
            escape(p)
        ));
    }
}

fn gate_section(gate: &GateView<'_>, out: &mut String) {
    if !gate.active() && gate.fixed.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"gate\">Gate</h2><ul>");
    for l in gate.lines() {
        out.push_str(&format!("<li>{}</li>", escape(&l)));
    }
    out.push_str("</ul>\n");
}

fn page(title: &str, body: &str, w: &mut dyn Write) -> io::Result<()> {
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"kscope {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title)
    )
}

fn chart_block(c: &Chart, out: &mut String) {
    out.push_str(&charts::svg(c, 1180, 380));
    out.push('\n');
}

/// `kscope report` as a page: summary, findings, then one section per query (chart, table).
pub fn report(r: &Report, gate: &GateView<'_>, w: &mut dyn Write) -> io::Result<()> {
    let mut b = String::new();
    b.push_str("<h1>kscope report</h1>\n<div class=\"summary\">\n");
    b.push_str(&format!(
        "<div class=\"counts\">{}</div><ul>",
        severity_counts(&r.findings)
    ));
    b.push_str(&format!("<li>Source: {}</li>", escape(&r.origin)));
    if let Some((a, z)) = &r.time_range {
        b.push_str(&format!(
            "<li>Window judged: {} to {} ({})</li>",
            escape(a),
            escape(z),
            escape(r.window.as_deref().unwrap_or("length unknown"))
        ));
    }
    let i = &r.ingest;
    b.push_str(&format!(
        "<li>{} requests from {} line(s)</li>",
        i.events, i.lines
    ));
    if i.duplicates > 0 {
        b.push_str(&format!(
            "<li>{} duplicate event(s) dropped</li>",
            i.duplicates
        ));
    }
    if i.not_audit > 0 {
        b.push_str(&format!(
            "<li>{} record(s) are not Kubernetes API audit events: skipped</li>",
            i.not_audit
        ));
    }
    if !i.fully_read() {
        b.push_str(&format!(
            "<li class=\"sev-error\">Not fully read: {} malformed line(s), {} unreadable source(s)</li>",
            i.malformed,
            i.read_errors.len()
        ));
        for m in &i.malformed_samples {
            b.push_str(&format!(
                "<li class=\"muted\">{}: {}</li>",
                escape(&m.source),
                escape(&m.reason)
            ));
        }
    }
    for q in r.queries.iter().filter(|q| q.skipped.is_some()) {
        b.push_str(&format!(
            "<li class=\"sev-error\">Not computed within {}: <a href=\"#{code}\">{code}</a></li>",
            escape(&r.memory.budget),
            code = escape(&q.query.code)
        ));
    }
    b.push_str("</ul></div>\n<h2 id=\"findings\">Findings</h2>\n");
    findings_table(&r.findings, Some(r), &mut b);
    gate_section(gate, &mut b);
    b.push_str("<h2 id=\"detail\">Analyses</h2>\n");
    for q in &r.queries {
        b.push_str(&format!(
            "<section id=\"{code}\"><h3>{code} {title}</h3><p class=\"muted\">{finds}</p>\n",
            code = escape(&q.query.code),
            title = escape(&q.query.title),
            finds = escape(&q.query.finds)
        ));
        if let Some(c) = q
            .query
            .chart
            .as_ref()
            .and_then(|spec| charts::from_table(&q.query.title, spec, &q.table))
        {
            chart_block(&c, &mut b);
        }
        if let Some(why) = &q.skipped {
            b.push_str(&format!(
                "<p class=\"skipped\"><strong>Not computed:</strong> {}</p>\n",
                escape(why)
            ));
        } else if q.table.rows.is_empty() {
            b.push_str("<p class=\"muted\">No rows.</p>\n");
        } else {
            data_table(&q.table, &mut b);
        }
        b.push_str("</section>\n");
    }
    page("kscope report", &b, w)
}

/// Counts per (x, series) as a bar chart.
fn count_chart(title: &str, x_label: &str, pairs: &[(String, String)]) -> Chart {
    let mut series: Vec<Series> = Vec::new();
    for (x, s) in pairs {
        let i = match series.iter().position(|e| &e.name == s) {
            Some(i) => i,
            None => {
                series.push(Series {
                    name: s.clone(),
                    points: Vec::new(),
                });
                series.len() - 1
            }
        };
        let e = &mut series[i];
        match e
            .points
            .iter_mut()
            .find(|(k, _)| *k == X::Category(x.clone()))
        {
            Some(p) => p.1 += 1.0,
            None => e.points.push((X::Category(x.clone()), 1.0)),
        }
    }
    Chart {
        title: title.into(),
        kind: ChartKind::Bar,
        x_label: x_label.into(),
        y_label: "findings (count)".into(),
        series,
    }
}

/// The area of a code: its letters (`WH`, `AP`, `CR`, `DA`, `GC`, `UP`, `KS`).
fn area(code: &str) -> String {
    code.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect()
}

/// `kscope lint` as a page.
pub fn lint(r: &LintReport, gate: &GateView<'_>, w: &mut dyn Write) -> io::Result<()> {
    let f = &r.outcome.findings;
    let mut b = String::new();
    b.push_str("<h1>kscope lint</h1>\n<div class=\"summary\">\n");
    b.push_str(&format!(
        "<div class=\"counts\">{}</div><ul>",
        severity_counts(f)
    ));
    b.push_str(&format!(
        "<li>Source: {}; target version {}{}</li><li>{} objects, {} rules: {} ran, {} skipped, {} not applicable</li>",
        escape(&r.source),
        r.target_version,
        r.server_version.map(|v| format!(" (server {v})")).unwrap_or_default(),
        r.objects,
        r.rules,
        r.outcome.ran.len(),
        r.outcome.skipped.len(),
        r.outcome.not_applicable.len()
    ));
    for s in &r.outcome.skipped {
        b.push_str(&format!(
            "<li class=\"muted\">Not checked: {} {}: {}</li>",
            escape(&s.code),
            escape(&s.name),
            escape(&s.reason)
        ));
    }
    not_read(&r.problems, &mut b);
    b.push_str("</ul></div>\n<h2 id=\"findings\">Findings</h2>\n");
    findings_table(f, None, &mut b);
    gate_section(gate, &mut b);
    if !f.is_empty() {
        b.push_str("<h2 id=\"detail\">By area</h2>\n");
        let pairs: Vec<(String, String)> = f
            .iter()
            .map(|x| (area(&x.code), x.severity.to_string()))
            .collect();
        chart_block(
            &count_chart(
                "Findings by area and severity",
                "area (code prefix)",
                &pairs,
            ),
            &mut b,
        );
    }
    if !r.crds.is_empty() {
        b.push_str("<h2 id=\"crds\">CRDs</h2>\n");
        let mut by_size: Vec<&crate::lint::CrdStat> = r.crds.iter().collect();
        by_size.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        let bars = |title: &str, y: &str, v: &dyn Fn(&crate::lint::CrdStat) -> Option<f64>| Chart {
            title: title.into(),
            kind: ChartKind::Bar,
            x_label: "CRD".into(),
            y_label: y.into(),
            series: vec![Series {
                name: y.into(),
                points: by_size
                    .iter()
                    .filter_map(|c| v(c).map(|y| (X::Category(c.name.clone()), y)))
                    .collect(),
            }],
        };
        chart_block(
            &bars("CRDs by size", "size (KiB)", &|c| {
                Some(c.bytes as f64 / 1024.0)
            }),
            &mut b,
        );
        if r.crds.iter().any(|c| c.objects.is_some()) {
            chart_block(
                &bars("CRDs by object count", "custom objects (count)", &|c| {
                    c.objects.map(|n| n as f64)
                }),
                &mut b,
            );
        }
    }
    page("kscope lint", &b, w)
}

/// `kscope preflight` as a page: the verdict, the hop plan, blockers and warnings with evidence.
pub fn preflight(r: &PreflightReport, gate: &GateView<'_>, w: &mut dyn Write) -> io::Result<()> {
    let findings = r.findings();
    let mut b = String::new();
    let verdict = r.verdict.as_str();
    b.push_str(&format!(
        "<h1>Upgrade preflight {} → {}</h1>\n<div class=\"summary\"><div class=\"verdict {}\">{}</div><ul>",
        r.plan.from,
        r.plan.target,
        verdict.replace(' ', "-"),
        verdict
    ));
    b.push_str(&format!("<li>Sources: {}</li>", escape(&r.source)));
    for n in &r.not_checked {
        b.push_str(&format!(
            "<li class=\"muted\">Not checked: {}: {}</li>",
            escape(&n.check),
            escape(&n.reason)
        ));
    }
    not_read(&r.problems, &mut b);
    b.push_str("</ul></div>\n<h2 id=\"hops\">Hop plan</h2>\n");
    let hops = Table {
        columns: vec![
            "hop".into(),
            "verdict".into(),
            "blockers".into(),
            "warnings".into(),
        ],
        rows: r
            .hops
            .iter()
            .map(|h| {
                vec![
                    serde_json::json!(h.version.to_string()),
                    serde_json::json!(h.verdict.as_str()),
                    serde_json::json!(h.blockers),
                    serde_json::json!(h.warnings),
                ]
            })
            .collect(),
    };
    data_table(&hops, &mut b);
    let mut per_hop: Vec<(String, String)> = Vec::new();
    for i in &r.items {
        per_hop.push((
            i.hop.to_string(),
            if i.blocking { "blocker" } else { "warning" }.to_string(),
        ));
    }
    if !per_hop.is_empty() {
        chart_block(
            &count_chart(
                "Blockers and warnings per hop",
                "hop (minor version)",
                &per_hop,
            ),
            &mut b,
        );
    }
    b.push_str("<h2 id=\"findings\">Blockers and warnings</h2>\n");
    findings_table(&findings, None, &mut b);
    gate_section(gate, &mut b);
    let by_source: Vec<(String, String)> = r
        .items
        .iter()
        .filter(|i| i.blocking)
        .flat_map(|i| {
            i.evidence.iter().map(|e| {
                let s = match e {
                    Evidence::Manifest { .. } => "manifest",
                    Evidence::Helm { .. } => "Helm release",
                    Evidence::LiveObject { .. } => "live object",
                    Evidence::Audit { .. } => "audit log",
                    Evidence::Metrics { .. } => "/metrics",
                };
                (s.to_string(), "blockers".to_string())
            })
        })
        .collect();
    if !by_source.is_empty() {
        b.push_str("<h2 id=\"evidence\">Evidence</h2>\n");
        chart_block(
            &count_chart("Blockers by source of evidence", "source", &by_source),
            &mut b,
        );
        let t = Table {
            columns: vec![
                "hop".into(),
                "code".into(),
                "subject".into(),
                "evidence".into(),
            ],
            rows: r
                .items
                .iter()
                .flat_map(|i| {
                    i.evidence.iter().map(move |e| {
                        vec![
                            serde_json::json!(i.hop.to_string()),
                            serde_json::json!(i.finding.code),
                            serde_json::json!(i.finding.subject.name),
                            serde_json::json!(e.describe()),
                        ]
                    })
                })
                .collect(),
        };
        data_table(&t, &mut b);
    }
    page("kscope preflight", &b, w)
}
