//! Normalises the exports people actually have into plain `audit.k8s.io/v1` event JSON.
//!
//! - Kubernetes `EventList` documents (`{"kind":"EventList","items":[...]}`) and JSON arrays of events.
//! - Amazon CloudWatch Logs: `aws logs filter-log-events` / `get-log-events` output (`events[].message`),
//!   one `{"message": "..."}` object per line, subscription-filter records (`logEvents[].message`), and
//!   S3 exports (`<timestamp> <event JSON>` per line).
//! - GKE Cloud Audit Logs entries (`protoPayload` with `methodName`, `authenticationInfo.principalEmail`,
//!   `requestMetadata.callerSuppliedUserAgent`, audit annotations under `labels`).
//! - AKS diagnostic records (`properties.log` as a JSON string or an object), alone or under `records`.

use serde_json::{Map, Value, json};

/// One event found in a wrapper: its JSON bytes, or why the wrapper entry holds no usable event.
pub type Extracted = Result<Vec<u8>, String>;

/// The start of the reason given for a record of a known export that is not a Kubernetes API audit
/// event (a GKE entry of another Google Cloud service, an AKS record of another category, a
/// CloudWatch event of another log stream): such records are counted and skipped, never malformed.
pub const NOT_AUDIT: &str = "not a Kubernetes API audit event: ";

fn not_audit(why: String) -> Extracted {
    Err(format!("{NOT_AUDIT}{why}"))
}

/// True for a reason made by [`not_audit`].
pub fn is_not_audit(reason: &[u8]) -> bool {
    reason.starts_with(NOT_AUDIT.as_bytes())
}

/// CloudWatch streams that hold other logs than the audit log (EKS names its audit streams
/// `kube-apiserver-audit-<id>`; the other control-plane logs are `kube-apiserver-<id>`,
/// `authenticator-<id>`, `kube-controller-manager-<id>`, `kube-scheduler-<id>`,
/// `cloud-controller-manager-<id>`).
fn other_stream(name: Option<&Value>) -> Option<String> {
    let name = name.and_then(Value::as_str)?;
    let other = [
        "kube-apiserver-",
        "authenticator-",
        "kube-controller-manager-",
        "kube-scheduler-",
        "cloud-controller-manager-",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        && !name.contains("audit");
    other.then(|| format!("CloudWatch event of log stream {name:?}"))
}

/// Walks one JSON value of any known export shape and appends every audit event it holds.
pub fn extract(v: Value, out: &mut Vec<Extracted>) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| extract(i, out)),
        Value::Object(mut m) => {
            if m.contains_key("auditID") || m.get("kind").and_then(Value::as_str) == Some("Event") {
                out.push(serde_json::to_vec(&Value::Object(m)).map_err(|e| e.to_string()));
            } else if let Some(Value::Array(items)) = m.remove("items") {
                items.into_iter().for_each(|i| extract(i, out));
            } else if let Some(Value::Array(events)) =
                m.remove("events").or_else(|| m.remove("logEvents"))
            {
                // a subscription record names its stream once; filter-log-events names it per event
                let record_stream =
                    if m.get("messageType").and_then(Value::as_str) == Some("CONTROL_MESSAGE") {
                        Some("CloudWatch subscription control message".to_string())
                    } else {
                        other_stream(m.get("logStream"))
                    };
                for e in events {
                    // a stream's name alone never discards an audit event: a self-managed cluster
                    // may ship its audit log to a stream named like EKS's other logs
                    let holds_event = e
                        .get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.contains("\"auditID\""));
                    if let Some(why) = record_stream
                        .clone()
                        .or_else(|| other_stream(e.get("logStreamName")))
                        .filter(|_| !holds_event)
                    {
                        out.push(not_audit(why));
                        continue;
                    }
                    match e {
                        Value::Object(mut em) => match em.remove("message") {
                            Some(Value::String(s)) => out.push(Ok(s.into_bytes())),
                            _ => out.push(Err(
                                "CloudWatch Logs event without a `message` string".into()
                            )),
                        },
                        other => extract(other, out),
                    }
                }
            } else if let Some(Value::Array(records)) = m.remove("records") {
                records.into_iter().for_each(|r| extract(r, out));
            } else if let Some(Value::Object(pp)) = m.remove("protoPayload") {
                match pp.get("serviceName").and_then(Value::as_str) {
                    Some(svc) if svc != "k8s.io" => {
                        let method = pp.get("methodName").and_then(Value::as_str).unwrap_or("?");
                        out.push(not_audit(format!("GKE entry of {svc} ({method})")));
                    }
                    _ => out.push(gke_entry(pp, &m)),
                }
            } else if let Some(props) = m.remove("properties") {
                let category = m
                    .get("category")
                    .and_then(Value::as_str)
                    .unwrap_or("kube-audit");
                if !category.starts_with("kube-audit") {
                    out.push(not_audit(format!("AKS record of category {category:?}")));
                    return;
                }
                match props.get("log") {
                    Some(Value::String(s)) => out.push(Ok(s.clone().into_bytes())),
                    Some(obj @ Value::Object(_)) => {
                        out.push(serde_json::to_vec(obj).map_err(|e| e.to_string()))
                    }
                    _ => out.push(Err("AKS record without `properties.log`".into())),
                }
            } else if let Some(Value::String(s)) = m.remove("message") {
                out.push(Ok(s.into_bytes()));
            } else {
                out.push(Err(
                    "JSON object is not an audit event (no `auditID`) nor a known export record"
                        .into(),
                ));
            }
        }
        other => out.push(Err(format!(
            "expected a JSON object, found {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Maps a google.rpc.Code (GKE's `protoPayload.status.code`) to the HTTP status the API server sent.
pub fn rpc_to_http(code: i64) -> i64 {
    match code {
        0 => 200,
        1 => 499,
        3 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        9 => 400,
        11 => 400,
        12 => 501,
        14 => 503,
        15 => 500,
        16 => 401,
        _ => 500,
    }
}

/// Converts one GKE Cloud Audit Logs entry (`protoPayload` + the entry's other members) to an audit event.
fn gke_entry(pp: Map<String, Value>, entry: &Map<String, Value>) -> Extracted {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let method = s(pp.get("methodName")).ok_or("GKE entry without protoPayload.methodName")?;
    let verb = method
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let resource_name = s(pp.get("resourceName")).unwrap_or_default();
    let op = entry.get("operation");
    let audit_id = s(op.and_then(|o| o.get("id")))
        .or_else(|| s(entry.get("insertId")))
        .ok_or("GKE entry without operation.id or insertId")?;
    let ts = s(entry.get("timestamp")).ok_or("GKE entry without timestamp")?;
    let first = op
        .and_then(|o| o.get("first"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let last = op
        .and_then(|o| o.get("last"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let stage = if first && !last {
        "ResponseStarted"
    } else {
        "ResponseComplete"
    };
    let rpc = pp
        .get("status")
        .and_then(|st| st.get("code"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let reason = s(pp.get("status").and_then(|st| st.get("message")));

    let (uri, object_ref) = gke_resource(&resource_name);
    let mut ev = Map::new();
    ev.insert("kind".into(), json!("Event"));
    ev.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
    let has_body = pp.contains_key("request") || pp.contains_key("response");
    ev.insert(
        "level".into(),
        json!(if has_body {
            "RequestResponse"
        } else {
            "Metadata"
        }),
    );
    ev.insert("auditID".into(), json!(audit_id));
    ev.insert("stage".into(), json!(stage));
    ev.insert("requestURI".into(), json!(uri));
    ev.insert("verb".into(), json!(verb));
    let user = s(pp
        .get("authenticationInfo")
        .and_then(|a| a.get("principalEmail")))
    .unwrap_or_default();
    ev.insert("user".into(), json!({ "username": user }));
    let rm = pp.get("requestMetadata");
    if let Some(ip) = s(rm.and_then(|r| r.get("callerIp"))) {
        ev.insert("sourceIPs".into(), json!([ip]));
    }
    if let Some(ua) = s(rm.and_then(|r| r.get("callerSuppliedUserAgent"))) {
        ev.insert("userAgent".into(), json!(ua));
    }
    if let Some(or) = object_ref {
        ev.insert("objectRef".into(), or);
    }
    let mut status = Map::new();
    status.insert("code".into(), json!(rpc_to_http(rpc)));
    if let Some(r) = reason {
        status.insert("reason".into(), json!(r));
        status.insert("message".into(), json!(r));
    }
    ev.insert("responseStatus".into(), Value::Object(status));
    if let Some(b) = pp.get("request") {
        ev.insert("requestObject".into(), b.clone());
    }
    if let Some(b) = pp.get("response") {
        ev.insert("responseObject".into(), b.clone());
    }
    // GKE records one timestamp per entry: the request's latency is not known
    ev.insert("requestReceivedTimestamp".into(), json!(ts));
    if let Some(Value::Object(labels)) = entry.get("labels") {
        let ann: Map<String, Value> = labels
            .iter()
            .filter(|(_, v)| v.is_string())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ev.insert("annotations".into(), Value::Object(ann));
    }
    serde_json::to_vec(&Value::Object(ev)).map_err(|e| e.to_string())
}

/// `core/v1/namespaces/default/pods/web-1/status` → (`/api/v1/namespaces/default/pods/web-1/status`, objectRef).
fn gke_resource(rn: &str) -> (String, Option<Value>) {
    let parts: Vec<&str> = rn.trim_matches('/').split('/').collect();
    if parts.len() < 3 || !parts[1].starts_with('v') {
        let path = if rn.starts_with('/') {
            rn.to_string()
        } else {
            format!("/{rn}")
        };
        return (path, None);
    }
    let (group, version, rest) = (parts[0], parts[1], &parts[2..]);
    let prefix = if group == "core" {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut or = Map::new();
    let (ns, res, name, sub) = if rest[0] == "namespaces" && rest.len() >= 3 {
        (Some(rest[1]), rest[2], rest.get(3), rest.get(4))
    } else {
        (None, rest[0], rest.get(1), rest.get(2))
    };
    or.insert("resource".into(), json!(res));
    if let Some(ns) = ns {
        or.insert("namespace".into(), json!(ns));
    }
    if let Some(n) = name {
        or.insert("name".into(), json!(n));
    }
    if group != "core" {
        or.insert("apiGroup".into(), json!(group));
    }
    or.insert("apiVersion".into(), json!(version));
    if let Some(s) = sub {
        or.insert("subresource".into(), json!(s));
    }
    (
        format!("{prefix}/{}", rest.join("/")),
        Some(Value::Object(or)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: Value) -> Value {
        let mut out = vec![];
        extract(v, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        let bytes = out.remove(0).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn cloudwatch_filter_log_events_document() {
        let doc = json!({"events":[{"logStreamName":"kube-apiserver-audit-0123","timestamp":1,"message":"{\"auditID\":\"a\"}","eventId":"1"},
                                   {"logStreamName":"s","timestamp":2,"message":"{\"auditID\":\"b\"}","eventId":"2"}],
                         "searchedLogStreams":[]});
        let mut out = vec![];
        extract(doc, &mut out);
        let got: Vec<_> = out
            .into_iter()
            .map(|r| String::from_utf8(r.unwrap()).unwrap())
            .collect();
        assert_eq!(got, vec![r#"{"auditID":"a"}"#, r#"{"auditID":"b"}"#]);
    }

    #[test]
    fn aks_log_as_string_or_object_and_other_categories() {
        let s = one(
            json!({"category":"kube-audit","properties":{"log":"{\"auditID\":\"x\"}","pod":"kube-apiserver-1"}}),
        );
        assert_eq!(s["auditID"], "x");
        let o = one(json!({"category":"kube-audit-admin","properties":{"log":{"auditID":"y"}}}));
        assert_eq!(o["auditID"], "y");
        let mut out = vec![];
        extract(
            json!({"records":[{"category":"kube-apiserver","properties":{"log":"I0101 started"}}]}),
            &mut out,
        );
        let reason = out[0].as_ref().unwrap_err();
        assert!(is_not_audit(reason.as_bytes()), "{reason}");
        assert!(reason.contains("kube-apiserver"), "{reason}");
    }

    #[test]
    fn records_of_other_services_streams_and_categories_are_not_audit_events() {
        let mut out = vec![];
        extract(
            json!({"protoPayload":{"serviceName":"container.googleapis.com","methodName":"google.container.v1.ClusterManager.CreateCluster"},
                   "insertId":"i","timestamp":"2026-11-01T00:00:00Z"}),
            &mut out,
        );
        extract(
            json!({"messageType":"CONTROL_MESSAGE","logGroup":"","logStream":"","logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}),
            &mut out,
        );
        extract(
            json!({"messageType":"DATA_MESSAGE","logStream":"authenticator-0123abcd","logEvents":[{"id":"1","timestamp":1,"message":"time=... msg=access granted"}]}),
            &mut out,
        );
        extract(
            json!({"events":[{"logStreamName":"kube-controller-manager-0123","timestamp":1,"message":"I1201 leader"}]}),
            &mut out,
        );
        assert_eq!(out.len(), 4);
        for o in &out {
            let r = o.as_ref().unwrap_err();
            assert!(is_not_audit(r.as_bytes()), "{r}");
        }
        assert!(
            out[0]
                .as_ref()
                .unwrap_err()
                .contains("container.googleapis.com")
        );
        // a GKE entry of the Kubernetes API, and CloudWatch audit streams, are still events
        let mut out = vec![];
        extract(
            json!({"messageType":"DATA_MESSAGE","logStream":"kube-apiserver-audit-0123","logEvents":[{"id":"1","timestamp":1,"message":"{\"auditID\":\"a\"}"}]}),
            &mut out,
        );
        assert!(out[0].is_ok());
        // an audit event in a stream named like another log is still an audit event
        let mut out = vec![];
        extract(
            json!({"events":[{"logStreamName":"kube-apiserver-fluentbit","timestamp":1,"message":"{\"auditID\":\"a\"}"}]}),
            &mut out,
        );
        assert!(out[0].is_ok());
        // malformed stays malformed
        let mut out = vec![];
        extract(json!({"hello":"world"}), &mut out);
        assert!(!is_not_audit(out[0].as_ref().unwrap_err().as_bytes()));
    }

    #[test]
    fn gke_entry_becomes_an_audit_event() {
        let e = one(json!({
            "protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",
                "authenticationInfo":{"principalEmail":"alice@example.com"},
                "methodName":"io.k8s.core.v1.pods.status.patch",
                "requestMetadata":{"callerIp":"10.1.2.3","callerSuppliedUserAgent":"kubectl/v1.30.1 (linux/amd64) kubernetes/abc"},
                "resourceName":"core/v1/namespaces/shop/pods/web-1/status","serviceName":"k8s.io","status":{"code":8,"message":"Too many requests"}},
            "insertId":"ins-1","timestamp":"2026-11-01T00:00:00.5Z","operation":{"id":"op-1","first":true,"last":true},
            "labels":{"authorization.k8s.io/decision":"allow"}}));
        assert_eq!(e["auditID"], "op-1");
        assert_eq!(e["verb"], "patch");
        assert_eq!(e["requestURI"], "/api/v1/namespaces/shop/pods/web-1/status");
        assert_eq!(
            e["objectRef"],
            json!({"resource":"pods","namespace":"shop","name":"web-1","apiVersion":"v1","subresource":"status"})
        );
        assert_eq!(e["responseStatus"]["code"], 429);
        assert_eq!(e["user"]["username"], "alice@example.com");
        assert_eq!(
            e["userAgent"],
            "kubectl/v1.30.1 (linux/amd64) kubernetes/abc"
        );
        assert_eq!(e["annotations"]["authorization.k8s.io/decision"], "allow");
        assert_eq!(e["stage"], "ResponseComplete");
    }

    #[test]
    fn gke_cluster_scoped_group_resource() {
        let (uri, or) = gke_resource("apps/v1/deployments");
        assert_eq!(uri, "/apis/apps/v1/deployments");
        assert_eq!(
            or.unwrap(),
            json!({"resource":"deployments","apiGroup":"apps","apiVersion":"v1"})
        );
        let (uri, or) = gke_resource("core/v1/namespaces/kube-system");
        assert_eq!(uri, "/api/v1/namespaces/kube-system");
        assert_eq!(or.unwrap()["name"], "kube-system");
    }

    #[test]
    fn event_list_and_unknown_shapes() {
        let mut out = vec![];
        extract(
            json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","auditID":"1"},{"kind":"Event","auditID":"2"}]}),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        let mut out = vec![];
        extract(json!({"hello":"world"}), &mut out);
        assert!(out[0].is_err());
        let mut out = vec![];
        extract(json!(42), &mut out);
        assert_eq!(
            out[0].as_ref().unwrap_err(),
            "expected a JSON object, found a number"
        );
    }
}
