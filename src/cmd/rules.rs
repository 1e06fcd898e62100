//! `kscope rules`: list the lint rules, or explain one.

use std::io::Write;

use anyhow::Result;

use super::Outcome;
use crate::cli::{CatalogueCommand, RulesArgs};
use crate::render::catalogue;
use crate::rules;

pub fn run(a: RulesArgs, out: &mut dyn Write) -> Result<Outcome> {
    match a.command.unwrap_or(CatalogueCommand::List) {
        CatalogueCommand::List => catalogue::rules_list(&rules::select(&[], &[])?, out)?,
        CatalogueCommand::Explain { code } => {
            for r in rules::select(std::slice::from_ref(&code), &[])? {
                catalogue::rule_explain(r, out)?;
            }
        }
    }
    Ok(Outcome::done())
}
