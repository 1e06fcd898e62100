//! The one explicit schema of the `audit` table. Every column is declared here, once, with its docs
//! (the README's column table is checked against this list by a test).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int32,
    Int64,
    Float64,
    Bool,
    Ts,
    StrList,
    StrMap,
}

pub struct ColumnDef {
    pub col: Col,
    pub name: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

macro_rules! columns {
    ($( $id:ident $name:literal $kind:ident $doc:literal ; )*) => {
        /// Column identifiers, in schema order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Col { $($id),* }
        pub const COLUMNS: &[ColumnDef] = &[ $( ColumnDef { col: Col::$id, name: $name, kind: Kind::$kind, doc: $doc } ),* ];
    };
}

columns! {
    Source "source" Str "Where the event was read: `file:line`, `file#item` for JSON documents, or `stdin:line`";
    AuditId "audit_id" Str "`auditID`: one request (all stages of a request share it)";
    Stage "stage" Str "`ResponseComplete`, `Panic`, or `ResponseStarted` for a long-running request whose completion is not in the input";
    Level "level" Str "Audit level the event was logged at: `Metadata`, `Request` or `RequestResponse`";
    Verb "verb" Str "Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection` (or an HTTP verb for non-resource URLs)";
    RequestUri "request_uri" Str "`requestURI` as sent, query string included";
    Path "path" Str "The request URI without its query string";
    ListLimit "list_limit" Int64 "`limit=` query parameter (page size)";
    ContinueToken "continue_token" Str "`continue=` query parameter: set on the second and later pages of a paginated LIST";
    ResourceVersion "resource_version" Str "`resourceVersion=` query parameter (`0` = any version, served from the watch cache)";
    ResourceVersionMatch "resource_version_match" Str "`resourceVersionMatch=` query parameter (`NotOlderThan`, `Exact`)";
    LabelSelector "label_selector" Str "`labelSelector=`, URL-decoded";
    FieldSelector "field_selector" Str "`fieldSelector=`, URL-decoded";
    Watch "watch" Bool "`watch=` query parameter (legacy watch-via-list); `verb = 'watch'` is the usual test";
    TimeoutSeconds "timeout_seconds" Int64 "`timeoutSeconds=` query parameter";
    UserName "user_name" Str "`user.username`";
    UserGroups "user_groups" StrList "`user.groups`";
    UserPodName "user_pod_name" Str "Pod of a service-account token (`user.extra[authentication.kubernetes.io/pod-name]`)";
    ImpersonatedUser "impersonated_user" Str "`impersonatedUser.username` when the request used impersonation";
    SourceIp "source_ip" Str "First of `sourceIPs`";
    UserAgent "user_agent" Str "`userAgent` as sent";
    Client "client" Str "The user agent reduced to its product (`kubelet`, `kubectl`); controller managers keep the controller (`kube-controller-manager/replicaset-controller`)";
    Resource "resource" Str "`objectRef.resource` (`pods`); NULL for non-resource URLs such as `/metrics`";
    Subresource "subresource" Str "`objectRef.subresource` (`status`, `eviction`, `exec`)";
    Namespace "namespace" Str "`objectRef.namespace`; NULL for cluster-scoped objects and cluster-wide LIST/WATCH";
    Name "name" Str "`objectRef.name`";
    ApiGroup "api_group" Str "`objectRef.apiGroup`; `''` for the core group";
    ApiVersion "api_version" Str "`objectRef.apiVersion` (`v1`, `v1beta1`)";
    ResponseCode "response_code" Int32 "HTTP status code (`responseStatus.code`)";
    ResponseReason "response_reason" Str "`responseStatus.reason` (`NotFound`, `Conflict`, `TooManyRequests`)";
    RequestReceivedTs "request_received_ts" Ts "`requestReceivedTimestamp`, UTC, microseconds";
    StageTs "stage_ts" Ts "`stageTimestamp`, UTC, microseconds";
    LatencyMs "latency_ms" Float64 "`stage_ts - request_received_ts` in milliseconds (time to first byte for `ResponseStarted`); correct across midnight";
    Annotations "annotations" StrMap "All audit annotations (`annotations['k8s.io/deprecated']`)";
    AuthzDecision "authz_decision" Str "`authorization.k8s.io/decision`: `allow` or `forbid`";
    AuthzReason "authz_reason" Str "`authorization.k8s.io/reason`";
    Deprecated "deprecated" Bool "`k8s.io/deprecated` = true: the request used a deprecated API version";
    RemovedRelease "removed_release" Str "`k8s.io/removed-release`: the release that removes the API version (`1.25`)";
    LatApfQueueWaitMs "lat_apf_queue_wait_ms" Float64 "`apiserver.latency.k8s.io/apf-queue-wait` in ms: time queued by API Priority and Fairness";
    LatEtcdMs "lat_etcd_ms" Float64 "`apiserver.latency.k8s.io/etcd` in ms: time in storage";
    LatMutatingWebhookMs "lat_mutating_webhook_ms" Float64 "`apiserver.latency.k8s.io/mutating-webhook` in ms";
    LatValidatingWebhookMs "lat_validating_webhook_ms" Float64 "`apiserver.latency.k8s.io/validating-webhook` in ms";
    LatSerializeMs "lat_serialize_ms" Float64 "`apiserver.latency.k8s.io/serialize-response-object` in ms";
    LatResponseWriteMs "lat_response_write_ms" Float64 "`apiserver.latency.k8s.io/response-write` in ms";
    LatDecodeMs "lat_decode_ms" Float64 "`apiserver.latency.k8s.io/decode-response-object` in ms";
    LatTransformMs "lat_transform_ms" Float64 "`apiserver.latency.k8s.io/transform-response-object` in ms";
    RequestObjectBytes "request_object_bytes" Int64 "Size of `requestObject` as logged, in bytes (level `Request` or higher)";
    ResponseObjectBytes "response_object_bytes" Int64 "Size of `responseObject` as logged, in bytes (level `RequestResponse`)";
    EffectiveUser "effective_user" Str "The user the request was authorized as: `impersonated_user` when set, else `user_name` (the queries use `caller`, which holds it)";
    Caller "caller" Str "`effective_user`, followed by the impersonator when there is one (`alice (via system:admin)`): the user column the queries group, count and show";
    ControlPlane "control_plane" Str "The control-plane or managed-platform component the user (or one of its groups) belongs to (`kube-apiserver`, `kubelet`, `EKS control plane`), from `rules/data/control-plane.yaml`; NULL for everyone else, and for a request that impersonates such an identity (a person acting as the control plane is judged like anyone)";
    ResponseMessage "response_message" Str "`responseStatus.message`, cut to 512 bytes (with `…`)";
    Webhook "webhook" Str "The admission webhook the response names: the one that failed the call (`failed calling webhook \"NAME\"`), denied it, or failed open (`failed-open.*.webhook.admission.k8s.io` annotation)";
    WebhookError "webhook_error" Str "What went wrong with `webhook`: `connection refused`, `timeout`, `TLS`, `no endpoints`, `service not found`, `bad response`, `unreachable`, `connection reset`, `error`; `failed open` (the request went through), `denied` (a policy decision, not an outage)";
}

/// Latency annotations parsed into typed columns. `apiserver.latency.k8s.io/total` is deliberately not
/// here: it is written only above 500 ms and is garbage (negative) on 1.34+; use `latency_ms`.
pub const LATENCY_ANNOTATIONS: &[(&str, Col)] = &[
    (
        "apiserver.latency.k8s.io/apf-queue-wait",
        Col::LatApfQueueWaitMs,
    ),
    ("apiserver.latency.k8s.io/etcd", Col::LatEtcdMs),
    (
        "apiserver.latency.k8s.io/mutating-webhook",
        Col::LatMutatingWebhookMs,
    ),
    (
        "apiserver.latency.k8s.io/validating-webhook",
        Col::LatValidatingWebhookMs,
    ),
    (
        "apiserver.latency.k8s.io/serialize-response-object",
        Col::LatSerializeMs,
    ),
    (
        "apiserver.latency.k8s.io/response-write",
        Col::LatResponseWriteMs,
    ),
    (
        "apiserver.latency.k8s.io/decode-response-object",
        Col::LatDecodeMs,
    ),
    (
        "apiserver.latency.k8s.io/transform-response-object",
        Col::LatTransformMs,
    ),
];

impl Col {
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn def(self) -> &'static ColumnDef {
        &COLUMNS[self as usize]
    }
}

pub fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Str => DataType::Utf8,
        Kind::Int32 => DataType::Int32,
        Kind::Int64 => DataType::Int64,
        Kind::Float64 => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Ts => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        Kind::StrMap => DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("keys", DataType::Utf8, false),
                    Field::new("values", DataType::Utf8, true),
                ])),
                false,
            )),
            false,
        ),
    }
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| Field::new(c.name, data_type(c.kind), true))
            .collect::<Vec<_>>(),
    ))
});

/// The full `audit` schema.
pub fn audit_schema() -> SchemaRef {
    SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_in_enum_order_and_snake_case() {
        for (i, c) in COLUMNS.iter().enumerate() {
            assert_eq!(c.col.index(), i, "{}", c.name);
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{}",
                c.name
            );
            assert!(!c.doc.is_empty());
        }
        assert_eq!(audit_schema().fields().len(), COLUMNS.len());
    }
}
