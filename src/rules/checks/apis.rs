//! Deprecated and removed API versions, from the table in `rules/api-removals.yaml`.

use crate::finding::Severity;
use crate::inventory::Obj;
use crate::rules::Ctx;
use crate::rules::apis::{ApiState, Stage, judge, lookup, written_versions};

/// The apiVersions an object is known by: as written (manifests), or for live objects the versions
/// its last writers used.
fn versions_of(obj: &Obj, live: bool) -> Vec<(String, &'static str)> {
    if live {
        written_versions(obj)
    } else {
        vec![(obj.api_version.clone(), "")]
    }
}

/// DA001, DA002: objects written in an API version that is removed (`state: removed`) or only
/// deprecated (`state: deprecated`) at the target version.
pub fn api_version(ctx: &mut Ctx) {
    let state = ctx.text("state");
    let target = ctx.target;
    let current = ctx.inv.server_version;
    let live = ctx.inv.live;
    let objs: Vec<&Obj> = ctx.inv.all().collect();
    for obj in objs {
        for (v, via) in versions_of(obj, live) {
            let Some(r) = lookup(&v, &obj.kind) else {
                continue;
            };
            // the control plane's own objects (LeaseCandidate) are not the users' to migrate
            if live && r.control_plane_writes {
                continue;
            }
            let Some((judged, what)) = judge(r, current, target) else {
                continue;
            };
            if judged.check_state() != state {
                continue;
            }
            let mut sev = ctx.rule.severity;
            let mut note = String::new();
            match judged {
                ApiState::Removed { .. } => {
                    if let (Some(cur), Some(since)) = (current, r.since) {
                        if since > cur {
                            note = format!(
                                "; the cluster ({cur}) does not serve the replacement yet (from {since}): upgrade in steps"
                            );
                        }
                    }
                }
                ApiState::DeprecatedNoReplacement => {}
                // an alpha version is deprecated three releases after it appears, by rule
                ApiState::Deprecated => {
                    sev = ctx.rule.severity.min(match r.stage {
                        Stage::Alpha => Severity::Info,
                        Stage::Beta => Severity::Warning,
                    });
                }
            }
            let seen = if via.is_empty() {
                String::new()
            } else {
                format!(" (seen in {via}; approximate: the last writer used it)")
            };
            let msg = format!(
                "{} {}{} {what} (target {target}){seen}; {}{note}",
                v,
                obj.kind,
                r.stage_note(),
                r.migration()
            );
            ctx.report_as(sev, obj, msg);
        }
    }
}

/// DA003: objects in an API version (or of a kind) the target release does not serve yet: a
/// manifest that cannot be applied there, or, after a rollback, stored objects the older control
/// plane cannot read and clients that get 404s.
pub fn not_yet_served(ctx: &mut Ctx) {
    let target = ctx.target;
    let live = ctx.inv.live;
    let objs: Vec<&Obj> = ctx.inv.all().collect();
    for obj in objs {
        let msg = if live {
            // a live object is read in the server's preferred version: what matters is whether
            // the older release serves the kind at all
            match crate::rules::apis::kind_first_served(&obj.api_version, &obj.kind) {
                Some(first) if first > target => format!(
                    "{} objects are served from {first} only: the control plane of {target} serves no version of the kind, so the stored objects cannot be read or changed there",
                    obj.kind
                ),
                _ => continue,
            }
        } else {
            match crate::rules::apis::introduced(&obj.api_version, &obj.kind) {
                Some(first) if first > target => format!(
                    "{} {} is served from {first} only: the control plane of {target} does not serve it",
                    obj.api_version, obj.kind
                ),
                _ => continue,
            }
        };
        ctx.report(obj, msg);
    }
}
