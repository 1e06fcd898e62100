//! Helm releases at an upgrade: a chart's `kubeVersion` constraint that excludes a hop makes Helm
//! refuse to upgrade (or reinstall) the release on the new control plane.

use crate::rules::Ctx;

/// Whether `v` (a Kubernetes release, `1.NN.0`) satisfies a Helm `kubeVersion` constraint, as
/// Helm evaluates it (Masterminds semver): `||` alternatives; within one, comparators separated
/// by commas or spaces must all hold; `a - b` hyphen ranges; `=`, `!=`, `>`, `>=`, `<`, `<=`,
/// `~`, `~>`, `^`; `x`, `X` and `*` wildcards; a leading `v`. `Err` names what could not be read.
pub fn satisfies(constraint: &str, v: &semver::Version) -> Result<bool, String> {
    let mut any = false;
    for alt in constraint.split("||") {
        let mut all = true;
        for cmp in comparators(alt)? {
            let ok = match cmp {
                Cmp::Not(x) => !req(&format!("={x}"))?.matches(v),
                Cmp::Req(r) => req(&r)?.matches(v),
            };
            all &= ok;
        }
        any |= all;
    }
    Ok(any)
}

enum Cmp {
    Req(String),
    Not(String),
}

fn req(s: &str) -> Result<semver::VersionReq, String> {
    semver::VersionReq::parse(s).map_err(|e| format!("{s:?}: {e}"))
}

/// The comparators of one alternative, each as one semver requirement (`>=1.20.0-0`).
fn comparators(alt: &str) -> Result<Vec<Cmp>, String> {
    let tokens: Vec<&str> = alt
        .split([',', ' ', '\t'])
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        // `1.2 - 1.4`: inclusive at both ends
        if tokens.get(i + 1) == Some(&"-") {
            let hi = tokens.get(i + 2).ok_or("a range without an upper end")?;
            out.push(Cmp::Req(format!(">={}", bare(t))));
            out.push(Cmp::Req(format!("<={}", bare(hi))));
            i += 3;
            continue;
        }
        // an operator written apart from its version (`>= 1.20`)
        let (op, ver) = if t.chars().all(|c| "<>=!~^".contains(c)) {
            i += 1;
            (t, *tokens.get(i).ok_or("an operator without a version")?)
        } else {
            let split = t.find(|c: char| !"<>=!~^".contains(c)).unwrap_or(t.len());
            (&t[..split], &t[split..])
        };
        let ver = bare(ver);
        out.push(match op {
            "!=" => Cmp::Not(ver),
            "=>" => Cmp::Req(format!(">={ver}")),
            "=<" => Cmp::Req(format!("<={ver}")),
            "~>" => Cmp::Req(format!("~{ver}")),
            "" => Cmp::Req(format!("={ver}")),
            op => Cmp::Req(format!("{op}{ver}")),
        });
        i += 1;
    }
    if out.is_empty() {
        return Err("an empty constraint".into());
    }
    Ok(out)
}

/// A version without its leading `v`, with Helm's wildcards as semver's.
fn bare(v: &str) -> String {
    v.trim_start_matches(['v', 'V']).replace(['x', 'X'], "*")
}

/// UP011: releases whose chart declares a `kubeVersion` that excludes the target release.
pub fn kube_version(ctx: &mut Ctx) {
    let target = ctx.target;
    let Some(Ok(releases)) = &ctx.inv.helm else {
        return;
    };
    let v = semver::Version::new(u64::from(target.major), u64::from(target.minor), 0);
    let mut found: Vec<(crate::finding::Severity, String, String, String)> = Vec::new();
    for r in releases {
        let Some(c) = &r.kube_version else { continue };
        let (sev, msg) = match satisfies(c, &v) {
            Ok(true) => continue,
            Ok(false) => (
                ctx.rule.severity,
                format!(
                    "chart {} declares kubeVersion {c:?}, which excludes {target}: Helm refuses to upgrade \
                 the release on {target} until it moves to a chart version that allows it",
                    r.chart
                ),
            ),
            // not judged: said as a warning, never a blocker kscope cannot stand behind
            Err(e) => (
                crate::finding::Severity::Warning,
                format!(
                    "chart {} declares kubeVersion {c:?}, which kscope cannot read ({e}): check by hand \
                 that it allows every hop",
                    r.chart
                ),
            ),
        };
        found.push((sev, format!("HelmRelease/{}", r.id()), r.origin(), msg));
    }
    for (sev, name, origin, msg) in found {
        ctx.report_at(sev, name, origin, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        satisfies(c, &semver::Version::parse(v).unwrap()).unwrap()
    }

    #[test]
    fn helm_constraints_as_helm_reads_them() {
        // the pre-release-friendly form charts use so that EKS's v1.30.2-eks-… matches
        assert!(ok(">=1.20.0-0", "1.36.0"));
        assert!(ok(">= 1.20.0-0 < 1.36.0-0", "1.35.0"));
        assert!(!ok(">= 1.20.0-0 < 1.36.0-0", "1.36.0"));
        assert!(ok(">=1.20.0, <1.36.0", "1.35.0"));
        assert!(!ok(">=1.20.0, <1.36.0", "1.36.0"));
        assert!(ok("<1.25.0 || >=1.30.0", "1.36.0"));
        assert!(!ok("<1.25.0 || >=1.37.0", "1.36.0"));
        assert!(ok("1.25 - 1.36", "1.36.0"));
        assert!(!ok("1.25 - 1.35", "1.36.0"));
        assert!(ok("~1.36", "1.36.0"));
        assert!(!ok("~1.35", "1.36.0"));
        assert!(ok("^1.20", "1.36.0"));
        assert!(ok("1.x", "1.36.0"));
        assert!(ok(">=v1.20", "1.36.0"));
        assert!(!ok("!=1.36.0", "1.36.0"));
        assert!(ok("=> 1.30", "1.36.0"));
        assert!(satisfies(">= banana", &semver::Version::new(1, 36, 0)).is_err());
    }
}
