//! Kubernetes objects from one source (a live cluster or manifest files), as the rules see them.

pub mod helm;
pub mod kinds;
pub mod kubelet;
pub mod live;
pub mod manifests;
pub mod prom;
pub mod version;
pub mod yaml;

use std::collections::BTreeMap;

use serde_json::Value;

pub use version::Version;

/// One Kubernetes object and where it came from.
#[derive(Debug, Clone)]
pub struct Obj {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub value: Value,
    /// `file:line` for manifests, `cluster <context>` for live objects.
    pub origin: String,
    /// Size of the object as JSON, in bytes (what etcd and client-side apply see, roughly).
    pub size: usize,
    /// Where the object is written, for manifests: file and first and last line.
    pub span: Option<crate::finding::Location>,
}

impl Obj {
    pub fn new(value: Value, origin: String) -> Obj {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let api_version = s(value.get("apiVersion"));
        let kind = s(value.get("kind"));
        let meta = value.get("metadata");
        let name = s(meta.and_then(|m| m.get("name")));
        let namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let size = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(0);
        Obj {
            api_version,
            kind,
            name,
            namespace,
            value,
            origin,
            size,
            span: None,
        }
    }

    /// The object as written in `file` from line `line` to `end_line`.
    pub fn at(mut self, file: &str, line: usize, end_line: usize) -> Obj {
        self.span = Some(crate::finding::Location {
            file: file.to_string(),
            start_line: line,
            end_line: end_line.max(line),
        });
        self
    }

    /// `Kind/name` or `Kind/namespace/name`: how findings name the object.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The reference findings about this object carry (what the gate matches ignores against).
    pub fn reference(&self) -> crate::finding::ObjectRef {
        crate::finding::ObjectRef {
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            origin: self.origin.clone(),
            labels: self
                .labels()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The value at a dot-separated path (`spec.limited.nominalConcurrencyShares`).
    pub fn get(&self, path: &str) -> Option<&Value> {
        at(&self.value, path)
    }

    pub fn str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    pub fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        self.get("metadata.labels").and_then(Value::as_object)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.get("metadata.annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    /// The API group of `apiVersion` ("" for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }
}

/// The value at a dot-separated path below `v`.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// Whether a kind could be read, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Listed (live) or present in the files.
    Read,
    /// Could not be read: forbidden, not served, a server error, or not in the files.
    Missing(String),
}

/// Custom objects of one CRD, counted without listing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrCount {
    /// The CRD's name (`plural.group`).
    pub crd: String,
    pub count: Option<u64>,
    /// Why the count is unknown.
    pub error: Option<String>,
}

/// Everything one scan read.
#[derive(Debug, Default)]
pub struct Inventory {
    /// `cluster <context>` or `manifests`.
    pub origin: String,
    pub live: bool,
    /// The server's version (live scans).
    pub server_version: Option<Version>,
    objects: BTreeMap<String, Vec<Obj>>,
    availability: BTreeMap<String, Availability>,
    /// Objects per CRD; `None` when not gathered.
    pub cr_counts: Option<Vec<CrCount>>,
    /// The API server's `/metrics` text, or why it could not be read.
    pub metrics: Option<Result<String, String>>,
    /// Deployed Helm releases (newest revision each), or why they could not be read.
    pub helm: Option<Result<Vec<helm::Release>, String>>,
    /// What the kubelets report through the node proxy (`preflight --kubelet`), one node per
    /// group; `None` when not asked, an error when the nodes could not be read at all.
    pub kubelets: Option<Result<Vec<kubelet::KubeletReport>, String>>,
    /// Documents or objects that could not be read (`file:line: reason`).
    pub problems: Vec<String>,
    /// API requests made (live scans).
    pub requests: u64,
}

impl Inventory {
    pub fn new(origin: impl Into<String>, live: bool) -> Inventory {
        Inventory {
            origin: origin.into(),
            live,
            ..Default::default()
        }
    }

    pub fn add(&mut self, obj: Obj) {
        self.availability
            .entry(obj.kind.clone())
            .or_insert(Availability::Read);
        self.objects.entry(obj.kind.clone()).or_default().push(obj);
    }

    pub fn set_availability(&mut self, kind: &str, a: Availability) {
        self.availability.insert(kind.to_string(), a);
    }

    /// Objects of one kind (empty when none were read).
    pub fn of(&self, kind: &str) -> &[Obj] {
        self.objects.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every object, kind by kind.
    pub fn all(&self) -> impl Iterator<Item = &Obj> {
        self.objects.values().flatten()
    }

    /// Whether a kind was read; for manifests, a kind is read when the files hold at least one.
    pub fn availability(&self, kind: &str) -> Availability {
        match self.availability.get(kind) {
            Some(a) => a.clone(),
            None if self.live => Availability::Missing(format!("{kind} was not listed")),
            None => Availability::Missing(format!("no {kind} in the input")),
        }
    }

    /// Sorts objects so that output does not depend on read order.
    pub fn sort(&mut self) {
        for v in self.objects.values_mut() {
            v.sort_by(|a, b| {
                (&a.namespace, &a.name, &a.origin).cmp(&(&b.namespace, &b.name, &b.origin))
            });
        }
    }
}
