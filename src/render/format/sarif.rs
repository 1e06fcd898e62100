//! SARIF 2.1.0 for GitHub code scanning: one run, the selected rules as `tool.driver.rules`, one
//! result per finding with a physical location (manifests) or a logical one (audit subjects), and
//! a stable partial fingerprint (the gate's identity) so that alerts follow a finding across runs.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::json;
use serde_sarif::sarif;

use super::Ctx;
use crate::catalogue::Described;
use crate::finding::{Finding, Severity};
use crate::gate;
use crate::render::document::Document;

/// Results GitHub code scanning accepts in one run.
pub const SARIF_MAX_RESULTS: usize = 25_000;

fn sentence(s: &str) -> String {
    let t = s.trim();
    if t.is_empty() || t.ends_with('.') || t.ends_with('!') || t.ends_with('?') {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

/// `webhook-fail-closed` → `WebhookFailClosed`.
fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// Percent-encodes what a URI reference may not hold as is.
fn uri_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rule_descriptor(d: &Described) -> sarif::ReportingDescriptor {
    let mut md = format!("**{}** ({})\n\n", d.code, d.name);
    if !d.why.is_empty() {
        md.push_str(&format!("**Why:** {}\n\n", d.why));
    }
    if !d.remediation.is_empty() {
        md.push_str(&format!("**Fix:** {}\n\n", d.remediation));
    }
    if let Some(u) = &d.help_uri {
        md.push_str(&format!("[Reference]({u})\n"));
    }
    let help_text = format!(
        "{}{}",
        sentence(&d.remediation),
        d.help_uri
            .as_ref()
            .map(|u| format!(" See {u}"))
            .unwrap_or_default()
    );
    let level = sarif::ReportingConfiguration::builder()
        .level(json!(sarif_level(d.severity)))
        .build();
    let mut props = BTreeMap::new();
    props.insert("kscope/name".to_string(), json!(d.name));
    let b = sarif::ReportingDescriptor::builder()
        .id(d.code.clone())
        .name(pascal(&d.name))
        .short_description(
            sarif::MultiformatMessageString::builder()
                .text(sentence(&d.summary))
                .build(),
        )
        .full_description(
            sarif::MultiformatMessageString::builder()
                .text(sentence(if d.why.is_empty() { &d.summary } else { &d.why }))
                .build(),
        )
        .help(
            sarif::MultiformatMessageString::builder()
                .text(if help_text.is_empty() {
                    sentence(&d.summary)
                } else {
                    help_text
                })
                .markdown(md)
                .build(),
        )
        .default_configuration(level)
        .properties(
            sarif::PropertyBag::builder()
                .tags(vec!["kubernetes".to_string(), "kscope".to_string()])
                .additional_properties(props)
                .build(),
        );
    match &d.help_uri {
        Some(u) => b.help_uri(u.clone()).build(),
        None => b.build(),
    }
}

fn sarif_location(ctx: &Ctx, f: &Finding) -> sarif::Location {
    match &f.location {
        Some(l) => sarif::Location::builder()
            .physical_location(
                sarif::PhysicalLocation::builder()
                    .artifact_location(
                        sarif::ArtifactLocation::builder()
                            .uri(uri_path(&ctx.rel_path(&l.file)))
                            .uri_base_id("%SRCROOT%")
                            .build(),
                    )
                    .region(
                        sarif::Region::builder()
                            .start_line(l.start_line as i64)
                            .end_line(l.end_line as i64)
                            .build(),
                    )
                    .build(),
            )
            .build(),
        None => sarif::Location::builder()
            .logical_locations(vec![
                sarif::LogicalLocation::builder()
                    .name(f.subject.name.clone())
                    .fully_qualified_name(format!("{}/{}", f.subject.origin, f.subject.name))
                    .kind("resource")
                    .build(),
            ])
            .build(),
    }
}

/// SARIF 2.1.0 for GitHub code scanning.
pub fn sarif_log(doc: &Document<'_>, ctx: &Ctx) -> sarif::Sarif {
    let rules: Vec<sarif::ReportingDescriptor> = doc.rules.iter().map(rule_descriptor).collect();
    let index: BTreeMap<&str, usize> = doc
        .rules
        .iter()
        .enumerate()
        .map(|(i, d)| (d.code.as_str(), i))
        .collect();
    let results: Vec<sarif::Result> = doc
        .findings
        .iter()
        .take(SARIF_MAX_RESULTS)
        .map(|f| {
            let mut fp = BTreeMap::new();
            fp.insert("kscopeIdentity/v1".to_string(), gate::fingerprint(f));
            let b = sarif::Result::builder()
                .rule_id(f.code.clone())
                .level(match f.severity {
                    Severity::Error => sarif::ResultLevel::Error,
                    Severity::Warning => sarif::ResultLevel::Warning,
                    Severity::Info => sarif::ResultLevel::Note,
                })
                .message(
                    sarif::Message::builder()
                        .text(sentence(&format!("{}: {}", f.subject.name, f.message)))
                        .build(),
                )
                .locations(vec![sarif_location(ctx, f)])
                .partial_fingerprints(fp);
            match index.get(f.code.as_str()) {
                Some(i) => b.rule_index(*i as i64).build(),
                None => b.build(),
            }
        })
        .collect();
    let mut notes = Vec::new();
    if doc.findings.len() > SARIF_MAX_RESULTS {
        notes.push(
            sarif::Notification::builder()
                .message(
                    sarif::Message::builder()
                        .text(format!(
                            "{} of {} results were left out: GitHub code scanning accepts {SARIF_MAX_RESULTS} per run (the most severe are kept).",
                            doc.findings.len() - SARIF_MAX_RESULTS,
                            doc.findings.len()
                        ))
                        .build(),
                )
                .level(json!("warning"))
                .build(),
        );
    }
    let mut inv = sarif::Invocation::builder()
        .execution_successful(true)
        .build();
    if !notes.is_empty() {
        inv.tool_execution_notifications = Some(notes);
    }
    let mut props = BTreeMap::new();
    props.insert("kscope/command".to_string(), json!(doc.command));
    props.insert(
        "kscope/gate".to_string(),
        json!(
            doc.gate
                .as_ref()
                .map(|g| g.summary.clone())
                .unwrap_or_default()
        ),
    );
    let run = sarif::Run::builder()
        .tool(
            sarif::Tool::builder()
                .driver(
                    sarif::ToolComponent::builder()
                        .name("kscope")
                        .version(env!("CARGO_PKG_VERSION"))
                        .semantic_version(env!("CARGO_PKG_VERSION"))
                        .rules(rules)
                        .build(),
                )
                .build(),
        )
        .results(results)
        .invocations(vec![inv])
        .properties(
            sarif::PropertyBag::builder()
                .additional_properties(props)
                .build(),
        )
        .build();
    sarif::Sarif::builder()
        .schema("https://json.schemastore.org/sarif-2.1.0.json")
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build()
}

pub fn write(doc: &Document<'_>, ctx: &Ctx, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &sarif_log(doc, ctx))?;
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Subject;

    #[test]
    fn sarif_keeps_githubs_result_limit_and_says_what_it_cut() {
        let findings: Vec<Finding> = (0..SARIF_MAX_RESULTS + 3)
            .map(|i| Finding {
                code: "AUD020".into(),
                name: "lists-without-limit".into(),
                severity: Severity::Warning,
                subject: Subject {
                    name: format!("client-{i}"),
                    origin: "audit log".into(),
                },
                message: "lists without limit".into(),
                remediation: String::new(),
                reference: None,
                location: None,
                object: None,
            })
            .collect();
        let doc = Document {
            findings: findings.iter().collect(),
            ..Document::empty("report")
        };
        let v = serde_json::to_value(sarif_log(&doc, &Ctx::plain())).unwrap();
        let run = &v["runs"][0];
        assert_eq!(run["results"].as_array().unwrap().len(), SARIF_MAX_RESULTS);
        let note = run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap();
        assert!(
            note.starts_with("3 of 25003 results were left out"),
            "{note}"
        );
        assert_eq!(uri_path("deploy/prod/a b.yaml"), "deploy/prod/a%20b.yaml");
    }
}
