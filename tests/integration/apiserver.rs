//! A local Kubernetes API server for tests: serves fixture objects at the real API paths over HTTP
//! on 127.0.0.1 (free port), with discovery (`/version`, `/api`, `/apis`), `limit`/`continue`
//! paging with `remainingItemCount`, metadata-only lists (`as=PartialObjectMetadataList`),
//! `/metrics`, a request log, and injectable faults (status codes, 429 with Retry-After, slowness).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kscope::inventory::kinds;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status (and a Status body).
    Status(u16),
    /// Answer 429 with `Retry-After: seconds`.
    TooMany(u64),
    /// Wait before answering normally.
    Slow(Duration),
}

#[derive(Debug, Clone)]
struct FaultRule {
    path_contains: String,
    fault: Fault,
    remaining: usize,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub user_agent: String,
    pub accept: String,
}

#[derive(Default)]
struct State {
    objects: Vec<Value>,
    /// (group, plural) of each object, computed once.
    index: Vec<Option<(String, String)>>,
    served: BTreeSet<String>,
    git_version: String,
    metrics: Option<String>,
    faults: Mutex<Vec<FaultRule>>,
    log: Mutex<Vec<Logged>>,
}

pub struct FakeApi {
    pub addr: SocketAddr,
    state: Arc<State>,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// Serves `objects` as a cluster of version `git_version`.
    pub async fn start(objects: Vec<Value>, git_version: &str, metrics: Option<String>) -> FakeApi {
        let mut state = State {
            objects,
            git_version: git_version.to_string(),
            metrics,
            ..Default::default()
        };
        let crds: std::collections::HashMap<(String, String), String> = state
            .objects
            .iter()
            .filter(|c| c.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
            .filter_map(|c| {
                let s = |p: &str| c.pointer(p).and_then(Value::as_str).map(String::from);
                Some((
                    (s("/spec/group")?, s("/spec/names/kind")?),
                    s("/spec/names/plural")?,
                ))
            })
            .collect();
        state.index = state.objects.iter().map(|o| plural_of(&crds, o)).collect();
        state.served = served(&state);
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\nusers:\n- name: tester\n  user:\n    token: test-token\ncontexts:\n- name: fake-ctx\n  context:\n    cluster: fake\n    user: tester\ncurrent-context: fake-ctx\n"
        );
        std::fs::write(dir.path().join("kubeconfig"), kc).unwrap();
        FakeApi {
            addr,
            state,
            dir,
            task,
        }
    }

    /// Serves the objects of manifest files (the same loader `kscope lint -f` uses).
    pub async fn from_files(
        files: &[PathBuf],
        git_version: &str,
        metrics: Option<String>,
    ) -> FakeApi {
        let inv = kscope::inventory::manifests::load(files).unwrap();
        assert!(inv.problems.is_empty(), "{:?}", inv.problems);
        let objects = inv.all().map(|o| o.value.clone()).collect();
        FakeApi::start(objects, git_version, metrics).await
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Injects a fault for the next `times` requests whose path contains `path_contains`.
    pub fn fault(&self, path_contains: &str, fault: Fault, times: usize) {
        self.state.faults.lock().unwrap().push(FaultRule {
            path_contains: path_contains.into(),
            fault,
            remaining: times,
        });
    }

    /// Runs the kscope binary's `command` against this server (from a blocking thread, so the
    /// server keeps serving on this runtime).
    pub async fn kscope(&self, command: &str, extra: &[&str]) -> std::process::Output {
        let mut args: Vec<String> = vec![
            command.into(),
            "--kubeconfig".into(),
            self.kubeconfig().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::kscope(&a)
        })
        .await
        .unwrap()
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn status(code: u16, reason: &str, message: &str) -> Response<Full<Bytes>> {
    respond(
        StatusCode::from_u16(code).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn group_of(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// (group, plural) of an object: built-in kinds from kscope's kind table, custom ones from CRDs.
fn plural_of(
    crds: &std::collections::HashMap<(String, String), String>,
    obj: &Value,
) -> Option<(String, String)> {
    let av = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    let (group, _) = group_of(av);
    if let Some(i) = kinds::info(kind).filter(|i| i.group == group) {
        return Some((group.to_string(), i.plural.to_string()));
    }
    crds.get(&(group.to_string(), kind.to_string()))
        .map(|p| (group.to_string(), p.clone()))
}

/// Group versions served: every version kscope's kind table knows plus the objects' own.
fn served(st: &State) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for k in kinds::KINDS {
        if !k.group.is_empty() {
            out.insert(format!("{}/{}", k.group, k.versions[0]));
        }
    }
    for o in &st.objects {
        if let Some(av) = o.get("apiVersion").and_then(Value::as_str) {
            if av.contains('/') {
                out.insert(av.to_string());
            }
        }
        if o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
            let g = o
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or_default();
            for v in o
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = v.get("name").and_then(Value::as_str) {
                    out.insert(format!("{g}/{n}"));
                }
            }
        }
    }
    out
}

async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let header = |h: &str| {
        req.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    st.log.lock().unwrap().push(Logged {
        method: req.method().to_string(),
        path: path.clone(),
        query: query.clone(),
        user_agent: header("user-agent"),
        accept: header("accept"),
    });
    let fault = {
        let mut faults = st.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|f| f.remaining > 0 && path.contains(&f.path_contains))
            .map(|f| {
                f.remaining -= 1;
                f.fault.clone()
            })
    };
    match fault {
        Some(Fault::Status(code)) => {
            return Ok(status(code, "Injected", &format!("injected {code}")));
        }
        Some(Fault::TooMany(secs)) => {
            let mut r = status(429, "TooManyRequests", "injected throttling");
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            return Ok(r);
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    if req.method() != hyper::Method::GET {
        return Ok(status(405, "MethodNotAllowed", "read-only test server"));
    }
    Ok(route(&st, &path, &query, &header("accept")))
}

fn route(st: &State, path: &str, query: &str, accept: &str) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["version"] => {
            let minor = st
                .git_version
                .trim_start_matches('v')
                .split('.')
                .nth(1)
                .unwrap_or("0");
            respond(
                StatusCode::OK,
                json!({"major": "1", "minor": minor, "gitVersion": st.git_version,
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}),
            )
        }
        ["metrics"] => match &st.metrics {
            Some(m) => {
                let mut r = Response::new(Full::new(Bytes::from(m.clone())));
                r.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                r
            }
            None => status(403, "Forbidden", "forbidden: /metrics"),
        },
        ["api"] => respond(
            StatusCode::OK,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        ["apis"] => {
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for gv in &st.served {
                let (g, v) = group_of(gv);
                match groups.iter_mut().find(|(x, _)| x == g) {
                    Some((_, vs)) => vs.push(v.to_string()),
                    None => groups.push((g.to_string(), vec![v.to_string()])),
                }
            }
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|(g, vs)| {
                    let versions: Vec<Value> = vs
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                        .collect();
                    json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
                })
                .collect();
            respond(
                StatusCode::OK,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        ["api", v, plural] => list(st, "", v, plural, query, accept),
        ["apis", g, v, plural] => list(st, g, v, plural, query, accept),
        ["api", "v1", "nodes", name, "proxy", sub] => kubelet(st, name, sub),
        ["api", _, "namespaces", ns, plural, name] => get(st, "", ns, plural, name),
        ["apis", g, _, "namespaces", ns, plural, name] => get(st, g, ns, plural, name),
        _ => status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        ),
    }
}

/// One namespaced object, whole.
fn get(st: &State, group: &str, ns: &str, plural: &str, name: &str) -> Response<Full<Bytes>> {
    let found = st.objects.iter().zip(&st.index).find(|(o, i)| {
        i.as_ref().is_some_and(|(g, p)| g == group && p == plural)
            && o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
            && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
    });
    match found {
        Some((o, _)) => respond(StatusCode::OK, o.clone()),
        None => status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
    }
}

/// A node's kubelet through the node proxy: `configz` and `metrics` from the Node fixture's
/// annotations `test.kscope.io/configz` and `test.kscope.io/metrics`; 403 when it has none (as
/// without the nodes/proxy permission).
fn kubelet(st: &State, node: &str, sub: &str) -> Response<Full<Bytes>> {
    let annotation = st
        .objects
        .iter()
        .find(|o| {
            o.get("kind").and_then(Value::as_str) == Some("Node")
                && o.pointer("/metadata/name").and_then(Value::as_str) == Some(node)
        })
        .and_then(|n| n.pointer("/metadata/annotations"))
        .and_then(|a| a.get(format!("test.kscope.io/{sub}")))
        .and_then(Value::as_str);
    match annotation {
        Some(body) => {
            let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
            r.headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            r
        }
        None => status(
            403,
            "Forbidden",
            &format!("nodes \"{node}\" is forbidden: cannot get resource \"nodes/proxy\""),
        ),
    }
}

fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

/// Percent-decodes a query parameter value.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `k=v,k2=v2` selectors (equality only): whether `obj` matches, looking up each key with `get`.
fn matches(selector: Option<&str>, get: impl Fn(&str) -> Option<String>) -> bool {
    let Some(sel) = selector.map(decode) else {
        return true;
    };
    sel.split(',')
        .filter(|t| !t.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => get(k.trim()).as_deref() == Some(v.trim()),
            None => false,
        })
}

fn list(
    st: &State,
    group: &str,
    version: &str,
    plural: &str,
    query: &str,
    accept: &str,
) -> Response<Full<Bytes>> {
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    if !group.is_empty() && !st.served.contains(&gv) {
        return status(404, "NotFound", &format!("{gv} is not served"));
    }
    let mut items: Vec<Value> = st
        .objects
        .iter()
        .zip(&st.index)
        .filter(|(_, i)| i.as_ref().is_some_and(|(g, p)| g == group && p == plural))
        .map(|(o, _)| o.clone())
        .filter(|o| {
            matches(param(query, "labelSelector"), |k| {
                o.pointer("/metadata/labels")
                    .and_then(|l| l.get(k))
                    .and_then(Value::as_str)
                    .map(String::from)
            }) && matches(param(query, "fieldSelector"), |k| {
                let path = match k {
                    "type" => "/type".to_string(),
                    other => format!("/{}", other.replace('.', "/")),
                };
                o.pointer(&path).and_then(Value::as_str).map(String::from)
            })
        })
        .collect();
    let known = kinds::KINDS
        .iter()
        .any(|k| k.group == group && k.plural == plural)
        || !items.is_empty()
        || st.objects.iter().any(|c| {
            c.pointer("/spec/names/plural").and_then(Value::as_str) == Some(plural)
                && c.pointer("/spec/group").and_then(Value::as_str) == Some(group)
        });
    if !known {
        return status(404, "NotFound", &format!("no resource {plural} in {gv}"));
    }
    items.sort_by_key(|o| {
        (
            o.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            o.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    });
    let kind = items
        .first()
        .and_then(|o| o.get("kind").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| "Object".into());
    let offset: usize = param(query, "continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit: usize = param(query, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let next = offset + page.len();
    let mut meta = json!({"resourceVersion": "1000"});
    if next < total {
        meta["continue"] = json!(next.to_string());
        meta["remainingItemCount"] = json!(total - next);
    }
    let metadata_only = accept.contains("as=PartialObjectMetadataList");
    let page: Vec<Value> = page
        .into_iter()
        .map(|mut o| {
            if metadata_only {
                json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o["metadata"].clone()})
            } else {
                if let Some(m) = o.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                o
            }
        })
        .collect();
    let (av, lk) = if metadata_only {
        (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadataList".to_string(),
        )
    } else {
        (gv, format!("{kind}List"))
    };
    respond(
        StatusCode::OK,
        json!({"apiVersion": av, "kind": lk, "metadata": meta, "items": page}),
    )
}

/// Reads a fixture's sibling metrics file (`<fixture>.metrics`), if any.
pub fn metrics_for(fixture: &Path) -> Option<String> {
    std::fs::read_to_string(fixture.with_extension("metrics")).ok()
}
