//! GitHub Actions annotations (workflow commands): one `::error`/`::warning`/`::notice` line per
//! finding, with the file and lines of manifests. What a log viewer would interpret is escaped
//! ([`terminal`]), then the workflow-command escaping.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::Ctx;
use crate::finding::Severity;
use crate::render::document::Document;
use crate::render::escape::terminal;

/// Annotations GitHub shows per severity and step.
pub const GITHUB_MAX_PER_LEVEL: usize = 10;

/// GitHub Actions workflow command data: `%`, CR and LF escaped (and `:`/`,` in properties); what
/// a log viewer would interpret (terminal controls, bidi characters) escaped first.
fn gh_escape(s: &str, property: bool) -> String {
    let mut t = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        t = t.replace(':', "%3A").replace(',', "%2C");
    }
    t
}

/// GitHub Actions annotations: at most [`GITHUB_MAX_PER_LEVEL`] per level (GitHub shows no more
/// per step), then one notice line that says how many were left out.
pub fn write(doc: &Document<'_>, ctx: &Ctx, w: &mut dyn Write) -> io::Result<()> {
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &doc.findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let n = shown.entry(level).or_default();
        if *n >= GITHUB_MAX_PER_LEVEL {
            *left.entry(level).or_default() += 1;
            continue;
        }
        *n += 1;
        let mut props = Vec::new();
        if let Some(l) = &f.location {
            props.push(format!(
                "file={}",
                gh_escape(&terminal(&ctx.rel_path(&l.file)), true)
            ));
            props.push(format!("line={}", l.start_line));
            props.push(format!("endLine={}", l.end_line));
        }
        props.push(format!(
            "title={}",
            gh_escape(&format!("{} {}", f.code, f.name), true)
        ));
        writeln!(
            w,
            "::{level} {}::{}",
            props.join(","),
            gh_escape(
                &format!(
                    "{}: {} ({})\nFix: {}",
                    terminal(&f.subject.name),
                    terminal(&f.message),
                    terminal(&f.subject.origin),
                    terminal(&f.remediation)
                ),
                false
            )
        )?;
    }
    if !left.is_empty() {
        let parts: Vec<String> = left.iter().map(|(l, n)| format!("{n} {l}")).collect();
        writeln!(
            w,
            "::notice title=kscope::{} more finding(s) not annotated ({}): GitHub shows {GITHUB_MAX_PER_LEVEL} per level and step; see the job log, SARIF or JUnit output",
            left.values().sum::<usize>(),
            parts.join(", ")
        )?;
    }
    Ok(())
}
