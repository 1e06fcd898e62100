//! The API server's `apiserver_requested_deprecated_apis` gauge (Prometheus text format): the
//! deprecated group/version/resources requested since the API server started.

/// One series of the gauge with a value above 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub removed_release: String,
}

const GAUGE: &str = "apiserver_requested_deprecated_apis";

/// The requested deprecated APIs in a `/metrics` text; malformed lines are ignored.
pub fn requested(text: &str) -> Vec<Requested> {
    let mut out = Vec::new();
    for s in crate::inventory::prom::samples(text, GAUGE) {
        if s.value <= 0.0 {
            continue;
        }
        let r = Requested {
            group: s.label("group").to_string(),
            version: s.label("version").to_string(),
            resource: s.label("resource").to_string(),
            removed_release: s.label("removed_release").to_string(),
        };
        if !r.version.is_empty() && !r.resource.is_empty() && !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gauge() {
        let text = r#"# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.32",resource="flowschemas",subresource="",version="v1beta3"} 1
apiserver_requested_deprecated_apis{group="",removed_release="",resource="componentstatuses",subresource="",version="v1"} 1
apiserver_requested_deprecated_apis{group="x",removed_release="1.99",resource="ys",subresource="",version="v1beta1"} 0
apiserver_requested_deprecated_apis{broken
apiserver_request_total{code="200"} 5
"#;
        let r = requested(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].group, "flowcontrol.apiserver.k8s.io");
        assert_eq!(r[0].resource, "flowschemas");
        assert_eq!(r[0].version, "v1beta3");
        assert_eq!(r[0].removed_release, "1.32");
        assert_eq!(r[1].resource, "componentstatuses");
    }
}
