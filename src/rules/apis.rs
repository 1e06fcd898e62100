//! The API removal table (`rules/data/api-removals.yaml`): which group/version/kinds are deprecated or
//! removed in which Kubernetes release, and what replaces them.

use std::sync::LazyLock;

use serde::Deserialize;

use super::{RuleError, data};
use crate::inventory::Version;

const FILE: &str = "api-removals.yaml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableDoc {
    newest: String,
    removals: Vec<RowDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RowDoc {
    api_version: String,
    kind: String,
    deprecated: String,
    #[serde(default)]
    removed: Option<String>,
    #[serde(default)]
    replacement: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    stage: Option<Stage>,
    #[serde(default)]
    written_by: Option<Writer>,
}

/// How mature the version is: alpha versions are off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Alpha,
    #[default]
    Beta,
}

/// Who writes objects of the kind, when not the cluster's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Writer {
    ControlPlane,
}

/// One deprecated group/version/kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub api_version: String,
    pub kind: String,
    pub deprecated: Version,
    pub removed: Option<Version>,
    pub replacement: Option<String>,
    /// First release serving the replacement.
    pub since: Option<Version>,
    pub stage: Stage,
    /// The control plane writes objects of this kind itself (nothing for users to migrate).
    pub control_plane_writes: bool,
}

/// The parsed table.
#[derive(Debug)]
pub struct Table {
    /// The newest Kubernetes release the table knows (the default target for files).
    pub newest: Version,
    pub rows: Vec<Removal>,
}

fn load() -> Result<Table, RuleError> {
    let def = |msg: String| RuleError::Definition {
        file: format!("rules/data/{FILE}"),
        msg,
    };
    let doc: TableDoc = data::load(FILE)?;
    let ver = |s: &str| Version::parse(s).ok_or_else(|| def(format!("bad version {s:?}")));
    let mut rows = Vec::new();
    for r in doc.removals {
        rows.push(Removal {
            deprecated: ver(&r.deprecated)?,
            removed: r.removed.as_deref().map(ver).transpose()?,
            since: r.since.as_deref().map(ver).transpose()?,
            api_version: r.api_version,
            kind: r.kind,
            replacement: r.replacement,
            stage: r.stage.unwrap_or_default(),
            control_plane_writes: r.written_by == Some(Writer::ControlPlane),
        });
    }
    Ok(Table {
        newest: ver(&doc.newest)?,
        rows,
    })
}

static TABLE: LazyLock<Result<Table, String>> = LazyLock::new(|| load().map_err(|e| e.to_string()));

pub fn table() -> Result<&'static Table, RuleError> {
    TABLE.as_ref().map_err(|e| RuleError::Definition {
        file: format!("rules/data/{FILE}"),
        msg: e.clone(),
    })
}

impl Removal {
    /// The API group ("" for the core group) and version of the row.
    pub fn group_version(&self) -> (&str, &str) {
        self.api_version
            .split_once('/')
            .unwrap_or(("", self.api_version.as_str()))
    }

    /// The resource (plural) audit events and `/metrics` name the kind by.
    pub fn resource(&self) -> String {
        resource_of(&self.kind)
    }

    /// What to do: `migrate to networking.k8s.io/v1 (served since 1.19)`.
    pub fn migration(&self) -> String {
        match (&self.replacement, self.since) {
            (Some(rep), Some(s)) => format!("migrate to {rep} (served since {s})"),
            (Some(rep), None) => format!("migrate to {rep}"),
            (None, _) if self.control_plane_writes => format!(
                "the control plane writes {} objects itself: nothing to migrate, do not write them",
                self.kind
            ),
            (None, _) => "no replacement API exists".to_string(),
        }
    }

    /// `alpha: off by default, served only where enabled; ` for alpha versions.
    pub fn stage_note(&self) -> &'static str {
        match self.stage {
            Stage::Alpha => " (alpha: off by default, served only where the cluster enabled it)",
            Stage::Beta => "",
        }
    }

    /// Whether the version is no longer served at `v`.
    pub fn removed_at(&self, v: Version) -> bool {
        self.removed.is_some_and(|r| r <= v)
    }
}

/// What a deprecated API means for a move from `from` (when known) to `target`: the one
/// judgement `lint` (DA001, DA002) and `preflight` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiState {
    /// Not served at `target`: removed in `at` (at or before it).
    Removed { at: Version },
    /// Deprecated at `target` with nothing to migrate to: act now, although still served.
    DeprecatedNoReplacement,
    /// Deprecated at `target`, still served.
    Deprecated,
}

impl ApiState {
    /// The `state` parameter of the api-version check that reports it (`removed`: DA001,
    /// `deprecated`: DA002).
    pub fn check_state(&self) -> &'static str {
        match self {
            ApiState::Removed { .. } | ApiState::DeprecatedNoReplacement => "removed",
            ApiState::Deprecated => "deprecated",
        }
    }
}

/// Judges `r` for `target` (coming from `from`): its state and what to say of it
/// (`is removed in 1.25`, `is already not served by 1.26 (removed in 1.25)`, `is deprecated
/// since 1.29, removed in 1.32`). `None`: nothing to say at `target`.
pub fn judge(r: &Removal, from: Option<Version>, target: Version) -> Option<(ApiState, String)> {
    // the wording is part of a finding's identity (baselines, SARIF fingerprints): kept as each
    // command has always said it, with and without a known current version
    match r.removed {
        Some(rem) if rem <= target => {
            let what = match from {
                Some(f) if rem <= f => format!("is already not served by {f} (removed in {rem})"),
                Some(_) => format!("is removed in {rem}"),
                None => format!("is no longer served from {rem}"),
            };
            Some((ApiState::Removed { at: rem }, what))
        }
        _ if r.deprecated > target => None,
        removed => {
            let what = match (from, removed) {
                (None, _) => format!("is deprecated since {}", r.deprecated),
                (Some(_), Some(rem)) => {
                    format!("is deprecated since {}, removed in {rem}", r.deprecated)
                }
                (Some(_), None) => format!(
                    "is deprecated since {} (no removal announced)",
                    r.deprecated
                ),
            };
            let state = if r.replacement.is_none() && !r.control_plane_writes {
                ApiState::DeprecatedNoReplacement
            } else {
                ApiState::Deprecated
            };
            Some((state, what))
        }
    }
}

/// The resource name of a built-in kind: lower case, plural (`NetworkPolicy` → `networkpolicies`,
/// `Ingress` → `ingresses`). Every kind of the removal table follows these rules.
pub fn resource_of(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if let Some(stem) = k.strip_suffix('y') {
        format!("{stem}ies")
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

/// The oldest Kubernetes release the table covers (removals before it are not listed).
pub const OLDEST: Version = Version::new(1, 16);

/// The row for an audit request's group, version and resource, if that version is deprecated.
pub fn lookup_resource(group: &str, version: &str, resource: &str) -> Option<&'static Removal> {
    table().ok()?.rows.iter().find(|r| {
        let (g, v) = r.group_version();
        g == group && v == version && r.resource() == resource
    })
}

/// The apiVersions the last writers of a live object used, with where that was seen: its
/// `managedFields` and kubectl's last-applied configuration. Approximate ("may be stale"): a live
/// object is always served under the version it was read through.
pub fn written_versions(obj: &crate::inventory::Obj) -> Vec<(String, &'static str)> {
    use serde_json::Value;
    let mut out = std::collections::BTreeSet::new();
    if let Some(mf) = obj.get("metadata.managedFields").and_then(Value::as_array) {
        for m in mf {
            if let Some(v) = m.get("apiVersion").and_then(Value::as_str) {
                out.insert((v.to_string(), "managedFields"));
            }
        }
    }
    if let Some(la) = obj.annotation("kubectl.kubernetes.io/last-applied-configuration") {
        if let Some(v) = serde_json::from_str::<Value>(la).ok().and_then(|v| {
            v.get("apiVersion")
                .and_then(Value::as_str)
                .map(String::from)
        }) {
            out.insert((v, "last-applied-configuration"));
        }
    }
    out.into_iter().collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IntroducedRow {
    api_version: String,
    kind: String,
    release: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntroducedDoc {
    introduced: Vec<IntroducedRow>,
}

/// (apiVersion, kind, the release that introduced it).
type Introduced = (String, String, Version);

static INTRODUCED: LazyLock<Result<Vec<Introduced>, String>> = LazyLock::new(|| {
    let doc: IntroducedDoc = data::load("api-introduced.yaml").map_err(|e| e.to_string())?;
    doc.introduced
        .into_iter()
        .map(|r| {
            Version::parse(&r.release)
                .map(|v| (r.api_version, r.kind, v))
                .ok_or_else(|| format!("api-introduced.yaml: bad release {:?}", r.release))
        })
        .collect()
});

/// The release that introduced `api_version` of `kind` (from 1.20; older ones are `None`).
pub fn introduced(api_version: &str, kind: &str) -> Option<Version> {
    INTRODUCED
        .as_ref()
        .ok()?
        .iter()
        .find(|(av, k, _)| av == api_version && k == kind)
        .map(|(_, _, v)| *v)
}

/// The first release that served any version of `kind` in the group of `api_version` (`None`
/// when the kind is older than the table).
pub fn kind_first_served(api_version: &str, kind: &str) -> Option<Version> {
    let group = |av: &str| {
        av.rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default()
    };
    let g = group(api_version);
    let rows = INTRODUCED.as_ref().ok()?;
    let mine: Vec<Version> = rows
        .iter()
        .filter(|(av, k, _)| k == kind && group(av) == g)
        .map(|(_, _, v)| *v)
        .collect();
    // a kind with a version older than the table (absent from it) was served before 1.20
    let known_old = table().ok().is_some_and(|t| {
        t.rows
            .iter()
            .any(|r| r.kind == kind && group(&r.api_version) == g && r.deprecated.minor < 20)
    });
    if known_old {
        None
    } else {
        mine.into_iter().min()
    }
}

/// The row for an apiVersion and kind, if that version is deprecated.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static Removal> {
    table()
        .ok()?
        .rows
        .iter()
        .find(|r| r.api_version == api_version && r.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::Resource;

    /// The replacement of `kind`'s rows must be the apiVersion k8s-openapi (Kubernetes 1.33) serves it in.
    fn replacement_is<T: Resource>() {
        let rows: Vec<&Removal> = table()
            .unwrap()
            .rows
            .iter()
            .filter(|r| r.kind == T::KIND)
            .collect();
        assert!(!rows.is_empty(), "no rows for {}", T::KIND);
        for r in rows {
            assert_eq!(
                r.replacement.as_deref(),
                Some(T::API_VERSION),
                "{} {}",
                r.api_version,
                r.kind
            );
        }
    }

    /// The snapshot of the upstream lifecycle tags: (apiVersion, kind) → (deprecated, removed,
    /// replacement apiVersion, subresource or payload).
    fn upstream() -> Vec<(String, String, String, String, Option<String>, bool)> {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/upstream/k8s-api-lifecycle.tsv"),
        )
        .unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("group\t") && !l.trim().is_empty())
            .map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                let av = |g: &str, v: &str| {
                    if g.is_empty() {
                        v.to_string()
                    } else {
                        format!("{g}/{v}")
                    }
                };
                let rep = c.get(6).filter(|r| !r.is_empty()).map(|r| {
                    let p: Vec<&str> = r.split('/').collect();
                    match p.as_slice() {
                        [g, v, _] => av(g, v),
                        [v, _] => v.to_string(),
                        _ => r.to_string(),
                    }
                });
                let payload = matches!(
                    c[2],
                    "AdmissionReview" | "ConversionReview" | "APIGroupDiscovery"
                );
                (
                    av(c[0], c[1]),
                    c[2].to_string(),
                    c[4].to_string(),
                    c[5].to_string(),
                    rep,
                    c.get(7) == Some(&"true") || payload,
                )
            })
            .collect()
    }

    #[test]
    fn table_agrees_with_the_upstream_lifecycle_tags_row_by_row() {
        let t = table().unwrap();
        let up = upstream();
        assert!(up.len() > 80, "{} rows", up.len());
        // the replacement chain upstream names, to the version it ends in
        let chain_ends_in = |from: &str, kind: &str, want: &str| {
            let mut at = from.to_string();
            for _ in 0..5 {
                if at == want {
                    return true;
                }
                match up
                    .iter()
                    .find(|u| u.0 == at && u.1 == kind)
                    .and_then(|u| u.4.clone())
                {
                    Some(next) => at = next,
                    None => return false,
                }
            }
            false
        };
        for (av, kind, dep, rem, rep, skipped) in &up {
            let row = lookup(av, kind);
            if *skipped {
                assert!(
                    row.is_none(),
                    "{av} {kind} is a subresource or payload type"
                );
                continue;
            }
            let r = row.unwrap_or_else(|| panic!("{av} {kind} is missing from the table"));
            assert_eq!(r.deprecated.to_string(), *dep, "{av} {kind}: deprecated");
            assert_eq!(
                r.removed.map(|v| v.to_string()).unwrap_or_default(),
                *rem,
                "{av} {kind}: removed"
            );
            match (rep, &r.replacement) {
                (Some(u), Some(mine)) => assert!(
                    u == mine || chain_ends_in(u, kind, mine),
                    "{av} {kind}: replacement {mine}, upstream {u}"
                ),
                (Some(u), None) => panic!("{av} {kind}: upstream names {u} as the replacement"),
                // upstream tags none: the table may name the GA version, which must exist as a
                // version of the kind that is not deprecated
                (None, Some(mine)) => assert!(
                    lookup(mine, kind).is_none()
                        && !mine.contains("alpha")
                        && !mine.contains("beta"),
                    "{av} {kind}: replacement {mine}"
                ),
                (None, None) => {}
            }
            assert_eq!(
                r.stage == Stage::Alpha,
                av.contains("alpha"),
                "{av} {kind}: stage"
            );
        }
        // every row of the table is upstream, or was removed before the snapshot's tree
        for r in &t.rows {
            let known = up.iter().any(|u| u.0 == r.api_version && u.1 == r.kind);
            let deleted = [
                ("autoscaling/v2beta1", "HorizontalPodAutoscaler"),
                ("autoscaling/v2beta2", "HorizontalPodAutoscaler"),
                ("policy/v1beta1", "PodSecurityPolicy"),
                ("extensions/v1beta1", "PodSecurityPolicy"),
            ]
            .contains(&(r.api_version.as_str(), r.kind.as_str()));
            assert!(
                known || deleted,
                "{} {} is not in the snapshot",
                r.api_version,
                r.kind
            );
        }
    }

    #[test]
    fn introduced_releases_from_the_lifecycle_tags() {
        assert_eq!(
            introduced("certificates.k8s.io/v1", "ClusterTrustBundle"),
            Some(Version::new(1, 37))
        );
        assert_eq!(introduced("apps/v1", "Deployment"), None);
        // ClusterTrustBundle was served (alpha) from 1.26, so a rollback to 1.36 keeps the kind
        assert_eq!(
            kind_first_served("certificates.k8s.io/v1", "ClusterTrustBundle"),
            Some(Version::new(1, 26))
        );
        assert_eq!(
            kind_first_served("scheduling.k8s.io/v1beta1", "Workload"),
            Some(Version::new(1, 37))
        );
    }

    #[test]
    fn kinds_the_control_plane_writes_are_not_migrated_and_alpha_is_said() {
        let lc = lookup("coordination.k8s.io/v1beta1", "LeaseCandidate").unwrap();
        assert!(lc.control_plane_writes && lc.replacement.is_none());
        assert!(
            lc.migration()
                .contains("the control plane writes LeaseCandidate objects itself")
        );
        let map = lookup(
            "admissionregistration.k8s.io/v1alpha1",
            "MutatingAdmissionPolicy",
        )
        .unwrap();
        assert_eq!(map.stage, Stage::Alpha);
        assert!(map.stage_note().contains("off by default"));
        let beta = lookup(
            "admissionregistration.k8s.io/v1beta1",
            "MutatingAdmissionPolicy",
        )
        .unwrap();
        assert_eq!(beta.stage_note(), "");
        // subresource types are not rows
        assert!(lookup("policy/v1beta1", "Eviction").is_none());
    }

    #[test]
    fn resources_follow_the_kind_table() {
        for k in crate::inventory::kinds::KINDS {
            assert_eq!(resource_of(k.kind), k.plural, "{}", k.kind);
        }
        assert_eq!(resource_of("PodSecurityPolicy"), "podsecuritypolicies");
        assert_eq!(resource_of("Event"), "events");
        let r = lookup_resource("extensions", "v1beta1", "ingresses").unwrap();
        assert_eq!(r.kind, "Ingress");
        assert!(lookup_resource("apps", "v1", "deployments").is_none());
    }

    #[test]
    fn table_is_consistent_and_matches_k8s_openapi() {
        let t = table().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for r in &t.rows {
            assert!(
                seen.insert((&r.api_version, &r.kind)),
                "duplicate row {} {}",
                r.api_version,
                r.kind
            );
            assert!(
                r.removed.is_none_or(|x| r.deprecated < x),
                "{} {}",
                r.api_version,
                r.kind
            );
            // announced removals lie up to six releases past the newest (a beta introduced in it)
            assert!(r.removed.is_none_or(|x| x.minor <= t.newest.minor + 6));
            assert_eq!(
                r.replacement.is_some(),
                r.since.is_some(),
                "{} {}",
                r.api_version,
                r.kind
            );
        }
        use k8s_openapi::api as a;
        replacement_is::<a::policy::v1::PodDisruptionBudget>();
        replacement_is::<a::batch::v1::CronJob>();
        replacement_is::<a::autoscaling::v2::HorizontalPodAutoscaler>();
        replacement_is::<a::flowcontrol::v1::FlowSchema>();
        replacement_is::<a::flowcontrol::v1::PriorityLevelConfiguration>();
        replacement_is::<a::discovery::v1::EndpointSlice>();
        replacement_is::<a::storage::v1::CSIStorageCapacity>();
        replacement_is::<a::admissionregistration::v1::ValidatingAdmissionPolicy>();
        replacement_is::<a::networking::v1::IPAddress>();
        // Still served by 1.33 (k8s-openapi's earliest), so removed after it.
        for (av, kind) in [
            (<a::admissionregistration::v1beta1::ValidatingAdmissionPolicy as Resource>::API_VERSION, "ValidatingAdmissionPolicy"),
            (<a::networking::v1beta1::ServiceCIDR as Resource>::API_VERSION, "ServiceCIDR"),
            (<a::storage::v1beta1::VolumeAttributesClass as Resource>::API_VERSION, "VolumeAttributesClass"),
        ] {
            let r = lookup(av, kind).unwrap();
            assert!(r.removed.is_some_and(|x| x > Version::new(1, 33)), "{av} {kind}");
        }
    }
}
