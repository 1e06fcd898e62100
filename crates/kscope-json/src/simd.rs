//! A byte index of one JSON text, built 64 bytes at a time with SIMD compares.
//!
//! For every 64-byte block the index holds three bitmasks (bit `k` is byte `64 * block + k`):
//!
//! * [`STRING`]: `"` or `\` — where a string ends or an escape starts;
//! * [`OBJECT`]: `"`, `{` or `}` — what skipping an object has to look at;
//! * [`ARRAY`]: `"`, `[` or `]` — the same for an array.
//!
//! The cursor ([`crate::Cursor`]) asks the index for "the first such byte at or after `i`" where the
//! portable scanner searched the bytes eight at a time, so the two find the same positions by
//! construction. One step reads more than positions: [`Index::matching_close`] skips an object or array
//! by telling strings apart from the quotes and counting brackets outside them, which equals the
//! cursor's own walk only where no backslash follows the opening bracket — so it declines otherwise,
//! and escapes are validated by the cursor's one implementation. The fuzz target in `fuzz/scanner` and
//! the tests compare every kernel with the portable classification and the indexed cursor with the
//! portable one on arbitrary bytes.
//!
//! # Safety
//!
//! This is the only module of kscope with `unsafe` code. The invariants it rests on:
//!
//! 1. A [`Kernel`] other than [`Kernel::portable`] is only ever constructed by [`Kernel::detect`] /
//!    [`Kernel::available`], after the CPU reported the instruction set it needs (AVX2 through
//!    `is_x86_feature_detected!`; SSE2 and NEON are part of the x86-64 and aarch64 baselines). So a
//!    `#[target_feature]` function is only called on a CPU that has the feature.
//! 2. The loads read exactly the 64 bytes of a `&[u8; 64]`, at offsets 0, 16, 32, 48 (or 0 and 32),
//!    with unaligned loads: never past the array, never assuming alignment.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::sync::OnceLock;

/// `"` or `\`.
pub const STRING: usize = 0;
/// `"`, `{` or `}`.
pub const OBJECT: usize = 1;
/// `"`, `[` or `]`.
pub const ARRAY: usize = 2;

/// How blocks are classified. Only [`Kernel::detect`] and [`Kernel::available`] make a SIMD kernel, and
/// only for an instruction set the running CPU has (invariant 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel(Imp);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Imp {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse2,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Kernel {
    /// Byte by byte: the reference the others are tested against.
    pub const fn portable() -> Kernel {
        Kernel(Imp::Portable)
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            Imp::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Imp::Sse2 => "sse2",
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 => "avx2",
            #[cfg(target_arch = "aarch64")]
            Imp::Neon => "neon",
        }
    }

    /// Every kernel this CPU can run, the portable one first.
    pub fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut out = vec![Kernel::portable()];
        #[cfg(target_arch = "x86_64")]
        {
            out.push(Kernel(Imp::Sse2));
            if std::is_x86_feature_detected!("avx2") {
                out.push(Kernel(Imp::Avx2));
            }
        }
        #[cfg(target_arch = "aarch64")]
        out.push(Kernel(Imp::Neon));
        out
    }

    /// The fastest kernel this CPU runs, or `None` where there is no SIMD kernel (the cursor then uses
    /// its own portable search, which is faster than a byte-by-byte index). `KSCOPE_JSON_KERNEL`
    /// (`portable`, `sse2`, `avx2`, `neon`, or `off` for no index at all) picks one of the available
    /// kernels instead, for benchmarks and tests; an unavailable name is ignored.
    pub fn detect() -> Option<Kernel> {
        static CHOSEN: OnceLock<Option<Kernel>> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let available = Kernel::available();
            match std::env::var("KSCOPE_JSON_KERNEL").ok().as_deref() {
                Some("off") => return None,
                Some(name) => {
                    if let Some(k) = available.iter().find(|k| k.name() == name) {
                        return Some(*k);
                    }
                }
                None => {}
            }
            available
                .last()
                .copied()
                .filter(|k| *k != Kernel::portable())
        })
    }

    /// The three masks of one block.
    #[inline]
    pub fn classify(self, block: &[u8; 64]) -> [u64; 3] {
        match self.0 {
            Imp::Portable => classify_portable(block),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of the x86-64 baseline (invariant 1).
            Imp::Sse2 => unsafe { x86::classify_sse2(block) },
            // SAFETY: an Avx2 kernel exists only where the CPU reported AVX2 (invariant 1).
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 => unsafe { x86::classify_avx2(block) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: NEON is part of the aarch64 baseline (invariant 1).
            Imp::Neon => unsafe { neon::classify_neon(block) },
        }
    }
}

/// The masks of every block of `b` (the last one see [`last_block`]).
#[inline(always)]
fn build_with(out: &mut Vec<[u64; 3]>, b: &[u8], classify: impl Fn(&[u8; 64]) -> [u64; 3]) {
    for block in b.chunks_exact(64) {
        if let Ok(block) = <&[u8; 64]>::try_from(block) {
            out.push(classify(block));
        }
    }
    if let Some(last) = last_block(b, classify) {
        out.push(last);
    }
}

/// The masks of the partial block at the end of `b`, if any: the last 64 bytes classified and shifted
/// down to the block's start (the bits above the text are zero, as for padding), or, for a text shorter
/// than a block, the text padded with spaces (which no mask includes).
#[inline(always)]
fn last_block(b: &[u8], classify: impl Fn(&[u8; 64]) -> [u64; 3]) -> Option<[u64; 3]> {
    let rest = b.len() % 64;
    if rest == 0 {
        return None;
    }
    if let Some(Ok(tail)) = b
        .len()
        .checked_sub(64)
        .map(|at| <&[u8; 64]>::try_from(&b[at..]))
    {
        return Some(classify(tail).map(|m| m >> (64 - rest)));
    }
    let mut last = [b' '; 64];
    last[..rest].copy_from_slice(b);
    Some(classify(&last))
}

fn classify_portable(block: &[u8; 64]) -> [u64; 3] {
    let mut m = [0u64; 3];
    for (k, &c) in block.iter().enumerate() {
        let bit = 1u64 << k;
        match c {
            b'"' => {
                m[STRING] |= bit;
                m[OBJECT] |= bit;
                m[ARRAY] |= bit;
            }
            b'\\' => m[STRING] |= bit,
            b'{' | b'}' => m[OBJECT] |= bit,
            b'[' | b']' => m[ARRAY] |= bit,
            _ => {}
        }
    }
    m
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The three masks of one vector, in its low bits: the same steps at every width, written once.
    macro_rules! masks {
        ($v:ident, $eq:ident, $or:ident, $set1:ident, $movemask:ident, $bits:ty) => {{
            let byte = |c: u8| $eq($v, $set1(c as i8));
            let q = byte(b'"');
            let string = $or(q, byte(b'\\'));
            let object = $or(q, $or(byte(b'{'), byte(b'}')));
            let array = $or(q, $or(byte(b'['), byte(b']')));
            [string, object, array].map(|x| u64::from($movemask(x) as $bits))
        }};
    }

    /// The masks of 16 bytes, in the low 16 bits of each.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn masks16(v: __m128i) -> [u64; 3] {
        masks!(
            v,
            _mm_cmpeq_epi8,
            _mm_or_si128,
            _mm_set1_epi8,
            _mm_movemask_epi8,
            u16
        )
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub fn classify_sse2(block: &[u8; 64]) -> [u64; 3] {
        let mut m = [0u64; 3];
        for part in 0..4 {
            // SAFETY: part * 16 + 16 <= 64, so the unaligned 16-byte load stays inside `block`
            // (invariant 2).
            let v = unsafe { _mm_loadu_si128(block.as_ptr().add(part * 16).cast::<__m128i>()) };
            let p = masks16(v);
            for k in 0..3 {
                m[k] |= p[k] << (part * 16);
            }
        }
        m
    }

    /// The masks of 32 bytes, in the low 32 bits of each.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn masks32(v: __m256i) -> [u64; 3] {
        masks!(
            v,
            _mm256_cmpeq_epi8,
            _mm256_or_si256,
            _mm256_set1_epi8,
            _mm256_movemask_epi8,
            u32
        )
    }

    /// # Safety
    /// The CPU must support AVX2 (invariant 1).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn classify_avx2(block: &[u8; 64]) -> [u64; 3] {
        // SAFETY: two unaligned 32-byte loads at offsets 0 and 32 of a 64-byte array (invariant 2).
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().cast::<__m256i>()),
                _mm256_loadu_si256(block.as_ptr().add(32).cast::<__m256i>()),
            )
        };
        let (l, h) = (masks32(lo), masks32(hi));
        [l[0] | h[0] << 32, l[1] | h[1] << 32, l[2] | h[2] << 32]
    }

    /// The masks of every block of `b` (see [`super::build_with`], which this repeats so that the
    /// classification inlines into a loop compiled for AVX2).
    ///
    /// # Safety
    /// The CPU must support AVX2 (invariant 1).
    #[target_feature(enable = "avx2")]
    pub unsafe fn build_avx2(out: &mut Vec<[u64; 3]>, b: &[u8]) {
        let whole = b.len() / 64;
        out.resize(whole, [0; 3]);
        for (dst, block) in out.iter_mut().zip(b.chunks_exact(64)) {
            if let Ok(block) = <&[u8; 64]>::try_from(block) {
                // SAFETY: the caller guarantees AVX2.
                *dst = unsafe { classify_avx2(block) };
            }
        }
        // SAFETY: as above.
        if let Some(last) = super::last_block(b, |block| unsafe { classify_avx2(block) }) {
            out.push(last);
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    /// One bit per byte of four 16-byte compare results (0xFF or 0), as a 64-bit mask.
    #[inline]
    #[target_feature(enable = "neon")]
    fn movemask(m: [uint8x16_t; 4]) -> u64 {
        const WEIGHTS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        // SAFETY: WEIGHTS is 16 readable bytes (invariant 2).
        let w = unsafe { vld1q_u8(WEIGHTS.as_ptr()) };
        let t: [uint8x16_t; 4] = [
            vandq_u8(m[0], w),
            vandq_u8(m[1], w),
            vandq_u8(m[2], w),
            vandq_u8(m[3], w),
        ];
        let s0 = vpaddq_u8(t[0], t[1]);
        let s1 = vpaddq_u8(t[2], t[3]);
        let s = vpaddq_u8(s0, s1);
        let s = vpaddq_u8(s, s);
        vgetq_lane_u64::<0>(vreinterpretq_u64_u8(s))
    }

    #[inline]
    #[target_feature(enable = "neon")]
    pub fn classify_neon(block: &[u8; 64]) -> [u64; 3] {
        // SAFETY: four unaligned 16-byte loads at offsets 0, 16, 32, 48 of a 64-byte array
        // (invariant 2).
        let v: [uint8x16_t; 4] = unsafe {
            [
                vld1q_u8(block.as_ptr()),
                vld1q_u8(block.as_ptr().add(16)),
                vld1q_u8(block.as_ptr().add(32)),
                vld1q_u8(block.as_ptr().add(48)),
            ]
        };
        let eq = |x: uint8x16_t, c: u8| vceqq_u8(x, vdupq_n_u8(c));
        let q = v.map(|x| eq(x, b'"'));
        let string = [0, 1, 2, 3].map(|k| vorrq_u8(q[k], eq(v[k], b'\\')));
        let object = [0, 1, 2, 3].map(|k| vorrq_u8(q[k], vorrq_u8(eq(v[k], b'{'), eq(v[k], b'}'))));
        let array = [0, 1, 2, 3].map(|k| vorrq_u8(q[k], vorrq_u8(eq(v[k], b'['), eq(v[k], b']'))));
        [movemask(string), movemask(object), movemask(array)]
    }
}

/// The masks of one JSON text (see the module documentation).
#[derive(Debug, Default)]
pub struct Index {
    masks: Vec<[u64; 3]>,
    len: usize,
}

impl Index {
    /// Indexes `b` (reusing this index's memory).
    pub fn build(&mut self, kernel: Kernel, b: &[u8]) {
        self.masks.clear();
        self.masks.reserve(b.len().div_ceil(64));
        self.len = b.len();
        match kernel.0 {
            // SAFETY: an Avx2 kernel exists only where the CPU reported AVX2 (invariant 1).
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 => unsafe { x86::build_avx2(&mut self.masks, b) },
            _ => build_with(&mut self.masks, b, |block| kernel.classify(block)),
        }
    }

    /// The length of the text this index was built for.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first position at or after `from` whose byte is in mask `kind`.
    #[inline]
    pub fn next(&self, kind: usize, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut bits = self.masks.get(w)?[kind] & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                let at = w * 64 + bits.trailing_zeros() as usize;
                return (at < self.len).then_some(at);
            }
            w += 1;
            bits = self.masks.get(w)?[kind];
        }
    }
}

/// What [`Index::matching_close`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The position of the bracket that closes the value.
    At(usize),
    /// The text ends first (inside the value or one of its strings).
    Truncated,
    /// A backslash follows the opening bracket: escapes are for the cursor's own walk to judge.
    Escapes,
}

/// Bit `k` set when an odd number of bits `0..=k` of `x` are set: with `x` the quotes of a text without
/// escapes, the bytes inside strings (the opening quote included, the closing one not).
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

impl Index {
    /// The bracket closing the object or array that opens at `from` (`b[from]` is `{` or `[`; `b` is
    /// the indexed text), 64 bytes at a time: strings are told from the quotes alone, so this holds
    /// only while no backslash follows `from` — else [`Close::Escapes`], and the cursor walks the value
    /// string by string. Counts only brackets of the opening kind, as the cursor does.
    pub fn matching_close(&self, b: &[u8], from: usize) -> Close {
        let open = b.get(from).copied();
        let kind = if open == Some(b'{') { OBJECT } else { ARRAY };
        let mut depth = 0usize;
        let mut inside = 0u64;
        let mut w = from / 64;
        let mut live = !0u64 << (from % 64);
        while let Some(m) = self.masks.get(w) {
            let quote = m[STRING] & m[OBJECT];
            if m[STRING] & !quote & live != 0 {
                return Close::Escapes;
            }
            let strings = prefix_xor(quote & live) ^ inside;
            // carried into the next block: all ones while a string is open at this block's end
            inside = 0u64.wrapping_sub(strings >> 63);
            let mut brackets = m[kind] & !quote & !strings & live;
            while brackets != 0 {
                let at = w * 64 + brackets.trailing_zeros() as usize;
                brackets &= brackets - 1;
                if b.get(at).copied() == open {
                    depth += 1;
                } else {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Close::At(at);
                    }
                }
            }
            live = !0;
            w += 1;
        }
        Close::Truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks() -> Vec<[u8; 64]> {
        // every byte value in every lane, plus structural runs
        let mut out = vec![];
        for shift in 0..4u8 {
            let mut b = [0u8; 64];
            for (k, x) in b.iter_mut().enumerate() {
                *x = (k as u8).wrapping_mul(4).wrapping_add(shift);
            }
            out.push(b);
        }
        for c in [b'"', b'\\', b'{', b'}', b'[', b']', 0x80 | b'"', 0xff] {
            out.push([c; 64]);
            let mut alt = [b'a'; 64];
            for k in (0..64).step_by(3) {
                alt[k] = c;
            }
            out.push(alt);
        }
        out
    }

    #[test]
    fn every_kernel_classifies_like_the_portable_one() {
        let kernels = Kernel::available();
        assert!(
            kernels.len() > 1 || cfg!(not(any(target_arch = "x86_64", target_arch = "aarch64")))
        );
        for block in blocks() {
            let want = classify_portable(&block);
            for k in &kernels {
                assert_eq!(k.classify(&block), want, "{} on {block:?}", k.name());
            }
        }
    }

    #[test]
    fn next_finds_the_first_position_of_a_class() {
        let text = br#"{"a":"x\"y","b":[1,{"c":[]}],"d":"}"}"#.repeat(5);
        for k in Kernel::available() {
            let mut idx = Index::default();
            idx.build(k, &text);
            for from in 0..=text.len() + 70 {
                let find = |set: &[u8]| {
                    text.get(from..)
                        .and_then(|s| s.iter().position(|c| set.contains(c)))
                        .map(|p| p + from)
                };
                assert_eq!(idx.next(STRING, from), find(b"\"\\"), "{}", k.name());
                assert_eq!(idx.next(OBJECT, from), find(b"\"{}"), "{}", k.name());
                assert_eq!(idx.next(ARRAY, from), find(b"\"[]"), "{}", k.name());
            }
        }
    }

    #[test]
    fn an_empty_text_has_nothing_to_find() {
        let mut idx = Index::default();
        idx.build(Kernel::portable(), b"");
        assert_eq!(idx.next(STRING, 0), None);
        assert!(idx.is_empty());
    }
}
