//! Times the scanner alone over a file of JSON lines: each line walked member by member (strings read,
//! nested values skipped), as the event decoder does. `KSCOPE_JSON_KERNEL=off` for the portable search.
//!
//!     cargo run --release -p kscope-json --example walk -- bench-data/audit-1G.jsonl
use kscope_json::Cursor;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: walk FILE")?;
    let data = std::fs::read(&path)?;
    let text = std::str::from_utf8(&data)?;
    for round in 0..3 {
        let t = Instant::now();
        let (mut members, mut bad) = (0usize, 0usize);
        for line in text.lines() {
            let mut c = Cursor::indexed(line);
            let r = (|| {
                c.begin_object()?;
                let mut first = true;
                while let Some(_k) = c.next_key(&mut first)? {
                    members += 1;
                    if c.peek() == Some(b'"') {
                        c.str_or_null()?;
                    } else {
                        c.skip_value()?;
                    }
                }
                c.end()
            })();
            bad += usize::from(r.is_err());
            c.recycle();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.3} s, {:.0} MiB/s, {members} members, {bad} bad",
            s,
            data.len() as f64 / s / 1048576.0
        );
    }
    Ok(())
}
