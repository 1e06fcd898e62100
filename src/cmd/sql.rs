//! `kscope sql`: one SQL statement over the audit input, a table of rows.

use std::io::Write;

use anyhow::{Context, Result};

use super::Outcome;
use super::input::{Audit, report_input_problems};
use crate::analysis;
use crate::catalogue::{Entry, Overrides, ParamDef};
use crate::cli::SqlArgs;
use crate::query;
use crate::render;

/// Free SQL as a catalogue entry: its parameters are the `${name}` placeholders it holds, typed
/// like a query's (a value that reads as a number binds as one, anything else as a string).
struct FreeSql {
    params: Vec<ParamDef>,
}

impl Entry for FreeSql {
    fn code(&self) -> &str {
        "SQL"
    }
    fn name(&self) -> &str {
        "sql"
    }
    fn params(&self) -> &[ParamDef] {
        &self.params
    }
    fn describe(&self) -> crate::catalogue::Described {
        crate::catalogue::Described {
            code: "SQL".into(),
            name: "sql".into(),
            summary: "A free SQL statement over the audit table.".into(),
            why: String::new(),
            remediation: String::new(),
            help_uri: None,
            severity: crate::finding::Severity::Info,
        }
    }
}

/// The `${name}` placeholders of `sql`.
fn placeholders(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = sql
        .split("${")
        .skip(1)
        .filter_map(|rest| {
            rest.split_once('}')
                .map(|(name, _)| name.trim().to_string())
        })
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        // `${cluster_key}` (the fleet key) and the engine's placeholders are expanded by the engine
        .filter(|n| {
            n != "cluster_key"
                && !crate::query::ENGINE_PLACEHOLDERS
                    .iter()
                    .any(|(p, _)| p == n)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Binds `--param name=value` into free SQL through the catalogue's one parser.
fn bind_free_params(sql: &str, params: &[String]) -> Result<String> {
    let entry = FreeSql {
        params: placeholders(sql)
            .into_iter()
            .map(|name| ParamDef {
                name,
                // a string default: any value is accepted and typed when bound
                default: serde_json::Value::String(String::new()),
                doc: String::new(),
            })
            .collect(),
    };
    let overrides = Overrides::parse(params, &[&entry])?;
    let values = overrides
        .values_for(&entry)
        .into_iter()
        .filter(|(_, v)| v.as_str() != Some(""))
        .map(|(k, v)| {
            let text = crate::catalogue::display(&v);
            let typed = text
                .parse::<i64>()
                .map(serde_json::Value::from)
                .ok()
                .or_else(|| {
                    text.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(serde_json::Value::Number)
                })
                .unwrap_or(v);
            (k, typed)
        })
        .collect();
    Ok(query::bind(sql, &values))
}

pub async fn run(a: SqlArgs, out: &mut dyn Write) -> Result<Outcome> {
    let (sql, srcs) = match &a.file {
        Some(f) => (
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
            a.args.clone(),
        ),
        None => (a.args[0].clone(), a.args[1..].to_vec()),
    };
    let sql = bind_free_params(&sql, &a.params.params)?;
    super::pricing::prepare(&a.pricing).await?;
    let started = std::time::Instant::now();
    let audit = super::input::audit(
        &srcs,
        &a.store,
        &a.input,
        Some(&a.engine),
        super::input::REPORT_HOURS,
    )
    .await?;
    let (table, stats, from) = match audit {
        Audit::Store {
            store,
            sel,
            opts,
            remote,
        } => {
            let (table, stats) =
                analysis::sql_store(&store, &sel, opts, &sql, Vec::new(), remote).await?;
            (table, stats, format!("the store {}", store.spec))
        }
        Audit::Raw(input) => {
            let (table, mut stats) = analysis::sql(input.sources, input.opts, &sql).await?;
            stats.read_errors.extend(input.problems);
            let from = format!("{} requests", stats.events);
            (table, stats, from)
        }
    };
    tracing::info!(
        "sql: {} rows from {from} in {:.2?}",
        table.rows.len(),
        started.elapsed()
    );
    report_input_problems(&stats);
    let ctx = render::Ctx::stdout(a.term.color, a.term.wide);
    render::rows::table(&table, a.format, a.max_rows.max_rows, &ctx, &sql, out)?;
    Ok(Outcome::of(
        stats.fully_read(),
        crate::finding::FailOn::None,
        std::iter::empty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_sql_params() {
        let sql = "SELECT * FROM audit WHERE n >= ${min} AND user = ${who} AND x = '${min}'";
        assert_eq!(placeholders(sql), vec!["min", "who"]);
        let b = bind_free_params(sql, &["min=3".into(), "who=o'k".into()]).unwrap();
        assert_eq!(
            b,
            "SELECT * FROM audit WHERE n >= 3 AND user = 'o''k' AND x = '3'"
        );
        let e = bind_free_params(sql, &["other=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("valid names: min, who"), "{e}");
    }
}
