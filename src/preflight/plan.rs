//! The upgrade (or rollback) plan: from the current version to the target, one minor version per
//! hop, and the release kscope's catalogue is reviewed through.

use serde::Serialize;

use crate::inventory::Version;
use crate::rules::apis;

/// The upgrade: from the current version to the target, one minor version per hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub from: Version,
    pub target: Version,
    pub hops: Vec<Version>,
    /// The newest release kscope's catalogue is reviewed through: hops after it are judged as far
    /// as the data goes and end UNKNOWN, never READY.
    pub reviewed: Version,
    /// A rollback of the control plane to `target` (one minor below `from`), not an upgrade.
    pub rollback: bool,
}

/// Releases past the reviewed one a plan may reach (the horizon of announced API removals).
pub const BEYOND_REVIEWED: u32 = 6;

impl Plan {
    /// Validates the versions against what kscope knows (1.16 to the API table's newest release;
    /// targets up to [`BEYOND_REVIEWED`] releases past it are planned, their hops UNKNOWN).
    pub fn new(from: Version, target: Version) -> Result<Plan, String> {
        let newest = apis::table().map_err(|e| e.to_string())?.newest;
        let known = format!(
            "kscope knows Kubernetes {} to {newest} (and plans up to {} with those hops UNKNOWN)",
            apis::OLDEST,
            Version::new(1, newest.minor + BEYOND_REVIEWED)
        );
        let knows = |v: Version| v.major == 1 && v >= apis::OLDEST && v <= newest;
        if !(target.major == 1
            && target >= apis::OLDEST
            && target.minor <= newest.minor + BEYOND_REVIEWED)
        {
            return Err(format!("--target-version {target} is unknown: {known}"));
        }
        if !knows(from) {
            return Err(format!("the current version {from} is unknown: {known}"));
        }
        if target <= from {
            return Err(format!(
                "--target-version {target} is not newer than the current version {from}: {known}; \
                 name a newer one (the control plane cannot be downgraded)"
            ));
        }
        Ok(Plan {
            from,
            target,
            hops: (from.minor + 1..=target.minor)
                .map(|m| Version::new(1, m))
                .collect(),
            reviewed: newest,
            rollback: false,
        })
    }

    /// A rollback from `from` to `to`: one minor version down (what a managed control plane
    /// allows), one hop.
    pub fn rollback(from: Version, to: Version) -> Result<Plan, String> {
        let newest = apis::table().map_err(|e| e.to_string())?.newest;
        if to.major != from.major || to.minor + 1 != from.minor {
            return Err(format!(
                "--rollback-to {to}: a control plane rolls back one minor version, from {from} to {}",
                Version::new(from.major, from.minor.saturating_sub(1))
            ));
        }
        if from > newest || to < apis::OLDEST {
            return Err(format!(
                "--rollback-to {to}: kscope knows Kubernetes {} to {newest}",
                apis::OLDEST
            ));
        }
        Ok(Plan {
            from,
            target: to,
            hops: vec![to],
            reviewed: newest,
            rollback: true,
        })
    }
}
