//! Who the control plane is: the identities of Kubernetes' own components and of the managed
//! platforms' (EKS, GKE, AKS), from `rules/data/control-plane.yaml`. A request whose user, or one of
//! its groups, matches is labelled with the component in the `control_plane` column (a request that
//! impersonates such an identity is not: a person acting as the control plane is judged like anyone);
//! queries keep those rows and judge them differently.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
    component: String,
    platform: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    identities: Vec<Identity>,
}

/// One name or a prefix (`system:node:*`).
#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn new(p: &str) -> Result<Pattern, String> {
        match p.strip_suffix('*') {
            Some(pre) if pre.contains('*') => Err(format!("{p:?}: `*` only at the end")),
            Some("") => Err(format!("{p:?} would match everyone")),
            Some(pre) => Ok(Pattern::Prefix(pre.to_string())),
            None if p.contains('*') => Err(format!("{p:?}: `*` only at the end")),
            None => Ok(Pattern::Exact(p.to_string())),
        }
    }
    /// Exact names rank above any prefix.
    fn len(&self) -> usize {
        match self {
            Pattern::Exact(e) => usize::MAX / 2 + e.len(),
            Pattern::Prefix(p) => p.len(),
        }
    }
    fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Exact(e) => e == s,
            Pattern::Prefix(p) => s.starts_with(p.as_str()),
        }
    }
}

/// The component of the longest pattern matching `name` (a specific name before a catch-all prefix).
fn longest<'a>(list: &'a [(Pattern, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .filter(|(p, _)| p.matches(name))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, c)| c.as_str())
}

/// The control plane's identities.
#[derive(Debug, Default)]
pub struct ControlPlane {
    users: Vec<(Pattern, String)>,
    groups: Vec<(Pattern, String)>,
}

const FILE: &str = "control-plane.yaml";

impl ControlPlane {
    /// The embedded list.
    pub fn load() -> Result<ControlPlane, String> {
        let doc: Doc = crate::rules::data::load(FILE).map_err(|e| e.to_string())?;
        let mut cp = ControlPlane::default();
        for id in doc.identities {
            let label = if id.platform == "kubernetes"
                || id
                    .component
                    .to_ascii_lowercase()
                    .contains(&id.platform.to_ascii_lowercase())
            {
                id.component.clone()
            } else {
                format!("{} ({})", id.component, id.platform)
            };
            match (&id.user, &id.group) {
                (Some(u), None) => cp.users.push((Pattern::new(u)?, label)),
                (None, Some(g)) => cp.groups.push((Pattern::new(g)?, label)),
                _ => {
                    return Err(format!(
                        "rules/data/{FILE}: each identity has exactly one of `user` or `group`: {id:?}"
                    ));
                }
            }
        }
        Ok(cp)
    }

    /// The embedded list, loaded once (an empty list, with an error logged, if it does not load:
    /// a test guarantees it does).
    pub fn get() -> &'static ControlPlane {
        static CP: LazyLock<ControlPlane> = LazyLock::new(|| {
            ControlPlane::load().unwrap_or_else(|e| {
                tracing::error!("{e}");
                ControlPlane::default()
            })
        });
        &CP
    }

    /// The component a user or one of its groups belongs to.
    pub fn component<S: AsRef<str>>(&self, user: Option<&str>, groups: &[S]) -> Option<&str> {
        user.and_then(|u| self.user_component(u))
            .or_else(|| self.group_component(groups))
    }

    fn user_component(&self, user: &str) -> Option<&str> {
        longest(&self.users, user)
    }

    fn group_component<S: AsRef<str>>(&self, groups: &[S]) -> Option<&str> {
        groups
            .iter()
            .find_map(|g| longest(&self.groups, g.as_ref()))
    }
}

/// Remembers the component of each user seen (few identities, many rows): a user's groups are read
/// (from the raw JSON array) only the first time the user is seen, or every time once 10 000 users
/// are known.
#[derive(Debug, Default)]
pub struct Labeller {
    users: HashMap<String, Option<String>>,
}

impl Labeller {
    pub fn label(&mut self, user: Option<&str>, groups_json: &[u8]) -> Option<&str> {
        let cp = ControlPlane::get();
        let lookup = || cp.component(user, &super::event::string_array(groups_json));
        let key = user.unwrap_or_default();
        if !self.users.contains_key(key) {
            if self.users.len() >= 10_000 {
                // the cache is full: find it again (still bounded per row)
                return lookup();
            }
            self.users
                .insert(key.to_string(), lookup().map(str::to_string));
        }
        self.users.get(key).and_then(|c| c.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_loads_and_names_the_control_plane() {
        let cp = ControlPlane::load().unwrap();
        let none: [&str; 0] = [];
        assert_eq!(
            cp.component(Some("system:apiserver"), &none),
            Some("kube-apiserver")
        );
        assert!(
            cp.component(Some("system:kube-controller-manager"), &none)
                .is_some()
        );
        assert!(cp.component(Some("system:kube-scheduler"), &none).is_some());
        assert!(
            cp.component(Some("system:node:ip-10-0-0-1.ec2.internal"), &none)
                .is_some()
        );
        assert!(cp.component(Some("x"), &["system:nodes"]).is_some());
        assert!(
            cp.component(
                Some("system:serviceaccount:kube-system:replicaset-controller"),
                &none
            )
            .is_some()
        );
        assert!(cp.component(Some("eks:node-manager"), &none).is_some());
        // people and ordinary workloads are not the control plane
        for u in [
            "system:admin",
            "kubernetes-admin",
            "alice@example.com",
            "system:serviceaccount:kube-system:coredns",
            "system:serviceaccount:shop:web",
            "system:anonymous",
        ] {
            assert_eq!(
                cp.component(Some(u), &["system:authenticated"]),
                None,
                "{u}"
            );
        }
        assert_eq!(cp.component(None, &["system:masters"]), None);
    }

    #[test]
    fn patterns_are_names_or_prefixes() {
        assert!(Pattern::new("*").is_err());
        assert!(Pattern::new("a*b").is_err());
        assert!(Pattern::new("a*b*").is_err());
        assert!(Pattern::new("eks:*").unwrap().matches("eks:x"));
        assert!(!Pattern::new("eks:*").unwrap().matches("eksx"));
        assert!(!Pattern::new("a").unwrap().matches("ab"));
    }
}
