//! `kscope queries`: list the analyses, or explain one.

use std::io::Write;

use anyhow::Result;

use super::Outcome;
use crate::cli::{CatalogueCommand, QueriesArgs};
use crate::query;
use crate::render::catalogue;

pub fn run(a: QueriesArgs, out: &mut dyn Write) -> Result<Outcome> {
    match a.command.unwrap_or(CatalogueCommand::List) {
        CatalogueCommand::List => catalogue::queries_list(&query::select(&[], &[])?, out)?,
        CatalogueCommand::Explain { code } => {
            for q in query::select(std::slice::from_ref(&code), &[])? {
                catalogue::query_explain(q, out)?;
            }
        }
    }
    Ok(Outcome::done())
}
