//! Suppressions on objects: the annotation `kscope.io/ignore: "WH001,WH009: reason"` (codes or rule
//! names, comma-separated, then a reason after the first colon). A suppression without a reason
//! still suppresses, but is reported itself (KS001); one that suppressed nothing in the run is
//! reported as unused (KS002), so stale ignores get cleaned up.

use crate::catalogue::Described;
use crate::finding::{Finding, Location, ObjectRef, Severity, Subject};
use crate::inventory::Obj;

pub const ANNOTATION: &str = "kscope.io/ignore";
pub const NO_REASON: &str = "KS001";
pub const UNUSED: &str = "KS002";

/// One `kscope.io/ignore` annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The annotated object, and how findings name it.
    pub object: ObjectRef,
    pub display: String,
    pub location: Option<Location>,
    /// Codes or names (`*` for every rule).
    pub selectors: Vec<String>,
    pub reason: Option<String>,
    /// Findings it suppressed in this run.
    pub used: usize,
}

/// Splits an annotation value into selectors and reason.
pub fn parse(value: &str) -> (Vec<String>, Option<String>) {
    let (sels, reason) = match value.split_once(':') {
        Some((s, r)) => (s, Some(r.trim().to_string()).filter(|r| !r.is_empty())),
        None => (value, None),
    };
    let selectors = sels
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    (selectors, reason)
}

impl Suppression {
    /// The suppression an object carries, if any.
    pub fn of(obj: &Obj) -> Option<Suppression> {
        let v = obj.annotation(ANNOTATION)?;
        let (selectors, reason) = parse(v);
        Some(Suppression {
            object: obj.reference(),
            display: obj.display(),
            location: obj.span.clone(),
            selectors,
            reason,
            used: 0,
        })
    }

    fn covers(&self, f: &Finding) -> bool {
        f.object
            .as_ref()
            .is_some_and(|o| same_object(o, &self.object))
            && self.selectors.iter().any(|s| {
                s == "*" || s.eq_ignore_ascii_case(&f.code) || s.eq_ignore_ascii_case(&f.name)
            })
    }
}

/// The same object read from the same place (labels aside: they are not its identity).
fn same_object(a: &ObjectRef, b: &ObjectRef) -> bool {
    a.kind == b.kind && a.namespace == b.namespace && a.name == b.name && a.origin == b.origin
}

/// The first suppression that covers `f` (counted as used), as the reason to show.
pub fn matching(sups: &mut [Suppression], f: &Finding) -> Option<String> {
    let s = sups.iter_mut().find(|s| s.covers(f))?;
    s.used += 1;
    Some(format!(
        "{ANNOTATION} on {}: {}",
        s.display,
        s.reason.as_deref().unwrap_or("(no reason given)")
    ))
}

fn meta(
    code: &str,
    rules: &[Described],
    severity: Severity,
    s: &Suppression,
    message: String,
) -> Finding {
    let d = rules.iter().find(|d| d.code == code);
    Finding {
        code: code.into(),
        name: d.map(|d| d.name.clone()).unwrap_or_default(),
        severity,
        subject: Subject {
            name: s.display.clone(),
            origin: s.object.origin.clone(),
        },
        message,
        remediation: d.map(|d| d.remediation.clone()).unwrap_or_default(),
        reference: d.and_then(|d| d.help_uri.clone()),
        location: s.location.clone(),
        object: Some(s.object.clone()),
    }
}

/// KS001 for every suppression without a reason, KS002 for every one that suppressed nothing.
pub fn findings(sups: &[Suppression], rules: &[Described]) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in sups {
        let what = s.selectors.join(",");
        if s.reason.is_none() {
            out.push(meta(
                NO_REASON,
                rules,
                Severity::Warning,
                s,
                format!("{ANNOTATION} \"{what}\" gives no reason: write why after a colon"),
            ));
        }
        if s.used == 0 {
            out.push(meta(
                UNUSED,
                rules,
                Severity::Info,
                s,
                format!("{ANNOTATION} \"{what}\" suppressed nothing in this run: remove it"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selectors_and_reason() {
        assert_eq!(
            parse("WH001,WH009: the webhook is only in the staging overlay"),
            (
                vec!["WH001".to_string(), "WH009".to_string()],
                Some("the webhook is only in the staging overlay".to_string())
            )
        );
        assert_eq!(parse("WH001"), (vec!["WH001".to_string()], None));
        assert_eq!(
            parse("WH001, AP002 :  "),
            (vec!["WH001".into(), "AP002".into()], None)
        );
    }
}
