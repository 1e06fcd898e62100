//! The CI gate: what happens to findings between an engine and the exit code. Suppressions
//! (`kscope.io/ignore` annotations and the config file's ignores), severity overrides, baselines
//! (gate only on new findings), and a finding's identity across runs, which baselines and SARIF
//! fingerprints share.

pub mod baseline;
pub mod config;
pub mod suppress;

use serde::Serialize;

use crate::catalogue::Described;
use crate::finding::Finding;
use crate::inventory::Inventory;

/// A finding's identity across runs: its code, the file it is in (not the line), its subject and
/// its message with every number replaced, so that reformatting a file, moving an object or a
/// change in traffic does not make an old finding new.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct Identity {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub subject: String,
    pub key: String,
}

/// The message without counts, rates, thresholds, versions, window lengths or line numbers: every
/// number (`30`, `30.1`) and every value not computed (`n/a`) is `#`, and a window's length
/// (`# s`, `# min`, `# h`, `# d`) is `#`, so that the same problem seen over a shorter or longer
/// window, or with other counts, keeps its identity.
pub fn message_key(message: &str) -> String {
    static NUMBER: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"[0-9]+").ok());
    match NUMBER.as_ref() {
        Some(number) => normalize_key(&number.replace_all(message, "#")),
        None => message.to_string(),
    }
}

/// A key whose numbers are already `#` in the form [`message_key`] gives: `#.#` and `n/a` are `#`,
/// a window length is `#`. Keys of baselines written by earlier versions (`#.#`) read the same.
pub fn normalize_key(key: &str) -> String {
    static DECIMAL: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"#(\.#)+|\bn/a\b").ok());
    static WINDOW: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"# (s|min|h|d)\b").ok());
    let (Some(decimal), Some(window)) = (DECIMAL.as_ref(), WINDOW.as_ref()) else {
        return key.to_string();
    };
    let numbers = decimal.replace_all(key, "#");
    window.replace_all(&numbers, "#").into_owned()
}

pub fn identity(f: &Finding) -> Identity {
    Identity {
        code: f.code.clone(),
        file: f.location.as_ref().map(|l| l.file.clone()),
        subject: f.subject.name.clone(),
        key: message_key(&f.message),
    }
}

/// A stable hex fingerprint of a finding's identity (FNV-1a, 64 bits): SARIF's
/// `partialFingerprints`, the same when the object moves within its file.
pub fn fingerprint(f: &Finding) -> String {
    let id = identity(f);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        id.code.as_str(),
        id.file.as_deref().unwrap_or(""),
        id.subject.as_str(),
        id.key.as_str(),
    ] {
        for b in part.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// What the gate needs from the scanned inventories: the `kscope.io/ignore` annotations (every
/// one, so that unused ones are reported). Findings carry their own object
/// ([`crate::finding::ObjectRef`]); nothing is looked up by display strings.
#[derive(Debug, Default)]
pub struct Objects {
    pub suppressions: Vec<suppress::Suppression>,
}

impl Objects {
    pub fn from_inventories(invs: &[&Inventory]) -> Objects {
        Objects {
            suppressions: invs
                .iter()
                .flat_map(|inv| inv.all())
                .filter_map(suppress::Suppression::of)
                .collect(),
        }
    }
}

/// Counts for people: what the gate held back, and what the baseline says.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Findings suppressed by annotations or the config file.
    pub suppressed: usize,
    /// Findings already in the baseline (shown with --show-suppressed, never failing the run).
    pub baselined: usize,
    /// Baseline entries that no longer occur.
    pub fixed: usize,
    /// Whether a baseline was used (then `new` is meaningful).
    pub baseline: bool,
    /// Findings not in the baseline.
    pub new: usize,
}

/// The findings after the gate: every finding it saw, once, and what it made of each, by index.
#[derive(Debug, Default)]
pub struct Gated {
    /// The engine's findings (severity overrides applied) and the suppressions' own.
    pub all: Vec<Finding>,
    /// Shown and judged by `--fail-on`, in the one finding order.
    pub shown: Vec<usize>,
    /// Held back by a suppression (annotation or config), with why.
    pub suppressed: Vec<(usize, String)>,
    /// Already in the baseline.
    pub baselined: Vec<usize>,
    /// Baseline entries no finding matched.
    pub fixed: Vec<baseline::Entry>,
    pub summary: Summary,
}

impl Gated {
    /// The findings shown, in order.
    pub fn findings(&self) -> Vec<&Finding> {
        self.shown.iter().map(|&i| &self.all[i]).collect()
    }

    pub fn suppressed(&self) -> Vec<(&Finding, &str)> {
        self.suppressed
            .iter()
            .map(|(i, why)| (&self.all[*i], why.as_str()))
            .collect()
    }

    pub fn baselined(&self) -> Vec<&Finding> {
        self.baselined.iter().map(|&i| &self.all[i]).collect()
    }
}

/// Everything the gate applies, gathered by the command.
#[derive(Debug, Default)]
pub struct Gate {
    pub config: config::Config,
    pub objects: Objects,
    pub baseline: Option<baseline::Baseline>,
}

impl Gate {
    /// Runs the findings through severity overrides, ignores, annotations and the baseline, and
    /// adds the suppressions' own findings (KS001 without a reason, KS002 unused).
    pub fn apply(&mut self, findings: Vec<Finding>, meta_rules: &[Described]) -> Gated {
        let mut out = Gated {
            all: findings,
            ..Gated::default()
        };
        let mut kept = Vec::new();
        for (i, f) in out.all.iter_mut().enumerate() {
            if let Some(s) = self.config.severity_for(&f.code) {
                f.severity = s;
            }
            let why = self
                .config
                .ignores(f)
                .or_else(|| suppress::matching(&mut self.objects.suppressions, f));
            match why {
                Some(why) => out.suppressed.push((i, why)),
                None => kept.push(i),
            }
        }
        for f in suppress::findings(&self.objects.suppressions, meta_rules) {
            kept.push(out.all.len());
            out.all.push(f);
        }
        match &self.baseline {
            Some(b) => {
                let (new, known, fixed) = b.split(kept.iter().map(|&i| (i, &out.all[i])));
                out.summary.baseline = true;
                out.shown = new;
                out.baselined = known;
                out.fixed = fixed;
            }
            None => out.shown = kept,
        }
        out.shown = crate::finding::order(&out.all, std::mem::take(&mut out.shown));
        out.summary.new = if out.summary.baseline {
            out.shown.len()
        } else {
            0
        };
        out.summary.suppressed = out.suppressed.len();
        out.summary.baselined = out.baselined.len();
        out.summary.fixed = out.fixed.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Location, Severity, Subject};

    fn f(message: &str, line: usize) -> Finding {
        Finding {
            code: "WH004".into(),
            name: "webhook-timeout-above-10s".into(),
            severity: Severity::Warning,
            subject: Subject {
                name: "ValidatingWebhookConfiguration/x".into(),
                origin: format!("a.yaml:{line}"),
            },
            message: message.into(),
            remediation: String::new(),
            reference: None,
            location: Some(Location {
                file: "a.yaml".into(),
                start_line: line,
                end_line: line + 20,
            }),
            object: None,
        }
    }

    #[test]
    fn identity_ignores_numbers_and_lines() {
        let a = f("timeoutSeconds 25 is above 10", 3);
        let b = f("timeoutSeconds 30 is above 10", 40);
        assert_eq!(identity(&a), identity(&b));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = f("timeoutSeconds 25 is above the limit", 3);
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(message_key("v1.25 in 3 of 12"), "v# in # of #");
        // the same problem over another window and with other counts
        assert_eq!(
            message_key("30 LISTs in 60 min (30.1 per hour, p99 n/a ms); threshold 5 in 60 min"),
            message_key("15 LISTs in 1.5 h (10 per hour, p99 4.2 ms); threshold 8 in 1.5 h")
        );
        assert_ne!(message_key("in 3 min"), message_key("in 3 mins of"));
        assert_eq!(message_key("9 short watches"), "# short watches");
        // a key an earlier version wrote reads as today's
        assert_eq!(
            normalize_key("p#.# latency of # LISTs"),
            message_key("p99.5 latency of 3 LISTs")
        );
        assert_eq!(normalize_key(&message_key("x 1.2.3 y")), "x # y");
    }
}

/// What one rule or query checked (the subjects it looked at), or why it was skipped: JUnit's
/// test cases, so that dashboards count passes too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub code: String,
    pub name: String,
    pub subjects: Vec<String>,
    pub skipped: Option<String>,
}
