//! Rendering: the only place that writes results, to the writer the command hands in. The
//! findings document ([`document`]) is built from a command's result by [`build`] and written by
//! one writer per format ([`format`]); [`rows`] holds the table primitives they share, [`charts`]
//! draws SVG for pages, [`catalogue`] and [`cache`] list queries, rules and the CloudWatch cache,
//! [`stderr`] is what kscope says about its input on standard error, and [`escape`] neutralises
//! what each medium would interpret. Renderers do no I/O of their own and make no domain
//! decisions.

pub mod build;
pub mod cache;
pub mod catalogue;
pub mod charts;
pub mod document;
pub mod escape;
pub mod format;
pub mod rows;
pub mod stderr;

pub use document::GateView;
pub use format::{Ctx, Format};

/// Width of text when nothing says otherwise (listings, help-like text).
pub const WIDTH: u16 = format::DEFAULT_WIDTH as u16;

/// The first sentence of a text.
pub fn one_line(text: &str) -> String {
    let end = text.find(". ").map(|i| i + 1).unwrap_or(text.len());
    text[..end].to_string()
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
