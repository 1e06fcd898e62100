//! Manifest files and directories: multi-document YAML and JSON, `kind: List`, each object with its
//! file and line. An invalid document is recorded as a problem (`file:line: reason`) and skipped.
//! A Prometheus rule file (`groups:` only) is read as a PrometheusRule named after the file.

use std::path::PathBuf;

use serde_json::Value;

use super::yaml;
use super::{Inventory, Obj};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: no .yaml, .yml or .json files")]
    Empty { path: String },
}

/// Files named by `paths` (files as given, directories walked for `.yaml`, `.yml` and `.json` with
/// the one directory walk), and the entries that could not be read.
pub fn expand(paths: &[PathBuf]) -> Result<crate::walk::Walk, ManifestError> {
    const EXTS: &[&str] = &["yaml", "yml", "json"];
    let opts = crate::walk::WalkOptions {
        hidden: false,
        extensions: Some(EXTS),
    };
    let mut walker = crate::walk::Walker::new();
    for p in paths {
        if p.as_os_str() == "-" {
            walker.walk.files.push(p.clone());
        } else if p.is_dir() {
            let before = walker.walk.files.len();
            walker.add(p, opts);
            if walker.walk.files.len() == before && walker.walk.problems.is_empty() {
                return Err(ManifestError::Empty {
                    path: p.display().to_string(),
                });
            }
        } else if p.exists() {
            walker.add(p, opts);
        } else {
            return Err(ManifestError::NotFound {
                path: p.display().to_string(),
            });
        }
    }
    Ok(walker.walk)
}

/// Reads every file into one inventory, with the default limits.
pub fn load(paths: &[PathBuf]) -> Result<Inventory, ManifestError> {
    load_with(paths, yaml::DEFAULT_LIMITS)
}

/// Reads every file into one inventory; every document is bounded by `limits`.
pub fn load_with(paths: &[PathBuf], limits: yaml::Limits) -> Result<Inventory, ManifestError> {
    load_excluding(paths, limits, &|_| false)
}

/// [`load_with`], leaving out the files `exclude` names (the config file's `ignore.files`).
pub fn load_excluding(
    paths: &[PathBuf],
    limits: yaml::Limits,
    exclude: &dyn Fn(&std::path::Path) -> bool,
) -> Result<Inventory, ManifestError> {
    let mut walk = expand(paths)?;
    walk.files.retain(|f| {
        let skip = f.as_os_str() != "-" && exclude(f);
        if skip {
            tracing::info!("{}: ignored (ignore.files)", f.display());
        }
        !skip
    });
    let mut inv = Inventory::new("manifests", false);
    inv.problems.extend(walk.problems);
    for f in walk.files {
        let name = f.display().to_string();
        let text = if f.as_os_str() == "-" {
            let mut s = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                Ok(_) => Ok(s),
                Err(e) => Err(e),
            }
        } else {
            std::fs::read(&f).and_then(|b| {
                String::from_utf8(b).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error())
                })
            })
        };
        match text {
            Ok(t) => add_text_with(&mut inv, &name, &t, limits),
            Err(e) => inv.problems.push(format!("{name}: unreadable: {e}")),
        }
    }
    inv.sort();
    Ok(inv)
}

/// Adds the objects of one file's text.
pub fn add_text(inv: &mut Inventory, name: &str, text: &str) {
    add_text_with(inv, name, text, yaml::DEFAULT_LIMITS)
}

pub fn add_text_with(inv: &mut Inventory, name: &str, text: &str, limits: yaml::Limits) {
    for doc in yaml::documents_with(text, limits) {
        match doc {
            Err(e) => inv
                .problems
                .push(format!("{name}:{}: {}", e.line, e.reason)),
            Ok(d) => add_document(inv, name, d),
        }
    }
}

fn add_document(inv: &mut Inventory, name: &str, mut d: yaml::Document) {
    let is_list = d
        .value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && d.value.get("items").is_some_and(Value::is_array);
    if is_list {
        let items = match d.value.take() {
            Value::Object(mut m) => match m.remove("items") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for (i, item) in items.into_iter().enumerate() {
            let (line, end) = d.item_span(i);
            add_object(inv, name, (line, end), item);
        }
    } else {
        let span = (d.line, d.end_line);
        add_object(inv, name, span, d.value);
    }
}

/// A Prometheus rule file (`groups:` of named groups with `rules:`), which carries no apiVersion or
/// kind: read as the spec of a PrometheusRule named after the file.
fn is_prometheus_rule_file(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.len() == 1)
        && v.get("groups").and_then(Value::as_array).is_some_and(|gs| {
            !gs.is_empty()
                && gs
                    .iter()
                    .all(|g| g.get("rules").is_some_and(Value::is_array))
        })
}

fn add_object(inv: &mut Inventory, name: &str, (line, end): (usize, usize), v: Value) {
    let origin = format!("{name}:{line}");
    if !v.is_object() {
        inv.problems
            .push(format!("{origin}: not a Kubernetes object (not a mapping)"));
        return;
    }
    let has = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has("apiVersion") && !has("kind") && is_prometheus_rule_file(&v) {
        let stem = std::path::Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("rules")
            .to_string();
        let wrapped = serde_json::json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": stem},
            "spec": v,
        });
        return add_object(inv, name, (line, end), wrapped);
    }
    if !has("apiVersion") || !has("kind") {
        inv.problems.push(format!(
            "{origin}: not a Kubernetes object (no apiVersion or kind)"
        ));
        return;
    }
    let obj = Obj::new(v, origin);
    // objects read from stdin or a Helm release have no file to point at
    inv.add(if name == "-" || name.starts_with("helm:") {
        obj
    } else {
        obj.at(name, line, end)
    });
}
