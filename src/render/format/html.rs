//! One self-contained HTML page per run: no network access when opened (a Content-Security-Policy
//! allows nothing external), light and dark, printable. It opens on the picture: the verdict or
//! the counts, the window and sources, the charts (inline SVG from [`crate::render::charts`]);
//! then the findings grouped by rule, then each section's rows in sortable tables.

use std::io::{self, Write};

use crate::finding::Severity;
use crate::render::charts;
use crate::render::document::{Document, Tone};
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
.sev-error { color: var(--error); } .sev-warning { color: var(--warning); }
.sev-info { color: var(--info); } .ok { color: var(--ok); }
.counts a { text-decoration: none; }
.charts figure { margin: 12px 0; } .charts figcaption { font-weight: 600; }
table.rules { table-layout: fixed; } table.rules col.sev { width: 84px; } table.rules col.code { width: 190px; }
table.rules col.count { width: 70px; } table.rules col.fix { width: 38%; }
table.rules > tbody.rule > tr:first-child > td { border-top: 2px solid var(--line); }
table.rules tr.subjects > td { padding: 0 0 8px 24px; border-bottom: none; }
table.rules > tbody > tr:first-child > td:nth-child(-n+2) { white-space: nowrap; overflow-wrap: normal; }
table.subjects { font-size: 13px; margin: 2px 0 4px; }
ul.evidence { margin: 2px 0; padding-left: 18px; color: var(--muted); }
.counts a { margin-right: 16px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { cursor: pointer; user-select: none; background: var(--panel); position: sticky; top: 0; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
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
/// Subjects of one rule shown before "show all".
const FIRST_SUBJECTS: usize = 50;
/// Subjects of one rule in the page at all (the JSON holds every finding).
const MAX_SUBJECTS: usize = 2000;

fn escape(s: &str) -> String {
    crate::render::escape::html(s)
}

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Good => "ok",
        Tone::Warn => "sev-warning",
        Tone::Bad => "sev-error",
        Tone::Muted => "muted",
    }
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Error => 3,
        Severity::Warning => 2,
        Severity::Info => 1,
    }
}

fn data_table(t: &Table, limit: usize, out: &mut String) {
    out.push_str("<table class=\"sortable\"><thead><tr>");
    for c in &t.columns {
        out.push_str(&format!("<th>{}</th>", escape(c)));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (r, row) in t.rows.iter().enumerate().take(limit) {
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
    if t.rows.len() > limit {
        out.push_str(&format!(
            "<p class=\"more\">{} more rows (the JSON output holds every row)</p>\n",
            t.rows.len() - limit
        ));
    }
}

/// The subjects of one rule: a sortable table of the given findings.
fn subjects_table(doc: &Document<'_>, idx: &[usize], out: &mut String) {
    let tags = doc.tag_names();
    // the document's source is said once, at the top
    let place = idx.iter().any(|&i| doc.own_place(i).is_some());
    out.push_str("<table class=\"sortable subjects\"><thead><tr><th>subject</th>");
    if place {
        out.push_str("<th>where</th>");
    }
    for t in &tags {
        out.push_str(&format!("<th>{}</th>", escape(t)));
    }
    out.push_str("<th>message</th></tr></thead><tbody>\n");
    for &i in idx {
        let f = doc.findings[i];
        out.push_str(&format!("<tr><td>{}</td>", escape(&f.subject.name)));
        if place {
            out.push_str(&format!("<td>{}</td>", escape(&doc.place(i))));
        }
        let d = doc.detail(i);
        for t in &tags {
            let v = d
                .and_then(|d| d.tags.iter().find(|(k, _)| k == t))
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            out.push_str(&format!("<td>{}</td>", escape(v)));
        }
        out.push_str(&format!("<td>{}", escape(&f.message)));
        let evidence = doc.evidence(i);
        if !evidence.is_empty() {
            out.push_str("<ul class=\"evidence\">");
            for e in evidence {
                out.push_str(&format!("<li>{}</li>", escape(e)));
            }
            out.push_str("</ul>");
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// The findings grouped by rule: one row per rule (severity, code, title, count, what to do),
/// its subjects under it, the first [`FIRST_SUBJECTS`] shown and the rest behind "show all".
fn findings(doc: &Document<'_>, out: &mut String) {
    if doc.findings.is_empty() {
        out.push_str(&format!(
            "<p class=\"muted\">{}</p>\n",
            escape(doc.no_findings)
        ));
        return;
    }
    out.push_str("<table class=\"rules\"><colgroup><col class=\"sev\"><col class=\"code\"><col><col class=\"count\"><col class=\"fix\"></colgroup><thead><tr><th>severity</th><th>code</th><th>finding</th><th class=\"num\">count</th><th>what to do</th></tr></thead>\n");
    for g in doc.groups() {
        let f = g.first;
        let title = g.title();
        let why = g.about.map(|d| d.why.as_str()).unwrap_or("");
        out.push_str(&format!(
            "<tbody class=\"rule\" id=\"rule-{code}\"><tr><td class=\"sev-{sev}\" data-v=\"{rank}\">{sev}</td><td><strong>{code}</strong><br><span class=\"muted\">{name}</span></td><td>{title}</td><td class=\"num\">{count}</td><td>{fix}{why}{reference}</td></tr>\n",
            sev = f.severity,
            rank = rank(f.severity),
            code = escape(g.code),
            name = escape(&f.name),
            title = escape(title),
            count = thousands(g.findings.len()),
            fix = escape(&f.remediation),
            why = if why.is_empty() {
                String::new()
            } else {
                format!("<details><summary>why</summary><p>{}</p></details>", escape(why))
            },
            reference = f
                .reference
                .as_ref()
                .map(|u| format!("<p class=\"muted\">Reference: {}</p>", escape(u)))
                .unwrap_or_default(),
        ));
        out.push_str("<tr class=\"subjects\"><td colspan=\"5\">");
        let shown: Vec<usize> = g.findings.iter().copied().take(MAX_SUBJECTS).collect();
        let (first, rest) = shown.split_at(shown.len().min(FIRST_SUBJECTS));
        subjects_table(doc, first, out);
        if !rest.is_empty() {
            out.push_str(&format!(
                "<details class=\"all\"><summary>show all {}</summary>",
                thousands(g.findings.len())
            ));
            subjects_table(doc, rest, out);
            out.push_str("</details>");
        }
        if g.findings.len() > shown.len() {
            out.push_str(&format!(
                "<p class=\"more\">{} more (the JSON output holds every finding)</p>",
                thousands(g.findings.len() - shown.len())
            ));
        }
        out.push_str("</td></tr></tbody>\n");
    }
    out.push_str("</table>\n");
}

/// `12345` → `12,345`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn page(title: &str, body: &str, w: &mut dyn Write) -> io::Result<()> {
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"kscope {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title)
    )
}

/// The page: the verdict or the counts, the summary, the charts; then the findings grouped by
/// rule; then what did not run, the gate, and each section's rows.
pub fn write(doc: &Document<'_>, w: &mut dyn Write) -> io::Result<()> {
    let mut b = String::new();
    b.push_str(&format!(
        "<h1>{}</h1>\n<div class=\"summary\">\n",
        escape(&doc.title)
    ));
    if let Some(v) = &doc.verdict {
        b.push_str(&format!(
            "<div class=\"verdict {}\">{}</div>",
            tone_class(v.tone),
            escape(&v.text)
        ));
    }
    b.push_str("<div class=\"counts\">");
    for (s, n) in doc.counts() {
        b.push_str(&format!(
            "<a href=\"#findings\" class=\"sev-{s}\">{} {s}</a>",
            thousands(n)
        ));
    }
    b.push_str("</div><ul>");
    for l in &doc.summary {
        b.push_str(&format!(
            "<li class=\"{}\">{}</li>",
            tone_class(l.tone),
            escape(&l.text)
        ));
    }
    if !doc.problems.is_empty() {
        b.push_str(&format!(
            "<li class=\"sev-error\"><a href=\"#not-read\">{} input problem(s)</a>: not fully read</li>",
            thousands(doc.problems.len())
        ));
    }
    if !doc.not_run.is_empty() {
        b.push_str(&format!(
            "<li class=\"muted\"><a href=\"#not-checked\">{} check(s) did not run</a></li>",
            doc.not_run.len()
        ));
    }
    b.push_str("</ul></div>\n");
    let charted: Vec<_> = doc.sections.iter().filter(|s| s.chart.is_some()).collect();
    if !charted.is_empty() {
        b.push_str("<div class=\"charts\">\n");
        for s in charted {
            if let Some(c) = &s.chart {
                b.push_str(&format!(
                    "<figure><figcaption><a href=\"#{}\">{}</a></figcaption>",
                    escape(&s.id),
                    escape(&s.title)
                ));
                b.push_str(&charts::svg(c, 1180, 380));
                b.push_str("</figure>\n");
            }
        }
        b.push_str("</div>\n");
    }
    b.push_str("<h2 id=\"findings\">Findings</h2>\n");
    findings(doc, &mut b);
    if let Some(g) = doc.gate.as_ref().filter(|g| g.active()) {
        b.push_str("<h2 id=\"gate\">Gate</h2><ul>");
        for l in g.lines() {
            b.push_str(&format!("<li>{}</li>", escape(&l)));
        }
        b.push_str("</ul>\n");
    }
    if !doc.not_run.is_empty() {
        b.push_str("<h2 id=\"not-checked\">Not checked</h2><ul>");
        for n in &doc.not_run {
            b.push_str(&format!(
                "<li>{}: {}</li>",
                escape(&n.what),
                escape(&n.reason)
            ));
        }
        b.push_str("</ul>\n");
    }
    if !doc.problems.is_empty() {
        b.push_str("<h2 id=\"not-read\">Not read</h2><ul>");
        for p in &doc.problems {
            b.push_str(&format!("<li class=\"sev-error\">{}</li>", escape(p)));
        }
        b.push_str("</ul>\n");
    }
    let detail: Vec<_> = doc
        .sections
        .iter()
        .filter(|s| s.table.is_some() || s.skipped.is_some())
        .collect();
    if !detail.is_empty() {
        b.push_str("<h2 id=\"detail\">Details</h2>\n");
    }
    for s in detail {
        b.push_str(&format!(
            "<section id=\"{}\"><h3>{}</h3>",
            escape(&s.id),
            escape(&s.title)
        ));
        if !s.about.is_empty() {
            b.push_str(&format!("<p class=\"muted\">{}</p>\n", escape(&s.about)));
        }
        match (&s.skipped, &s.table) {
            (Some(why), _) => b.push_str(&format!(
                "<p class=\"skipped\"><strong>Not computed:</strong> {}</p>\n",
                escape(why)
            )),
            (None, Some(t)) if t.rows.is_empty() => b.push_str("<p class=\"muted\">No rows.</p>\n"),
            (None, Some(t)) => data_table(t, MAX_ROWS, &mut b),
            (None, None) => {}
        }
        b.push_str("</section>\n");
    }
    page(&doc.title, &b, w)
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
