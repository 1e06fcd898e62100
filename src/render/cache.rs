//! `kscope cache ls`.

use std::io::{self, Write};

use serde_json::json;

use super::rows::text_table;
use crate::cloudwatch::cache::CacheEntry;
use crate::table::Table;

/// `kscope cache ls`: the cached CloudWatch slices, one table per log group.
pub fn cache_list(
    slices: &[CacheEntry],
    root: &std::path::Path,
    w: &mut dyn Write,
) -> io::Result<()> {
    writeln!(w, "{}", root.display())?;
    if slices.is_empty() {
        return writeln!(w, "(empty)");
    }
    let mut groups: Vec<(String, Table)> = Vec::new();
    for e in slices {
        let s = &e.state;
        let title = format!("{} {}", s.region, s.log_group);
        if groups.last().is_none_or(|g| g.0 != title) {
            groups.push((
                title,
                Table {
                    columns: ["stream", "start", "span", "events", "MB", "state"]
                        .map(String::from)
                        .to_vec(),
                    rows: Vec::new(),
                },
            ));
        }
        if let Some((_, t)) = groups.last_mut() {
            t.rows.push(vec![
                json!(s.stream),
                json!(crate::timearg::format_micros(s.start_ms * 1000)),
                json!(crate::cloudwatch::human_duration(s.end_ms - s.start_ms)),
                json!(s.events),
                json!(format!("{:.2}", e.bytes as f64 / 1e6)),
                json!(s.status().as_str()),
            ]);
        }
    }
    for (title, t) in groups {
        writeln!(w, "\n{title}\n{}", text_table(&t, 0))?;
    }
    writeln!(
        w,
        "recent: ends less than 10 minutes before it was downloaded, so it is downloaded again; \
         partial: an interrupted download, resumed by the next run"
    )
}
