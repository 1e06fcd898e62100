//! Baselines: the findings a project has accepted for now, so that CI fails only on new ones.
//!
//! The file is JSON lines, sorted, one finding identity per line, so that it diffs well: a header
//! line `{"kscope_baseline": 1, ...}`, then `{"code", "file", "subject", "key", "reason"}` per
//! finding, where `reason` is for people to fill in (kept when the file is rewritten).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Identity, identity};
use crate::finding::Finding;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub id: Identity,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    kscope_baseline: u32,
    #[serde(default)]
    tool: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read the baseline {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a kscope baseline line: {reason}")]
    Invalid {
        path: String,
        line: usize,
        reason: String,
    },
    #[error(
        "{path}: baseline format {found} is newer than this kscope reads ({FORMAT_VERSION}); upgrade kscope"
    )]
    Version { path: String, found: u32 },
    #[error("cannot write the baseline {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A baseline file's entries, by identity.
#[derive(Debug, Default, Clone)]
pub struct Baseline {
    entries: BTreeMap<Identity, Entry>,
}

impl Baseline {
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Read {
            path: p.clone(),
            source,
        })?;
        let mut b = Baseline::default();
        let bad = |line: usize, reason: String| BaselineError::Invalid {
            path: p.clone(),
            line,
            reason,
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if i == 0 {
                let h: Header =
                    serde_json::from_str(line).map_err(|e| bad(1, format!("header: {e}")))?;
                if h.kscope_baseline > FORMAT_VERSION {
                    return Err(BaselineError::Version {
                        path: p.clone(),
                        found: h.kscope_baseline,
                    });
                }
                continue;
            }
            let mut e: Entry = serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
            // keys written before decimals, `n/a` and window lengths were one `#` still match
            e.id.key = super::normalize_key(&e.id.key);
            b.entries.insert(e.id.clone(), e);
        }
        Ok(b)
    }

    /// A baseline of `findings`, keeping the reasons `previous` gave for the same identities.
    pub fn of<'f>(
        findings: impl IntoIterator<Item = &'f Finding>,
        previous: Option<&Baseline>,
    ) -> Baseline {
        let mut b = Baseline::default();
        for f in findings {
            let id = identity(f);
            let reason = previous
                .and_then(|p| p.entries.get(&id))
                .map(|e| e.reason.clone())
                .unwrap_or_default();
            b.entries.insert(id.clone(), Entry { id, reason });
        }
        b
    }

    /// The entries that still occur (`--prune-baseline`).
    pub fn pruned(&self, fixed: &[Entry]) -> Baseline {
        let mut b = self.clone();
        for f in fixed {
            b.entries.remove(&f.id);
        }
        b
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let p = path.display().to_string();
        let wrap = |source| BaselineError::Write {
            path: p.clone(),
            source,
        };
        let mut out = Vec::new();
        let header = Header {
            kscope_baseline: FORMAT_VERSION,
            tool: concat!("kscope ", env!("CARGO_PKG_VERSION")).into(),
        };
        let json = |r: serde_json::Result<String>| r.map_err(std::io::Error::other);
        writeln!(
            out,
            "{}",
            json(serde_json::to_string(&header)).map_err(wrap)?
        )
        .map_err(wrap)?;
        for e in self.entries.values() {
            writeln!(out, "{}", json(serde_json::to_string(e)).map_err(wrap)?).map_err(wrap)?;
        }
        std::fs::write(path, out).map_err(wrap)
    }

    /// Splits findings (by index) into new ones and known ones, and returns the entries nothing
    /// matched.
    pub fn split<'f>(
        &self,
        findings: impl IntoIterator<Item = (usize, &'f Finding)>,
    ) -> (Vec<usize>, Vec<usize>, Vec<Entry>) {
        let mut seen = std::collections::BTreeSet::new();
        let (mut new, mut known) = (Vec::new(), Vec::new());
        for (i, f) in findings {
            let id = identity(f);
            if self.entries.contains_key(&id) {
                seen.insert(id);
                known.push(i);
            } else {
                new.push(i);
            }
        }
        let fixed = self
            .entries
            .values()
            .filter(|e| !seen.contains(&e.id))
            .cloned()
            .collect();
        (new, known, fixed)
    }
}
