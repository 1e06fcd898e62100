//! `kscope preflight`: the verdict first, then blockers and warnings hop by hop with their
//! evidence and remediation, then what was not checked. As a table (terminal), Markdown (a change
//! ticket with a checklist), CSV (one row per item) or the JSON findings envelope.

use std::io::{self, Write};

use serde_json::json;

use super::findings::{envelope, write_gate, write_json};
use super::rows::{csv, markdown};
use super::{DocFormat, GateView, WIDTH};
use crate::preflight::{Item, PreflightReport};
use crate::table::Table;

fn hops_line(r: &PreflightReport) -> String {
    let hops: Vec<String> = r.plan.hops.iter().map(|h| h.to_string()).collect();
    format!(
        "{} → {} ({} hop{}: {})",
        r.plan.from,
        r.plan.target,
        hops.len(),
        if hops.len() == 1 { "" } else { "s" },
        hops.join(", ")
    )
}

fn hop_table(r: &PreflightReport) -> Table {
    Table {
        columns: ["hop", "verdict", "blockers", "warnings"]
            .map(String::from)
            .to_vec(),
        rows: r
            .hops
            .iter()
            .map(|h| {
                vec![
                    json!(format!("{} → {}", prev(r, h.version), h.version)),
                    json!(h.verdict.as_str()),
                    json!(h.blockers),
                    json!(h.warnings),
                ]
            })
            .collect(),
    }
}

/// The version a hop starts from.
fn prev(r: &PreflightReport, hop: crate::inventory::Version) -> crate::inventory::Version {
    r.plan
        .hops
        .iter()
        .take_while(|h| **h < hop)
        .last()
        .copied()
        .unwrap_or(r.plan.from)
}

fn item_rows(items: &[&Item]) -> Table {
    Table {
        columns: [
            "hop", "blocking", "severity", "code", "subject", "origin", "message",
        ]
        .map(String::from)
        .to_vec(),
        rows: items
            .iter()
            .map(|i| {
                vec![
                    json!(i.hop.to_string()),
                    json!(i.blocking),
                    json!(i.finding.severity.as_str()),
                    json!(i.finding.code),
                    json!(i.finding.subject.name),
                    json!(i.finding.subject.origin),
                    json!(i.finding.message),
                ]
            })
            .collect(),
    }
}

fn write_wrapped(w: &mut dyn Write, first: &str, rest: &str, text: &str) -> io::Result<()> {
    let width = WIDTH as usize - first.chars().count();
    // subjects, messages and evidence quote manifests and audit events: escaped for the terminal
    super::write_hanging(
        w,
        first,
        rest,
        &super::escape::terminal(text),
        width.max(40),
    )
}

fn table_items(w: &mut dyn Write, title: &str, items: &[&Item]) -> io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(w, "\n{title} ({})", items.len())?;
    let mut explained = std::collections::BTreeSet::new();
    for i in items {
        let f = &i.finding;
        write_wrapped(
            w,
            &format!("  [{}] ", i.hop),
            "         ",
            &format!("{} {}: {}", f.code, f.subject.name, f.message),
        )?;
        if i.evidence.is_empty() {
            write_wrapped(w, "         seen: ", "               ", &f.subject.origin)?;
        }
        for e in &i.evidence {
            write_wrapped(w, "         - ", "           ", &e.describe())?;
        }
        if explained.insert(f.code.as_str()) {
            write_wrapped(w, "         fix: ", "              ", &f.remediation)?;
        } else {
            writeln!(w, "         fix: as for {} above", f.code)?;
        }
    }
    Ok(())
}

fn text(r: &PreflightReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "VERDICT: {}", r.verdict)?;
    writeln!(w, "upgrade {}", hops_line(r))?;
    write_wrapped(w, "sources: ", "  ", &r.source)?;
    writeln!(w)?;
    for h in &r.hops {
        writeln!(
            w,
            "  {:<12} {:<20} {} blocker(s), {} warning(s)",
            format!("{} → {}", prev(r, h.version), h.version),
            h.verdict.as_str(),
            h.blockers,
            h.warnings
        )?;
    }
    let blockers: Vec<&Item> = r.items.iter().filter(|i| i.blocking).collect();
    let warnings: Vec<&Item> = r.items.iter().filter(|i| !i.blocking).collect();
    table_items(w, "BLOCKERS", &blockers)?;
    table_items(w, "WARNINGS", &warnings)?;
    if !r.not_checked.is_empty() {
        writeln!(w, "\nNOT CHECKED ({})", r.not_checked.len())?;
        for n in &r.not_checked {
            write_wrapped(w, "  - ", "    ", &format!("{}: {}", n.check, n.reason))?;
        }
    }
    if !r.problems.is_empty() {
        writeln!(
            w,
            "\nNOT FULLY READ: {} invalid document(s) or object(s) (listed on stderr)",
            r.problems.len()
        )?;
    }
    Ok(())
}

/// Markdown table cells: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn md(r: &PreflightReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "# Kubernetes upgrade preflight: {} → {}: **{}**\n",
        r.plan.from, r.plan.target, r.verdict
    )?;
    writeln!(w, "- Sources: {}", r.source)?;
    writeln!(
        w,
        "- Checked by kscope {} (`kscope preflight --target-version {}`)\n",
        env!("CARGO_PKG_VERSION"),
        r.plan.target
    )?;
    writeln!(w, "## Hop plan\n")?;
    markdown(&hop_table(r), 0, w)?;
    writeln!(w, "\n## Checklist\n")?;
    if r.items.is_empty() {
        writeln!(w, "Nothing to do before the upgrade.")?;
    }
    for i in &r.items {
        let f = &i.finding;
        writeln!(
            w,
            "- [ ] **{}** {} `{}` {} `{}`: {} *Fix:* {}",
            i.hop,
            if i.blocking { "BLOCKER" } else { "warning" },
            f.code,
            f.name,
            cell(&f.subject.name),
            f.message,
            f.remediation
        )?;
    }
    let with_evidence: Vec<&Item> = r.items.iter().filter(|i| !i.evidence.is_empty()).collect();
    if !with_evidence.is_empty() {
        writeln!(w, "\n## Evidence\n")?;
        for i in with_evidence {
            writeln!(
                w,
                "### {} {} ({})\n",
                i.finding.code, i.finding.subject.name, i.hop
            )?;
            writeln!(w, "| source | where | detail |\n|---|---|---|")?;
            for e in &i.evidence {
                let v = serde_json::to_value(e).unwrap_or_default();
                let kind = v["source"].as_str().unwrap_or_default().to_string();
                writeln!(
                    w,
                    "| {} | {} | {} |",
                    cell(&kind),
                    cell(&e.origin()),
                    cell(&e.describe())
                )?;
            }
            writeln!(w)?;
        }
    }
    writeln!(w, "\n## Not checked\n")?;
    if r.not_checked.is_empty() {
        writeln!(w, "Every check ran.")?;
    }
    for n in &r.not_checked {
        writeln!(w, "- {}: {}", n.check, n.reason)?;
    }
    if !r.problems.is_empty() {
        writeln!(w, "\n## Input not fully read\n")?;
        for p in &r.problems {
            writeln!(w, "- {}", cell(p))?;
        }
    }
    Ok(())
}

/// Writes the preflight report.
pub fn preflight(
    r: &PreflightReport,
    format: DocFormat,
    gate: &GateView<'_>,
    w: &mut dyn Write,
) -> io::Result<()> {
    match format {
        DocFormat::Html => super::html::preflight(r, gate, w),
        DocFormat::Json => {
            let evidence: Vec<serde_json::Value> = r
                .items
                .iter()
                .map(|i| {
                    json!({"code": i.finding.code, "subject": i.finding.subject.name,
                           "hop": i.hop, "blocking": i.blocking, "evidence": i.evidence})
                })
                .collect();
            let rest = json!({
                "from_version": r.plan.from,
                "target_version": r.plan.target,
                "verdict": r.verdict,
                "hops": r.hops,
                "evidence": evidence,
                "not_checked": r.not_checked,
                "problems": r.problems,
            });
            write_json(
                &envelope("preflight", &r.source, &r.findings(), gate, rest),
                w,
            )
        }
        DocFormat::Csv => csv(&item_rows(&r.items.iter().collect::<Vec<_>>()), w),
        DocFormat::Markdown => {
            md(r, w)?;
            write_gate(gate, true, w)
        }
        DocFormat::Table => {
            text(r, w)?;
            write_gate(gate, false, w)
        }
    }
}
