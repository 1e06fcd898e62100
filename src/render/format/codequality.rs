//! GitLab Code Quality JSON (an array of issues) for merge-request widgets.

use std::io::{self, Write};

use serde_json::json;

use super::Ctx;
use crate::finding::Severity;
use crate::gate;
use crate::render::document::Document;

/// GitLab Code Quality (a JSON array of issues) for merge-request widgets.
pub fn write(doc: &Document<'_>, ctx: &Ctx, w: &mut dyn Write) -> io::Result<()> {
    let issues: Vec<serde_json::Value> = doc
        .findings
        .iter()
        .map(|f| {
            let (path, lines) = match &f.location {
                Some(l) => (
                    ctx.rel_path(&l.file),
                    json!({"begin": l.start_line, "end": l.end_line}),
                ),
                // Code Quality needs a path: findings without a file name their source
                None => (f.subject.origin.clone(), json!({"begin": 1})),
            };
            json!({
                "description": format!("{} {}: {}: {}", f.code, f.name, f.subject.name, f.message),
                "check_name": f.code,
                "fingerprint": gate::fingerprint(f),
                "severity": match f.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                    Severity::Info => "info",
                },
                "location": {"path": path, "lines": lines},
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *w, &issues)?;
    writeln!(w)
}
