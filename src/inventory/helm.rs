//! Helm v3 releases from their release Secrets (`type: helm.sh/release.v1`): the Secret's `release`
//! key holds the release as JSON, gzip-compressed and base64-encoded (inside the base64 of Secret
//! data). Only the rendered manifest, the release's name and its chart are kept; nothing of a
//! Secret is ever printed. Every step is bounded: a hostile Secret cannot expand past
//! [`MAX_RELEASE_BYTES`].

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use serde_json::Value;

use super::{Inventory, manifests, yaml};

/// The largest decompressed release kscope reads (a release Secret is at most 1 MiB compressed).
pub const MAX_RELEASE_BYTES: u64 = 64 << 20;

/// One deployed Helm release.
#[derive(Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub revision: u64,
    /// `chart-version`, e.g. `ingress-nginx-4.1.0`.
    pub chart: String,
    /// The chart's `kubeVersion` constraint (Helm refuses to install or upgrade it on a
    /// Kubernetes version outside it).
    pub kube_version: Option<String>,
    /// The rendered manifest (may hold Secret objects: never printed, never logged).
    manifest: String,
}

impl std::fmt::Debug for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Release")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("revision", &self.revision)
            .field("chart", &self.chart)
            .field("kube_version", &self.kube_version)
            .field("manifest", &format_args!("<{} bytes>", self.manifest.len()))
            .finish()
    }
}

impl Release {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// How objects of this release are named as their origin: `helm:ns/name#rev`, then `:line`
    /// within the rendered manifest.
    pub fn origin(&self) -> String {
        format!("helm:{}#{}", self.id(), self.revision)
    }

    /// The objects of the rendered manifest, bounded by `limits`; bad documents become problems.
    pub fn objects(&self, limits: yaml::Limits) -> Inventory {
        let mut inv = Inventory::new(self.origin(), false);
        manifests::add_text_with(&mut inv, &self.origin(), &self.manifest, limits);
        inv
    }
}

fn decode(secret: &Value) -> Result<Release, String> {
    let data = secret
        .pointer("/data/release")
        .and_then(Value::as_str)
        .ok_or("no data.release")?;
    let b64 = base64::engine::general_purpose::STANDARD;
    // Secret data is base64; Helm's payload inside is base64 again
    let outer = b64
        .decode(data.trim())
        .map_err(|e| format!("data.release is not base64: {e}"))?;
    let inner = b64
        .decode(outer.trim_ascii())
        .map_err(|e| format!("the release payload is not base64: {e}"))?;
    let mut json = Vec::new();
    if inner.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(inner.as_slice())
            .take(MAX_RELEASE_BYTES + 1)
            .read_to_end(&mut json)
            .map_err(|e| format!("the release payload is not gzip: {e}"))?;
        if json.len() as u64 > MAX_RELEASE_BYTES {
            return Err(format!(
                "the release expands past {} MiB",
                MAX_RELEASE_BYTES >> 20
            ));
        }
    } else {
        json = inner;
    }
    let v: Value =
        serde_json::from_slice(&json).map_err(|e| format!("the release is not JSON: {e}"))?;
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let name = s("/name").to_string();
    if name.is_empty() {
        return Err("the release has no name".into());
    }
    let chart = match (s("/chart/metadata/name"), s("/chart/metadata/version")) {
        ("", _) => "(unknown chart)".to_string(),
        (n, "") => n.to_string(),
        (n, ver) => format!("{n}-{ver}"),
    };
    Ok(Release {
        namespace: s("/namespace").to_string(),
        revision: v.get("version").and_then(Value::as_u64).unwrap_or(0),
        chart,
        kube_version: Some(s("/chart/metadata/kubeVersion").trim().to_string())
            .filter(|k| !k.is_empty()),
        manifest: s("/manifest").to_string(),
        name,
    })
}

/// Decodes release Secrets and keeps the newest revision of each deployed release; Secrets that
/// cannot be decoded are problems named by the Secret (`secret ns/name: reason`).
pub fn newest_deployed(secrets: &[Value]) -> (Vec<Release>, Vec<String>) {
    let mut newest: BTreeMap<(String, String), Release> = BTreeMap::new();
    let mut problems = Vec::new();
    for s in secrets {
        let meta = |k: &str| {
            s.pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        };
        if s.pointer("/metadata/labels/status").and_then(Value::as_str) != Some("deployed") {
            continue;
        }
        match decode(s) {
            Ok(r) => {
                let key = (r.namespace.clone(), r.name.clone());
                if newest.get(&key).is_none_or(|o| o.revision < r.revision) {
                    newest.insert(key, r);
                }
            }
            Err(e) => problems.push(format!(
                "secret {}/{} (Helm release): {e}",
                meta("namespace"),
                meta("name")
            )),
        }
    }
    (newest.into_values().collect(), problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    /// A release Secret as Helm writes it.
    pub fn secret(name: &str, revision: u64, status: &str, manifest: &str) -> Value {
        let release = json!({"name": name, "namespace": "apps", "version": revision,
            "chart": {"metadata": {"name": "web", "version": "1.2.3"}}, "manifest": manifest});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64.encode(gz.finish().unwrap());
        json!({"metadata": {"name": format!("sh.helm.release.v1.{name}.v{revision}"), "namespace": "apps",
               "labels": {"owner": "helm", "status": status, "name": name, "version": revision.to_string()}},
               "type": "helm.sh/release.v1", "data": {"release": b64.encode(payload)}})
    }

    #[test]
    fn decodes_the_newest_deployed_revision() {
        let m = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: web\n";
        let secrets = vec![
            secret("web", 2, "deployed", m),
            secret("web", 3, "deployed", m),
            secret("web", 4, "failed", m),
            json!({"metadata": {"name": "broken", "namespace": "apps", "labels": {"status": "deployed"}},
                   "data": {"release": "!!!"}}),
        ];
        let (rel, problems) = newest_deployed(&secrets);
        assert_eq!(rel.len(), 1);
        assert_eq!(rel[0].revision, 3);
        assert_eq!(rel[0].chart, "web-1.2.3");
        assert_eq!(rel[0].origin(), "helm:apps/web#3");
        assert!(!format!("{:?}", rel[0]).contains("Ingress"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("secret apps/broken"),
            "{problems:?}"
        );
        let inv = rel[0].objects(yaml::DEFAULT_LIMITS);
        let objs: Vec<_> = inv.all().collect();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].api_version, "extensions/v1beta1");
        assert_eq!(objs[0].origin, "helm:apps/web#3:1");
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        let big = vec![b' '; (MAX_RELEASE_BYTES + 10) as usize];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&big).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64.encode(gz.finish().unwrap());
        let s = json!({"metadata": {"name": "bomb", "namespace": "x", "labels": {"status": "deployed"}},
                       "data": {"release": b64.encode(payload)}});
        let (rel, problems) = newest_deployed(&[s]);
        assert!(rel.is_empty());
        assert!(problems[0].contains("expands past"), "{problems:?}");
    }
}
