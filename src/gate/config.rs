//! `.kscope.yaml`: a project's defaults for `lint`, `report` and `preflight`. Found from the working
//! directory upwards (stopping at the repository root, the first directory holding `.git`) or
//! named with `--config`. Unknown keys are errors that name the key and the valid ones. Command-line
//! flags override the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::finding::{FailOn, Finding, Severity};
use crate::inventory::{Version, yaml};

pub const FILE_NAME: &str = ".kscope.yaml";

/// Rules or queries to run.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Only these (codes, names or code prefixes); empty: all.
    #[serde(default)]
    pub enable: Vec<String>,
    /// Never these.
    #[serde(default)]
    pub disable: Vec<String>,
}

/// Findings suppressed by the config file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    /// Manifest files never read: globs relative to the config file's directory.
    #[serde(default)]
    pub files: Vec<String>,
    /// Findings on these objects (or audit subjects) are suppressed.
    #[serde(default)]
    pub objects: Vec<ObjectIgnore>,
}

/// One object ignore: every given field must match; `rules` empty means every rule.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ObjectIgnore {
    /// Codes or names of the rules and queries it suppresses (empty: all).
    #[serde(default)]
    pub rules: Vec<String>,
    pub kind: Option<String>,
    /// A glob.
    pub namespace: Option<String>,
    /// A glob.
    pub name: Option<String>,
    /// A label selector: `key=value,key2=value2`.
    pub labels: Option<String>,
    /// A glob over the finding's subject, for findings without an object (audit clients).
    pub subject: Option<String>,
    /// Why: shown with --show-suppressed.
    pub reason: String,
}

/// The file's contents.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file format version: 1.
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub rules: Selection,
    #[serde(default)]
    pub queries: Selection,
    /// Severity overrides: CODE → error, warning or info.
    #[serde(default)]
    pub severity: std::collections::BTreeMap<String, String>,
    /// Parameters: `CODE.NAME` or `NAME` → value (typed like the parameter's default).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, Value>,
    #[serde(default)]
    pub ignore: Ignore,
    /// The default `--fail-on`: error, warning, info or none.
    #[serde(default)]
    pub fail_on: Option<String>,
    /// The default `--target-version` (1.NN).
    #[serde(default)]
    pub target_version: Option<String>,
    /// Where the file was read (not a key).
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
}

/// The commented example `kscope config init` writes.
pub const EXAMPLE: &str = r#"# kscope configuration: defaults for `kscope lint`, `report` and `preflight`.
# Found from the working directory upwards (up to the repository root) or given with --config.
# Command-line flags override what is set here. Unknown keys are errors.
version: 1

# Which rules (lint, preflight) and queries (report) run: codes (WH001), names
# (webhook-fail-closed-system-namespace) or code prefixes (WH, AUD02). Empty `enable`: all.
rules:
  enable: []
  disable: []
queries:
  enable: []
  disable: []

# Severity of a rule's or query's findings: error, warning or info.
severity: {}
#  WH004: error

# Parameters (`kscope rules explain CODE` lists them): CODE.NAME or NAME (every rule that has it).
params: {}
#  WH004.fires_at_seconds: 15
#  GC003.limits: ["Pod=5000", "Service=5000", "Deployment=2000"]

ignore:
  # Manifest files never read (globs relative to this file's directory).
  files: []
  #  - "charts/*/tests/**"
  # Findings suppressed on matching objects (every given field must match; `rules` empty: all).
  # On one object, the annotation `kscope.io/ignore: "WH001: reason"` does the same.
  objects: []
  #  - rules: [WH009, WH010]
  #    kind: ValidatingWebhookConfiguration
  #    name: "staging-*"
  #    labels: "env=staging"
  #    reason: "staging webhooks run one replica by design"
  #  - rules: [AUD020]
  #    subject: "legacy-exporter*"
  #    reason: "replaced in Q3 (TICKET-123)"

# Exit with code 1 when a finding has at least this severity: error, warning, info or none.
fail_on: error

# The Kubernetes version lint judges deprecated APIs against, and preflight's target.
# target_version: "1.32"
"#;

impl Config {
    /// Parses a config file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let p = path.display().to_string();
        let bad = |msg: String| ConfigError::Invalid {
            path: p.clone(),
            msg,
        };
        let mut docs = yaml::documents(text);
        let value = match docs.len() {
            0 => Value::Object(Default::default()),
            1 => match docs.remove(0) {
                Ok(d) => d.value,
                Err(e) => return Err(bad(format!("line {}: {}", e.line, e.reason))),
            },
            n => return Err(bad(format!("expected one YAML document, found {n}"))),
        };
        let mut c: Config = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if let Some(v) = c.version.filter(|v| *v != 1) {
            return Err(bad(format!(
                "version {v} is not supported (this kscope reads 1)"
            )));
        }
        for (code, s) in &c.severity {
            if Severity::parse(s).is_none() {
                return Err(bad(format!(
                    "severity.{code}: {s:?} is not error, warning or info"
                )));
            }
        }
        if let Some(f) = &c.fail_on {
            if fail_on(f).is_none() {
                return Err(bad(format!(
                    "fail_on: {f:?} is not error, warning, info or none"
                )));
            }
        }
        if let Some(t) = &c.target_version {
            if Version::parse(t).is_none() {
                return Err(bad(format!("target_version: expected 1.NN, got {t:?}")));
            }
        }
        for g in &c.ignore.files {
            glob::Pattern::new(g).map_err(|e| bad(format!("ignore.files: {g:?}: {e}")))?;
        }
        for (i, o) in c.ignore.objects.iter().enumerate() {
            for g in [&o.namespace, &o.name, &o.subject].into_iter().flatten() {
                glob::Pattern::new(g)
                    .map_err(|e| bad(format!("ignore.objects[{i}]: {g:?}: {e}")))?;
            }
            if o.reason.trim().is_empty() {
                return Err(bad(format!("ignore.objects[{i}]: give a reason")));
            }
        }
        c.dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(c)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// `.kscope.yaml` in `start` or a parent, up to the first directory holding `.git`.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            let f = d.join(FILE_NAME);
            if f.is_file() {
                return Some(f);
            }
            if d.join(".git").exists() {
                return None;
            }
            dir = d.parent();
        }
        None
    }

    pub fn severity_for(&self, code: &str) -> Option<Severity> {
        self.severity
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .and_then(|(_, s)| Severity::parse(s))
    }

    pub fn fail_on(&self) -> Option<FailOn> {
        self.fail_on.as_deref().and_then(fail_on)
    }

    pub fn target_version(&self) -> Option<Version> {
        self.target_version.as_deref().and_then(Version::parse)
    }

    /// `params` as `--param` arguments (lists comma-separated), to go before the command line's.
    pub fn param_args(&self) -> Vec<String> {
        self.params
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                format!("{k}={v}")
            })
            .collect()
    }

    /// Whether a manifest file is ignored (`ignore.files`, relative to the config's directory).
    pub fn ignores_file(&self, file: &Path) -> bool {
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let base = std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone());
        self.ignore.files.iter().any(|g| {
            glob::Pattern::new(&base.join(g).display().to_string())
                .is_ok_and(|p| p.matches_path(&abs))
        })
    }

    /// Why a finding is ignored by `ignore.objects`, if it is.
    pub fn ignores(&self, f: &Finding) -> Option<String> {
        let obj = f.object.as_ref();
        let glob = |pat: &Option<String>, v: Option<&str>| match pat {
            None => true,
            Some(p) => v.is_some_and(|v| glob::Pattern::new(p).is_ok_and(|p| p.matches(v))),
        };
        self.ignore
            .objects
            .iter()
            .find(|o| {
                let rule = o.rules.is_empty()
                    || o.rules.iter().any(|r| {
                        r.eq_ignore_ascii_case(&f.code)
                            || r == &f.name
                            || (r.len() >= 2 && f.code.starts_with(r.as_str()))
                    });
                let kind = o
                    .kind
                    .as_deref()
                    .is_none_or(|k| obj.is_some_and(|x| x.kind == k));
                let labels = o.labels.as_deref().is_none_or(|sel| {
                    obj.is_some_and(|x| {
                        sel.split(',').filter(|t| !t.trim().is_empty()).all(|t| {
                            t.split_once('=').is_some_and(|(k, v)| {
                                x.labels.get(k.trim()).map(String::as_str) == Some(v.trim())
                            })
                        })
                    })
                });
                rule && kind
                    && labels
                    && glob(&o.namespace, obj.and_then(|x| x.namespace.as_deref()))
                    && glob(&o.name, obj.map(|x| x.name.as_str()))
                    && glob(&o.subject, Some(&f.subject.name))
            })
            .map(|o| format!("{FILE_NAME} ignore: {}", o.reason))
    }
}

fn fail_on(s: &str) -> Option<FailOn> {
    match s.trim().to_ascii_lowercase().as_str() {
        "error" => Some(FailOn::Error),
        "warning" => Some(FailOn::Warning),
        "info" => Some(FailOn::Info),
        "none" => Some(FailOn::None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_unknown_keys_are_named() {
        let c = Config::parse(Path::new("x/.kscope.yaml"), EXAMPLE).unwrap();
        assert_eq!(c.fail_on(), Some(FailOn::Error));
        let e = Config::parse(Path::new(".kscope.yaml"), "rules:\n  enabel: [WH]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `enabel`") && e.contains("`enable`"),
            "{e}"
        );
        let e = Config::parse(Path::new(".kscope.yaml"), "failon: error\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `failon`") && e.contains("`fail_on`"),
            "{e}"
        );
        let e = Config::parse(Path::new(".kscope.yaml"), "severity: {WH001: fatal}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("severity.WH001"), "{e}");
    }

    #[test]
    fn params_become_param_arguments() {
        let c = Config::parse(
            Path::new(".kscope.yaml"),
            "params:\n  WH004.fires_at_seconds: 15\n  GC003.limits: [Pod=1, Service=2]\n",
        )
        .unwrap();
        assert_eq!(
            c.param_args(),
            vec!["GC003.limits=Pod=1,Service=2", "WH004.fires_at_seconds=15"]
        );
    }
}
