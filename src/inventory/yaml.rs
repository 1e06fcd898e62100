//! Multi-document YAML (and JSON, which is YAML) into `serde_json::Value`s that remember their line.
//!
//! Each document is parsed on its own, so one invalid document is reported with its line and the
//! others are still read. For `kind: List` documents the line of every item is kept too.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One parsed document.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// 1-based line of the document's last content line (comments and blank lines left out).
    pub end_line: usize,
    /// Lines of the mappings in a top-level `items:` sequence (for `kind: List`).
    pub item_lines: Vec<usize>,
}

impl Document {
    /// First and last line of item `i` of a `kind: List` document: from its line to the line before
    /// the next item (the document's end for the last).
    pub fn item_span(&self, i: usize) -> (usize, usize) {
        let start = self.item_lines.get(i).copied().unwrap_or(self.line);
        let end = self
            .item_lines
            .get(i + 1)
            .map(|n| n.saturating_sub(1).max(start))
            .unwrap_or(self.end_line);
        (start, end.max(start))
    }
}

/// A document that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    pub line: usize,
    pub reason: String,
}

/// Bounds on the cost of one document: manifests in a pull request are hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one document (between `---` lines).
    pub max_document_bytes: usize,
    /// Nesting depth of mappings and sequences.
    pub max_depth: usize,
}

/// The defaults: far above any real Kubernetes object (etcd stores at most 1.5 MiB per object), far
/// below what hurts.
pub const DEFAULT_LIMITS: Limits = Limits {
    max_document_bytes: 32 << 20,
    max_depth: 256,
};

impl Default for Limits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

/// Splits `text` at `---` lines and parses each document. Empty documents are left out.
pub fn documents(text: &str) -> Vec<Result<Document, DocumentError>> {
    documents_with(text, DEFAULT_LIMITS)
}

/// [`documents`] with explicit limits.
pub fn documents_with(text: &str, limits: Limits) -> Vec<Result<Document, DocumentError>> {
    let mut out = Vec::new();
    let mut start_line = 1usize;
    let mut chunk = String::new();
    let mut line_no = 0usize;
    for line in text.split_inclusive('\n') {
        line_no += 1;
        if is_separator(line) {
            flush(&chunk, start_line, limits, &mut out);
            chunk.clear();
            // Keep the separator line (it may carry content after `--- `) as a blank line so that
            // markers stay on the right line.
            start_line = line_no;
            let rest = line
                .trim_end()
                .strip_prefix("---")
                .unwrap_or("")
                .trim_start();
            chunk.push_str(rest);
            chunk.push('\n');
            continue;
        }
        if chunk.is_empty() {
            start_line = line_no;
        }
        chunk.push_str(line);
    }
    flush(&chunk, start_line, limits, &mut out);
    out
}

fn is_separator(line: &str) -> bool {
    let l = line.trim_end_matches(['\n', '\r']);
    l == "---" || l.starts_with("--- ") || l.starts_with("---\t")
}

fn flush(
    chunk: &str,
    start_line: usize,
    limits: Limits,
    out: &mut Vec<Result<Document, DocumentError>>,
) {
    if chunk
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "...")
    {
        return;
    }
    if chunk.len() > limits.max_document_bytes {
        out.push(Err(DocumentError {
            line: start_line,
            reason: format!(
                "document size limit exceeded: {} bytes, more than {} (--max-document-size raises it)",
                chunk.len(),
                limits.max_document_bytes
            ),
        }));
        return;
    }
    let offset = start_line - 1;
    let mut b = Builder {
        max_depth: limits.max_depth,
        ..Builder::default()
    };
    // Driven event by event (not `Parser::load`, which recurses once per nesting level) so that
    // the first error ends the document at once; a panic in the parser is an invalid document.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut parser = Parser::new_from_str(chunk);
        loop {
            match parser.next_token() {
                Err(e) => return Err(e),
                Ok((Event::StreamEnd, _)) => return Ok(()),
                Ok((ev, mark)) => {
                    b.on_event(ev, mark);
                    if b.error.is_some() {
                        return Ok(());
                    }
                }
            }
        }
    }));
    match parsed {
        Err(_) => out.push(Err(DocumentError {
            line: start_line,
            reason: "invalid YAML: the parser failed on this document".into(),
        })),
        Ok(Err(e)) => out.push(Err(DocumentError {
            line: e.marker().line() + offset,
            reason: format!("invalid YAML: {}", e.info()),
        })),
        Ok(Ok(())) => match (b.error, b.root) {
            (Some((line, reason)), _) => out.push(Err(DocumentError {
                line: line + offset,
                reason,
            })),
            (None, Some(value)) => out.push(Ok(Document {
                value,
                line: b.root_line + offset,
                end_line: last_content_line(chunk) + offset,
                item_lines: b.item_lines.iter().map(|l| l + offset).collect(),
            })),
            (None, None) => {}
        },
    }
}

/// The 1-based line (within `chunk`) of its last line that is not blank, a comment or `...`.
fn last_content_line(chunk: &str) -> usize {
    chunk
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && t != "..."
        })
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or(1)
}

/// The share of a document's nodes that may come from aliases: 99 % up to 400 000 nodes, falling
/// to 10 % at 4 million (the rule the Kubernetes YAML decoder adopted after CVE-2019-11253).
fn allowed_alias_ratio(nodes: u64) -> f64 {
    const LOW: f64 = 400_000.0;
    const HIGH: f64 = 4_000_000.0;
    let n = nodes as f64;
    if n <= LOW {
        0.99
    } else if n >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * (n - LOW) / (HIGH - LOW)
    }
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored values with their node counts.
    anchors: std::collections::HashMap<usize, (Value, u64)>,
    /// Node counts of the open collections (parallel to `stack`).
    sizes: Vec<u64>,
    /// Nodes in the document, and how many of them came from aliases.
    nodes: u64,
    alias_nodes: u64,
    max_depth: usize,
    root: Option<Value>,
    root_line: usize,
    item_lines: Vec<usize>,
    error: Option<(usize, String)>,
}

impl Builder {
    /// Adds a finished value of `size` nodes to its parent.
    fn push_value(&mut self, v: Value, anchor: usize, line: usize, size: u64) {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), size));
        }
        if let Some(parent) = self.sizes.last_mut() {
            *parent += size;
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(v);
                    if self.root_line == 0 {
                        self.root_line = line;
                    }
                }
            }
            Some(Frame::Seq(items, _)) => items.push(v),
            Some(Frame::Map(map, key, _)) => match key.take() {
                None => match v {
                    Value::String(s) => *key = Some(s),
                    Value::Null => *key = Some(String::new()),
                    Value::Bool(b) => *key = Some(b.to_string()),
                    Value::Number(n) => *key = Some(n.to_string()),
                    _ => {
                        if self.error.is_none() {
                            self.error = Some((line, "a mapping key must be a scalar".into()));
                        }
                        *key = Some(String::new());
                    }
                },
                Some(k) if k == "<<" => {
                    // Merge key: copy entries the mapping does not set itself.
                    let sources = match v {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for s in sources {
                        if let Value::Object(m) = s {
                            for (mk, mv) in m {
                                map.entry(mk).or_insert(mv);
                            }
                        }
                    }
                }
                Some(k) => {
                    map.insert(k, v);
                }
            },
        }
    }
}

impl Builder {
    /// Opens a collection, unless it would nest too deep.
    fn open(&mut self, line: usize) -> bool {
        if self.stack.len() >= self.max_depth {
            self.error = Some((
                line,
                format!(
                    "nesting depth limit exceeded: more than {} levels (--max-depth raises it)",
                    self.max_depth
                ),
            ));
            return false;
        }
        self.nodes += 1;
        self.sizes.push(1);
        true
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(s, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let v = if style == TScalarStyle::Plain && !is_str_tag {
                    plain_scalar(s)
                } else {
                    Value::String(s)
                };
                self.nodes += 1;
                self.push_value(v, anchor, line, 1);
            }
            Event::Alias(id) => {
                let Some((v, size)) = self.anchors.get(&id) else {
                    self.error = Some((line, "alias to an unknown anchor".into()));
                    return;
                };
                let size = *size;
                // checked before the copy is made: the copy is what would exhaust memory
                let (nodes, alias_nodes) = (self.nodes + size, self.alias_nodes + size);
                if alias_nodes > 100
                    && nodes > 1000
                    && alias_nodes as f64 / nodes as f64 > allowed_alias_ratio(nodes)
                {
                    self.error = Some((
                        line,
                        format!(
                            "alias expansion limit exceeded: aliases would expand the document to \
                             {nodes} nodes, {alias_nodes} of them copies (a \"billion laughs\" document?)"
                        ),
                    ));
                    return;
                }
                let v = v.clone();
                self.nodes = nodes;
                self.alias_nodes = alias_nodes;
                self.push_value(v, 0, line, size);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.is_empty() && self.root_line == 0 {
                    self.root_line = line;
                }
                if !self.open(line) {
                    return;
                }
                self.stack.push(Frame::Seq(Vec::new(), anchor));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.is_empty() && self.root_line == 0 {
                    self.root_line = line;
                }
                if !self.open(line) {
                    return;
                }
                if let [Frame::Map(_, Some(k), _), Frame::Seq(..)] = self.stack.as_slice() {
                    if k == "items" {
                        self.item_lines.push(line);
                    }
                }
                self.stack.push(Frame::Map(Map::new(), None, anchor));
            }
            Event::SequenceEnd => {
                let size = self.sizes.pop().unwrap_or(1);
                if let Some(Frame::Seq(items, anchor)) = self.stack.pop() {
                    self.push_value(Value::Array(items), anchor, line, size);
                }
            }
            Event::MappingEnd => {
                let size = self.sizes.pop().unwrap_or(1);
                if let Some(Frame::Map(map, _, anchor)) = self.stack.pop() {
                    self.push_value(Value::Object(map), anchor, line, size);
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// YAML 1.2 core schema for plain scalars (plus the 1.1 booleans Kubernetes users still write).
fn plain_scalar(s: String) -> Value {
    match s.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.' {
        let t = s.strip_prefix('+').unwrap_or(&s);
        if let Ok(i) = t.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = t.parse::<u64>() {
            return Value::Number(u.into());
        }
        if let Some(h) = t.strip_prefix("0x") {
            if let Ok(i) = i64::from_str_radix(h, 16) {
                return Value::Number(i.into());
            }
        }
        if let Some(o) = t.strip_prefix("0o") {
            if let Ok(i) = i64::from_str_radix(o, 8) {
                return Value::Number(i.into());
            }
        }
        let looks_float = t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
            && t.bytes().any(|b| b.is_ascii_digit());
        if looks_float {
            if let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
        }
    }
    Value::String(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_lines_and_errors() {
        let text = "# leading comment\napiVersion: v1\nkind: A\n---\n\n---\nkind: [unclosed\n---\nkind: List\nitems:\n- kind: X\n  n: 1\n-   kind: Y\n    quoted: \"1\"\n    plain: 0x10\n";
        let docs = documents(text);
        assert_eq!(docs.len(), 3);
        let a = docs[0].as_ref().unwrap();
        assert_eq!(a.line, 2);
        assert_eq!(a.value, json!({"apiVersion": "v1", "kind": "A"}));
        let e = docs[1].as_ref().unwrap_err();
        assert_eq!(e.line, 8, "{e:?}");
        let l = docs[2].as_ref().unwrap();
        assert_eq!(l.line, 9);
        assert_eq!(l.item_lines, vec![11, 13]);
        assert_eq!(
            l.value["items"][1],
            json!({"kind": "Y", "quoted": "1", "plain": 16})
        );
    }

    #[test]
    fn anchors_merge_and_json() {
        let docs = documents(
            "base: &b {a: 1, b: true}\nother:\n  <<: *b\n  b: false\n---\n{\"x\": [1.5, null]}\n",
        );
        let v = &docs[0].as_ref().unwrap().value;
        assert_eq!(v["other"], json!({"b": false, "a": 1}));
        assert_eq!(docs[1].as_ref().unwrap().value, json!({"x": [1.5, null]}));
    }

    #[test]
    fn aliases_are_bounded_but_ordinary_reuse_is_not() {
        // 300 merges of a small anchored map: ordinary reuse, accepted
        let mut ok = String::from("base: &b {cpu: 1, mem: 2, tier: x}\nitems:\n");
        for i in 0..300 {
            ok.push_str(&format!("- {{name: n{i}, <<: *b}}\n"));
        }
        let docs = documents(&ok);
        let v = &docs[0].as_ref().unwrap().value;
        assert_eq!(v["items"][299]["tier"], json!("x"));

        // nine levels of nine aliases: stopped, with the line where the limit was hit
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        let names: Vec<char> = "abcdefghi".chars().collect();
        for w in names.windows(2) {
            bomb.push_str(&format!(
                "{}: &{} [{}]\n",
                w[1],
                w[1],
                vec![format!("*{}", w[0]); 9].join(", ")
            ));
        }
        let e = documents(&bomb).remove(0).unwrap_err();
        assert!(
            e.reason.starts_with("alias expansion limit exceeded"),
            "{e:?}"
        );
        assert!((3..=9).contains(&e.line), "{e:?}");
    }

    #[test]
    fn depth_and_size_limits() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = documents(&deep).remove(0).unwrap_err();
        assert!(
            e.reason.contains("limit exceeded") || e.reason.contains("recursion"),
            "{e:?}"
        );
        let limits = Limits {
            max_document_bytes: 10,
            max_depth: 2,
        };
        let e = documents_with("a: {b: {c: 1}}\n", limits)
            .remove(0)
            .unwrap_err();
        assert!(e.reason.contains("document size limit exceeded"), "{e:?}");
        let e = documents_with(
            "a: {b: [1]}\n",
            Limits {
                max_document_bytes: 100,
                ..limits
            },
        )
        .remove(0)
        .unwrap_err();
        assert!(e.reason.contains("more than 2 levels"), "{e:?}");
        assert!(
            documents_with(
                "a: {b: 1}\n",
                Limits {
                    max_document_bytes: 100,
                    ..limits
                }
            )[0]
            .is_ok()
        );
    }
}
