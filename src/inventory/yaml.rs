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
    /// Lines of the mappings in a top-level `items:` sequence (for `kind: List`).
    pub item_lines: Vec<usize>,
}

/// A document that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    pub line: usize,
    pub reason: String,
}

/// Splits `text` at `---` lines and parses each document. Empty documents are left out.
pub fn documents(text: &str) -> Vec<Result<Document, DocumentError>> {
    let mut out = Vec::new();
    let mut start_line = 1usize;
    let mut chunk = String::new();
    let mut line_no = 0usize;
    for line in text.split_inclusive('\n') {
        line_no += 1;
        if is_separator(line) {
            flush(&chunk, start_line, &mut out);
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
    flush(&chunk, start_line, &mut out);
    out
}

fn is_separator(line: &str) -> bool {
    let l = line.trim_end_matches(['\n', '\r']);
    l == "---" || l.starts_with("--- ") || l.starts_with("---\t")
}

fn flush(chunk: &str, start_line: usize, out: &mut Vec<Result<Document, DocumentError>>) {
    if chunk
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "...")
    {
        return;
    }
    let offset = start_line - 1;
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(chunk);
    match parser.load(&mut b, false) {
        Err(e) => out.push(Err(DocumentError {
            line: e.marker().line() + offset,
            reason: format!("invalid YAML: {}", e.info()),
        })),
        Ok(()) => match (b.error, b.root) {
            (Some((line, reason)), _) => out.push(Err(DocumentError {
                line: line + offset,
                reason,
            })),
            (None, Some(value)) => out.push(Ok(Document {
                value,
                line: b.root_line + offset,
                item_lines: b.item_lines.iter().map(|l| l + offset).collect(),
            })),
            (None, None) => {}
        },
    }
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Value>,
    root: Option<Value>,
    root_line: usize,
    item_lines: Vec<usize>,
    error: Option<(usize, String)>,
}

impl Builder {
    fn push_value(&mut self, v: Value, anchor: usize, line: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
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
                self.push_value(v, anchor, line);
            }
            Event::Alias(id) => {
                let v = match self.anchors.get(&id) {
                    Some(v) => v.clone(),
                    None => {
                        if self.error.is_none() {
                            self.error = Some((line, "alias to an unknown anchor".into()));
                        }
                        Value::Null
                    }
                };
                self.push_value(v, 0, line);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.is_empty() && self.root_line == 0 {
                    self.root_line = line;
                }
                self.stack.push(Frame::Seq(Vec::new(), anchor));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.is_empty() && self.root_line == 0 {
                    self.root_line = line;
                }
                if let [Frame::Map(_, Some(k), _), Frame::Seq(..)] = self.stack.as_slice() {
                    if k == "items" {
                        self.item_lines.push(line);
                    }
                }
                self.stack.push(Frame::Map(Map::new(), None, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor)) = self.stack.pop() {
                    self.push_value(Value::Array(items), anchor, line);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(map, _, anchor)) = self.stack.pop() {
                    self.push_value(Value::Object(map), anchor, line);
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
}
