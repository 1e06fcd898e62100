//! What the fuzz target and the tests compare: everything a cursor reports while it walks a text.
//!
//! [`trace`] walks any bytes the way the event decoder does: objects member by member, arrays element
//! by element, and at each value either decodes it (strings, integers, booleans, nested values) or
//! skips it whole. [`compare`] walks every text in each [`Walk`], so that skipping meets every kind of
//! value at every depth (objects and arrays skipped whole, from their start or from inside their
//! parent). Two cursors that agree on every trace agree on every decode.

use crate::simd::Kernel;
use crate::{Cursor, JsonError};

/// Which values a walk skips whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// The whole text is one skipped value.
    SkipAll,
    /// Every value is decoded, nested ones member by member (down to depth 16).
    DecodeAll,
    /// The top level is decoded, every value in it skipped whole.
    SkipNested,
    /// The top level is decoded; below it, a value is skipped or decoded by the parity of its position.
    Mixed,
}

pub const WALKS: [Walk; 4] = [
    Walk::SkipAll,
    Walk::DecodeAll,
    Walk::SkipNested,
    Walk::Mixed,
];

/// One cursor's walk of `b`: every key, value, span and position, then the error or the end.
pub fn trace(mut c: Cursor<'_>, walk: Walk) -> Vec<String> {
    let mut out = vec![];
    let r = value(&mut c, &mut out, 0, walk).and_then(|_| c.end());
    out.push(format!("end {r:?} at {}", c.pos()));
    c.recycle();
    out
}

/// The trace of the portable cursor and of the cursor indexed by each available kernel; `Err` names the
/// first kernel whose trace differs.
pub fn compare(b: &[u8]) -> Result<(), String> {
    for walk in WALKS {
        let want = trace(Cursor::new(b), walk);
        for k in Kernel::available() {
            let got = trace(Cursor::with_kernel(b, k), walk);
            if got != want {
                return Err(format!(
                    "kernel {} differs on {:?} ({walk:?}):\n portable {want:?}\n indexed  {got:?}",
                    k.name(),
                    String::from_utf8_lossy(b)
                ));
            }
        }
    }
    Ok(())
}

fn value(
    c: &mut Cursor<'_>,
    out: &mut Vec<String>,
    depth: usize,
    walk: Walk,
) -> Result<(), JsonError> {
    let first = c.peek();
    let skip = depth > 16
        || match walk {
            Walk::SkipAll => true,
            Walk::DecodeAll => false,
            Walk::SkipNested => depth > 0,
            Walk::Mixed => depth > 0 && c.pos() % 2 == 0,
        };
    match first {
        _ if skip => {
            let span = c.skip_value()?;
            out.push(format!("skip {span:?}"));
        }
        Some(b'{') => {
            c.begin_object()?;
            let mut first = true;
            while let Some(k) = c.next_key(&mut first)? {
                out.push(format!("key {:?}", String::from_utf8_lossy(k)));
                value(c, out, depth + 1, walk)?;
            }
            out.push("}".into());
        }
        Some(b'[') => {
            c.expect(b'[', "'['")?;
            let mut first = true;
            while c.next_elem(&mut first)? {
                value(c, out, depth + 1, walk)?;
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
