//! Writes decoded events straight into Arrow builders, for the projected columns only.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::control_plane::Labeller;
use super::event::{Need, RawEvent, client_of, parse_go_duration_ms, parse_uri};
use super::schema::{COLUMNS, Col, Kind, LATENCY_ANNOTATIONS, audit_schema};
use super::webhook;

enum Builder {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>),
    Map(MapBuilder<StringBuilder, StringBuilder>),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Str => Builder::Str(StringBuilder::new()),
            Kind::Int32 => Builder::I32(Int32Builder::new()),
            Kind::Int64 => Builder::I64(Int64Builder::new()),
            Kind::Float64 => Builder::F64(Float64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Ts => Builder::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            Kind::StrList => Builder::List(ListBuilder::new(StringBuilder::new())),
            Kind::StrMap => Builder::Map(MapBuilder::new(
                None,
                StringBuilder::new(),
                StringBuilder::new(),
            )),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Ts(b) => Arc::new(b.finish()),
            Builder::List(b) => Arc::new(b.finish()),
            Builder::Map(b) => Arc::new(b.finish()),
        }
    }
}

/// What a projection needs decoded from each event.
pub fn need_for(cols: &[Col]) -> Need {
    let mut n = Need::default();
    for c in cols {
        match c {
            Col::Level => n.level = true,
            Col::RequestUri
            | Col::Path
            | Col::ListLimit
            | Col::ContinueToken
            | Col::ResourceVersion
            | Col::ResourceVersionMatch
            | Col::LabelSelector
            | Col::FieldSelector
            | Col::Watch
            | Col::TimeoutSeconds => n.uri = true,
            Col::UserName => n.user = true,
            Col::UserGroups => n.user_groups = true,
            Col::UserPodName => n.user_extra = true,
            Col::ImpersonatedUser => n.impersonated = true,
            Col::SourceIp => n.source_ip = true,
            Col::UserAgent | Col::Client => n.user_agent = true,
            Col::Resource | Col::Namespace | Col::Name | Col::ApiGroup | Col::ApiVersion => {
                n.object_ref = true
            }
            Col::ResponseCode | Col::ResponseReason => n.status = true,
            Col::RequestReceivedTs | Col::StageTs | Col::LatencyMs => n.timestamps = true,
            Col::Annotations => {
                n.annotations = true;
                n.annotation_map = true;
            }
            Col::AuthzDecision
            | Col::AuthzReason
            | Col::Deprecated
            | Col::RemovedRelease
            | Col::LatApfQueueWaitMs
            | Col::LatEtcdMs
            | Col::LatMutatingWebhookMs
            | Col::LatValidatingWebhookMs
            | Col::LatSerializeMs
            | Col::LatResponseWriteMs
            | Col::LatDecodeMs
            | Col::LatTransformMs => n.annotations = true,
            Col::RequestObjectBytes | Col::ResponseObjectBytes => n.bodies = true,
            Col::EffectiveUser | Col::Caller => {
                n.user = true;
                n.impersonated = true;
            }
            Col::ControlPlane => {
                n.user = true;
                n.user_groups_raw = true;
                n.impersonated = true;
            }
            Col::ResponseMessage => n.message = true,
            Col::Webhook | Col::WebhookError => {
                n.message = true;
                n.annotations = true;
            }
            Col::Source | Col::AuditId | Col::Stage | Col::Verb | Col::Subresource => {}
        }
    }
    n
}

/// Values computed once per row, outside the event itself.
pub struct RowMeta<'s> {
    pub source: &'s str,
    pub line: u64,
    pub request_received_us: i64,
    pub stage_us: Option<i64>,
}

/// Builds record batches of a fixed projection of the `audit` schema.
pub struct BatchBuilder {
    cols: Vec<Col>,
    builders: Vec<Builder>,
    schema: SchemaRef,
    rows: usize,
    uri_needed: bool,
    scratch: String,
    /// user agent → client: few distinct user agents, many rows
    clients: std::collections::HashMap<String, String>,
    control_plane: Labeller,
    /// Per row, the key that tells whether the same event was delivered before (kept by the scan,
    /// which drops the duplicates when the batch is finished); not part of the batch.
    pub keys: Vec<Option<u64>>,
}

impl BatchBuilder {
    pub fn new(cols: &[Col]) -> Self {
        let full = audit_schema();
        let fields: Vec<_> = cols.iter().map(|c| full.field(c.index()).clone()).collect();
        BatchBuilder {
            cols: cols.to_vec(),
            builders: cols.iter().map(|c| Builder::new(c.def().kind)).collect(),
            schema: Arc::new(Schema::new(fields)),
            rows: 0,
            uri_needed: cols.iter().any(|c| {
                matches!(
                    c,
                    Col::Path
                        | Col::ListLimit
                        | Col::ContinueToken
                        | Col::ResourceVersion
                        | Col::ResourceVersionMatch
                        | Col::LabelSelector
                        | Col::FieldSelector
                        | Col::Watch
                        | Col::TimeoutSeconds
                )
            }),
            scratch: String::new(),
            clients: std::collections::HashMap::new(),
            control_plane: Labeller::default(),
            keys: Vec::new(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let opts = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &opts)
    }

    pub fn append(&mut self, ev: &RawEvent<'_>, meta: &RowMeta<'_>) {
        self.rows += 1;
        let uri = ev.request_uri.as_deref().unwrap_or_default();
        let (path, params) = if self.uri_needed {
            parse_uri(uri)
        } else {
            (uri, Default::default())
        };
        let effective = ev.impersonated_user.as_deref().or(ev.user_name.as_deref());
        let mut hook: Option<Option<webhook::WebhookEvent<'_>>> = None;
        for (col, b) in self.cols.iter().zip(self.builders.iter_mut()) {
            match (col, b) {
                (Col::EffectiveUser, Builder::Str(b)) => b.append_option(effective),
                (Col::Caller, Builder::Str(b)) => {
                    match (ev.impersonated_user.as_deref(), ev.user_name.as_deref()) {
                        (Some(as_user), Some(by)) => {
                            use std::fmt::Write;
                            self.scratch.clear();
                            let _ = write!(self.scratch, "{as_user} (via {by})");
                            b.append_value(&self.scratch);
                        }
                        _ => b.append_option(effective),
                    }
                }
                (Col::ControlPlane, Builder::Str(b)) => {
                    // someone impersonating a control-plane identity is not the control plane:
                    // judged like anyone else
                    if ev.impersonated_user.is_some() {
                        b.append_null()
                    } else {
                        b.append_option(
                            self.control_plane
                                .label(effective, ev.user_groups_raw.unwrap_or_default()),
                        )
                    }
                }
                (Col::ResponseMessage, Builder::Str(b)) => {
                    b.append_option(ev.response_message.as_deref().map(webhook::bounded_message))
                }
                (Col::Webhook, Builder::Str(b)) => b.append_option(
                    hook.get_or_insert_with(|| webhook_of(ev))
                        .as_ref()
                        .map(|w| w.name),
                ),
                (Col::WebhookError, Builder::Str(b)) => b.append_option(
                    hook.get_or_insert_with(|| webhook_of(ev))
                        .as_ref()
                        .map(|w| w.error),
                ),
                (Col::Source, Builder::Str(b)) => {
                    use std::fmt::Write;
                    self.scratch.clear();
                    let _ = write!(self.scratch, "{}{}", meta.source, meta.line);
                    b.append_value(&self.scratch);
                }
                (Col::AuditId, Builder::Str(b)) => b.append_option(ev.audit_id.as_deref()),
                (Col::Stage, Builder::Str(b)) => b.append_option(ev.stage.as_deref()),
                (Col::Level, Builder::Str(b)) => b.append_option(ev.level.as_deref()),
                (Col::Verb, Builder::Str(b)) => b.append_option(ev.verb.as_deref()),
                (Col::RequestUri, Builder::Str(b)) => b.append_option(ev.request_uri.as_deref()),
                (Col::Path, Builder::Str(b)) => b.append_value(path),
                (Col::ListLimit, Builder::I64(b)) => b.append_option(params.limit),
                (Col::ContinueToken, Builder::Str(b)) => {
                    b.append_option(params.continue_token.as_deref())
                }
                (Col::ResourceVersion, Builder::Str(b)) => {
                    b.append_option(params.resource_version.as_deref())
                }
                (Col::ResourceVersionMatch, Builder::Str(b)) => {
                    b.append_option(params.resource_version_match.as_deref())
                }
                (Col::LabelSelector, Builder::Str(b)) => {
                    b.append_option(params.label_selector.as_deref())
                }
                (Col::FieldSelector, Builder::Str(b)) => {
                    b.append_option(params.field_selector.as_deref())
                }
                (Col::Watch, Builder::Bool(b)) => b.append_option(params.watch),
                (Col::TimeoutSeconds, Builder::I64(b)) => b.append_option(params.timeout_seconds),
                (Col::UserName, Builder::Str(b)) => b.append_option(ev.user_name.as_deref()),
                (Col::UserGroups, Builder::List(b)) => {
                    for g in &ev.user_groups {
                        b.values().append_value(g);
                    }
                    b.append(true);
                }
                (Col::UserPodName, Builder::Str(b)) => b.append_option(ev.user_pod_name.as_deref()),
                (Col::ImpersonatedUser, Builder::Str(b)) => {
                    b.append_option(ev.impersonated_user.as_deref())
                }
                (Col::SourceIp, Builder::Str(b)) => b.append_option(ev.source_ip.as_deref()),
                (Col::UserAgent, Builder::Str(b)) => b.append_option(ev.user_agent.as_deref()),
                (Col::Client, Builder::Str(b)) => match ev.user_agent.as_deref() {
                    None => b.append_null(),
                    Some(ua) => match self.clients.get(ua) {
                        Some(c) => b.append_value(c),
                        None => {
                            let c = client_of(ua);
                            b.append_value(&c);
                            if self.clients.len() < 10_000 {
                                self.clients.insert(ua.to_string(), c);
                            }
                        }
                    },
                },
                (Col::Resource, Builder::Str(b)) => b.append_option(ev.resource.as_deref()),
                (Col::Subresource, Builder::Str(b)) => b.append_option(ev.subresource.as_deref()),
                (Col::Namespace, Builder::Str(b)) => {
                    b.append_option(ev.namespace.as_deref().filter(|s| !s.is_empty()))
                }
                (Col::Name, Builder::Str(b)) => b.append_option(ev.name.as_deref()),
                (Col::ApiGroup, Builder::Str(b)) => {
                    let g = ev.api_group.as_deref().or(if ev.resource.is_some() {
                        Some("")
                    } else {
                        None
                    });
                    b.append_option(g)
                }
                (Col::ApiVersion, Builder::Str(b)) => b.append_option(ev.api_version.as_deref()),
                (Col::ResponseCode, Builder::I32(b)) => {
                    b.append_option(ev.response_code.and_then(|c| i32::try_from(c).ok()))
                }
                (Col::ResponseReason, Builder::Str(b)) => {
                    b.append_option(ev.response_reason.as_deref())
                }
                (Col::RequestReceivedTs, Builder::Ts(b)) => {
                    b.append_value(meta.request_received_us)
                }
                (Col::StageTs, Builder::Ts(b)) => b.append_option(meta.stage_us),
                (Col::LatencyMs, Builder::F64(b)) => b.append_option(
                    meta.stage_us
                        .map(|s| (s - meta.request_received_us) as f64 / 1000.0),
                ),
                (Col::Annotations, Builder::Map(b)) => {
                    for (k, v) in &ev.annotations {
                        b.keys().append_value(k);
                        b.values().append_value(v);
                    }
                    // cannot fail: keys and values were appended in pairs
                    let _ = b.append(true);
                }
                (Col::AuthzDecision, Builder::Str(b)) => {
                    b.append_option(ev.annotation("authorization.k8s.io/decision"))
                }
                (Col::AuthzReason, Builder::Str(b)) => {
                    b.append_option(ev.annotation("authorization.k8s.io/reason"))
                }
                (Col::Deprecated, Builder::Bool(b)) => b.append_value(
                    ev.annotation("k8s.io/deprecated")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                ),
                (Col::RemovedRelease, Builder::Str(b)) => {
                    b.append_option(ev.annotation("k8s.io/removed-release"))
                }
                (c, Builder::F64(b)) => {
                    let key = LATENCY_ANNOTATIONS
                        .iter()
                        .find(|(_, lc)| lc == c)
                        .map(|(k, _)| *k);
                    b.append_option(
                        key.and_then(|k| ev.annotation(k))
                            .and_then(parse_go_duration_ms),
                    )
                }
                (Col::RequestObjectBytes, Builder::I64(b)) => {
                    b.append_option(ev.request_object_bytes)
                }
                (Col::ResponseObjectBytes, Builder::I64(b)) => {
                    b.append_option(ev.response_object_bytes)
                }
                // every (column, builder) pair is created from the same schema, so this cannot happen;
                // keep the batch rectangular anyway
                (_, Builder::Str(b)) => b.append_null(),
                (_, Builder::I32(b)) => b.append_null(),
                (_, Builder::I64(b)) => b.append_null(),
                (_, Builder::Bool(b)) => b.append_null(),
                (_, Builder::Ts(b)) => b.append_null(),
                (_, Builder::List(b)) => b.append(false),
                (_, Builder::Map(b)) => {
                    let _ = b.append(false);
                }
            }
        }
    }
}

/// The webhook a response names (failed or denied), else the first that failed open.
fn webhook_of<'e>(ev: &'e RawEvent<'_>) -> Option<webhook::WebhookEvent<'e>> {
    ev.response_message
        .as_deref()
        .and_then(webhook::from_message)
        .or_else(|| {
            webhook::failed_open(&ev.annotations).map(|name| webhook::WebhookEvent {
                name,
                error: "failed open",
            })
        })
}

/// Columns of the full schema, by index.
pub fn cols_of(projection: Option<&Vec<usize>>) -> Vec<Col> {
    match projection {
        Some(p) => p
            .iter()
            .filter_map(|&i| COLUMNS.get(i).map(|c| c.col))
            .collect(),
        None => COLUMNS.iter().map(|c| c.col).collect(),
    }
}
