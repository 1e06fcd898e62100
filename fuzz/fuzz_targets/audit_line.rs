//! The audit decoder over any bytes: format detection (JSON lines, documents, CloudWatch, GKE, AKS,
//! S3 exports), per-line envelopes, the JSON field scanner, stage merging. Must never panic or hang;
//! bad lines are counted as malformed.
#![no_main]

use std::sync::Arc;

use kscope::audit::scan::{ScanOptions, decode_all};
use kscope::audit::source::SourceSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = SourceSpec::Memory("fuzz".into(), Arc::new(data.to_vec()));
    let opts = ScanOptions {
        partitions: 1,
        ..ScanOptions::default()
    };
    if let Ok((rows, stats)) = decode_all(vec![src], opts) {
        assert!(rows as u64 <= stats.lines.max(1) * 64 + stats.events);
    }
});
