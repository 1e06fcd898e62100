//! What each command's result says, as the one [`Document`] every format writes: the summary
//! lines, the sections (tables and charts), the details per finding and the command's own JSON
//! fields. The command hands in the document's common part (findings after the gate, rules,
//! checks, the gate's view); these fill in the rest. No writing here.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::charts::{self, Chart, Series, X};
use super::document::{Detail, Document, Line, NotRun, Phase, Section, Tone, Verdict};
use super::rows::JsonRows;
use crate::analysis::Report;
use crate::lint::LintReport;
use crate::preflight::{Evidence, PreflightReport};
use crate::query::ChartKind;
use crate::table::Table;

/// `kscope report`: one section per query (its table and chart), the input and window in the
/// summary.
pub fn report<'a>(mut doc: Document<'a>, r: &'a Report, max_rows: usize) -> Document<'a> {
    let i = &r.ingest;
    doc.source = r.origin.clone();
    doc.max_rows = max_rows;
    let mut lines = vec![
        Line::plain(format!("source: {}", r.origin)),
        Line::plain(format!(
            "input: {} source(s), {} lines, {} requests ({} ResponseStarted merged with their completion, {} RequestReceived skipped, {} outside the window)",
            i.sources,
            i.lines,
            i.events,
            i.merged_started,
            i.skipped_request_received,
            i.outside_window
        )),
    ];
    if i.duplicates > 0 {
        lines.push(Line::plain(format!(
            "{} duplicate event(s) dropped (same auditID, stage and stageTimestamp delivered again)",
            i.duplicates
        )));
    }
    if i.not_audit > 0 {
        lines.push(Line::plain(format!(
            "{} record(s) are not Kubernetes API audit events (other services, categories or log streams): skipped",
            i.not_audit
        )));
    }
    if let Some((a, b)) = &r.time_range {
        lines.push(Line::plain(format!(
            "window judged: {a} .. {b} ({}; rates and thresholds are per this window)",
            r.window.as_deref().unwrap_or("length unknown")
        )));
    }
    lines.extend(r.estimate.iter().map(|l| Line::plain(l.clone())));
    if !i.fully_read() {
        lines.push(Line::bad(format!(
            "NOT FULLY READ: {} malformed line(s), {} unreadable source(s) (details on stderr and in JSON output)",
            i.malformed,
            i.read_errors.len()
        )));
    }
    let skipped: Vec<&str> = r
        .queries
        .iter()
        .filter(|q| q.skipped.is_some())
        .map(|q| q.query.code.as_str())
        .collect();
    if !skipped.is_empty() {
        lines.push(Line::bad(format!(
            "NOT COMPLETE: {} could not run within {} (see each query)",
            skipped.join(", "),
            r.memory.budget
        )));
    }
    doc.summary = lines;
    doc.problems = i
        .malformed_samples
        .iter()
        .map(|m| format!("{}: {}", m.source, m.reason))
        .chain(i.read_errors.iter().cloned())
        .collect();
    doc.sections = r
        .queries
        .iter()
        .map(|q| Section {
            id: q.query.code.clone(),
            title: format!("{} {}", q.query.code, q.query.title),
            about: q.query.finds.clone(),
            table: Some(Cow::Borrowed(&q.table)),
            chart: q
                .query
                .chart
                .as_ref()
                .and_then(|spec| charts::from_table(&q.query.title, spec, &q.table)),
            skipped: q.skipped.clone(),
            page_only: false,
        })
        .collect();
    doc.json = Box::new(move || {
        let mut m = Map::new();
        m.insert(
            "time_range".into(),
            match &r.time_range {
                Some((first, last)) => json!({"first": first, "last": last}),
                None => Value::Null,
            },
        );
        m.insert("input".into(), json!(r.ingest));
        if !r.estimate.is_empty() {
            m.insert("apf_estimate".into(), json!(r.estimate));
        }
        m.insert(
            "queries".into(),
            Value::Array(
                r.queries
                    .iter()
                    .map(|q| {
                        let mut v = json!({
                            "code": q.query.code,
                            "name": q.query.name,
                            "title": q.query.title,
                            "columns": q.table.columns,
                            "rows": JsonRows(&q.table),
                        });
                        if let Some(s) = &q.skipped {
                            v["skipped"] = json!(s);
                        }
                        v
                    })
                    .collect(),
            ),
        );
        m
    });
    doc
}

/// Counts per (x, series) as a bar chart.
fn count_chart(title: &str, x_label: &str, pairs: &[(String, String)]) -> Chart {
    let mut series: Vec<Series> = Vec::new();
    for (x, s) in pairs {
        let i = match series.iter().position(|e| &e.name == s) {
            Some(i) => i,
            None => {
                series.push(Series {
                    name: s.clone(),
                    points: Vec::new(),
                });
                series.len() - 1
            }
        };
        let e = &mut series[i];
        match e
            .points
            .iter_mut()
            .find(|(k, _)| *k == X::Category(x.clone()))
        {
            Some(p) => p.1 += 1.0,
            None => e.points.push((X::Category(x.clone()), 1.0)),
        }
    }
    Chart {
        title: title.into(),
        kind: ChartKind::Bar,
        x_label: x_label.into(),
        y_label: "findings (count)".into(),
        series,
    }
}

/// A section that is only a chart (pages only).
fn chart_section<'a>(id: &str, title: &str, chart: Chart) -> Section<'a> {
    Section {
        id: id.into(),
        title: title.into(),
        about: String::new(),
        table: None,
        chart: Some(chart),
        skipped: None,
        page_only: true,
    }
}

/// Documents or objects that could not be read: a summary line and the list.
fn not_fully_read(doc: &mut Document<'_>, problems: &[String]) {
    if !problems.is_empty() {
        doc.summary.push(Line::bad(format!(
            "NOT FULLY READ: {} invalid document(s) or object(s) (listed on stderr and in JSON output)",
            problems.len()
        )));
    }
    doc.problems = problems.to_vec();
}

/// The area of a code: its letters (`WH`, `AP`, `CR`, `DA`, `GC`, `UP`, `KS`).
fn area(code: &str) -> String {
    code.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect()
}

/// `kscope lint`: what was read and run in the summary, rules that could not run as "not
/// checked", charts by area and of the CRDs for pages.
pub fn lint<'a>(mut doc: Document<'a>, r: &'a LintReport) -> Document<'a> {
    let o = &r.outcome;
    doc.source = r.source.clone();
    doc.summary = vec![
        Line::plain(format!(
            "source: {}{}; target version {}{}",
            r.source,
            r.server_version
                .map(|v| format!(" (server {v})"))
                .unwrap_or_default(),
            r.target_version,
            if r.requests > 0 {
                format!("; {} API requests", r.requests)
            } else {
                String::new()
            }
        )),
        Line::plain(format!(
            "{} objects; {} rules: {} ran, {} skipped, {} not applicable (no objects of their kinds, or not for this version)",
            r.objects,
            r.rules,
            o.ran.len(),
            o.skipped.len(),
            o.not_applicable.len()
        )),
    ];
    not_fully_read(&mut doc, &r.problems);
    doc.not_run = o
        .skipped
        .iter()
        .map(|s| NotRun {
            what: format!("{} {}", s.code, s.name),
            reason: s.reason.clone(),
        })
        .collect();
    if !doc.findings.is_empty() {
        let pairs: Vec<(String, String)> = doc
            .findings
            .iter()
            .map(|x| (area(&x.code), x.severity.to_string()))
            .collect();
        doc.sections.push(chart_section(
            "areas",
            "Findings by area",
            count_chart(
                "Findings by area and severity",
                "area (code prefix)",
                &pairs,
            ),
        ));
    }
    if !r.crds.is_empty() {
        let mut by_size: Vec<&crate::lint::CrdStat> = r.crds.iter().collect();
        by_size.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        let bars = |title: &str, y: &str, v: &dyn Fn(&crate::lint::CrdStat) -> Option<f64>| Chart {
            title: title.into(),
            kind: ChartKind::Bar,
            x_label: "CRD".into(),
            y_label: y.into(),
            series: vec![Series {
                name: y.into(),
                points: by_size
                    .iter()
                    .filter_map(|c| v(c).map(|y| (X::Category(c.name.clone()), y)))
                    .collect(),
            }],
        };
        doc.sections.push(chart_section(
            "crd-size",
            "CRDs by size",
            bars("CRDs by size", "size (KiB)", &|c| {
                Some(c.bytes as f64 / 1024.0)
            }),
        ));
        if r.crds.iter().any(|c| c.objects.is_some()) {
            doc.sections.push(chart_section(
                "crd-objects",
                "CRDs by object count",
                bars("CRDs by object count", "custom objects (count)", &|c| {
                    c.objects.map(|n| n as f64)
                }),
            ));
        }
    }
    doc.json = Box::new(move || {
        let mut rest = match serde_json::to_value(r) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        rest.remove("findings");
        rest.remove("source");
        rest
    });
    doc
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

/// `kscope preflight`: the verdict, the hop plan (a table and a chart), each finding's hop,
/// whether it blocks, and its evidence; what was not checked.
///
/// `all` are the findings the gate saw: each item names its finding by index, and the findings
/// are listed in the items' order (blockers first, then by hop).
pub fn preflight<'a>(
    mut doc: Document<'a>,
    r: &'a PreflightReport,
    all: &'a [crate::finding::Finding],
) -> Document<'a> {
    let what = if r.plan.rollback {
        "rollback"
    } else {
        "upgrade"
    };
    doc.title = format!(
        "Kubernetes {what} preflight: {} → {}",
        r.plan.from, r.plan.target
    );
    doc.no_findings = "Nothing to do before the upgrade.";
    doc.source = r.source.clone();
    use crate::preflight::Verdict as V;
    let ran = r.checks_ran.len();
    doc.verdict = Some(Verdict {
        text: match r.verdict {
            V::Ready => format!("READY: no known blocker among the {ran} checks that ran"),
            V::ReadyWithWarnings => {
                format!("READY WITH WARNINGS: no known blocker among the {ran} checks that ran")
            }
            V::Unknown => format!(
                "UNKNOWN: no known blocker, but kscope is reviewed through {} only",
                r.plan.reviewed
            ),
            V::Blocked => "BLOCKED".to_string(),
        },
        tone: match r.verdict {
            V::Ready => Tone::Good,
            V::ReadyWithWarnings | V::Unknown => Tone::Warn,
            V::Blocked => Tone::Bad,
        },
    });
    let hops: Vec<String> = r.plan.hops.iter().map(|h| h.to_string()).collect();
    doc.summary = vec![
        Line::plain(format!(
            "{what} {} → {} ({} hop{}: {})",
            r.plan.from,
            r.plan.target,
            hops.len(),
            if hops.len() == 1 { "" } else { "s" },
            hops.join(", ")
        )),
        Line::plain(format!("sources: {}", r.source)),
        Line::plain(format!(
            "checks: {} ran, {} could not (see Not checked); catalogue reviewed through {}",
            ran,
            r.not_checked.len(),
            r.plan.reviewed
        )),
    ];
    if !r.checks_ran.is_empty() {
        let list: Vec<&str> = r.checks_ran.iter().map(String::as_str).collect();
        doc.summary
            .push(Line::plain(format!("checks that ran: {}", list.join("; "))));
    }
    not_fully_read(&mut doc, &r.problems);
    doc.not_run = r
        .not_checked
        .iter()
        .map(|n| NotRun {
            what: n.check.clone(),
            reason: n.reason.clone(),
        })
        .collect();
    // the items whose finding the gate shows, in the items' order: finding i is item i
    let shown: Vec<&crate::preflight::Item> =
        r.items.iter().filter(|it| it.index < all.len()).collect();
    doc.findings = shown.iter().map(|it| &all[it.index]).collect();
    doc.details = shown
        .iter()
        .map(|it| Detail {
            tags: vec![
                ("hop", it.hop.to_string()),
                ("blocking", if it.blocking { "yes" } else { "no" }.into()),
            ],
            evidence: it.evidence.iter().map(Evidence::describe).collect(),
        })
        .collect();
    doc.phases = r
        .plan
        .hops
        .iter()
        .map(|hop| {
            let at = |blocking: bool| -> Vec<usize> {
                (0..shown.len())
                    .filter(|&i| shown[i].hop == *hop && shown[i].blocking == blocking)
                    .collect()
            };
            let from = prev(r, *hop);
            let steps = if r.plan.rollback {
                vec![
                    format!("Fix every blocker above: move manifests, objects and clients to API versions {hop} serves."),
                    format!("Roll the control plane back to {hop} (the provider's rollback, within its window)."),
                    format!("Check that kubelets are not newer than {hop}; replace node groups that are."),
                ]
            } else {
                vec![
                    format!("Fix every blocker above before touching the cluster: manifests and Helm charts in Git first, then live objects."),
                    format!("Upgrade the control plane from {from} to {hop}, and wait for it to report healthy."),
                    format!("Upgrade add-ons (CoreDNS, kube-proxy, the CNI and CSI drivers) to versions that support {hop}."),
                    format!("Upgrade node groups to {hop} one at a time, watching PodDisruptionBudgets and pending pods as nodes drain."),
                    "Check the warnings above, then move on to the next hop.".to_string(),
                ]
            };
            Phase {
                title: format!("{from} → {hop}"),
                blockers: at(true),
                warnings: at(false),
                steps,
            }
        })
        .collect();
    let hop_table = Table {
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
    };
    let per_hop: Vec<(String, String)> = r
        .items
        .iter()
        .map(|i| {
            (
                i.hop.to_string(),
                if i.blocking { "blocker" } else { "warning" }.to_string(),
            )
        })
        .collect();
    doc.sections.push(Section {
        id: "hops".into(),
        title: "Hop plan".into(),
        about: String::new(),
        table: Some(Cow::Owned(hop_table)),
        chart: (!per_hop.is_empty()).then(|| {
            count_chart(
                "Blockers and warnings per hop",
                "hop (minor version)",
                &per_hop,
            )
        }),
        skipped: None,
        page_only: false,
    });
    let by_source: Vec<(String, String)> = r
        .items
        .iter()
        .filter(|i| i.blocking)
        .flat_map(|i| {
            i.evidence
                .iter()
                .map(|e| (e.kind().to_string(), "blockers".into()))
        })
        .collect();
    if !by_source.is_empty() {
        let t = Table {
            columns: ["hop", "code", "subject", "evidence"]
                .map(String::from)
                .to_vec(),
            rows: r
                .items
                .iter()
                .flat_map(|i| {
                    i.evidence.iter().map(move |e| {
                        vec![
                            json!(i.hop.to_string()),
                            json!(i.finding.code),
                            json!(i.finding.subject.name),
                            json!(e.describe()),
                        ]
                    })
                })
                .collect(),
        };
        doc.sections.push(Section {
            id: "evidence".into(),
            title: "Evidence".into(),
            about: "Why each removed API version is believed in use.".into(),
            table: Some(Cow::Owned(t)),
            chart: Some(count_chart(
                "Blockers by source of evidence",
                "source",
                &by_source,
            )),
            skipped: None,
            page_only: true,
        });
    }
    doc.json = Box::new(move || {
        let evidence: Vec<Value> = r
            .items
            .iter()
            .map(|i| {
                json!({"code": i.finding.code, "subject": i.finding.subject.name,
                       "hop": i.hop, "blocking": i.blocking, "evidence": i.evidence})
            })
            .collect();
        let mut m = Map::new();
        m.insert("from_version".into(), json!(r.plan.from));
        m.insert("target_version".into(), json!(r.plan.target));
        m.insert("verdict".into(), json!(r.verdict));
        m.insert("hops".into(), json!(r.hops));
        m.insert("evidence".into(), json!(evidence));
        m.insert("not_checked".into(), json!(r.not_checked));
        m.insert("checks_ran".into(), json!(r.checks_ran));
        m.insert("reviewed_through".into(), json!(r.plan.reviewed));
        m.insert("problems".into(), json!(r.problems));
        m
    });
    doc
}

/// `kscope sql` as a page: its one table (and nothing else).
pub fn rows<'a>(t: &'a Table, sql: &str, max_rows: usize) -> Document<'a> {
    Document {
        title: "kscope sql".into(),
        summary: vec![Line::plain(format!("SQL: {sql}"))],
        sections: vec![Section {
            id: "rows".into(),
            title: "Result".into(),
            about: String::new(),
            table: Some(Cow::Borrowed(t)),
            chart: None,
            skipped: None,
            page_only: false,
        }],
        max_rows,
        ..Document::empty("sql")
    }
}
