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

/// Label values of `{a="x",b="y"}` (escapes `\"`, `\\`, `\n` as the text format defines them).
fn labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() || chars.next() != Some('"') {
            return out;
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(o) => val.push(o),
                    None => break,
                },
                o => val.push(o),
            }
        }
        out.push((key.trim().to_string(), val));
    }
}

/// The requested deprecated APIs in a `/metrics` text; malformed lines are ignored.
pub fn requested(text: &str) -> Vec<Requested> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(GAUGE) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('{') else {
            continue;
        };
        let Some((ls, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let value: f64 = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if value <= 0.0 {
            continue;
        }
        let l = labels(ls);
        let get = |k: &str| {
            l.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let r = Requested {
            group: get("group"),
            version: get("version"),
            resource: get("resource"),
            removed_release: get("removed_release"),
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
