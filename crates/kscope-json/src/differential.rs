//! What the fuzz target and the tests compare: everything a cursor reports while it walks a text.
//!
//! [`trace`] walks any bytes the way the event decoder does: objects member by member, arrays element
//! by element, and at each value either decodes it (strings, integers, booleans, nested values) or
//! skips it whole, the choice following the input's own bytes so that both paths meet every kind of
//! value. Two cursors that agree on every trace agree on every decode.

use crate::simd::Kernel;
use crate::{Cursor, JsonError};

/// One cursor's walk of `b`: every key, value, span and position, then the error or the end.
pub fn trace(mut c: Cursor<'_>) -> Vec<String> {
    let mut out = vec![];
    let r = value(&mut c, &mut out, 0).and_then(|_| c.end());
    out.push(format!("end {r:?} at {}", c.pos()));
    c.recycle();
    out
}

/// The trace of the portable cursor and of the cursor indexed by each available kernel; `Err` names the
/// first kernel whose trace differs.
pub fn compare(b: &[u8]) -> Result<(), String> {
    let want = trace(Cursor::new(b));
    for k in Kernel::available() {
        let got = trace(Cursor::with_kernel(b, k));
        if got != want {
            return Err(format!(
                "kernel {} differs on {:?}:\n portable {want:?}\n indexed  {got:?}",
                k.name(),
                String::from_utf8_lossy(b)
            ));
        }
    }
    Ok(())
}

fn value(c: &mut Cursor<'_>, out: &mut Vec<String>, depth: usize) -> Result<(), JsonError> {
    let at = c.pos();
    // decode or skip, by the input's bytes
    let skip = depth > 16 || c.slice(at, at + 1).first().is_some_and(|b| b % 3 == 0);
    match c.peek() {
        _ if skip => {
            let span = c.skip_value()?;
            out.push(format!("skip {span:?}"));
        }
        Some(b'{') => {
            c.begin_object()?;
            let mut first = true;
            while let Some(k) = c.next_key(&mut first)? {
                out.push(format!("key {:?}", String::from_utf8_lossy(k)));
                value(c, out, depth + 1)?;
            }
            out.push("}".into());
        }
        Some(b'[') => {
            c.expect(b'[', "'['")?;
            let mut first = true;
            while c.next_elem(&mut first)? {
                value(c, out, depth + 1)?;
            }
            out.push("]".into());
        }
        Some(b't' | b'f') => out.push(format!("bool {:?}", c.bool_or_null()?)),
        Some(b'-' | b'0'..=b'9') => out.push(format!("int {:?}", c.int_or_null()?)),
        _ => out.push(format!("str {:?}", c.str_or_null()?)),
    }
    out.push(format!("@{}", c.pos()));
    Ok(())
}
