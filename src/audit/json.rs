//! The JSON member scanner lives in its own crate (`crates/kscope-json`), so that its SIMD index can be
//! tested under Miri and fuzzed without building the engine.

pub use kscope_json::*;
