//! Text for people at a terminal: findings the way compilers print them (one header line per
//! finding, `severity[CODE] subject  origin`, never broken; the message wrapped under it; the
//! findings of one rule together with what to do printed once), tables that fit the width, colour
//! when asked. Every string from the input is escaped ([`escape::terminal`]).

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use comfy_table::{CellAlignment, ContentArrangement, presets};
use unicode_width::UnicodeWidthStr;

use super::Ctx;
use crate::finding::Severity;
use crate::render::document::{Document, Tone};
use crate::render::{escape, one_line, wrap};
use crate::table::Table;

fn esc(s: &str) -> String {
    escape::terminal(s).into_owned()
}

fn style(ctx: &Ctx, s: Style, text: &str) -> String {
    if ctx.color {
        format!("{}{text}{}", s.render(), s.render_reset())
    } else {
        text.to_string()
    }
}

fn severity_style(s: Severity) -> Style {
    let c = match s {
        Severity::Error => AnsiColor::Red,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Blue,
    };
    Style::new().bold().fg_color(Some(c.into()))
}

fn tone_style(t: Tone) -> Style {
    match t {
        Tone::Plain => Style::new(),
        Tone::Good => Style::new().bold().fg_color(Some(AnsiColor::Green.into())),
        Tone::Warn => Style::new().bold().fg_color(Some(AnsiColor::Yellow.into())),
        Tone::Bad => Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
        Tone::Muted => Style::new().dimmed(),
    }
}

const BOLD: Style = Style::new().bold();

/// `text` (already escaped) wrapped to `width` columns with a hanging indent.
fn hanging(w: &mut dyn Write, first: &str, rest: &str, text: &str, width: usize) -> io::Result<()> {
    hanging_styled(w, first, rest, text, width, None)
}

/// [`hanging`], each line in `style` (when colour is on).
fn hanging_styled(
    w: &mut dyn Write,
    first: &str,
    rest: &str,
    text: &str,
    width: usize,
    paint: Option<(&Ctx, Style)>,
) -> io::Result<()> {
    let indent = first.chars().count().max(rest.chars().count());
    let width = width.saturating_sub(indent).max(20);
    for (i, l) in wrap(text, width).lines().enumerate() {
        let l = match paint {
            Some((ctx, s)) => style(ctx, s, l),
            None => l.to_string(),
        };
        writeln!(w, "{}{l}", if i == 0 { first } else { rest })?;
    }
    Ok(())
}

/// The whole document.
pub fn write(doc: &Document<'_>, ctx: &Ctx, w: &mut dyn Write) -> io::Result<()> {
    if let Some(v) = &doc.verdict {
        writeln!(
            w,
            "VERDICT: {}",
            style(ctx, tone_style(v.tone), &esc(&v.text))
        )?;
        writeln!(w)?;
    }
    for s in doc.sections.iter().filter(|s| !s.page_only) {
        if s.table.is_none() && s.skipped.is_none() {
            continue;
        }
        writeln!(w, "{}", style(ctx, BOLD, &esc(&s.title)))?;
        if !s.about.is_empty() {
            hanging(w, "", "", &esc(&one_line(&s.about)), ctx.width)?;
        }
        match (&s.skipped, &s.table) {
            (Some(why), _) => hanging(w, "NOT COMPUTED: ", "  ", &esc(why), ctx.width)?,
            (None, Some(t)) if t.rows.is_empty() => writeln!(w, "(no rows)")?,
            (None, Some(t)) => writeln!(w, "{}", table(t, doc.max_rows, ctx))?,
            (None, None) => {}
        }
        writeln!(w)?;
    }
    writeln!(w, "{}", style(ctx, BOLD, "Summary"))?;
    for l in &doc.summary {
        let paint = Some((ctx, tone_style(l.tone)));
        hanging_styled(w, "  ", "    ", &esc(&l.text), ctx.width, paint)?;
    }
    if doc.findings.is_empty() {
        writeln!(w, "\n{}", doc.no_findings)?;
    } else {
        writeln!(w, "\n{}\n", style(ctx, BOLD, "Findings"))?;
        findings(doc, ctx, w)?;
    }
    if !doc.not_run.is_empty() {
        writeln!(
            w,
            "\n{} ({})",
            style(ctx, BOLD, "Not checked"),
            doc.not_run.len()
        )?;
        for n in &doc.not_run {
            let l = esc(&format!("{}: {}", n.what, n.reason));
            hanging(w, "  - ", "    ", &l, ctx.width)?;
        }
    }
    if let Some(g) = doc.gate.as_ref().filter(|g| g.active()) {
        writeln!(w, "\n{}", style(ctx, BOLD, "Gate"))?;
        for l in g.lines() {
            hanging(w, "  ", "    ", &esc(&l), ctx.width)?;
        }
    }
    writeln!(w, "\n{}", doc.counts_line())?;
    Ok(())
}

/// The findings, grouped by rule: per finding a header line and its message; per rule its fix and
/// reference once. An origin that is the document's source is not repeated.
fn findings(doc: &Document<'_>, ctx: &Ctx, w: &mut dyn Write) -> io::Result<()> {
    for (n, g) in doc.groups().iter().enumerate() {
        if n > 0 {
            writeln!(w)?;
        }
        for &i in &g.findings {
            let f = doc.findings[i];
            let origin = doc
                .own_place(i)
                .map(|p| format!("  {p}"))
                .unwrap_or_default();
            let tags = doc
                .tags_text(i)
                .map(|t| format!("  ({t})"))
                .unwrap_or_default();
            writeln!(
                w,
                "{}[{}] {}{}{}",
                style(ctx, severity_style(f.severity), f.severity.as_str()),
                style(ctx, BOLD, &esc(&f.code)),
                esc(&f.subject.name),
                esc(&origin),
                esc(&tags)
            )?;
            hanging(w, "  ", "  ", &esc(&f.message), ctx.width)?;
            for e in doc.evidence(i) {
                hanging(w, "  - ", "    ", &esc(e), ctx.width)?;
            }
        }
        let fix = format!("= fix ({}): {}", g.code, esc(&g.first.remediation));
        hanging(w, "  ", "    ", &fix, ctx.width)?;
        if let Some(r) = &g.first.reference {
            writeln!(w, "  = see: {}", esc(r))?;
        }
    }
    Ok(())
}

/// Display width of a string on a terminal.
fn width_of(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` shortened to `max` columns, ending in `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if width_of(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw + 1 > max {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

/// A table of rows that fits `ctx.width`: numbers are never cut, headers never broken, long text
/// cells shortened with `…` (whole with `--wide`); a table that cannot fit even so is written as
/// one block per row. At most `max_rows` rows (0: all).
pub fn table(t: &Table, max_rows: usize, ctx: &Ctx) -> String {
    let n = if max_rows == 0 {
        t.rows.len()
    } else {
        t.rows.len().min(max_rows)
    };
    let headers: Vec<String> = t.columns.iter().map(|c| esc(c)).collect();
    let cells: Vec<Vec<String>> = (0..n)
        .map(|r| {
            (0..t.columns.len())
                .map(|c| esc(&t.display(r, c)))
                .collect()
        })
        .collect();
    let numeric: Vec<bool> = (0..t.columns.len())
        .map(|c| {
            (0..n).any(|r| t.rows[r].get(c).is_some_and(serde_json::Value::is_number))
                && (0..n).all(|r| {
                    t.rows[r]
                        .get(c)
                        .is_none_or(|v| v.is_number() || v.is_null())
                })
        })
        .collect();
    let natural: Vec<usize> = (0..headers.len())
        .map(|c| {
            cells
                .iter()
                .map(|row| width_of(&row[c]))
                .chain([width_of(&headers[c])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // a text column shrinks to its header, and to no less than 10 columns
    let least: Vec<usize> = (0..headers.len())
        .map(|c| {
            if numeric[c] {
                natural[c]
            } else {
                natural[c].min(width_of(&headers[c]).max(10))
            }
        })
        .collect();
    let overhead = 3 * headers.len() + 1;
    let fits = |ws: &[usize]| ws.iter().sum::<usize>() + overhead <= ctx.width;
    let widths: Option<Vec<usize>> = if ctx.wide || fits(&natural) {
        Some(natural.clone())
    } else if fits(&least) {
        // the largest cap on text columns that fits
        let capped = |cap: usize| -> Vec<usize> {
            (0..headers.len())
                .map(|c| {
                    if numeric[c] {
                        natural[c]
                    } else {
                        natural[c].min(cap.max(least[c]))
                    }
                })
                .collect()
        };
        let (mut lo, mut hi) = (0, natural.iter().copied().max().unwrap_or(0));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(&capped(mid)) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(capped(lo))
    } else {
        None
    };
    let mut s = match widths {
        Some(ws) => {
            let mut ct = comfy_table::Table::new();
            ct.load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Disabled)
                .set_header(headers.clone());
            for row in &cells {
                ct.add_row(row.iter().enumerate().map(|(c, v)| {
                    let cell = comfy_table::Cell::new(truncate(v, ws[c]));
                    if numeric[c] {
                        cell.set_alignment(CellAlignment::Right)
                    } else {
                        cell
                    }
                }));
            }
            ct.to_string()
        }
        None => records(&headers, &cells, ctx),
    };
    if n < t.rows.len() {
        s.push_str(&format!(
            "\n… {} more rows (--max-rows 0 shows all)",
            t.rows.len() - n
        ));
    }
    s
}

/// One block per row (`column  value` lines): for tables too wide for the terminal.
fn records(headers: &[String], cells: &[Vec<String>], ctx: &Ctx) -> String {
    let key = headers.iter().map(|h| width_of(h)).max().unwrap_or(0);
    let room = ctx.width.saturating_sub(key + 2).max(10);
    let mut out = Vec::new();
    for (i, row) in cells.iter().enumerate() {
        let mark = format!("── {} ", i + 1);
        out.push(format!(
            "{mark}{}",
            "─".repeat(ctx.width.min(60).saturating_sub(width_of(&mark)))
        ));
        for (h, v) in headers.iter().zip(row) {
            let v = if ctx.wide {
                v.clone()
            } else {
                truncate(v, room)
            };
            let pad = key - width_of(h);
            out.push(format!("{h}{}  {v}", " ".repeat(pad)));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(width: usize, wide: bool) -> Ctx {
        Ctx {
            width,
            wide,
            ..Ctx::plain()
        }
    }

    fn wide_table() -> Table {
        Table {
            columns: ["user_agent", "source_ip", "requests", "p99_ms"]
                .map(String::from)
                .to_vec(),
            rows: vec![
                vec![
                    json!("kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f some-very-long-tail"),
                    json!("10.0.0.12"),
                    json!(1234567),
                    json!(12.5),
                ],
                vec![json!("short"), json!("10.0.0.13"), json!(3), json!(null)],
            ],
        }
    }

    #[test]
    fn a_table_fits_the_width_numbers_whole_text_cut_with_an_ellipsis() {
        let s = table(&wide_table(), 0, &ctx(60, false));
        for l in s.lines() {
            assert!(width_of(l) <= 60, "{l:?} is {} wide", width_of(l));
        }
        assert!(s.contains("1234567"), "{s}");
        assert!(s.contains('…'), "{s}");
        // headers whole, on one line
        assert!(s.lines().nth(1).unwrap().contains("source_ip"), "{s}");
        // --wide: the cell whole
        let s = table(&wide_table(), 0, &ctx(60, true));
        assert!(s.contains("some-very-long-tail"), "{s}");
    }

    #[test]
    fn a_table_that_cannot_fit_is_written_one_record_per_block() {
        let t = Table {
            columns: (0..12).map(|i| format!("column_{i}")).collect(),
            rows: vec![(0..12).map(|i| json!(format!("value {i}"))).collect()],
        };
        let s = table(&t, 0, &ctx(80, false));
        assert!(s.starts_with("── 1 "), "{s}");
        assert!(
            s.lines().any(|l| l.starts_with("column_11  value 11")),
            "{s}"
        );
        for l in s.lines() {
            assert!(width_of(l) <= 80, "{l:?}");
        }
    }

    #[test]
    fn truncation_counts_display_columns() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(width_of(&truncate("日本語テキスト", 6)), 5);
    }
}
