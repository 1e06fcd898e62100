//! What the control plane itself writes (`rules/data/system-traffic.yaml`): the requests webhooks are
//! judged against (WH001, WH003).

use std::sync::LazyLock;

use serde::Deserialize;

use crate::rules::{RuleError, data};

const FILE: &str = "system-traffic.yaml";

/// Operations a webhook rule can name.
const OPERATIONS: &[&str] = &["CREATE", "UPDATE", "DELETE", "CONNECT"];

/// One entry of the table: requests of one kind the control plane makes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// API group ("" for the core API).
    pub group: String,
    #[serde(default = "v1")]
    pub version: String,
    /// `RESOURCE` or `RESOURCE/SUBRESOURCE`.
    pub resources: Vec<String>,
    pub operations: Vec<String>,
    /// The namespace of the objects; `None`: cluster-scoped.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Whether the control plane cannot do without it (WH003).
    #[serde(default)]
    pub critical: bool,
    /// What it is, for messages.
    pub what: String,
}

fn v1() -> String {
    "v1".into()
}

impl Traffic {
    /// Whether the entry is about Namespace objects, whose namespaceSelector is matched against the
    /// labels of the Namespace itself.
    pub fn namespace_objects(&self) -> bool {
        self.group.is_empty()
            && self.namespace.is_none()
            && self
                .resources
                .iter()
                .all(|r| r.split('/').next() == Some("namespaces"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    traffic: Vec<Traffic>,
}

static TABLE: LazyLock<Result<Vec<Traffic>, String>> = LazyLock::new(|| {
    let t: Table = data::load(FILE).map_err(|e| e.to_string())?;
    if t.traffic.is_empty() {
        return Err("no entries".into());
    }
    for e in &t.traffic {
        let bad_op = e
            .operations
            .iter()
            .find(|o| !OPERATIONS.contains(&o.as_str()));
        if e.resources.is_empty() || e.operations.is_empty() || e.what.is_empty() {
            return Err(format!(
                "{}/{:?}: resources, operations and what must not be empty",
                e.group, e.resources
            ));
        }
        if let Some(op) = bad_op {
            return Err(format!(
                "{}/{:?}: unknown operation {op}",
                e.group, e.resources
            ));
        }
        if e.resources.iter().any(|r| r.contains('*')) {
            return Err(format!(
                "{}/{:?}: name resources, not wildcards",
                e.group, e.resources
            ));
        }
    }
    Ok(t.traffic)
});

/// The table (checked when the rule registry loads, so a broken table is an error, never an empty
/// table that would silence WH001 and WH003).
pub fn system_traffic() -> Result<&'static [Traffic], RuleError> {
    TABLE.as_deref().map_err(|msg| RuleError::Definition {
        file: format!("rules/data/{FILE}"),
        msg: msg.clone(),
    })
}

/// The namespaces the table names, sorted.
pub fn system_namespaces(table: &[Traffic]) -> Vec<&str> {
    let mut v: Vec<&str> = table
        .iter()
        .filter_map(|e| e.namespace.as_deref())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api as a;
    use k8s_openapi::{NamespaceResourceScope, Resource};
    use std::any::TypeId;

    /// group, version, plural, namespaced
    fn known<T: Resource<Scope: 'static>>() -> (&'static str, &'static str, &'static str, bool) {
        (
            T::GROUP,
            T::VERSION,
            T::URL_PATH_SEGMENT,
            TypeId::of::<T::Scope>() == TypeId::of::<NamespaceResourceScope>(),
        )
    }

    /// Every resource of the table is one Kubernetes serves, at that version and scope.
    #[test]
    fn the_table_names_resources_kubernetes_serves() {
        let served = [
            known::<a::coordination::v1::Lease>(),
            known::<a::core::v1::Pod>(),
            known::<a::core::v1::ServiceAccount>(),
            known::<a::core::v1::Endpoints>(),
            known::<a::discovery::v1::EndpointSlice>(),
            known::<a::core::v1::ConfigMap>(),
            known::<a::apps::v1::ReplicaSet>(),
            known::<a::apps::v1::ControllerRevision>(),
            known::<a::apps::v1::Deployment>(),
            known::<a::apps::v1::DaemonSet>(),
            known::<a::core::v1::Node>(),
            known::<a::authentication::v1::TokenReview>(),
            known::<a::authorization::v1::SubjectAccessReview>(),
            known::<a::certificates::v1::CertificateSigningRequest>(),
            known::<a::core::v1::Namespace>(),
        ];
        let table = system_traffic().unwrap();
        for e in table {
            for r in &e.resources {
                let main = r.split('/').next().unwrap_or_default();
                let hit = served
                    .iter()
                    .find(|(g, _, p, _)| *g == e.group && *p == main);
                let Some((_, v, _, namespaced)) = hit else {
                    panic!("{}/{r} is not a resource the test knows", e.group)
                };
                assert_eq!(*v, e.version, "{}/{r}", e.group);
                assert_eq!(*namespaced, e.namespace.is_some(), "{}/{r} scope", e.group);
            }
        }
        assert_eq!(
            system_namespaces(table),
            ["default", "kube-node-lease", "kube-system"]
        );
        // kube-node-lease holds node Leases and nothing else
        assert!(
            table
                .iter()
                .filter(|e| e.namespace.as_deref() == Some("kube-node-lease"))
                .all(|e| e.resources == ["leases"])
        );
        assert!(table.iter().any(Traffic::namespace_objects));
    }
}
