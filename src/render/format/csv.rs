//! CSV (RFC 4180) for spreadsheets: each section's rows as a block under a `# title` line, then
//! the findings, one row each (the command's tags first). Cells are quoted as RFC 4180 says and a
//! text cell that a spreadsheet would take for a formula is prefixed with `'` (OWASP's rule);
//! numbers stay numbers.

use std::io::{self, Write};

use serde_json::json;

use crate::render::document::Document;
use crate::render::rows::csv;
use crate::table::Table;

pub fn write(doc: &Document<'_>, w: &mut dyn Write) -> io::Result<()> {
    let sections: Vec<_> = doc
        .sections
        .iter()
        .filter(|s| !s.page_only && (s.table.is_some() || s.skipped.is_some()))
        .collect();
    for s in &sections {
        writeln!(w, "# {}", comment(&s.title))?;
        if let Some(why) = &s.skipped {
            writeln!(w, "# not computed: {}", comment(why))?;
        }
        if let Some(t) = &s.table {
            csv(t, w)?;
        }
        writeln!(w)?;
    }
    if !sections.is_empty() {
        writeln!(w, "# findings")?;
    }
    let tags = doc.tag_names();
    let mut columns: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    columns.extend(
        ["severity", "code", "subject", "origin", "message"]
            .iter()
            .map(|c| c.to_string()),
    );
    let rows = doc
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut row: Vec<serde_json::Value> = tags
                .iter()
                .map(|k| {
                    doc.detail(i)
                        .and_then(|d| d.tags.iter().find(|(n, _)| n == k))
                        .map(|(_, v)| json!(v))
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect();
            row.extend([
                json!(f.severity.as_str()),
                json!(f.code),
                json!(f.subject.name),
                json!(doc.place(i)),
                json!(f.message),
            ]);
            row
        })
        .collect();
    csv(&Table { columns, rows }, w)
}

/// A comment line's text: one line, control characters escaped.
fn comment(s: &str) -> String {
    crate::render::escape::terminal(&s.replace(['\n', '\r'], " ")).into_owned()
}
