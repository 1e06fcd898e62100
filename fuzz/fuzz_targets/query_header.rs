//! The query-file header parser (and binding of parameters into the SQL) over any text.
#![no_main]

use kscope::catalogue::Overrides;
use kscope::query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(q) = query::parse("fuzz.sql", text) {
            let sel = [&q];
            if let Ok(o) = Overrides::parse(&[], &sel) {
                let _ = query::bind(&q.sql, &o.values_for(&q));
            }
        }
    }
});
