//! Catalogue listings: `kscope queries`, `kscope rules` and their `explain`.

use std::io::{self, Write};

use serde_json::json;

use super::rows::text_table;
use super::{WIDTH, indent, wrap};
use crate::query::Query;
use crate::rules::Rule;
use crate::table::Table;

/// `kscope rules`: one line per rule.
pub fn rules_list(rules: &[&Rule], w: &mut dyn Write) -> io::Result<()> {
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
pub fn rule_explain(r: &Rule, w: &mut dyn Write) -> io::Result<()> {
    let width = WIDTH as usize;
    writeln!(w, "{} {} ({})", r.code, r.name, r.severity)?;
    writeln!(w, "{}\n", wrap(&r.summary, width))?;
    writeln!(w, "Looks at: {}", r.kinds.join(", "))?;
    if !r.needs.is_empty() {
        writeln!(w, "Also needs: {}", r.needs.join(", "))?;
    }
    if !r.reads.is_empty() {
        writeln!(w, "Also reads (when it can): {}", r.reads.join(", "))?;
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

/// `kscope queries`: one line per query.
pub fn queries_list(queries: &[&Query], w: &mut dyn Write) -> io::Result<()> {
    let t = Table {
        columns: ["code", "name", "severity", "requires", "title"]
            .map(String::from)
            .to_vec(),
        rows: queries
            .iter()
            .map(|q| {
                vec![
                    json!(q.code),
                    json!(q.name),
                    json!(q.severity.map(|s| s.as_str()).unwrap_or("-")),
                    json!(q.requires),
                    json!(q.title),
                ]
            })
            .collect(),
    };
    writeln!(w, "{}", text_table(&t, 0))
}

/// `kscope queries explain CODE`: the query file as written (its header documents it).
pub fn query_explain(q: &Query, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", q.text.trim_end())
}
