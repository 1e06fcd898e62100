//! JUnit XML for CI test dashboards: one test suite per rule or query, one test case per
//! (rule, subject) it checked; a finding is a failure, a rule that did not run one skipped case
//! with the reason. Characters XML 1.0 forbids are replaced, never written.

use std::io::{self, Write};

use crate::finding::Finding;
use crate::render::document::Document;

/// JUnit XML: one test suite per rule or query, one test case per (rule, subject) checked; a
/// finding is a failure, a skipped rule one skipped case with the reason.
pub fn write(doc: &Document<'_>, w: &mut dyn Write) -> io::Result<()> {
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
        let mine: Vec<&Finding> = doc
            .findings
            .iter()
            .copied()
            .filter(|f| f.code == c.code)
            .collect();
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
