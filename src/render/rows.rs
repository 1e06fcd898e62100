//! Tables of rows: text (comfy-table), CSV, Markdown and JSON.

use std::io::{self, Write};

use serde_json::Value;

use super::escape;
use super::format::{ColorChoice, Ctx, Format};
use crate::table::Table;

fn is_numeric(v: &Value) -> bool {
    matches!(v, Value::Number(_))
}

/// A table for the terminal standard output is (its width, `NO_COLOR`), at most `max_rows` rows
/// (0 = all): [`super::format::text::table`].
pub fn text_table(t: &Table, max_rows: usize) -> String {
    super::format::text::table(t, max_rows, &Ctx::stdout(ColorChoice::Auto, false))
}

pub fn csv(t: &Table, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{}",
        t.columns
            .iter()
            .map(|c| escape::csv_text(c))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for r in 0..t.rows.len() {
        let line: Vec<String> = (0..t.columns.len())
            .map(|c| {
                let v = t.display(r, c);
                // numbers stay numbers (a negative one is not a formula)
                if t.rows[r].get(c).is_some_and(is_numeric) {
                    v
                } else {
                    escape::csv_text(&v)
                }
            })
            .collect();
        writeln!(w, "{}", line.join(","))?;
    }
    Ok(())
}

fn md_cell(s: &str) -> String {
    escape::markdown_cell(s)
}

pub fn markdown(t: &Table, max_rows: usize, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "| {} |",
        t.columns
            .iter()
            .map(|c| md_cell(c))
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    writeln!(
        w,
        "|{}|",
        t.columns
            .iter()
            .map(|_| "---")
            .collect::<Vec<_>>()
            .join("|")
    )?;
    let n = if max_rows == 0 {
        t.rows.len()
    } else {
        t.rows.len().min(max_rows)
    };
    for r in 0..n {
        let cells: Vec<String> = (0..t.columns.len())
            .map(|c| md_cell(&t.display(r, c)))
            .collect();
        writeln!(w, "| {} |", cells.join(" | "))?;
    }
    if n < t.rows.len() {
        writeln!(w, "\n_… {} more rows_", t.rows.len() - n)?;
    }
    Ok(())
}

/// Rows as JSON objects keyed by column, serialized in place.
pub struct JsonRows<'a>(pub &'a Table);

impl serde::Serialize for JsonRows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let columns = &self.0.columns;
        s.collect_seq(self.0.rows.iter().map(|r| JsonRow(columns, r)))
    }
}

struct JsonRow<'a>(&'a [String], &'a [Value]);

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().zip(self.1))
    }
}

/// A table of rows in `format` (`kscope sql`): the rows themselves in text, JSON (an array of
/// objects), CSV and Markdown; a page around them in HTML. Formats without rows are refused by
/// the command line.
pub fn table(
    t: &Table,
    format: Format,
    max_rows: usize,
    ctx: &Ctx,
    sql: &str,
    w: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &JsonRows(t))?;
            writeln!(w)
        }
        Format::Csv => csv(t, w),
        Format::Markdown => markdown(t, max_rows, w),
        Format::Html => Format::Html.write(&super::build::rows(t, sql, max_rows), ctx, w),
        _ => writeln!(w, "{}", super::format::text::table(t, max_rows, ctx)),
    }
}
