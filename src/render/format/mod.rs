//! The output formats: one writer per format, each in its own file, each over one
//! [`Document`]. A format is one variant of [`Format`] (its name everywhere: `--format`,
//! `--output FORMAT=PATH`, completions, help), one arm in [`Format::write`], and its file.

use std::io::{self, Write};
use std::path::PathBuf;

use super::document::Document;

mod codequality;
mod csv;
mod github;
pub mod html;
mod json;
mod junit;
mod markdown;
pub mod sarif;
pub mod text;

/// Every output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people at a terminal: findings the way compilers print them (alias: table).
    #[value(alias = "table")]
    Text,
    /// The JSON findings envelope (documented in the README): the lossless format.
    Json,
    /// RFC 4180, spreadsheet-safe (formula characters neutralised).
    Csv,
    /// A Markdown document (a ticket, a pull-request comment).
    Markdown,
    /// One self-contained HTML page with charts.
    Html,
    /// SARIF 2.1.0 for GitHub code scanning.
    Sarif,
    /// JUnit XML for CI test dashboards.
    Junit,
    /// GitHub Actions annotations (workflow commands).
    Github,
    /// GitLab Code Quality JSON.
    Codequality,
}

impl Format {
    /// The name users type.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    /// Every name, for messages (`text, json, …`).
    pub fn names() -> String {
        <Format as clap::ValueEnum>::value_variants()
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the format carries rows of a table (what `kscope sql` can write).
    pub fn has_rows(self) -> bool {
        matches!(
            self,
            Format::Text | Format::Json | Format::Csv | Format::Markdown | Format::Html
        )
    }

    /// Writes `doc` in this format.
    pub fn write(self, doc: &Document<'_>, ctx: &Ctx, w: &mut dyn Write) -> io::Result<()> {
        match self {
            Format::Text => text::write(doc, ctx, w),
            Format::Json => json::write(doc, w),
            Format::Csv => csv::write(doc, w),
            Format::Markdown => markdown::write(doc, w),
            Format::Html => html::write(doc, w),
            Format::Sarif => sarif::write(doc, ctx, w),
            Format::Junit => junit::write(doc, w),
            Format::Github => github::write(doc, ctx, w),
            Format::Codequality => codequality::write(doc, ctx, w),
        }
    }
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// Where a document goes: what the writers for people need to know about it.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Columns of text output.
    pub width: usize,
    pub color: bool,
    /// `--wide`: table cells whole, never shortened.
    pub wide: bool,
    /// The repository root and the working directory (absolute): file paths in SARIF, Code
    /// Quality and annotations are relative to the root.
    pub root: PathBuf,
    pub cwd: PathBuf,
}

/// Columns when nothing says otherwise.
pub const DEFAULT_WIDTH: usize = 100;

impl Ctx {
    /// For standard output: the width from `COLUMNS`, else the terminal's, else
    /// [`DEFAULT_WIDTH`]; colour as `--color` says (auto: a terminal and no `NO_COLOR`).
    pub fn stdout(color: ColorChoice, wide: bool) -> Ctx {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0)
            .or_else(|| {
                tty.then(|| terminal_size::terminal_size().map(|(w, _)| w.0 as usize))
                    .flatten()
            })
            .unwrap_or(DEFAULT_WIDTH);
        Ctx {
            width: width.clamp(40, 1000),
            color: match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => tty && !no_color,
            },
            wide,
            ..Ctx::plain()
        }
    }

    /// For a file (`--output`): no colour, the default width.
    pub fn file(&self) -> Ctx {
        Ctx {
            width: DEFAULT_WIDTH,
            color: false,
            ..self.clone()
        }
    }

    /// No terminal: the default width, no colour, paths relative to the repository root found
    /// from the working directory.
    pub fn plain() -> Ctx {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let root = cwd
            .ancestors()
            .find(|d| d.join(".git").exists())
            .unwrap_or(&cwd)
            .to_path_buf();
        Ctx {
            width: DEFAULT_WIDTH,
            color: false,
            wide: false,
            root,
            cwd,
        }
    }

    /// A finding's file relative to the repository root, with `/` separators.
    pub fn rel_path(&self, file: &str) -> String {
        let abs = self.cwd.join(file);
        let rel = abs
            .strip_prefix(&self.root)
            .map(std::path::Path::to_path_buf)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_repository_root() {
        let ctx = Ctx {
            root: PathBuf::from("/repo"),
            cwd: PathBuf::from("/repo/deploy"),
            ..Ctx::plain()
        };
        assert_eq!(ctx.rel_path("./prod/a b.yaml"), "deploy/prod/a b.yaml");
        assert_eq!(ctx.rel_path("../charts/x.yaml"), "charts/x.yaml");
    }

    #[test]
    fn every_format_has_one_name_and_table_is_text() {
        assert_eq!(
            Format::names(),
            "text, json, csv, markdown, html, sarif, junit, github, codequality"
        );
        let t = <Format as clap::ValueEnum>::from_str("table", true);
        assert_eq!(t, Ok(Format::Text));
    }
}
