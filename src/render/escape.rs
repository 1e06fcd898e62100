//! What each medium would interpret, neutralised. Strings in audit events and manifests are chosen
//! by whoever sent the request or wrote the manifest: a user agent carrying `ESC ] 0 ; … BEL` would
//! set the operator's terminal title, `ESC [ 2 J` clear the screen, U+202E reverse what follows (the
//! class of CVE-2021-25743, which kubectl fixed by escaping what it prints), and a CSV cell starting
//! with `=` opens as a formula in a spreadsheet. JSON is the lossless format and keeps the exact
//! strings; every format meant for eyes or spreadsheets goes through these.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters a terminal or a text viewer would interpret rather than show: C0 controls, DEL, C1
/// controls, the Unicode bidirectional controls and other invisible format characters.
fn hostile(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // bidirectional embeddings, overrides and isolates, marks
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
        // zero-width and invisible format characters, line and paragraph separators, BOM
        | '\u{200b}'..='\u{200d}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// For a terminal (and any plain-text medium: stderr, GitHub annotations): every hostile character
/// printed escaped, `\x1b` for C0 and DEL, `\u{9b}` for the rest.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !hostile(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// For HTML text and attributes (and SVG inside it): what the terminal would interpret shown
/// escaped as for [`terminal`] (a bidi override reorders a page too), then the markup characters as
/// entities.
pub fn html(s: &str) -> String {
    terminal(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// For a Markdown table cell: [`terminal`], then `|`, backticks and line breaks that would end the
/// cell or start code.
pub fn markdown_cell(s: &str) -> String {
    terminal(s)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "\\`")
}

/// For a CSV cell holding text: [`terminal`] is not applied (CSV is data, quotes keep it whole), but
/// a cell a spreadsheet would read as a formula (first character `=`, `+`, `-`, `@`, tab or carriage
/// return) is prefixed with `'` (OWASP's rule for CSV injection); then RFC 4180 quoting. Numbers are
/// written by the caller as they are.
pub fn csv_text(s: &str) -> String {
    let guarded: Cow<'_, str> = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str =
        "kubectl\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[31mred\u{9b}1m \u{202e}evil\u{2066}x\r\nnext";

    #[test]
    fn terminal_escapes_every_control_and_bidi_character() {
        let t = terminal(EVIL);
        assert_eq!(
            t,
            "kubectl\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\u{9b}1m \\u{202e}evil\\u{2066}x\\x0d\\x0anext"
        );
        assert!(!t.chars().any(hostile));
        assert!(matches!(terminal("plain ünïcode ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn markdown_cells_cannot_end_the_cell_or_start_code() {
        assert_eq!(markdown_cell("a|b`c`\nd"), "a\\|b\\`c\\`\\\\x0ad");
    }

    #[test]
    fn html_escapes_markup_and_shows_controls() {
        assert_eq!(
            html("<b a=\"x\">'&\u{202e}\u{1b}"),
            "&lt;b a=&quot;x&quot;&gt;&#39;&amp;\\u{202e}\\x1b"
        );
    }

    #[test]
    fn csv_formulas_are_quoted_as_text() {
        assert_eq!(
            csv_text("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(csv_text("+1"), "'+1");
        assert_eq!(csv_text("-cmd|' /C calc'!A0"), "'-cmd|' /C calc'!A0");
        assert_eq!(csv_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_text("plain, text"), "\"plain, text\"");
        assert_eq!(csv_text("kubelet"), "kubelet");
    }
}
