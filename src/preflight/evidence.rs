//! Evidence that an API version is in use: objects in manifests, Helm releases and the live
//! cluster, callers in the audit log, and the API server's `/metrics` gauge, merged per
//! group/version/kind and object or client.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{AuditUse, metrics};
use crate::inventory::{Inventory, Obj, Version};
use crate::rules::apis::{self, Removal};

/// Why an API version is believed to be in use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Evidence {
    /// An object in a manifest file, written in the version.
    Manifest { origin: String },
    /// An object of a deployed Helm release's rendered manifest.
    Helm {
        release: String,
        chart: String,
        revision: u64,
        origin: String,
    },
    /// A live object whose last writers used the version (`managedFields`,
    /// `last-applied-configuration`). May be stale: the object itself is served under a current
    /// version, so this never blocks on its own.
    LiveObject { via: String, origin: String },
    /// Requests in the audit log.
    Audit {
        client: String,
        user: String,
        user_agent: String,
        requests: u64,
        first_seen: String,
        last_seen: String,
        /// The API server annotated them `k8s.io/removed-release` (it does only for APIs it knows
        /// to be deprecated).
        annotated: bool,
        /// Where one of them was read (`file:line`).
        example: String,
    },
    /// The API server's `apiserver_requested_deprecated_apis` gauge: requested since it started.
    Metrics { removed_release: String },
}

impl Evidence {
    /// Evidence that may describe the past rather than current use.
    pub fn stale(&self) -> bool {
        matches!(self, Evidence::LiveObject { .. })
    }

    /// What kind of source it is, for people (`manifest`, `audit log`).
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::Manifest { .. } => "manifest",
            Evidence::Helm { .. } => "Helm release",
            Evidence::LiveObject { .. } => "live object",
            Evidence::Audit { .. } => "audit log",
            Evidence::Metrics { .. } => "/metrics",
        }
    }

    /// Where it was seen, as a finding's origin.
    pub fn origin(&self) -> String {
        match self {
            Evidence::Manifest { origin }
            | Evidence::Helm { origin, .. }
            | Evidence::LiveObject { origin, .. } => origin.clone(),
            Evidence::Audit { example, .. } => example.clone(),
            Evidence::Metrics { .. } => "/metrics".into(),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Evidence::Manifest { origin } => format!("manifest {origin}"),
            Evidence::Helm {
                release,
                chart,
                revision,
                origin,
            } => format!("Helm release {release} (chart {chart}, revision {revision}) at {origin}"),
            Evidence::LiveObject { via, origin } => {
                format!("live object ({origin}): {via} records it (may be stale)")
            }
            Evidence::Audit {
                client,
                user,
                requests,
                first_seen,
                last_seen,
                annotated,
                example,
                ..
            } => format!(
                "audit log: {client} as {user}, {requests} request(s) from {first_seen} to {last_seen} (e.g. {example}){}",
                if *annotated {
                    ""
                } else {
                    " (not annotated by the API server)"
                }
            ),
            Evidence::Metrics { removed_release } => format!(
                "/metrics: apiserver_requested_deprecated_apis (requested since the API server started; removed_release {removed_release})"
            ),
        }
    }
}

/// One removed or deprecated API version used by one object or client.
#[derive(Debug, Clone)]
pub struct ApiUse {
    pub removal: Removal,
    /// Where the first object written in the version is in its file (manifests).
    pub location: Option<crate::finding::Location>,
    /// The object (`Kind/ns/name`) or client (`client (user)`).
    pub subject: String,
    /// The object written in the version (manifests, live objects): what the gate matches.
    pub object: Option<crate::finding::ObjectRef>,
    pub evidence: Vec<Evidence>,
}

/// Collects API uses, merged per (group/version/kind, object or client).
#[derive(Debug, Default)]
pub struct Uses {
    by_key: BTreeMap<(String, String, String), ApiUse>,
}

impl Uses {
    fn add(&mut self, removal: &Removal, subject: String, e: Evidence) {
        self.add_at(removal, subject, e, None, None);
    }

    fn add_at(
        &mut self,
        removal: &Removal,
        subject: String,
        e: Evidence,
        location: Option<crate::finding::Location>,
        object: Option<crate::finding::ObjectRef>,
    ) {
        let key = (
            removal.api_version.clone(),
            removal.kind.clone(),
            subject.clone(),
        );
        let u = self.by_key.entry(key).or_insert_with(|| ApiUse {
            removal: removal.clone(),
            location: None,
            subject,
            object: None,
            evidence: Vec::new(),
        });
        if u.location.is_none() {
            u.location = location;
        }
        if u.object.is_none() {
            u.object = object;
        }
        if !u.evidence.contains(&e) {
            u.evidence.push(e);
        }
    }

    /// Objects of manifest files (or a Helm release, through `evidence`), by their apiVersion.
    pub fn objects(&mut self, inv: &Inventory, evidence: impl Fn(&Obj) -> Evidence) {
        for o in inv.all() {
            if let Some(r) = apis::lookup(&o.api_version, &o.kind) {
                self.add_at(
                    r,
                    o.display(),
                    evidence(o),
                    o.span.clone(),
                    Some(o.reference()),
                );
            }
        }
    }

    /// Live objects, by the versions their last writers used.
    pub fn live_objects(&mut self, inv: &Inventory) {
        for o in inv.all() {
            for (v, via) in apis::written_versions(o) {
                if let Some(r) = apis::lookup(&v, &o.kind).filter(|r| !r.control_plane_writes) {
                    self.add_at(
                        r,
                        o.display(),
                        Evidence::LiveObject {
                            via: via.to_string(),
                            origin: o.origin.clone(),
                        },
                        None,
                        Some(o.reference()),
                    );
                }
            }
        }
    }

    /// Callers in the audit log (kscope's own requests are already left out).
    pub fn audit(&mut self, rows: &[AuditUse], from: Version) {
        for a in rows {
            let removal = apis::lookup_resource(&a.group, &a.version, &a.resource)
                .cloned()
                .or_else(|| a.annotated_removal(from));
            let Some(r) = removal else {
                continue;
            };
            self.add(
                &r,
                format!("{} ({})", a.client, a.user),
                Evidence::Audit {
                    client: a.client.clone(),
                    user: a.user.clone(),
                    user_agent: a.user_agent.clone(),
                    requests: a.requests,
                    first_seen: a.first_seen.clone(),
                    last_seen: a.last_seen.clone(),
                    annotated: a.removed_release.is_some(),
                    example: a.example.clone(),
                },
            );
        }
    }

    /// The `apiserver_requested_deprecated_apis` gauge.
    pub fn metrics(&mut self, requested: &[metrics::Requested]) {
        for m in requested {
            if let Some(r) = apis::lookup_resource(&m.group, &m.version, &m.resource) {
                self.add(
                    r,
                    "(clients since the API server started)".into(),
                    Evidence::Metrics {
                        removed_release: m.removed_release.clone(),
                    },
                );
            }
        }
    }

    pub fn into_vec(self) -> Vec<ApiUse> {
        self.by_key.into_values().collect()
    }
}
