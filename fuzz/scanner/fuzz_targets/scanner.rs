//! Differential fuzzing of the JSON scanner: on arbitrary bytes, the cursor that finds string ends and
//! brackets in the SIMD index (every kernel this CPU runs) must walk exactly like the portable cursor,
//! and every kernel must classify every block like the portable classification.
//!
//!     cargo +nightly fuzz run scanner -- -max_total_time=1800
#![no_main]

use kscope_json::differential;
use kscope_json::simd::Kernel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(diff) = differential::compare(data) {
        panic!("{diff}");
    }
    for block in data.chunks(64) {
        let mut b = [b' '; 64];
        b[..block.len()].copy_from_slice(block);
        let want = Kernel::portable().classify(&b);
        for k in Kernel::available() {
            assert_eq!(k.classify(&b), want, "kernel {}", k.name());
        }
    }
});
