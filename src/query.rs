//! Queries: one `.sql` file per analysis in `queries/`, with a header, embedded in the binary.
//!
//! Header lines start with `-- key: value`; a line starting with `--` and two more spaces continues the
//! previous value. Keys: `code`, `name`, `title`, `finds`, `why`, `columns`, `param` (repeatable:
//! `name = default | doc`), `severity`, `requires`, `subject`, `message`, `remediation`, `reference`.
//! A query with a `severity` produces findings: every row, or only rows whose `severity` column is set.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;

use crate::catalogue::{self, CatalogueError, Entry, ParamDef};
use crate::finding::{Finding, Severity, Subject};
use crate::table::Table;

include!(concat!(env!("OUT_DIR"), "/queries.rs"));

#[derive(Debug, Clone, Serialize)]
pub struct Query {
    pub file: String,
    pub code: String,
    pub name: String,
    pub title: String,
    pub finds: String,
    pub why: String,
    pub columns: Vec<String>,
    pub params: Vec<ParamDef>,
    pub severity: Option<Severity>,
    pub requires: String,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub remediation: Option<String>,
    pub reference: Option<String>,
    /// What the query never flags (the normal behaviour it knows), for queries with a severity.
    pub never: Option<String>,
    /// How the HTML report draws the result (`-- chart: timeseries x=minute y=lists series=client`).
    pub chart: Option<ChartSpec>,
    #[serde(skip)]
    pub sql: String,
    #[serde(skip)]
    pub text: String,
}

/// A query's chart: its kind and the columns it plots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartSpec {
    pub kind: ChartKind,
    /// The x column (a time for `timeseries`, a category for `bar`).
    pub x: String,
    /// The numeric y column.
    pub y: String,
    /// The column whose values are the series (one line or bar colour each).
    pub series: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Timeseries,
    Bar,
}

impl ChartSpec {
    /// `timeseries x=minute y=lists series=client`.
    pub fn parse(s: &str) -> Result<ChartSpec, String> {
        let mut words = s.split_whitespace();
        let kind = match words.next() {
            Some("timeseries") => ChartKind::Timeseries,
            Some("bar") => ChartKind::Bar,
            other => return Err(format!("unknown chart {other:?} (timeseries or bar)")),
        };
        let (mut x, mut y, mut series) = (None, None, None);
        for w in words {
            match w.split_once('=') {
                Some(("x", v)) => x = Some(v.to_string()),
                Some(("y", v)) => y = Some(v.to_string()),
                Some(("series", v)) => series = Some(v.to_string()),
                _ => return Err(format!("{w:?}: expected x=, y= or series=")),
            }
        }
        Ok(ChartSpec {
            kind,
            x: x.ok_or("x= is missing")?,
            y: y.ok_or("y= is missing")?,
            series,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{file}: {msg}")]
    Header { file: String, msg: String },
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
}

impl Entry for Query {
    fn code(&self) -> &str {
        &self.code
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn params(&self) -> &[ParamDef] {
        &self.params
    }
    fn describe(&self) -> crate::catalogue::Described {
        crate::catalogue::Described {
            code: self.code.clone(),
            name: self.name.clone(),
            summary: format!("{}: {}", self.title, self.finds),
            why: self.why.clone(),
            remediation: self.remediation.clone().unwrap_or_default(),
            help_uri: self.reference.clone(),
            severity: self.severity.unwrap_or(Severity::Info),
        }
    }
}

/// A default as written in a header: a number when it reads as one, else a string.
fn typed_default(s: &str) -> Value {
    s.parse::<i64>()
        .map(Value::from)
        .ok()
        .or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
        })
        .unwrap_or_else(|| Value::String(s.to_string()))
}

/// Parses one query file.
pub fn parse(file: &str, text: &str) -> Result<Query, QueryError> {
    let err = |msg: String| QueryError::Header {
        file: file.to_string(),
        msg,
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut body_start = text.len();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end();
        if let Some(rest) = l.strip_prefix("--") {
            if rest.starts_with("   ") || rest.starts_with('\t') {
                let Some(last) = fields.last_mut() else {
                    return Err(err("continuation line before any key".into()));
                };
                last.1.push(' ');
                last.1.push_str(rest.trim());
            } else if let Some((k, v)) = rest
                .trim()
                .split_once(':')
                .filter(|(k, _)| !k.contains(' '))
            {
                fields.push((k.trim().to_string(), v.trim().to_string()));
            } else if !rest.trim().is_empty() {
                return Err(err(format!("header line is not `-- key: value`: {l:?}")));
            }
        } else if !l.trim().is_empty() {
            body_start = offset;
            break;
        }
        offset += line.len();
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(fk, _)| fk == k)
            .map(|(_, v)| v.clone())
    };
    let need = |k: &str| {
        get(k)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| err(format!("missing header `{k}`")))
    };
    let mut params = Vec::new();
    for (k, v) in &fields {
        if k == "param" {
            let (decl, doc) = v.split_once('|').unwrap_or((v, ""));
            let (name, default) = decl
                .split_once('=')
                .ok_or_else(|| err(format!("param without default: {v:?}")))?;
            params.push(ParamDef {
                name: name.trim().into(),
                default: typed_default(default.trim()),
                doc: doc.trim().into(),
            });
        }
    }
    const KNOWN: &[&str] = &[
        "code",
        "name",
        "title",
        "finds",
        "why",
        "columns",
        "param",
        "severity",
        "requires",
        "subject",
        "message",
        "remediation",
        "reference",
        "chart",
        "never",
    ];
    if let Some((k, _)) = fields.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(err(format!("unknown header key `{k}`")));
    }
    let chart = get("chart")
        .map(|c| ChartSpec::parse(&c).map_err(|e| err(format!("chart: {e}"))))
        .transpose()?;
    if let Some(c) = &chart {
        let cols: Vec<String> = need("columns")?
            .split(',')
            .map(|c| c.trim().to_string())
            .collect();
        for col in [Some(&c.x), Some(&c.y), c.series.as_ref()]
            .into_iter()
            .flatten()
        {
            if !cols.contains(col) {
                return Err(err(format!("chart: {col:?} is not one of the columns")));
            }
        }
    }
    let severity = match get("severity") {
        Some(s) => Some(Severity::parse(&s).ok_or_else(|| err(format!("bad severity {s:?}")))?),
        None => None,
    };
    let q = Query {
        file: file.to_string(),
        code: need("code")?,
        name: need("name")?,
        title: need("title")?,
        finds: need("finds")?,
        why: need("why")?,
        columns: need("columns")?
            .split(',')
            .map(|c| c.trim().to_string())
            .collect(),
        params,
        severity,
        requires: need("requires")?,
        subject: get("subject"),
        message: get("message"),
        remediation: get("remediation"),
        reference: get("reference"),
        never: get("never"),
        chart,
        sql: text[body_start..].trim().trim_end_matches(';').to_string(),
        text: text.to_string(),
    };
    if q.severity.is_some()
        && (q.subject.is_none()
            || q.message.is_none()
            || q.remediation.is_none()
            || q.never.is_none())
    {
        return Err(err(
            "a query with a severity needs `subject`, `message`, `remediation` and `never` (what it never flags)"
                .into(),
        ));
    }
    Ok(q)
}

static REGISTRY: LazyLock<Result<Vec<Query>, String>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for (file, text) in QUERY_FILES {
        out.push(parse(file, text).map_err(|e| e.to_string())?);
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(out)
});

/// All embedded queries, by code.
pub fn registry() -> Result<&'static [Query], QueryError> {
    REGISTRY.as_deref().map_err(|e| QueryError::Header {
        file: "queries/".into(),
        msg: e.clone(),
    })
}

/// The queries to run: all, or those named by code, name or code prefix, minus `skip`, in
/// registry order.
pub fn select(only: &[String], skip: &[String]) -> Result<Vec<&'static Query>, QueryError> {
    Ok(catalogue::select(
        registry()?,
        only,
        skip,
        "query",
        "queries",
    )?)
}

/// The values of a query's parameters, by name.
pub type Values = BTreeMap<String, Value>;

/// The SQL with `${name}` replaced: numbers as written, anything else as a quoted string literal.
pub fn bind(sql: &str, values: &Values) -> String {
    bind_fleet(sql, values, false)
}

/// The placeholder fleet views group by: `cluster, ` over several clusters, nothing otherwise.
pub const CLUSTER_KEY: &str = "${cluster_key}";

/// Placeholders the engine expands in every query (and in `kscope sql`), so that a concept the
/// queries share is written once:
///
/// - `${window}`: a one-row relation describing the window the input covers and the queries judge:
///   `first_ts`, `last_ts`, `hours` (its length, at least one second) and `window` (the length as
///   text: `45 s`, `12 min`, `3.5 h`, `2.1 d`). The window starts at the first request received
///   that is not long-running: the completion of a watch, `exec`, `attach`, `portforward`, `log` or
///   `proxy` request carries a receipt time from before the log began (a file that holds the end of a
///   3-hour port-forward is not a 3-hour window); a log of only such requests starts at the first.
/// - `${ready}`: a one-row relation with `ready_ts`, when the API server was ready. Only a log that
///   shows the API server starting (a health check `/readyz`, `/livez` or `/healthz` answered 5xx)
///   has a start-up: it ends at the first `/readyz` answered 2xx, else the first `/healthz` answered
///   2xx, else the first success, else the log's end. Any other log is ready from its first request.
///   A separate relation, because a query plans only the columns it reads.
/// - `${control_plane_note}`: an expression over a `control_plane` column: empty for everyone
///   else, and for the control plane the sentence that tells an operator it is not theirs to change.
/// - `${control_plane_of_group}`: an aggregate: the group's `control_plane` label when every request
///   of the group is the control plane's, else NULL (a group that mixes in anyone else is judged).
pub const ENGINE_PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "window",
        "(SELECT first_ts, last_ts, hours, \
CASE WHEN hours < 2.0 / 60 THEN CAST(round(hours * 3600) AS BIGINT) || ' s' \
WHEN hours < 2 THEN CAST(round(hours * 60) AS BIGINT) || ' min' \
WHEN hours < 48 THEN CAST(round(hours, 1) AS VARCHAR) || ' h' \
ELSE CAST(round(hours / 24, 1) AS VARCHAR) || ' d' END AS window \
FROM (SELECT first_ts, last_ts, \
greatest(1.0 / 3600, (date_part('epoch', last_ts) - date_part('epoch', first_ts)) / 3600.0) AS hours \
FROM (SELECT coalesce(min(request_received_ts) FILTER (WHERE verb NOT IN ('watch', 'proxy') \
AND coalesce(subresource, '') NOT IN ('exec', 'attach', 'portforward', 'log', 'proxy')), \
min(request_received_ts)) AS first_ts, max(request_received_ts) AS last_ts FROM audit)))",
    ),
    (
        "ready",
        "(SELECT CASE WHEN count(*) FILTER (WHERE path IN ('/readyz', '/livez', '/healthz') \
AND response_code >= 500) = 0 THEN min(request_received_ts) ELSE coalesce(\
min(request_received_ts) FILTER (WHERE path = '/readyz' AND response_code < 300), \
min(request_received_ts) FILTER (WHERE path = '/healthz' AND response_code < 300), \
min(request_received_ts) FILTER (WHERE response_code < 400), max(request_received_ts)) END AS ready_ts \
FROM audit)",
    ),
    (
        "control_plane_note",
        "CASE WHEN control_plane IS NULL THEN '' ELSE ' (control plane: ' || control_plane || \
'; not something you change: check the version skew or the managed add-on)' END",
    ),
    (
        "control_plane_of_group",
        "CASE WHEN count(control_plane) = count(*) THEN max(control_plane) END",
    ),
];

/// The SQL an engine placeholder (`window`, `ready`) expands to.
pub fn expansion(name: &str) -> Option<&'static str> {
    ENGINE_PLACEHOLDERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, e)| *e)
}

/// The report's window: its first and last request and its length as the queries say it.
pub const RANGE_SQL: &str = "SELECT first_ts AS first, last_ts AS last, window FROM ${window}";

/// [`bind`], with `${cluster_key}` expanded for a fleet (`fleet`: the input spans several
/// clusters, so per-client results are split per cluster), and the [`ENGINE_PLACEHOLDERS`].
pub fn bind_fleet(sql: &str, values: &Values, fleet: bool) -> String {
    let mut out = cluster_matches(
        &sql.replace(CLUSTER_KEY, if fleet { "cluster, " } else { "" }),
        fleet,
    );
    for (name, expansion) in ENGINE_PLACEHOLDERS {
        out = out.replace(&format!("${{{name}}}"), expansion);
    }
    for (k, v) in values {
        let lit = match v {
            Value::Number(n) => n.to_string(),
            other => format!("'{}'", catalogue::display(other).replace('\'', "''")),
        };
        out = out.replace(&format!("${{{k}}}"), &lit);
    }
    out
}

/// `${cluster_match:a,b}`: in a fleet, ` AND a.cluster = b.cluster` (a join or correlated condition
/// between two relations grouped by `${cluster_key}` stays within one cluster); else nothing.
fn cluster_matches(sql: &str, fleet: bool) -> String {
    const OPEN: &str = "${cluster_match:";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let Some((args, tail)) = after.split_once('}') else {
            out.push_str(&rest[at..]);
            return out;
        };
        if let (true, Some((a, b))) = (fleet, args.split_once(',')) {
            out.push_str(&format!(" AND {}.cluster = {}.cluster", a.trim(), b.trim()));
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Fills `{column}` and `{param}` placeholders of a message template from one result row.
pub fn fill(template: &str, table: &Table, row: usize, values: &Values) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                if let Some(ci) = table.columns.iter().position(|c| c == key) {
                    // NULL is "n/a"; an empty string stays empty (an optional note)
                    let null = matches!(
                        table.rows.get(row).and_then(|r| r.get(ci)),
                        None | Some(Value::Null)
                    );
                    if null {
                        out.push_str("n/a");
                    } else {
                        out.push_str(&table.display(row, ci));
                    }
                } else if let Some(v) = values.get(key) {
                    out.push_str(&catalogue::display(v));
                } else {
                    out.push('{');
                    out.push_str(key);
                    out.push('}');
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The findings of one query's result: every row, or the rows whose `severity` column is set.
pub fn findings(q: &Query, table: &Table, values: &Values, origin: &str) -> Vec<Finding> {
    let Some(default_sev) = q.severity else {
        return Vec::new();
    };
    let sev_col = table.columns.iter().position(|c| c == "severity");
    // fleet views split results per cluster: the cluster is part of the subject
    let cluster_col = table.columns.iter().position(|c| c == "cluster");
    let mut out = Vec::new();
    for row in 0..table.rows.len() {
        let sev = match sev_col {
            Some(ci) => match table.rows[row][ci].as_str().and_then(Severity::parse) {
                Some(s) => s,
                None => continue,
            },
            None => default_sev,
        };
        out.push(Finding {
            code: q.code.clone(),
            name: q.name.clone(),
            severity: sev,
            subject: Subject {
                name: match cluster_col {
                    Some(ci) => format!(
                        "cluster {}: {}",
                        table.display(row, ci),
                        fill(q.subject.as_deref().unwrap_or_default(), table, row, values)
                    ),
                    None => fill(q.subject.as_deref().unwrap_or_default(), table, row, values),
                },
                origin: origin.to_string(),
            },
            message: fill(q.message.as_deref().unwrap_or_default(), table, row, values),
            remediation: fill(
                q.remediation.as_deref().unwrap_or_default(),
                table,
                row,
                values,
            ),
            reference: q.reference.clone(),
            location: None,
            object: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_matches_only_in_a_fleet() {
        let sql =
            "SELECT 1 FROM h JOIN r ON h.x = r.x${cluster_match:h, r} WHERE 1${cluster_match:a,b}";
        assert_eq!(
            bind_fleet(sql, &Values::new(), true),
            "SELECT 1 FROM h JOIN r ON h.x = r.x AND h.cluster = r.cluster WHERE 1 AND a.cluster = b.cluster"
        );
        assert_eq!(
            bind_fleet(sql, &Values::new(), false),
            "SELECT 1 FROM h JOIN r ON h.x = r.x WHERE 1"
        );
    }

    const Q: &str = "-- code: T001\n-- name: test-query\n-- title: A test\n-- finds: things\n--   over two lines\n\
-- why: because\n-- columns: a, b\n-- param: min = 3 | the minimum\n-- param: who = x | a name\n-- severity: warning\n\
-- requires: Metadata\n-- subject: {a}\n-- message: {a} has {b} (min {min})\n-- remediation: fix {a}\n-- never: b below min\n\nSELECT 1 AS a WHERE 1 >= ${min} AND 'x' = ${who};\n";

    #[test]
    fn parses_header_and_binds_params() {
        let q = parse("t.sql", Q).unwrap();
        assert_eq!(q.code, "T001");
        assert_eq!(q.finds, "things over two lines");
        assert_eq!(q.columns, vec!["a", "b"]);
        assert_eq!(q.params.len(), 2);
        assert_eq!(q.severity, Some(Severity::Warning));
        assert_eq!(q.params[0].default, serde_json::json!(3));
        let qs = [&q];
        let p = catalogue::Overrides::parse(&["min=5".into(), "T001.who=o'k".into()], &qs).unwrap();
        let sql = bind(&q.sql, &p.values_for(&q));
        assert_eq!(sql, "SELECT 1 AS a WHERE 1 >= 5 AND 'x' = 'o''k'");
        assert!(catalogue::Overrides::parse(&["min=abc".into()], &qs).is_err());
    }

    #[test]
    fn rejects_incomplete_headers() {
        let e = parse("t.sql", "-- code: T1\nSELECT 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing header `name`"), "{e}");
        let e = parse("t.sql", &Q.replace("-- subject: {a}\n", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs `subject`"), "{e}");
        let e = parse("t.sql", &Q.replace("-- why:", "-- wyh:"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown header key `wyh`"), "{e}");
    }

    #[test]
    fn registry_loads_and_codes_are_unique() {
        let all = registry().unwrap();
        assert!(all.len() >= 15);
        let mut codes: Vec<_> = all.iter().map(|q| q.code.as_str()).collect();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        let mut names: Vec<_> = all.iter().map(|q| q.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for q in all {
            assert!(
                q.file.contains(&q.code.to_ascii_lowercase()),
                "{} should be named after its code",
                q.file
            );
            for p in &q.params {
                assert!(
                    q.sql.contains(&format!("${{{}}}", p.name)),
                    "{}: param {} unused",
                    q.code,
                    p.name
                );
            }
            assert!(
                q.sql.to_ascii_uppercase().contains("ORDER BY"),
                "{}: output must be ordered",
                q.code
            );
        }
    }
}
