//! The README's tables of queries, rules and `audit` columns are generated from the registries and
//! the schema, between `<!-- BEGIN GENERATED x -->` and `<!-- END GENERATED x -->` markers. The test
//! fails when they drift; `KSCOPE_UPDATE_README=1 cargo test readme` rewrites them.

use kscope::audit::schema::{COLUMNS, Kind};

use crate::root;

fn kind(k: &Kind) -> &'static str {
    match k {
        Kind::Str => "Utf8",
        Kind::Int32 => "Int32",
        Kind::Int64 => "Int64",
        Kind::Float64 => "Float64",
        Kind::Bool => "Boolean",
        Kind::Ts => "Timestamp(µs, UTC)",
        Kind::StrList => "List(Utf8)",
        Kind::StrMap => "Map(Utf8, Utf8)",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The generated tables, by marker name.
fn tables() -> Vec<(&'static str, String)> {
    let mut columns = String::from("| column | type | meaning |\n|---|---|---|\n");
    for c in COLUMNS {
        columns.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.name,
            kind(&c.kind),
            cell(c.doc)
        ));
    }
    // the APF estimate's columns (the `audit` view adds them on the local engine)
    for (name, doc) in kscope::apf::DERIVED {
        let kind = if name.starts_with("est_") {
            "Int64"
        } else {
            "Utf8"
        };
        columns.push_str(&format!(
            "| `{name}` | {kind} | {} (APF estimate) |\n",
            cell(doc)
        ));
    }
    let mut queries =
        String::from("| code | title | severity | never flags |\n|---|---|---|---|\n");
    for q in kscope::query::registry().unwrap() {
        queries.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            q.code,
            cell(&q.title),
            q.severity.map(|s| s.as_str()).unwrap_or("-"),
            q.never.as_deref().map(cell).unwrap_or_else(|| "-".into())
        ));
    }
    let mut rules = String::from("| code | name | severity | flags |\n|---|---|---|---|\n");
    for r in kscope::rules::registry().unwrap() {
        rules.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.code,
            r.name,
            r.severity,
            cell(&r.summary)
        ));
    }
    vec![("columns", columns), ("queries", queries), ("rules", rules)]
}

/// `text` with the block between the markers of `name` replaced by `table`.
fn splice(text: &str, name: &str, table: &str) -> Result<String, String> {
    let begin = format!("<!-- BEGIN GENERATED {name} -->\n");
    let end = format!("<!-- END GENERATED {name} -->");
    let b = text
        .find(&begin)
        .ok_or_else(|| format!("README has no `{}` marker", begin.trim()))?;
    let e = text[b..]
        .find(&end)
        .map(|i| b + i)
        .ok_or_else(|| format!("README has no `{end}` marker"))?;
    Ok(format!("{}{table}{}", &text[..b + begin.len()], &text[e..]))
}

#[test]
fn readme_tables_are_generated_from_the_registries() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let mut want = readme.clone();
    for (name, table) in tables() {
        want = splice(&want, name, &table).unwrap();
    }
    if want != readme {
        if std::env::var_os("KSCOPE_UPDATE_README").is_some() {
            std::fs::write(&path, &want).unwrap();
        } else {
            panic!(
                "the README's generated tables drifted from queries/, rules/ and the schema; \
                 run `KSCOPE_UPDATE_README=1 cargo test readme` and commit README.md"
            );
        }
    }
}
