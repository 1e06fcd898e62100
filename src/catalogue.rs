//! The one catalogue abstraction shared by queries (`queries/*.sql`) and rules (`rules/*.yaml`):
//! entries with a code, a name and typed parameters; selection by code, name or code prefix
//! (`--query`/`--rule`, `--skip`); and the one `--param` parser, whose values take the type of
//! the parameter's default.

use std::collections::BTreeMap;

use serde_json::Value;

/// One parameter of a query or a rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParamDef {
    pub name: String,
    /// The default, which also gives the type of overrides (number, bool, list, string).
    pub default: Value,
    pub doc: String,
}

/// How a query or rule describes itself to people and to CI tools (SARIF rule metadata, JUnit
/// suites, Code Quality descriptions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub code: String,
    pub name: String,
    /// One sentence: what it finds.
    pub summary: String,
    /// Why it matters.
    pub why: String,
    pub remediation: String,
    pub help_uri: Option<String>,
    /// The severity of its findings unless a finding says otherwise.
    pub severity: crate::finding::Severity,
}

/// What the catalogue needs of a query or a rule.
pub trait Entry {
    fn code(&self) -> &str;
    fn name(&self) -> &str;
    fn params(&self) -> &[ParamDef];
    fn describe(&self) -> Described;
}

impl<E: Entry + ?Sized> Entry for &E {
    fn code(&self) -> &str {
        (**self).code()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn params(&self) -> &[ParamDef] {
        (**self).params()
    }
    fn describe(&self) -> Described {
        (**self).describe()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("unknown {what} {sel:?}; `kscope {list}` lists them")]
    Unknown {
        what: &'static str,
        list: &'static str,
        sel: String,
    },
    #[error("invalid --param {0:?}: expected NAME=VALUE or CODE.NAME=VALUE")]
    BadParamSyntax(String),
    #[error("--param {arg:?}: {problem}")]
    UnknownParam { arg: String, problem: String },
    #[error("--param {name}={value:?}: {code} expects {expected} (default {default})")]
    BadParamValue {
        code: String,
        name: String,
        value: String,
        expected: &'static str,
        default: String,
    },
}

/// Whether `sel` names `e`: its code (any case), its name, or a prefix of its code of at least two
/// characters (`AP`, `WH00`, `AUD02`).
pub fn matches<E: Entry>(e: &E, sel: &str) -> bool {
    let code = e.code();
    code.eq_ignore_ascii_case(sel)
        || e.name() == sel
        || (sel.len() >= 2
            && sel.chars().all(|c| c.is_ascii_alphanumeric())
            && code
                .get(..sel.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(sel)))
}

/// The entries chosen by `only` (all when empty) minus `skip`, in catalogue order. A selector that
/// names nothing is an error.
pub fn select<'a, E: Entry>(
    all: &'a [E],
    only: &[String],
    skip: &[String],
    what: &'static str,
    list: &'static str,
) -> Result<Vec<&'a E>, CatalogueError> {
    for s in only.iter().chain(skip) {
        if !all.iter().any(|e| matches(e, s)) {
            return Err(CatalogueError::Unknown {
                what,
                list,
                sel: s.clone(),
            });
        }
    }
    Ok(all
        .iter()
        .filter(|e| only.is_empty() || only.iter().any(|s| matches(*e, s)))
        .filter(|e| !skip.iter().any(|s| matches(*e, s)))
        .collect())
}

/// `--param` overrides: `name=value` for every selected entry with that parameter, `CODE.name=value`
/// for one. Checked against the selected entries when parsed.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    values: BTreeMap<(String, String), Value>,
}

impl Overrides {
    pub fn parse<E: Entry>(args: &[String], selected: &[&E]) -> Result<Overrides, CatalogueError> {
        let mut out = Overrides::default();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| CatalogueError::BadParamSyntax(a.clone()))?;
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() {
                return Err(CatalogueError::BadParamSyntax(a.clone()));
            }
            let (scope, name) = match k.split_once('.') {
                Some((c, n)) => (Some(c), n),
                None => (None, k),
            };
            let in_scope: Vec<&&E> = selected
                .iter()
                .filter(|e| scope.is_none_or(|s| e.code().eq_ignore_ascii_case(s)))
                .collect();
            if let (Some(s), true) = (scope, in_scope.is_empty()) {
                return Err(CatalogueError::UnknownParam {
                    arg: a.clone(),
                    problem: format!("{s} is not a selected query or rule"),
                });
            }
            let mut hit = false;
            for e in &in_scope {
                let Some(def) = e.params().iter().find(|p| p.name == name) else {
                    continue;
                };
                let value =
                    convert(&def.default, v).ok_or_else(|| CatalogueError::BadParamValue {
                        code: e.code().to_string(),
                        name: name.to_string(),
                        value: v.to_string(),
                        expected: type_name(&def.default),
                        default: def.default.to_string(),
                    })?;
                out.values
                    .insert((e.code().to_string(), name.to_string()), value);
                hit = true;
            }
            if !hit {
                let mut valid: Vec<&str> = in_scope
                    .iter()
                    .flat_map(|e| e.params().iter().map(|p| p.name.as_str()))
                    .collect();
                valid.sort_unstable();
                valid.dedup();
                let whose = match scope {
                    Some(s) => format!("{} has no parameter {name:?}", s.to_ascii_uppercase()),
                    None => format!("no selected query or rule has a parameter {name:?}"),
                };
                let problem = if valid.is_empty() {
                    format!("{whose} (it has none)")
                } else {
                    format!("{whose}; valid names: {}", valid.join(", "))
                };
                return Err(CatalogueError::UnknownParam {
                    arg: a.clone(),
                    problem,
                });
            }
        }
        Ok(out)
    }

    /// Every parameter of `e`: its override, else its default.
    pub fn values_for<E: Entry>(&self, e: &E) -> BTreeMap<String, Value> {
        e.params()
            .iter()
            .map(|p| {
                let v = self
                    .values
                    .get(&(e.code().to_string(), p.name.clone()))
                    .cloned()
                    .unwrap_or_else(|| p.default.clone());
                (p.name.clone(), v)
            })
            .collect()
    }
}

fn type_name(default: &Value) -> &'static str {
    match default {
        Value::Number(_) => "a number",
        Value::Bool(_) => "true or false",
        Value::Array(_) => "a comma-separated list",
        _ => "a string",
    }
}

/// A command-line value in the type of `default`.
pub fn convert(default: &Value, v: &str) -> Option<Value> {
    match default {
        Value::Number(_) => v.parse::<i64>().map(Value::from).ok().or_else(|| {
            v.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
        }),
        Value::Bool(_) => v.parse::<bool>().ok().map(Value::Bool),
        Value::Array(_) => Some(Value::Array(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )),
        _ => Some(Value::String(v.to_string())),
    }
}

/// A parameter's value as text: strings as they are, anything else as JSON.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct E(&'static str, &'static str, Vec<ParamDef>);
    impl Entry for E {
        fn code(&self) -> &str {
            self.0
        }
        fn name(&self) -> &str {
            self.1
        }
        fn params(&self) -> &[ParamDef] {
            &self.2
        }
        fn describe(&self) -> Described {
            Described {
                code: self.0.into(),
                name: self.1.into(),
                summary: String::new(),
                why: String::new(),
                remediation: String::new(),
                help_uri: None,
                severity: crate::finding::Severity::Info,
            }
        }
    }
    fn p(name: &str, default: Value) -> ParamDef {
        ParamDef {
            name: name.into(),
            default,
            doc: String::new(),
        }
    }

    #[test]
    fn select_and_params() {
        let all = vec![
            E(
                "AB001",
                "one",
                vec![p("min", json!(3)), p("on", json!(false))],
            ),
            E(
                "AB002",
                "two",
                vec![p("min", json!(1.5)), p("who", json!(["a"]))],
            ),
            E("CD001", "three", vec![]),
        ];
        let codes = |v: Vec<&E>| v.iter().map(|e| e.0).collect::<Vec<_>>();
        let sel = |o: &[&str], s: &[&str]| {
            select(
                &all,
                &o.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                &s.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                "rule",
                "rules",
            )
        };
        assert_eq!(codes(sel(&["ab"], &["two"]).unwrap()), vec!["AB001"]);
        assert_eq!(
            codes(sel(&["cd001", "one"], &[]).unwrap()),
            vec!["AB001", "CD001"]
        );
        assert!(matches!(
            sel(&["ZZ"], &[]),
            Err(CatalogueError::Unknown { .. })
        ));

        let sel_all: Vec<&E> = all.iter().collect();
        let args = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let o = Overrides::parse(
            &args(&["min=7", "AB002.who=x, y", "ab001.on=true"]),
            &sel_all,
        )
        .unwrap();
        assert_eq!(o.values_for(&all[0])["min"], json!(7));
        assert_eq!(o.values_for(&all[0])["on"], json!(true));
        assert_eq!(o.values_for(&all[1])["min"], json!(7));
        assert_eq!(o.values_for(&all[1])["who"], json!(["x", "y"]));
        let e = Overrides::parse(&args(&["AB001.mni=1"]), &sel_all)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AB001 has no parameter \"mni\"; valid names: min, on"),
            "{e}"
        );
        let e = Overrides::parse(&args(&["nope=1"]), &sel_all)
            .unwrap_err()
            .to_string();
        assert!(e.contains("valid names: min, on, who"), "{e}");
        let e = Overrides::parse(&args(&["min=abc"]), &sel_all)
            .unwrap_err()
            .to_string();
        assert!(e.contains("AB001 expects a number"), "{e}");
        assert!(matches!(
            Overrides::parse(&args(&["min"]), &sel_all),
            Err(CatalogueError::BadParamSyntax(_))
        ));
        assert!(Overrides::parse(&args(&["CD001.min=1"]), &sel_all).is_err());
    }
}
