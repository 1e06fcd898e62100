//! Audit sources: files, directories (recursive), globs and stdin; plain or gzip; format detected per file.
//! Files are read as newline-aligned chunks that parse workers take in turn.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One input named on the command line, after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    File(PathBuf),
    Stdin,
    /// Events already in memory (e.g. downloaded): label and newline-separated JSON lines.
    Memory(String, std::sync::Arc<Vec<u8>>),
}

impl SourceSpec {
    pub fn label(&self) -> String {
        match self {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::Stdin => "stdin".into(),
            SourceSpec::Memory(l, _) => l.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("invalid glob pattern {0:?}: {1}")]
    BadGlob(String, String),
    #[error("{0}: the glob matches no file")]
    EmptyGlob(String),
}

/// Sources named on the command line, expanded.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    pub sources: Vec<SourceSpec>,
    /// Directory entries that could not be read (`path: reason`): the input is not fully read.
    pub problems: Vec<String>,
}

/// Expands paths, directories (with the one directory walk: recursive, sorted, hidden entries
/// skipped, each directory and file once) and globs. `-` is stdin.
pub fn expand(args: &[String]) -> Result<Expanded, SourceError> {
    let mut stdin_at = Vec::new();
    let mut walker = crate::walk::Walker::new();
    let opts = crate::walk::WalkOptions::default();
    for a in args {
        if a == "-" {
            stdin_at.push(walker.walk.files.len());
            continue;
        }
        let p = Path::new(a);
        if p.exists() {
            walker.add(p, opts);
        } else if a.contains(['*', '?', '[']) {
            let paths =
                glob::glob(a).map_err(|e| SourceError::BadGlob(a.clone(), e.to_string()))?;
            let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            if matched.is_empty() {
                return Err(SourceError::EmptyGlob(a.clone()));
            }
            matched.sort();
            for m in matched {
                walker.add(&m, opts);
            }
        } else {
            return Err(SourceError::NotFound(a.clone()));
        }
    }
    let walk = walker.walk;
    let mut sources = Vec::with_capacity(walk.files.len() + stdin_at.len());
    let mut stdin = stdin_at.into_iter().peekable();
    for (i, f) in walk.files.into_iter().enumerate() {
        while stdin.next_if(|&at| at == i).is_some() {
            sources.push(SourceSpec::Stdin);
        }
        sources.push(SourceSpec::File(f));
    }
    sources.extend(stdin.map(|_| SourceSpec::Stdin));
    Ok(Expanded {
        sources,
        problems: walk.problems,
    })
}

/// How the lines of one source are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One audit event per line (what kube-apiserver's log backend writes).
    AuditLines,
    /// One export record per line (CloudWatch `{"message": ...}`, GKE entries, AKS records), normalised.
    WrappedLines,
    /// CloudWatch Logs S3 export: `<timestamp> <event JSON>` per line.
    TimestampedLines,
    /// One or more whole JSON documents (EventList, `aws logs filter-log-events` output, JSON arrays).
    Document,
}

/// The top-level keys of a JSON object at the start of `line` (and the value of `kind`), read until
/// the text ends or stops being valid.
fn top_keys(line: &[u8]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut keys = Vec::new();
    let mut kind = None;
    let mut c = super::json::Cursor::new(line);
    if c.begin_object().is_err() {
        return (keys, kind);
    }
    let mut first = true;
    while let Ok(Some(k)) = c.next_key(&mut first) {
        keys.push(k.to_vec());
        if k == b"kind" {
            match c.str_or_null() {
                Ok(v) => kind = v.map(|v| v.into_owned()),
                Err(_) => break,
            }
        } else if c.skip_value().is_err() {
            break;
        }
    }
    (keys, kind)
}

/// Detects the format from the start of a source.
pub fn detect(head: &[u8]) -> Format {
    if trim_start(head).first() == Some(&b'[') {
        return Format::Document;
    }
    let mut rest = head;
    let mut seen = 0;
    while !rest.is_empty() && seen < 5 {
        let (line, complete) = match memchr::memchr(b'\n', rest) {
            Some(nl) => (&rest[..nl], true),
            None => (rest, false),
        };
        rest = rest.get(line.len() + 1..).unwrap_or_default();
        let line = trim_start(line);
        if line.is_empty() {
            continue;
        }
        seen += 1;
        if line.first() == Some(&b'{') {
            let (keys, kind) = top_keys(line);
            let has = |k: &[u8]| keys.iter().any(|x| x == k);
            if has(b"auditID") || kind.as_deref() == Some("Event") {
                return Format::AuditLines;
            }
            if keys.is_empty() || kind.as_deref() == Some("EventList") || has(b"items") {
                // `{` alone on its line: a pretty-printed document
                return Format::Document;
            }
            let parses = serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok();
            if complete && !parses {
                // the object continues on the next lines
                return Format::Document;
            }
            if WRAPPER_KEYS.iter().any(|k| has(k.as_bytes())) {
                return Format::WrappedLines;
            }
        } else if is_timestamp_prefixed(line) {
            return Format::TimestampedLines;
        }
    }
    Format::AuditLines
}

/// The format one line's own shape says, for a line that does not fit its file's format.
pub fn line_format(line: &[u8]) -> Format {
    let line = trim_start(line);
    if is_timestamp_prefixed(line) {
        return Format::TimestampedLines;
    }
    if line.first() != Some(&b'{') {
        return Format::AuditLines;
    }
    let (keys, kind) = top_keys(line);
    let has = |k: &str| keys.iter().any(|x| x == k.as_bytes());
    if has("auditID") || kind.as_deref() == Some("Event") {
        return Format::AuditLines;
    }
    if WRAPPER_KEYS.iter().any(|k| has(k)) || has("items") {
        return Format::WrappedLines;
    }
    Format::AuditLines
}

/// Top-level keys of the export records kscope unwraps.
const WRAPPER_KEYS: [&str; 6] = [
    "protoPayload",
    "properties",
    "records",
    "message",
    "logEvents",
    "events",
];

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// `2026-11-01T00:00:00.000Z {` — a CloudWatch Logs S3 export line.
pub fn is_timestamp_prefixed(line: &[u8]) -> bool {
    line.len() > 22
        && line[..4].iter().all(u8::is_ascii_digit)
        && line[4] == b'-'
        && line[10] == b'T'
        && memchr::memchr(b' ', &line[..line.len().min(40)])
            .is_some_and(|sp| line.get(sp + 1) == Some(&b'{'))
}

/// A newline-aligned piece of one source.
pub struct Chunk {
    pub source: usize,
    pub format: Format,
    /// Line (or, for documents, item) number of the first line in `data`, 1-based.
    pub first_line: u64,
    /// True when the lines are the items of a JSON document (numbered `file#N`).
    pub items: bool,
    pub data: Vec<u8>,
}

struct Open {
    idx: usize,
    reader: Box<dyn BufRead + Send>,
    format: Format,
    next_line: u64,
    carry: Vec<u8>,
    ready: VecDeque<Chunk>,
    eof: bool,
    /// An error met while peeking at the head, reported after the head's lines are read.
    deferred: Option<io::Error>,
}

/// Reads all sources in order as chunks of about `chunk_size` bytes.
pub struct ChunkReader {
    sources: Vec<SourceSpec>,
    next: usize,
    open: Option<Open>,
    chunk_size: usize,
    /// Buffers of parsed chunks, reused so that reading does not fault in fresh pages each time.
    pool: Vec<Vec<u8>>,
}

/// A source that could not be read (or not to its end).
#[derive(Debug, Clone)]
pub struct ReadFailure {
    pub source: usize,
    pub message: String,
}

impl ChunkReader {
    pub fn new(sources: Vec<SourceSpec>, chunk_size: usize) -> Self {
        ChunkReader {
            sources,
            next: 0,
            open: None,
            chunk_size,
            pool: Vec::new(),
        }
    }

    /// Gives back the buffer of a chunk that has been parsed.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < 8 && buf.capacity() <= 2 * self.chunk_size {
            buf.clear();
            self.pool.push(buf);
        }
    }

    pub fn sources(&self) -> &[SourceSpec] {
        &self.sources
    }

    /// The next chunk, `Ok(None)` at the end of all sources. An error concerns one source, which is
    /// abandoned; calling again continues with the next source.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, ReadFailure> {
        loop {
            if self.open.is_none() {
                if self.next >= self.sources.len() {
                    return Ok(None);
                }
                let idx = self.next;
                self.next += 1;
                self.open = Some(self.open_source(idx)?);
            }
            let Some(open) = self.open.as_mut() else {
                continue;
            };
            if let Some(c) = open.ready.pop_front() {
                return Ok(Some(c));
            }
            if open.eof && open.carry.is_empty() {
                if let Some(e) = open.deferred.take() {
                    let (idx, line) = (open.idx, open.next_line);
                    self.open = None;
                    return Err(ReadFailure {
                        source: idx,
                        message: format!(
                            "{}: read error near line {line}: {e}",
                            self.sources[idx].label()
                        ),
                    });
                }
                self.open = None;
                continue;
            }
            let buf = self.pool.pop().unwrap_or_default();
            match read_chunk(open, self.chunk_size, buf) {
                Some(c) => return Ok(Some(c)),
                None => self.open = None,
            }
        }
    }

    fn open_source(&self, idx: usize) -> Result<Open, ReadFailure> {
        let spec = &self.sources[idx];
        let fail = |e: io::Error| ReadFailure {
            source: idx,
            message: format!("{}: {e}", spec.label()),
        };
        let raw: Box<dyn Read + Send> = match spec {
            SourceSpec::File(p) => Box::new(File::open(p).map_err(fail)?),
            SourceSpec::Stdin => Box::new(io::stdin()),
            SourceSpec::Memory(_, data) => Box::new(io::Cursor::new(ArcBytes(data.clone()))),
        };
        let mut buffered = BufReader::with_capacity(256 * 1024, raw);
        let is_gzip = buffered
            .fill_buf()
            .map_err(fail)?
            .starts_with(&[0x1f, 0x8b]);
        let mut reader: Box<dyn BufRead + Send> = if is_gzip {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                flate2::bufread::MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        // read up to 64 KiB to detect the format; it becomes the start of the first chunk
        let mut head = Vec::with_capacity(64 * 1024);
        let mut deferred = None;
        while head.len() < 64 * 1024 {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) => {
                    deferred = Some(e);
                    break;
                }
            };
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min(64 * 1024 - head.len());
            head.extend_from_slice(&buf[..n]);
            reader.consume(n);
        }
        let format = detect(&head);
        let mut open = Open {
            idx,
            reader,
            format,
            next_line: 1,
            carry: head,
            ready: VecDeque::new(),
            eof: deferred.is_some(),
            deferred,
        };
        if format == Format::Document {
            let mut all = std::mem::take(&mut open.carry);
            if let Some(e) = open.deferred.take() {
                return Err(fail(e));
            }
            open.reader.read_to_end(&mut all).map_err(fail)?;
            open.ready = document_chunks(idx, &all).map_err(|message| ReadFailure {
                source: idx,
                message: format!("{}: {message}", spec.label()),
            })?;
            open.eof = true;
        }
        Ok(open)
    }
}

struct ArcBytes(std::sync::Arc<Vec<u8>>);
impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Appends up to `n` bytes from the reader straight into `data` (no intermediate buffer). End of
/// input and errors end the source; an error is reported only after the data read before it (a truncated
/// gzip still yields its readable lines, and its cut last line is reported as malformed).
fn read_more(open: &mut Open, data: &mut Vec<u8>, n: usize) {
    if open.eof {
        return;
    }
    match (&mut open.reader).take(n as u64).read_to_end(data) {
        Ok(got) if got < n => open.eof = true,
        Ok(_) => {}
        Err(e) => {
            open.deferred = Some(e);
            open.eof = true;
        }
    }
}

fn read_chunk(open: &mut Open, chunk_size: usize, mut data: Vec<u8>) -> Option<Chunk> {
    data.clear();
    data.extend_from_slice(&open.carry);
    open.carry.clear();
    data.reserve(chunk_size.saturating_sub(data.len()));
    if data.len() < chunk_size {
        let want = chunk_size - data.len();
        read_more(open, &mut data, want);
    }
    // the chunk ends at its last newline; the partial line after it starts the next chunk
    let mut searched = 0;
    while !open.eof {
        if let Some(nl) = memchr::memrchr(b'\n', &data[searched..]) {
            open.carry = data.split_off(searched + nl + 1);
            break;
        }
        // a line longer than a chunk: read on until it ends
        searched = data.len();
        read_more(open, &mut data, chunk_size);
    }
    if data.is_empty() {
        return None;
    }
    let lines =
        memchr::memchr_iter(b'\n', &data).count() as u64 + u64::from(!data.ends_with(b"\n"));
    let c = Chunk {
        source: open.idx,
        format: open.format,
        first_line: open.next_line,
        items: false,
        data,
    };
    open.next_line += lines;
    Some(c)
}

/// Parses one or more concatenated JSON documents and returns their events as one-per-line chunks
/// (line numbers become item numbers). Entries that are not events become lines that fail to parse,
/// so they are counted and reported like malformed lines.
fn document_chunks(idx: usize, all: &[u8]) -> Result<VecDeque<Chunk>, String> {
    let mut lines: Vec<u8> = Vec::with_capacity(all.len());
    let mut events = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(all).into_iter::<serde_json::Value>();
    let mut failure = None;
    for v in stream.by_ref() {
        match v {
            Ok(v) => super::normalize::extract(v, &mut events),
            Err(e) => {
                failure = Some(format!("invalid JSON document: {e}"));
                break;
            }
        }
    }
    for e in events {
        match e {
            Ok(bytes) => {
                // events are single-line JSON once re-serialised; a raw CloudWatch message may hold
                // newlines only inside strings, where JSON forbids raw control characters
                lines.extend(bytes.into_iter().map(|b| if b == b'\n' { b' ' } else { b }));
            }
            Err(reason) => {
                lines.extend_from_slice(b"\x00");
                lines.extend_from_slice(reason.as_bytes());
            }
        }
        lines.push(b'\n');
    }
    if let Some(f) = failure {
        if lines.is_empty() {
            return Err(f);
        }
        lines.extend_from_slice(b"\x00");
        lines.extend_from_slice(f.as_bytes());
        lines.push(b'\n');
    }
    let mut q = VecDeque::new();
    q.push_back(Chunk {
        source: idx,
        format: Format::AuditLines,
        first_line: 1,
        items: true,
        data: lines,
    });
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect(br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"}"#),
            Format::AuditLines
        );
        assert_eq!(
            detect(b"\n\n{\"auditID\":\"a\",\"stage\":\"x\"}\n"),
            Format::AuditLines
        );
        assert_eq!(
            detect(br#"{"kind":"EventList","items":[]}"#),
            Format::Document
        );
        assert_eq!(detect(b"{\n  \"events\": [\n"), Format::Document);
        assert_eq!(detect(b"[{\"protoPayload\":{}}]"), Format::Document);
        assert_eq!(
            detect(br#"{"protoPayload":{"methodName":"io.k8s.core.v1.pods.list"}}"#),
            Format::WrappedLines
        );
        assert_eq!(
            detect(br#"{"category":"kube-audit","properties":{"log":"{}"}}"#),
            Format::WrappedLines
        );
        assert_eq!(
            detect(br#"{"timestamp":1,"message":"{\"auditID\":\"a\"}"}"#),
            Format::WrappedLines
        );
        assert_eq!(
            detect(b"2026-11-01T00:00:00.000Z {\"auditID\":\"a\"}\n"),
            Format::TimestampedLines
        );
        // a first line that is broken does not hide the format of the next ones
        assert_eq!(
            detect(b"{\"auditID\":\"a\",\"st\n{\"auditID\":\"b\"}\n"),
            Format::AuditLines
        );
    }

    #[test]
    fn chunks_are_newline_aligned_and_numbered() {
        let data: Vec<u8> = (1..=100)
            .flat_map(|i| format!("{{\"auditID\":\"{i}\"}}\n").into_bytes())
            .collect();
        let mut r = ChunkReader::new(
            vec![SourceSpec::Memory(
                "m".into(),
                std::sync::Arc::new(data.clone()),
            )],
            64,
        );
        let mut joined = Vec::new();
        let mut expect_line = 1;
        while let Some(c) = r.next_chunk().unwrap() {
            assert_eq!(c.first_line, expect_line);
            assert!(c.data.ends_with(b"\n"));
            expect_line += memchr::memchr_iter(b'\n', &c.data).count() as u64;
            joined.extend_from_slice(&c.data);
        }
        assert_eq!(joined, data);
        assert_eq!(expect_line, 101);
    }

    #[test]
    fn a_line_longer_than_a_chunk_stays_whole() {
        let long = format!("{{\"auditID\":\"{}\"}}", "x".repeat(100_000));
        let data = format!("{{\"auditID\":\"a\"}}\n{long}\n{{\"auditID\":\"b\"}}");
        let mut r = ChunkReader::new(
            vec![SourceSpec::Memory(
                "m".into(),
                std::sync::Arc::new(data.into_bytes()),
            )],
            16,
        );
        let mut lines = Vec::new();
        while let Some(c) = r.next_chunk().unwrap() {
            let text = String::from_utf8(c.data.clone()).unwrap();
            for (i, l) in text.split_terminator('\n').enumerate() {
                lines.push((c.first_line + i as u64, l.len()));
            }
            r.recycle(c.data);
        }
        assert_eq!(lines, vec![(1, 15), (2, long.len()), (3, 15)]);
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"auditID\":\"1\"}\n{\"auditID\":\"2\"}")
            .unwrap();
        let gz = enc.finish().unwrap();
        let mut r = ChunkReader::new(
            vec![SourceSpec::Memory("m.gz".into(), std::sync::Arc::new(gz))],
            1 << 20,
        );
        let c = r.next_chunk().unwrap().unwrap();
        assert_eq!(c.data, b"{\"auditID\":\"1\"}\n{\"auditID\":\"2\"}");
        assert!(r.next_chunk().unwrap().is_none());
    }

    #[test]
    fn truncated_gzip_reports_a_read_error() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..20000 {
            writeln!(enc, "{{\"auditID\":\"{i}\",\"pad\":\"{}\"}}", i * 7919).unwrap();
        }
        let mut gz = enc.finish().unwrap();
        gz.truncate(gz.len() / 2);
        let mut r = ChunkReader::new(
            vec![SourceSpec::Memory("cut.gz".into(), std::sync::Arc::new(gz))],
            1 << 14,
        );
        let mut err = None;
        loop {
            match r.next_chunk() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(
            err.expect("a read error")
                .message
                .starts_with("cut.gz: read error near line")
        );
    }
}
