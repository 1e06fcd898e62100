//! `kscope cache`: list or clear the CloudWatch Logs cache.

use std::io::Write;

use anyhow::Result;

use super::Outcome;
use crate::cli::{CacheArgs, CacheCommand};
use crate::render;

pub fn run(a: CacheArgs, out: &mut dyn Write) -> Result<Outcome> {
    let cache = a.dir.cache();
    match a.command.unwrap_or(CacheCommand::Ls) {
        CacheCommand::Ls => render::cache::cache_list(&cache.entries()?, cache.root(), out)?,
        CacheCommand::Clear => {
            let (files, bytes) = cache.clear()?;
            writeln!(
                out,
                "removed {files} file(s), {:.1} MB, from {}",
                bytes as f64 / 1e6,
                cache.root().display()
            )?;
        }
    }
    Ok(Outcome::done())
}
