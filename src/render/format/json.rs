//! The JSON findings envelope: the same head for every command (`schema_version`, `tool`,
//! `command`, `source`, `summary`, `findings`, `gate`), then the command's own fields. The
//! lossless format: strings are exactly what the input held (serde's JSON escaping only).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::finding::Finding;
use crate::render::document::Document;

/// Version of the JSON envelope; raised when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Envelope<'a> {
    schema_version: u32,
    tool: Tool,
    command: &'a str,
    source: &'a str,
    summary: Map<String, Value>,
    findings: &'a [&'a Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

pub fn write(doc: &Document<'_>, w: &mut dyn Write) -> io::Result<()> {
    let env = Envelope {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "kscope",
            version: env!("CARGO_PKG_VERSION"),
        },
        command: doc.command,
        source: &doc.source,
        summary: doc
            .counts()
            .into_iter()
            .map(|(s, n)| (s.as_str().to_string(), json!(n)))
            .collect(),
        findings: &doc.findings,
        gate: doc.gate.as_ref().filter(|g| g.active()).map(|g| g.json()),
        rest: (doc.json)(),
    };
    serde_json::to_writer_pretty(&mut *w, &env)?;
    writeln!(w)
}
