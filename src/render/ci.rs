//! Findings for CI systems: SARIF 2.1.0 (GitHub code scanning), JUnit XML (test dashboards), GitHub
//! Actions workflow commands (annotations) and GitLab Code Quality JSON. The same document for
//! `lint`, `report` and `preflight`; the command hands in everything (findings, the rules that ran
//! and what they checked, where the repository root is).

use super::escape::terminal;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde_json::json;
use serde_sarif::sarif;

use crate::catalogue::Described;
use crate::finding::{Finding, Severity};
use crate::gate::{self, Check};

/// Results GitHub code scanning accepts in one run.
pub const SARIF_MAX_RESULTS: usize = 25_000;
/// Annotations GitHub shows per severity and step.
pub const GITHUB_MAX_PER_LEVEL: usize = 10;

/// What the CI formats need.
pub struct CiDoc<'a> {
    /// `lint`, `report` or `preflight`.
    pub command: &'a str,
    pub findings: &'a [Finding],
    /// Every rule or query that was selected (SARIF `tool.driver.rules`).
    pub rules: &'a [Described],
    /// What each rule or query checked, or why it was skipped (JUnit).
    pub checks: &'a [Check],
    /// The repository root (absolute) and the working directory (absolute): file URIs in SARIF
    /// and Code Quality are relative to the root.
    pub root: &'a Path,
    pub cwd: &'a Path,
    pub summary: &'a gate::Summary,
}

impl CiDoc<'_> {
    /// A finding's file relative to the repository root, with `/` separators.
    fn rel_path(&self, file: &str) -> String {
        let abs = self.cwd.join(file);
        let rel = abs
            .strip_prefix(self.root)
            .map(Path::to_path_buf)
            .unwrap_or(abs);
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    parts.pop();
                }
                other => parts.push(other.as_os_str().to_string_lossy().to_string()),
            }
        }
        parts.join("/")
    }
}

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

fn sarif_location(doc: &CiDoc<'_>, f: &Finding) -> sarif::Location {
    match &f.location {
        Some(l) => sarif::Location::builder()
            .physical_location(
                sarif::PhysicalLocation::builder()
                    .artifact_location(
                        sarif::ArtifactLocation::builder()
                            .uri(uri_path(&doc.rel_path(&l.file)))
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
pub fn sarif_log(doc: &CiDoc<'_>) -> sarif::Sarif {
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
                .locations(vec![sarif_location(doc, f)])
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
    props.insert("kscope/gate".to_string(), json!(doc.summary));
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

pub fn sarif(doc: &CiDoc<'_>, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &sarif_log(doc))?;
    writeln!(w)
}

/// JUnit XML: one test suite per rule or query, one test case per (rule, subject) checked; a
/// finding is a failure, a skipped rule one skipped case with the reason.
pub fn junit(doc: &CiDoc<'_>, w: &mut dyn Write) -> io::Result<()> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new(format!("kscope {}", doc.command));
    for c in doc.checks {
        let mut suite = TestSuite::new(format!("{} {}", c.code, c.name));
        if let Some(reason) = &c.skipped {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.clone());
            let mut tc = TestCase::new(format!("{} (skipped)", c.code), st);
            tc.set_classname(c.code.clone());
            suite.add_test_case(tc);
            report.add_test_suite(suite);
            continue;
        }
        let mine: Vec<&Finding> = doc.findings.iter().filter(|f| f.code == c.code).collect();
        let mut subjects: Vec<&str> = c.subjects.iter().map(String::as_str).collect();
        for f in &mine {
            if !subjects.contains(&f.subject.name.as_str()) {
                subjects.push(&f.subject.name);
            }
        }
        if subjects.is_empty() {
            subjects.push("(run)");
        }
        for s in subjects {
            let failed: Vec<&&Finding> = mine.iter().filter(|f| f.subject.name == s).collect();
            let status = if failed.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_type(failed[0].severity.as_str());
                st.set_message(failed[0].message.clone());
                st.set_description(
                    failed
                        .iter()
                        .map(|f| {
                            format!(
                                "{} {}: {}\nat {}\nfix: {}",
                                f.severity, f.code, f.message, f.subject.origin, f.remediation
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n\n"),
                );
                st
            };
            let mut tc = TestCase::new(s.to_string(), status);
            tc.set_classname(c.code.clone());
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    // characters XML 1.0 forbids (a user agent may carry them) are replaced, not written: the
    // document stays well-formed; they can only come from data, never from the markup
    let mut xml = Vec::new();
    report.serialize(&mut xml).map_err(io::Error::other)?;
    let text = String::from_utf8_lossy(&xml);
    let clean: String = text
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect();
    w.write_all(clean.as_bytes())?;
    writeln!(w)
}

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
pub fn github(doc: &CiDoc<'_>, w: &mut dyn Write) -> io::Result<()> {
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for f in doc.findings {
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
                gh_escape(&terminal(&doc.rel_path(&l.file)), true)
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

/// GitLab Code Quality (a JSON array of issues) for merge-request widgets.
pub fn codequality(doc: &CiDoc<'_>, w: &mut dyn Write) -> io::Result<()> {
    let issues: Vec<serde_json::Value> = doc
        .findings
        .iter()
        .map(|f| {
            let (path, lines) = match &f.location {
                Some(l) => (
                    doc.rel_path(&l.file),
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
            })
            .collect();
        let summary = gate::Summary::default();
        let doc = CiDoc {
            command: "report",
            findings: &findings,
            rules: &[],
            checks: &[],
            root: Path::new("/r"),
            cwd: Path::new("/r"),
            summary: &summary,
        };
        let v = serde_json::to_value(sarif_log(&doc)).unwrap();
        let run = &v["runs"][0];
        assert_eq!(run["results"].as_array().unwrap().len(), SARIF_MAX_RESULTS);
        let note = run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap();
        assert!(
            note.starts_with("3 of 25003 results were left out"),
            "{note}"
        );
    }

    #[test]
    fn paths_are_relative_to_the_repository_root() {
        let summary = gate::Summary::default();
        let doc = CiDoc {
            command: "lint",
            findings: &[],
            rules: &[],
            checks: &[],
            root: Path::new("/repo"),
            cwd: Path::new("/repo/deploy"),
            summary: &summary,
        };
        assert_eq!(doc.rel_path("./prod/a b.yaml"), "deploy/prod/a b.yaml");
        assert_eq!(doc.rel_path("../charts/x.yaml"), "charts/x.yaml");
        assert_eq!(uri_path("deploy/prod/a b.yaml"), "deploy/prod/a%20b.yaml");
    }
}
