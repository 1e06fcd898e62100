//! The manifest reader over any text: multi-document YAML and JSON, anchors and aliases (bounded),
//! `kind: List`. Must never panic, and stay bounded in time and memory.
#![no_main]

use kscope::inventory::{Inventory, manifests};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut inv = Inventory::new("fuzz", false);
        manifests::add_text(&mut inv, "fuzz.yaml", text);
    }
});
