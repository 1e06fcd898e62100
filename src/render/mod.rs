//! Rendering: the only place that writes results, to the writer the command hands in. One module
//! per thing rendered: [`rows`] (tables of rows), [`findings`] (findings documents of `report` and
//! `lint`), [`catalogue`] (query and rule listings), [`cache`] (the CloudWatch cache). Renderers do no
//! I/O of their own and make no domain decisions.

pub mod cache;
pub mod catalogue;
pub mod charts;
pub mod ci;
pub mod escape;
pub mod findings;
pub mod html;
pub mod preflight;
pub mod rows;

/// Formats of a table of rows (`kscope sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

/// Formats of a findings document (`kscope report`, `lint`, `preflight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindingsFormat {
    /// For terminals.
    Table,
    /// The JSON findings envelope (documented in the README).
    Json,
    Csv,
    Markdown,
    /// SARIF 2.1.0 for GitHub code scanning.
    Sarif,
    /// JUnit XML for CI test dashboards.
    Junit,
    /// GitHub Actions annotations (workflow commands).
    Github,
    /// GitLab Code Quality JSON.
    Codequality,
    /// One self-contained HTML page with charts.
    Html,
}

/// The formats each command renders itself; the CI formats are rendered by [`ci`] for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFormat {
    Table,
    Json,
    Csv,
    Markdown,
    Html,
}

/// A findings document in `format`: the command's own renderer (`own`) for the document formats,
/// [`ci`] for the CI formats.
pub fn findings_document(
    format: FindingsFormat,
    ci: &ci::CiDoc<'_>,
    own: &dyn Fn(DocFormat, &mut dyn std::io::Write) -> std::io::Result<()>,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        FindingsFormat::Table => own(DocFormat::Table, w),
        FindingsFormat::Json => own(DocFormat::Json, w),
        FindingsFormat::Csv => own(DocFormat::Csv, w),
        FindingsFormat::Markdown => own(DocFormat::Markdown, w),
        FindingsFormat::Html => own(DocFormat::Html, w),
        FindingsFormat::Sarif => ci::sarif(ci, w),
        FindingsFormat::Junit => ci::junit(ci, w),
        FindingsFormat::Github => ci::github(ci, w),
        FindingsFormat::Codequality => ci::codequality(ci, w),
    }
}

/// What the gate did, for the document formats: counts, and with --show-suppressed what it held
/// back.
#[derive(Debug, Clone, Copy)]
pub struct GateView<'a> {
    pub summary: &'a crate::gate::Summary,
    pub suppressed: &'a [(crate::finding::Finding, String)],
    pub baselined: &'a [crate::finding::Finding],
    pub fixed: &'a [crate::gate::baseline::Entry],
    /// --show-suppressed.
    pub show: bool,
}

impl GateView<'_> {
    /// Whether there is anything to say (no gate section otherwise).
    pub fn active(&self) -> bool {
        self.summary.suppressed > 0 || self.summary.baseline
    }

    /// Summary lines for people.
    pub fn lines(&self) -> Vec<String> {
        let s = self.summary;
        let mut out = Vec::new();
        if s.suppressed > 0 {
            out.push(format!(
                "suppressed: {} finding(s) (annotations, {}){}",
                s.suppressed,
                crate::gate::config::FILE_NAME,
                if self.show {
                    ""
                } else {
                    "; --show-suppressed lists them"
                }
            ));
        }
        if s.baseline {
            out.push(format!(
                "baseline: {} new, {} already in the baseline, fixed: {}",
                s.new, s.baselined, s.fixed
            ));
        }
        if self.show {
            for (f, why) in self.suppressed {
                out.push(format!(
                    "suppressed {} {}: {} ({why})",
                    f.code, f.subject.name, f.message
                ));
            }
            for f in self.baselined {
                out.push(format!(
                    "baselined {} {}: {}",
                    f.code, f.subject.name, f.message
                ));
            }
        }
        for e in self.fixed {
            out.push(format!(
                "fixed (in the baseline, no longer found): {} {}",
                e.id.code, e.id.subject
            ));
        }
        out
    }

    /// The `gate` field of the JSON envelope.
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "suppressed": self.summary.suppressed,
            "baseline": self.summary.baseline,
            "new": self.summary.new,
            "baselined": self.summary.baselined,
            "fixed": self.fixed,
        });
        if self.show {
            v["suppressed_findings"] = serde_json::json!(
                self.suppressed
                    .iter()
                    .map(|(f, why)| serde_json::json!({"finding": f, "reason": why}))
                    .collect::<Vec<_>>()
            );
            v["baselined_findings"] = serde_json::json!(self.baselined);
        }
        v
    }
}

/// Width of rendered tables: fits a 100-column terminal.
pub const WIDTH: u16 = 100;

/// The first sentence of a text, wrapped to [`WIDTH`] columns.
pub fn one_line(text: &str) -> String {
    let end = text.find(". ").map(|i| i + 1).unwrap_or(text.len());
    wrap(&text[..end], WIDTH as usize)
}

/// `text` wrapped to `width` columns: its first line after `first`, the others after `rest` (a
/// hanging indent). Nothing is written for an empty text.
pub(super) fn write_hanging(
    w: &mut dyn std::io::Write,
    first: &str,
    rest: &str,
    text: &str,
    width: usize,
) -> std::io::Result<()> {
    for (i, l) in wrap(text, width).lines().enumerate() {
        writeln!(w, "{}{l}", if i == 0 { first } else { rest })?;
    }
    Ok(())
}

/// Greedy word wrap.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if col > 0 && col + 1 + w > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
    }
    out
}

pub fn indent(text: &str, width: usize) -> String {
    text.split("\n\n")
        .map(|para| {
            wrap(para, width - 2)
                .lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}
