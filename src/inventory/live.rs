//! A live cluster through kube-rs: read-only, discovery first, paginated lists (`limit=500`),
//! metadata-only lists where metadata is enough, counts via `limit=1` + `remainingItemCount`,
//! bounded concurrency, 429 `Retry-After` honoured, `User-Agent: kscope/<version>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;

use super::kinds::{self, KindInfo};
use super::kubelet::{self, KubeletReport};
use super::{Availability, CrCount, Inventory, Obj, Version};

/// How to reach the cluster and how hard to push it.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub request_timeout: Duration,
    /// Items per list page.
    pub page_size: u32,
    /// Retries of a throttled (429) or unavailable (503/504) request.
    pub max_retries: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            kubeconfig: None,
            context: None,
            concurrency: 4,
            request_timeout: Duration::from_secs(30),
            page_size: 500,
            max_retries: 5,
        }
    }
}

/// What the enabled rules need from the cluster.
#[derive(Debug, Default, Clone)]
pub struct Needs {
    /// Kind → whether metadata is enough.
    pub kinds: BTreeMap<String, bool>,
    pub cr_counts: bool,
    pub metrics: bool,
    /// Helm v3 release Secrets (`preflight --helm`): the only Secret data kscope reads.
    pub helm: bool,
    /// The kubelets' configz and metrics through the node proxy (`preflight --kubelet`), one node
    /// per group; needs the Nodes listed whole.
    pub kubelet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot load the kubeconfig: {0}")]
    Config(String),
    #[error(
        "cannot reach the cluster at {server}: {reason} (check the context with `kubectl --context {context} version`; on EKS run `aws eks update-kubeconfig --name <cluster>`)"
    )]
    Unreachable {
        server: String,
        context: String,
        reason: String,
    },
}

pub const USER_AGENT: &str = concat!("kscope/", env!("CARGO_PKG_VERSION"));

async fn config(opts: &LiveOptions) -> Result<(Config, String), LiveError> {
    let kopts = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    let cfg_err = |e: &dyn std::fmt::Display| LiveError::Config(e.to_string());
    let (config, context) = match &opts.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| cfg_err(&e))?;
            let ctx = opts
                .context
                .clone()
                .or(kc.current_context.clone())
                .unwrap_or_default();
            (
                Config::from_custom_kubeconfig(kc, &kopts)
                    .await
                    .map_err(|e| cfg_err(&e))?,
                ctx,
            )
        }
        None if opts.context.is_some() => {
            let ctx = opts.context.clone().unwrap_or_default();
            (
                Config::from_kubeconfig(&kopts)
                    .await
                    .map_err(|e| cfg_err(&e))?,
                ctx,
            )
        }
        None => {
            let ctx = Kubeconfig::read()
                .ok()
                .and_then(|k| k.current_context)
                .unwrap_or_else(|| "in-cluster".into());
            (Config::infer().await.map_err(|e| cfg_err(&e))?, ctx)
        }
    };
    Ok((config, context))
}

fn client(
    mut config: Config,
    opts: &LiveOptions,
    counter: Arc<AtomicU64>,
) -> Result<Client, LiveError> {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    config.read_timeout = Some(opts.request_timeout);
    config.default_retry = false;
    let policy = kube::client::retry::RetryPolicy::new(
        Duration::from_millis(200),
        Duration::from_secs(30),
        opts.max_retries,
        true,
    )
    .map_err(|e| LiveError::Config(e.to_string()))?;
    let count = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        counter.fetch_add(1, Ordering::Relaxed);
        req
    });
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| LiveError::Config(e.to_string()))?;
    Ok(builder
        .with_layer(&count)
        .with_layer(&tower::buffer::BufferLayer::new(256))
        .with_layer(&tower::retry::RetryLayer::new(policy))
        .build())
}

/// Why a request failed, as a skip reason.
fn reason(e: &kube::Error, what: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!("forbidden: cannot {what} (RBAC)"),
        kube::Error::Api(s) if s.code == 404 => format!("not served: {what} returned 404"),
        kube::Error::Api(s) if s.code == 429 => {
            format!("throttled: {what} still returned 429 after retries")
        }
        kube::Error::Api(s) => format!("{what} failed: HTTP {} {}", s.code, s.message),
        other => {
            let mut chain = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(e) = src {
                let t = e.to_string();
                if !chain.contains(&t) {
                    chain.push_str(": ");
                    chain.push_str(&t);
                }
                src = e.source();
            }
            format!("{what} failed: {chain}")
        }
    }
}

/// The resource of a built-in kind at one version.
fn resource(info: &KindInfo, version: &str) -> ApiResource {
    ApiResource {
        group: info.group.to_string(),
        version: version.to_string(),
        api_version: kinds::api_version(info.group, version),
        kind: info.kind.to_string(),
        plural: info.plural.to_string(),
    }
}

async fn list_kind(
    client: Client,
    info: &'static KindInfo,
    version: String,
    metadata_only: bool,
    page_size: u32,
) -> Result<Vec<Value>, String> {
    let ar = resource(info, &version);
    list_resource(client, ar, metadata_only, page_size).await
}

async fn list_resource(
    client: Client,
    ar: ApiResource,
    metadata_only: bool,
    page_size: u32,
) -> Result<Vec<Value>, String> {
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let what = format!(
        "list {}",
        if ar.group.is_empty() {
            ar.plural.clone()
        } else {
            format!("{}.{}", ar.plural, ar.group)
        }
    );
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(page_size);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let (items, next) = if metadata_only {
            let l = api
                .list_metadata(&lp)
                .await
                .map_err(|e| reason(&e, &what))?;
            (to_values(l.items), l.metadata.continue_)
        } else {
            let l = api.list(&lp).await.map_err(|e| reason(&e, &what))?;
            (to_values(l.items), l.metadata.continue_)
        };
        for mut v in items {
            if let Some(m) = v.as_object_mut() {
                m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
                m.insert("kind".into(), Value::String(ar.kind.clone()));
            }
            out.push(v);
        }
        match next.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    Ok(out)
}

/// One object of a namespaced built-in kind, whole (`GET .../namespaces/NS/PLURAL/NAME`).
async fn get_whole(
    client: Client,
    info: &'static KindInfo,
    version: &str,
    obj: &Obj,
) -> Result<Value, String> {
    let ar = resource(info, version);
    let ns = obj.namespace.as_deref().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &ar);
    let what = format!("get {} {ns}/{}", info.plural, obj.name);
    let o = api.get(&obj.name).await.map_err(|e| reason(&e, &what))?;
    let mut v = serde_json::to_value(o).map_err(|e| e.to_string())?;
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
        m.insert("kind".into(), Value::String(ar.kind.clone()));
    }
    Ok(v)
}

/// List items as JSON values (both list flavours hold serde types).
fn to_values<T: serde::Serialize>(items: Vec<T>) -> Vec<Value> {
    items
        .into_iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect()
}

/// Counts objects without listing them: `limit=1` and `remainingItemCount`; pages through
/// metadata only when the server does not return a count.
async fn count_resource(client: Client, ar: ApiResource, page_size: u32) -> Result<u64, String> {
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let what = format!("count {}.{}", ar.plural, ar.group);
    let first = api
        .list_metadata(&ListParams::default().limit(1))
        .await
        .map_err(|e| reason(&e, &what))?;
    let here = first.items.len() as u64;
    match (
        first.metadata.remaining_item_count,
        first.metadata.continue_.filter(|t| !t.is_empty()),
    ) {
        (Some(rest), _) => Ok(here + rest.max(0) as u64),
        (None, None) => Ok(here),
        (None, Some(mut token)) => {
            let mut n = here;
            loop {
                let l = api
                    .list_metadata(
                        &ListParams::default()
                            .limit(page_size)
                            .continue_token(&token),
                    )
                    .await
                    .map_err(|e| reason(&e, &what))?;
                n += l.items.len() as u64;
                match l.metadata.continue_.filter(|t| !t.is_empty()) {
                    Some(t) => token = t,
                    None => return Ok(n),
                }
            }
        }
    }
}

/// The version of a CRD to read its objects through: the storage version if served, else the
/// first served one.
fn crd_resource(crd: &Obj) -> Option<ApiResource> {
    let group = crd.str("spec.group")?.to_string();
    let plural = crd.str("spec.names.plural")?.to_string();
    let kind = crd.str("spec.names.kind")?.to_string();
    let versions = crd.get("spec.versions").and_then(Value::as_array)?;
    let served: Vec<&Value> = versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .collect();
    let pick = served
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .or_else(|| served.first())?;
    let version = pick.get("name").and_then(Value::as_str)?.to_string();
    Some(ApiResource {
        api_version: format!("{group}/{version}"),
        group,
        version,
        kind,
        plural,
    })
}

/// Reads what `needs` asks for from the cluster.
pub async fn load(opts: &LiveOptions, needs: &Needs) -> Result<Inventory, LiveError> {
    let (config, context) = config(opts).await?;
    let server = config.cluster_url.to_string();
    let counter = Arc::new(AtomicU64::new(0));
    let client = client(config, opts, counter.clone())?;
    let mut inv = Inventory::new(format!("cluster {context}"), true);

    let unreachable = |e: kube::Error| LiveError::Unreachable {
        server: server.clone(),
        context: context.clone(),
        reason: e.to_string(),
    };
    let info = client.apiserver_version().await.map_err(unreachable)?;
    inv.server_version = Version::parse(&info.git_version)
        .or_else(|| Version::parse(&format!("{}.{}", info.major, info.minor)));

    // Discovery: which group/versions the server serves, and which one it prefers per group (two
    // requests). Lists use the preferred version, so kscope never calls a deprecated one.
    let mut served: BTreeSet<String> = BTreeSet::new();
    let mut preferred: BTreeMap<String, String> = BTreeMap::new();
    match client.list_core_api_versions().await {
        Ok(v) => served.extend(v.versions),
        Err(e) => return Err(unreachable(e)),
    }
    match client.list_api_groups().await {
        Ok(groups) => {
            for g in groups.groups {
                if let Some(p) = &g.preferred_version {
                    preferred.insert(g.name.clone(), p.version.clone());
                }
                for v in g.versions {
                    served.insert(v.group_version);
                }
            }
        }
        Err(e) => return Err(unreachable(e)),
    }

    let mut jobs = Vec::new();
    for (kind, metadata_only) in &needs.kinds {
        let Some(info) = kinds::info(kind) else {
            continue;
        };
        let version = preferred
            .get(info.group)
            .and_then(|p| info.versions.iter().find(|v| *v == p))
            .or_else(|| {
                info.versions
                    .iter()
                    .find(|v| served.contains(&kinds::api_version(info.group, v)))
            });
        match version {
            None => inv.set_availability(
                kind,
                Availability::Missing(format!(
                    "not served: the server has no {}",
                    kinds::api_version(info.group, info.versions.first().copied().unwrap_or("v1"))
                )),
            ),
            Some(v) => jobs.push((
                info,
                v.to_string(),
                *metadata_only || info.always_metadata(),
                !*metadata_only,
            )),
        }
    }
    let page = opts.page_size;
    let results: Vec<_> = futures::stream::iter(jobs.into_iter().map(|(info, v, meta, whole)| {
        let c = client.clone();
        async move {
            (
                info,
                v.clone(),
                whole,
                list_kind(c, info, v, meta, page).await,
            )
        }
    }))
    .buffer_unordered(opts.concurrency.max(1))
    .collect()
    .await;
    let mut fetch = Vec::new();
    for (info, version, whole, r) in results {
        match r {
            Ok(items) => {
                inv.set_availability(info.kind, Availability::Read);
                for v in items {
                    let obj = Obj::new(v, inv.origin.clone());
                    if whole && info.always_metadata() && info.read_whole(&obj) {
                        fetch.push((info, version.clone(), obj));
                    } else {
                        inv.add(obj);
                    }
                }
            }
            Err(why) => inv.set_availability(info.kind, Availability::Missing(why)),
        }
    }
    // the few always-metadata objects rules read whole (static Pods, component ConfigMaps)
    let fetched: Vec<(Obj, Result<Value, String>)> =
        futures::stream::iter(fetch.into_iter().map(|(info, version, obj)| {
            let c = client.clone();
            async move {
                let r = get_whole(c, info, &version, &obj).await;
                (obj, r)
            }
        }))
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for (meta, r) in fetched {
        match r {
            Ok(v) => inv.add(Obj::new(v, inv.origin.clone())),
            Err(why) => {
                tracing::warn!("{}: kept its metadata only: {why}", meta.display());
                inv.add(meta);
            }
        }
    }

    if needs.cr_counts && inv.availability("CustomResourceDefinition") == Availability::Read {
        let targets: Vec<(String, Option<ApiResource>)> = inv
            .of("CustomResourceDefinition")
            .iter()
            .map(|c| (c.name.clone(), crd_resource(c)))
            .collect();
        let counts: Vec<CrCount> = futures::stream::iter(targets.into_iter().map(|(name, ar)| {
            let c = client.clone();
            async move {
                match ar {
                    None => CrCount {
                        crd: name,
                        count: None,
                        error: Some("no served version".into()),
                    },
                    Some(ar) => match count_resource(c, ar, page).await {
                        Ok(n) => CrCount {
                            crd: name,
                            count: Some(n),
                            error: None,
                        },
                        Err(e) => CrCount {
                            crd: name,
                            count: None,
                            error: Some(e),
                        },
                    },
                }
            }
        }))
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
        let mut counts = counts;
        counts.sort_by(|a, b| a.crd.cmp(&b.crd));
        for c in counts.iter().filter(|c| c.error.is_some()) {
            tracing::warn!(
                "custom objects of {}: {}",
                c.crd,
                c.error.as_deref().unwrap_or_default()
            );
        }
        inv.cr_counts = Some(counts);
    }

    if needs.metrics {
        let req = http::Request::get("/metrics").body(Vec::new());
        inv.metrics = Some(match req {
            Ok(r) => client
                .request_text(r)
                .await
                .map_err(|e| reason(&e, "read /metrics")),
            Err(e) => Err(e.to_string()),
        });
    }

    if needs.helm {
        inv.helm = Some(helm_releases(client.clone(), page).await.map(|secrets| {
            let (releases, problems) = super::helm::newest_deployed(&secrets);
            inv.problems.extend(problems);
            releases
        }));
    }

    if needs.kubelet {
        inv.kubelets = Some(match inv.availability("Node") {
            Availability::Read => Ok(kubelets(&client, inv.of("Node"), opts.concurrency).await),
            Availability::Missing(why) => Err(why),
        });
    }

    inv.requests = counter.load(Ordering::Relaxed);
    inv.sort();
    Ok(inv)
}

/// One node's kubelet through the API server's node proxy: configz and `/metrics`.
async fn kubelet(client: Client, node: String, group: Vec<String>) -> KubeletReport {
    let get = |sub: &'static str| {
        let client = client.clone();
        let node = node.clone();
        async move {
            let what = format!("get nodes/{node}/proxy/{sub}");
            let req = http::Request::get(format!("/api/v1/nodes/{node}/proxy/{sub}"))
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            client
                .request_text(req)
                .await
                .map_err(|e| reason(&e, &what))
        }
    };
    let mut r = KubeletReport {
        config: get("configz")
            .await
            .and_then(|b| kubelet::parse_configz(&b)),
        node: node.clone(),
        group,
        ..KubeletReport::default()
    };
    match get("metrics").await {
        Ok(text) => kubelet::parse_metrics(&text, &mut r),
        Err(e) => r.metrics_error = Some(e),
    }
    r
}

/// The kubelets of one node per group, `concurrency` at a time.
async fn kubelets(client: &Client, nodes: &[Obj], concurrency: usize) -> Vec<KubeletReport> {
    let mut out: Vec<KubeletReport> = futures::stream::iter(
        kubelet::sample(nodes)
            .into_iter()
            .map(|(node, group)| kubelet(client.clone(), node, group)),
    )
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await;
    out.sort_by(|a, b| a.node.cmp(&b.node));
    out
}

/// Helm v3 release Secrets of deployed releases (field selector `type=helm.sh/release.v1`, label
/// `owner=helm,status=deployed`), paged. Their data is decoded by [`super::helm`] and never kept.
async fn helm_releases(client: Client, page_size: u32) -> Result<Vec<Value>, String> {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::all(client);
    let what = "list secrets (type=helm.sh/release.v1)";
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default()
            .fields("type=helm.sh/release.v1")
            .labels("owner=helm,status=deployed")
            .limit(page_size);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let l = api.list(&lp).await.map_err(|e| reason(&e, what))?;
        out.extend(to_values(l.items));
        match l.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}
