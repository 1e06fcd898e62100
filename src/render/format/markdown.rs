//! Markdown for tickets and pull-request comments: the verdict and summary, the findings as a
//! checklist grouped by rule (what to do once per rule) or, for a plan of work, a runbook per
//! stage (fix first, warnings, the order of work), the sections' tables, what was not checked,
//! the gate. Input strings are escaped ([`escape::markdown_cell`] in cells and inline).

use std::io::{self, Write};

use crate::render::document::Document;
use crate::render::escape;
use crate::render::rows::markdown;

/// Inline text: control characters escaped, no line breaks, nothing that opens code or a table.
fn md(s: &str) -> String {
    escape::markdown_cell(&s.replace(['\n', '\r'], " "))
}

pub fn write(doc: &Document<'_>, w: &mut dyn Write) -> io::Result<()> {
    match &doc.verdict {
        Some(v) => writeln!(w, "# {}: **{}**\n", md(&doc.title), md(&v.text))?,
        None => writeln!(w, "# {}\n", md(&doc.title))?,
    }
    for l in &doc.summary {
        writeln!(w, "- {}", md(&l.text))?;
    }
    writeln!(w, "- {}", doc.counts_line())?;
    for p in &doc.problems {
        writeln!(w, "- not read: {}", md(p))?;
    }
    if !doc.phases.is_empty() {
        runbook(doc, w)?;
    } else {
        findings(doc, w)?;
    }
    for s in doc.sections.iter().filter(|s| !s.page_only) {
        if s.table.is_none() && s.skipped.is_none() {
            continue;
        }
        writeln!(w, "\n## {}\n", md(&s.title))?;
        if !s.about.is_empty() {
            writeln!(w, "{}\n", md(&s.about))?;
        }
        match (&s.skipped, &s.table) {
            (Some(why), _) => writeln!(w, "**Not computed:** {}", md(why))?,
            (None, Some(t)) if t.rows.is_empty() => writeln!(w, "_no rows_")?,
            (None, Some(t)) => markdown(t, doc.max_rows, w)?,
            (None, None) => {}
        }
    }
    if !doc.not_run.is_empty() {
        writeln!(w, "\n## Not checked\n")?;
        for n in &doc.not_run {
            writeln!(w, "- {}: {}", md(&n.what), md(&n.reason))?;
        }
    }
    if let Some(g) = doc.gate.as_ref().filter(|g| g.active()) {
        writeln!(w, "\n## Gate\n")?;
        for l in g.lines() {
            writeln!(w, "- {}", md(&l))?;
        }
    }
    Ok(())
}

/// The findings as a checklist grouped by rule, what to do once per rule.
fn findings(doc: &Document<'_>, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "\n## Findings\n")?;
    if doc.findings.is_empty() {
        writeln!(w, "{}", doc.no_findings)?;
    } else {
        for g in doc.groups() {
            let title = g.title();
            writeln!(
                w,
                "### {} `{}` {} ({})\n",
                g.first.severity,
                md(g.code),
                md(title),
                g.findings.len()
            )?;
            for &i in &g.findings {
                let tags = doc
                    .tags_text(i)
                    .map(|t| format!("**{}** ", md(&t)))
                    .unwrap_or_default();
                item(doc, i, &tags, w)?;
            }
            writeln!(w, "\n*Fix:* {}", md(&g.first.remediation))?;
            if let Some(r) = &g.first.reference {
                writeln!(w, "*See:* {}", md(r))?;
            }
            writeln!(w)?;
        }
    }
    Ok(())
}

/// One checklist line per finding: `lead` (its tags, or its code), subject, place, message, and
/// its evidence under it.
fn item(doc: &Document<'_>, i: usize, lead: &str, w: &mut dyn Write) -> io::Result<()> {
    let f = doc.findings[i];
    let origin = doc
        .own_place(i)
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    writeln!(
        w,
        "- [ ] {lead}{}{}: {}",
        md(&f.subject.name),
        md(&origin),
        md(&f.message)
    )?;
    for e in doc.evidence(i) {
        writeln!(w, "  - {}", md(e))?;
    }
    Ok(())
}

/// The plan of work as a runbook: per stage the blockers to fix first (with what to do), the
/// warnings, then the steps in order.
fn runbook(doc: &Document<'_>, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "\n## Runbook\n")?;
    if doc.findings.is_empty() {
        writeln!(w, "{}\n", doc.no_findings)?;
    }
    for p in &doc.phases {
        writeln!(w, "### {}\n", md(&p.title))?;
        if p.blockers.is_empty() {
            writeln!(w, "No known blocker.\n")?;
        } else {
            writeln!(w, "**Fix first** ({}):\n", p.blockers.len())?;
            let mut said = Vec::new();
            for &i in &p.blockers {
                item(doc, i, &format!("`{}` ", md(&doc.findings[i].code)), w)?;
                let f = doc.findings[i];
                if !said.contains(&f.code.as_str()) {
                    said.push(&f.code);
                    writeln!(w, "  - *Fix ({}):* {}", md(&f.code), md(&f.remediation))?;
                }
            }
            writeln!(w)?;
        }
        if !p.warnings.is_empty() {
            writeln!(w, "**Warnings** ({}):\n", p.warnings.len())?;
            for &i in &p.warnings {
                item(doc, i, &format!("`{}` ", md(&doc.findings[i].code)), w)?;
            }
            writeln!(w)?;
        }
        writeln!(w, "**Order of work:**\n")?;
        for (n, step) in p.steps.iter().enumerate() {
            writeln!(w, "{}. {}", n + 1, md(step))?;
        }
        writeln!(w)?;
    }
    Ok(())
}
