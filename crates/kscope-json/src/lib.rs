//! A small JSON scanner that reads only what it is asked for.
//!
//! Audit events are ~1.4 KB each, and most of those bytes are request/response bodies and `user.extra`
//! that no analysis reads. `Cursor` walks one JSON text: callers decode the members they need
//! (strings, integers, nested objects) and call [`Cursor::skip_value`] for the rest, which only tracks
//! string and bracket boundaries (SIMD `memchr3`) instead of building values. Structure errors
//! (unterminated strings, missing `:`/`,`, input that ends inside a value) are always detected; the
//! contents of skipped values are not validated beyond that.
//!
//! A cursor made with [`Cursor::indexed`] first indexes the text 64 bytes at a time with SIMD compares
//! ([`simd`]) and then finds string ends and brackets in the index instead of searching the bytes, and
//! skips an object or array without escapes by counting its brackets outside strings a block at a time;
//! decoding and validation are the same code, and both cursors give the same answer on any input (tested
//! with every kernel, fuzzed).

#[doc(hidden)]
pub mod differential;
pub mod simd;

use std::borrow::Cow;
use std::cell::Cell;

use simd::{Index, Kernel};

/// Why a JSON text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("truncated JSON: input ends inside a value at byte {0} (an entry cut short?)")]
    Truncated(usize),
    #[error("invalid JSON at byte {at}: expected {expected}, found {found:?}")]
    Unexpected {
        at: usize,
        expected: &'static str,
        found: char,
    },
    #[error("invalid JSON escape at byte {0}")]
    BadEscape(usize),
    #[error("invalid UTF-8 in a string at byte {0}")]
    BadUtf8(usize),
}

pub type Result<T> = std::result::Result<T, JsonError>;

pub struct Cursor<'a> {
    b: &'a [u8],
    /// The same bytes as text, when the caller validated them as UTF-8 already: strings are then
    /// sliced from it instead of being validated one by one.
    text: Option<&'a str>,
    i: usize,
    /// The SIMD index of `b` ([`Cursor::indexed`]), or empty.
    idx: Index,
    indexed: bool,
}

thread_local! {
    /// One index per thread, reused line after line ([`Cursor::indexed`] / [`Cursor::recycle`]).
    static SPARE: Cell<Index> = Cell::new(Index::default());
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Cursor {
            b,
            text: None,
            i: 0,
            idx: Index::default(),
            indexed: false,
        }
    }

    pub fn new_str(text: &'a str) -> Self {
        Cursor {
            text: Some(text),
            ..Cursor::new(text.as_bytes())
        }
    }

    /// A cursor over `text` that finds string ends and brackets in a SIMD index of it, built here with
    /// the CPU's fastest kernel ([`Kernel::detect`]); without one, a plain cursor. Give the cursor back
    /// with [`Cursor::recycle`] so that the next line reuses the index's memory.
    pub fn indexed(text: &'a str) -> Self {
        match Kernel::detect() {
            Some(kernel) => Cursor {
                text: Some(text),
                ..Cursor::with_kernel(text.as_bytes(), kernel)
            },
            None => Cursor::new_str(text),
        }
    }

    /// A cursor over `b` indexed with `kernel` (for tests and the fuzz target, which compare kernels).
    pub fn with_kernel(b: &'a [u8], kernel: Kernel) -> Self {
        let mut idx = SPARE.with(Cell::take);
        idx.build(kernel, b);
        Cursor {
            idx,
            indexed: true,
            ..Cursor::new(b)
        }
    }

    /// Returns the index's memory to this thread for the next [`Cursor::indexed`].
    pub fn recycle(self) {
        if self.indexed {
            SPARE.with(|s| s.set(self.idx));
        }
    }

    /// The first `"` or backslash at or after `from`.
    #[inline]
    fn string_stop(&self, from: usize) -> Option<usize> {
        if self.indexed {
            self.idx.next(simd::STRING, from)
        } else {
            find2(self.b.get(from..).unwrap_or_default(), b'"', b'\\').map(|p| p + from)
        }
    }

    /// The first `"`, `open` or `close` at or after `from` (`open` is `{` or `[`).
    #[inline]
    fn nested_stop(&self, from: usize, open: u8, close: u8) -> Option<usize> {
        if self.indexed {
            let kind = if open == b'{' {
                simd::OBJECT
            } else {
                simd::ARRAY
            };
            self.idx.next(kind, from)
        } else {
            find3(self.b.get(from..).unwrap_or_default(), b'"', open, close).map(|p| p + from)
        }
    }

    pub fn pos(&self) -> usize {
        self.i
    }

    /// The bytes between two positions (e.g. the raw text of a skipped value).
    pub fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.b.get(from..to).unwrap_or_default()
    }

    #[inline]
    pub fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn unexpected(&self, expected: &'static str) -> JsonError {
        match self.b.get(self.i) {
            None => JsonError::Truncated(self.i),
            Some(&c) => JsonError::Unexpected {
                at: self.i,
                expected,
                found: c as char,
            },
        }
    }

    #[inline]
    pub fn expect(&mut self, c: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    /// After the whole value: only whitespace may follow.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.unexpected("end of input")),
        }
    }

    /// Starts an object: consumes `{`.
    pub fn begin_object(&mut self) -> Result<()> {
        self.expect(b'{', "'{'")
    }

    /// The next key of an object (after `begin_object`), or `None` after the closing `}`.
    /// Keys are returned raw (escapes are not decoded: audit keys never contain any).
    #[inline]
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<&'a [u8]>> {
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(None);
            }
            Some(b',') if !*first => self.i += 1,
            _ if *first => {}
            _ => return Err(self.unexpected("',' or '}'")),
        }
        *first = false;
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("a key"));
        }
        let (raw, _) = self.raw_string()?;
        self.expect(b':', "':'")?;
        Ok(Some(raw))
    }

    /// The next element of an array (after consuming `[`): true when a value follows.
    #[inline]
    pub fn next_elem(&mut self, first: &mut bool) -> Result<bool> {
        match self.peek() {
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            Some(b',') if !*first => {
                self.i += 1;
                Ok(true)
            }
            Some(_) if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.unexpected("',' or ']'")),
        }
    }

    /// Reads a string's raw bytes (between the quotes) and whether it contains escapes.
    #[inline]
    fn raw_string(&mut self) -> Result<(&'a [u8], bool)> {
        // at the opening quote
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            // most strings are short: eight bytes at a time (or the index) beats setting up a memchr
            match self.string_stop(self.i) {
                None => {
                    self.i = self.b.len();
                    return Err(JsonError::Truncated(self.i));
                }
                Some(at) => {
                    if self.b[at] == b'"' {
                        self.i = at + 1;
                        return Ok((&self.b[start..at], escaped));
                    }
                    escaped = true;
                    // validate the escape so that a line is malformed or not whether or not it is decoded
                    match self.b.get(at + 1) {
                        None => {
                            self.i = self.b.len();
                            return Err(JsonError::Truncated(self.i));
                        }
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.i = at + 2
                        }
                        Some(b'u') => {
                            let hex = self
                                .b
                                .get(at + 2..at + 6)
                                .ok_or(JsonError::Truncated(self.b.len()))?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(JsonError::BadEscape(at));
                            }
                            self.i = at + 6;
                        }
                        Some(_) => return Err(JsonError::BadEscape(at)),
                    }
                }
            }
        }
    }

    /// A string value, decoded. `null` gives `None`.
    #[inline]
    pub fn str_or_null(&mut self) -> Result<Option<Cow<'a, str>>> {
        match self.peek() {
            Some(b'"') => {
                let at = self.i;
                let (raw, escaped) = self.raw_string()?;
                if escaped {
                    unescape(raw, at).map(|s| Some(Cow::Owned(s)))
                } else if let Some(t) = self.text {
                    // the quotes are ASCII, so both ends are character boundaries
                    t.get(at + 1..self.i - 1)
                        .map(|s| Some(Cow::Borrowed(s)))
                        .ok_or(JsonError::BadUtf8(at))
                } else {
                    std::str::from_utf8(raw)
                        .map(|s| Some(Cow::Borrowed(s)))
                        .map_err(|_| JsonError::BadUtf8(at))
                }
            }
            Some(b'n') => self.literal(b"null").map(|_| None),
            _ => {
                // a non-string where a string was expected: keep the structure valid, ignore the value
                self.skip_value()?;
                Ok(None)
            }
        }
    }

    /// An integer value (a JSON number without fraction); `null` or other types give `None`.
    pub fn int_or_null(&mut self) -> Result<Option<i64>> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                self.skip_scalar()?;
                // lenient: a value that is not a valid integer reads as absent
                let s = std::str::from_utf8(&self.b[start..self.i]).unwrap_or_default();
                Ok(s.parse::<i64>().ok().or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(|f| f as i64)
                }))
            }
            Some(b'"') => {
                // some exporters quote numbers
                Ok(self
                    .str_or_null()?
                    .and_then(|s| s.trim().parse::<i64>().ok()))
            }
            _ => {
                self.skip_value()?;
                Ok(None)
            }
        }
    }

    /// A boolean value (`true`/`false`, or the strings "true"/"false").
    pub fn bool_or_null(&mut self) -> Result<Option<bool>> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|_| Some(true)),
            Some(b'f') => self.literal(b"false").map(|_| Some(false)),
            Some(b'"') => Ok(self.str_or_null()?.and_then(|s| s.parse::<bool>().ok())),
            _ => {
                self.skip_value()?;
                Ok(None)
            }
        }
    }

    fn literal(&mut self, lit: &'static [u8]) -> Result<()> {
        let end = self.i + lit.len();
        match self.b.get(self.i..end) {
            Some(s) if s == lit => {
                self.i = end;
                Ok(())
            }
            Some(_) => Err(self.unexpected("a JSON value")),
            None => Err(JsonError::Truncated(self.b.len())),
        }
    }

    fn skip_scalar(&mut self) -> Result<()> {
        let start = self.i;
        while let Some(&c) = self.b.get(self.i) {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'+' || c == b'.' {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i == start {
            return Err(self.unexpected("a JSON value"));
        }
        if self.i == self.b.len() {
            // a scalar at the very end of input of a member is a truncation
            return Err(JsonError::Truncated(self.i));
        }
        Ok(())
    }

    /// Skips one value of any type and returns its raw span (start, end).
    #[inline]
    pub fn skip_value(&mut self) -> Result<(usize, usize)> {
        let c = self.peek().ok_or(JsonError::Truncated(self.i))?;
        let start = self.i;
        match c {
            b'"' => {
                self.raw_string()?;
            }
            b'{' => self.skip_nested(b'{', b'}')?,
            b'[' => self.skip_nested(b'[', b']')?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => self.skip_scalar()?,
            _ => return Err(self.unexpected("a JSON value")),
        }
        Ok((start, self.i))
    }

    /// Skips a balanced object or array. Within valid JSON, the brackets of the other kind are balanced
    /// inside, so counting only `open`/`close` (outside strings) finds the end.
    fn skip_nested(&mut self, open: u8, close: u8) -> Result<()> {
        if self.indexed {
            match self.idx.matching_close(self.b, self.i) {
                simd::Close::At(at) => {
                    self.i = at + 1;
                    return Ok(());
                }
                simd::Close::Truncated => {
                    self.i = self.b.len();
                    return Err(JsonError::Truncated(self.i));
                }
                // escapes are validated by the walk below, as without an index
                simd::Close::Escapes => {}
            }
        }
        let mut depth = 0usize;
        loop {
            let Some(at) = self.nested_stop(self.i, open, close) else {
                self.i = self.b.len();
                return Err(JsonError::Truncated(self.i));
            };
            self.i = at;
            let c = self.b[self.i];
            if c == b'"' {
                self.raw_string()?;
            } else if c == open {
                depth += 1;
                self.i += 1;
            } else {
                depth -= 1;
                self.i += 1;
                if depth == 0 {
                    return Ok(());
                }
            }
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that equals the byte `b` is broadcast into (the lowest such byte is
/// exact; bytes above it may be false positives, so only the lowest set bit may be used).
#[inline(always)]
fn eq_mask(w: u64, b: u64) -> u64 {
    let x = w ^ b;
    x.wrapping_sub(LO) & !x & HI
}

/// Position of the first `a` or `b` in `s`, eight bytes at a time.
#[inline]
fn find2(s: &[u8], a: u8, b: u8) -> Option<usize> {
    let (ma, mb) = (LO * a as u64, LO * b as u64);
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let Ok(arr) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(arr);
        let t = eq_mask(w, ma) | eq_mask(w, mb);
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s.get(i..)?
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| p + i)
}

/// Position of the first `a`, `b` or `c` in `s`, eight bytes at a time.
#[inline]
fn find3(s: &[u8], a: u8, b: u8, c: u8) -> Option<usize> {
    let (ma, mb, mc) = (LO * a as u64, LO * b as u64, LO * c as u64);
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let Ok(arr) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(arr);
        let t = eq_mask(w, ma) | eq_mask(w, mb) | eq_mask(w, mc);
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s.get(i..)?
        .iter()
        .position(|&x| x == a || x == b || x == c)
        .map(|p| p + i)
}

/// Decodes JSON string escapes (`\n`, `\"`, `\u0026`, surrogate pairs).
pub fn unescape(raw: &[u8], at: usize) -> Result<String> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = memchr::memchr(b'\\', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            break;
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off + 1;
        let esc = *raw.get(i).ok_or(JsonError::BadEscape(at))?;
        i += 1;
        let simple = match esc {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return Err(JsonError::BadEscape(at)),
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let hi = hex4(raw, i).ok_or(JsonError::BadEscape(at))?;
        i += 4;
        let cp = if (0xD800..0xDC00).contains(&hi) {
            // a high surrogate must be followed by \uDC00..\uDFFF
            if raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u') {
                let lo = hex4(raw, i + 2).ok_or(JsonError::BadEscape(at))?;
                if (0xDC00..0xE000).contains(&lo) {
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    0xFFFD
                }
            } else {
                0xFFFD
            }
        } else if (0xDC00..0xE000).contains(&hi) {
            0xFFFD
        } else {
            hi
        };
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).map_err(|_| JsonError::BadUtf8(at))
}

fn hex4(raw: &[u8], i: usize) -> Option<u32> {
    let s = raw.get(i..i + 4)?;
    let s = std::str::from_utf8(s).ok()?;
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Result<Vec<String>> {
        let mut c = Cursor::new(s.as_bytes());
        c.begin_object()?;
        let mut first = true;
        let mut out = vec![];
        while let Some(k) = c.next_key(&mut first)? {
            out.push(String::from_utf8_lossy(k).into_owned());
            c.skip_value()?;
        }
        c.end()?;
        Ok(out)
    }

    #[test]
    fn swar_finders_match_a_plain_search() {
        let text = b"abc\\def\"ghijklmnopq{rstu}vwxyz\"0123456789{}\"\xff\x80\"\"";
        for start in 0..text.len() {
            let s = &text[start..];
            assert_eq!(
                find2(s, b'"', b'\\'),
                s.iter().position(|&c| c == b'"' || c == b'\\'),
                "{start}"
            );
            assert_eq!(
                find3(s, b'"', b'{', b'}'),
                s.iter().position(|&c| c == b'"' || c == b'{' || c == b'}'),
                "{start}"
            );
        }
    }

    #[test]
    fn skips_nested_values_with_brackets_in_strings() {
        let k = keys(
            r#"{"a":{"x":"}{]","y":[1,{"z":"]"}]},"b":[[],"[",{}],"c":"q\"}","d":-1.5e3,"e":true,"f":null}"#,
        );
        assert_eq!(k.unwrap(), vec!["a", "b", "c", "d", "e", "f"]);
    }

    #[test]
    fn detects_truncation_anywhere() {
        let full = r#"{"a":{"x":"yy","n":[1,2]},"b":"zzz","c":123}"#;
        for cut in 1..full.len() - 1 {
            let r = keys(&full[..cut]);
            assert!(r.is_err(), "cut at {cut} accepted: {:?}", r);
        }
        assert!(keys(full).is_ok());
    }

    #[test]
    fn rejects_structure_errors() {
        assert!(matches!(
            keys(r#"{"a" 1}"#),
            Err(JsonError::Unexpected { .. })
        ));
        assert!(matches!(
            keys(r#"{"a":1 "b":2}"#),
            Err(JsonError::Unexpected { .. })
        ));
        assert!(matches!(
            keys(r#"{"a":1} x"#),
            Err(JsonError::Unexpected { .. })
        ));
        assert!(matches!(
            keys(r#"{"a":tru}"#),
            Err(JsonError::Unexpected { .. })
        ));
        assert!(matches!(
            keys(r#"["a"]"#),
            Err(JsonError::Unexpected { .. })
        ));
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        let mut c = Cursor::new(br#""a\u0026b\n\"\u00b5s \ud83d\ude00 \/""#);
        assert_eq!(
            c.str_or_null().unwrap().unwrap(),
            "a&b\n\"\u{b5}s \u{1F600} /"
        );
        let mut c = Cursor::new(br#""\ud83d""#);
        assert_eq!(c.str_or_null().unwrap().unwrap(), "\u{FFFD}");
        let mut c = Cursor::new(br#""\x""#);
        assert!(matches!(c.str_or_null(), Err(JsonError::BadEscape(_))));
        // escapes are validated even when the string is only skipped
        assert!(matches!(
            keys(r#"{"a":"\q"}"#),
            Err(JsonError::BadEscape(_))
        ));
        assert!(matches!(
            keys(r#"{"a":"\u12G4"}"#),
            Err(JsonError::BadEscape(_))
        ));
    }

    #[test]
    fn indexed_cursors_walk_like_the_portable_one() {
        let event = br#"{"kind":"Event","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/pods?limit=500","verb":"list","user":{"username":"system:node:n1","groups":["system:nodes","system:authenticated"],"extra":{"k":["v\"w"]}},"sourceIPs":["10.0.0.1"],"userAgent":"kubelet/v1.30 (linux/amd64) \u00b5","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestObject":{"spec":{"containers":[{"name":"c","args":["{","]","\\"]}]}},"requestReceivedTimestamp":"2024-01-01T00:00:00.000000Z","annotations":{"a":"b"}}"#;
        crate::differential::compare(event).unwrap();
        // every prefix (truncations), and every single-byte corruption at every position (every
        // 31st under Miri, which is ~1000 times slower)
        let step = if cfg!(miri) { 31 } else { 1 };
        for cut in (0..event.len()).step_by(step) {
            crate::differential::compare(&event[..cut]).unwrap();
        }
        for at in (0..event.len()).step_by(step) {
            for b in [b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'u', 0xff] {
                let mut bad = event.to_vec();
                bad[at] = b;
                crate::differential::compare(&bad).unwrap();
            }
        }
        // values skipped from inside their parent's first block
        for t in [
            &br#"{"a":{"b":{}},"c":[[1],[2,[]]],"d":{"e":"}"}}"#[..],
            br#"[[1,[2]],{"a":[]},"]",[["["]]]"#,
        ] {
            crate::differential::compare(t).unwrap();
        }
        // arrays and objects skipped whole, with brackets of both kinds inside strings and nesting
        // across block boundaries, with and without whitespace before them
        let nested = br#"[{"a":["]","}",{"b":"[{"}]},[[],[1,[2,"]]"]]],{"c":{}}]"#;
        for pad in (0..140).step_by(step) {
            for lead in [&b""[..], b"\t", b" \n"] {
                let mut t = lead.to_vec();
                t.extend_from_slice(b"{\"x\":\"");
                t.extend(std::iter::repeat_n(b'y', pad));
                t.extend_from_slice(b"\",\"n\":");
                t.extend_from_slice(nested);
                t.extend_from_slice(b",\"m\":");
                t.extend_from_slice(&nested[..nested.len() - 1]);
                t.push(b'}');
                crate::differential::compare(&t).unwrap();
                crate::differential::compare(&t[..t.len() - 1]).unwrap();
            }
        }
        // texts longer than one block, with the interesting bytes on block boundaries
        for pad in (0..130).step_by(step) {
            let mut t = vec![b'[', b'"'];
            t.extend(std::iter::repeat_n(b'x', pad));
            t.extend_from_slice(br#"\"","{\u0041}",[[{}]],{"k":"]"}]"#);
            crate::differential::compare(&t).unwrap();
        }
    }

    #[test]
    fn rejects_bad_utf8_in_decoded_strings() {
        let mut c = Cursor::new(b"\"ab\xff\"");
        assert!(matches!(c.str_or_null(), Err(JsonError::BadUtf8(0))));
    }

    #[test]
    fn reads_numbers_and_quoted_numbers() {
        let mut c = Cursor::new(b"[429, \"503\", 2.0, null, \"x\"]");
        c.expect(b'[', "[").unwrap();
        let mut first = true;
        let mut got = vec![];
        while c.next_elem(&mut first).unwrap() {
            got.push(c.int_or_null().unwrap());
        }
        assert_eq!(got, vec![Some(429), Some(503), Some(2), None, None]);
    }
}
