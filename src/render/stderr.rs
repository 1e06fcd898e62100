//! What kscope says on standard error about its input: what could not be read (`file:line:
//! reason`), what CloudWatch Logs gave, errors. Every line quotes input (paths, reasons, log group
//! names), so every line is escaped for the terminal here, the one place that writes them.

use std::io::{self, Write};

use super::escape::terminal;
use crate::audit::scan::IngestStats;
use crate::cloudwatch::FetchStats;

/// One `kscope: WHAT: TEXT` line per problem (`invalid` documents, `unreadable` sources).
pub fn problems(what: &str, list: &[String], w: &mut dyn Write) -> io::Result<()> {
    for p in list {
        writeln!(w, "kscope: {what}: {}", terminal(p))?;
    }
    Ok(())
}

/// What the audit input could not give: malformed lines (a sample of them, with how many more)
/// and unreadable sources.
pub fn input_problems(stats: &IngestStats, w: &mut dyn Write) -> io::Result<()> {
    if stats.malformed > 0 {
        for m in &stats.malformed_samples {
            writeln!(
                w,
                "kscope: malformed: {}: {}",
                terminal(&m.source),
                terminal(&m.reason)
            )?;
        }
        if stats.malformed as usize > stats.malformed_samples.len() {
            writeln!(
                w,
                "kscope: … and {} more malformed line(s)",
                stats.malformed as usize - stats.malformed_samples.len()
            )?;
        }
    }
    problems("unreadable", &stats.read_errors, w)
}

/// What a CloudWatch Logs fetch did, in one line.
pub fn fetched(s: &FetchStats, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "kscope: CloudWatch {} ({}): {} audit stream(s), {} events ({} downloaded in {} requests, {} slice(s) of {} from the cache) in {:.1}s",
        terminal(&s.log_group),
        terminal(&s.region),
        s.streams.len(),
        s.events,
        s.events_downloaded,
        s.requests,
        s.slices_cached,
        s.slices,
        s.seconds
    )
}

/// The run's error (its chain of causes, each said once).
pub fn error(e: &anyhow::Error, w: &mut dyn Write) -> io::Result<()> {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if msg.contains(&s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    writeln!(w, "kscope: error: {}", terminal(&msg))
}
