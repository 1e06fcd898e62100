//! Rendering: the only place that writes results, to the writer the command hands in. One module
//! per thing rendered: [`rows`] (tables of rows), [`findings`] (findings documents of `report` and
//! `lint`), [`catalogue`] (query and rule listings), [`cache`] (the CloudWatch cache). Renderers do no
//! I/O of their own and make no domain decisions.

pub mod cache;
pub mod catalogue;
pub mod findings;
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

/// Formats of a findings document (`kscope report`, `kscope lint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindingsFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

/// Width of rendered tables: fits a 100-column terminal.
pub const WIDTH: u16 = 100;

/// The first sentence of a text, wrapped to [`WIDTH`] columns.
pub fn one_line(text: &str) -> String {
    let end = text.find(". ").map(|i| i + 1).unwrap_or(text.len());
    wrap(&text[..end], WIDTH as usize)
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
