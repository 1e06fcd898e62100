//! Admission webhook failures as the audit log records them.
//!
//! The API server answers a request whose fail-closed webhook could not be called with 500 and
//! `Internal error occurred: failed calling webhook "NAME": failed to call webhook: Post "…": <why>`
//! (`ErrCallingWebhook` in k8s.io/apiserver/pkg/admission/plugin/webhook/errors); a webhook that
//! rejected the request is `admission webhook "NAME" denied the request: …`. A fail-open webhook
//! (`failurePolicy: Ignore`) that could not be called lets the request through and leaves the
//! annotation `failed-open.mutation.webhook.admission.k8s.io/round_R_index_I` or
//! `failed-open.validating.webhook.admission.k8s.io/round_0_index_I` whose value is its name.

/// The longest `responseStatus.message` kept in the `response_message` column, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 512;

/// A message cut to [`MAX_MESSAGE_BYTES`] at a character boundary (with `…` when cut).
pub fn bounded_message(m: &str) -> std::borrow::Cow<'_, str> {
    if m.len() <= MAX_MESSAGE_BYTES {
        return m.into();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &m[..end]).into()
}

/// The webhook a response names and what went wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent<'a> {
    pub name: &'a str,
    pub error: &'static str,
}

/// The quoted name after `prefix` in `msg`.
fn quoted_after<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let at = msg.find(prefix)? + prefix.len();
    let rest = msg[at..].strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(&rest[..end]).filter(|n| !n.is_empty())
}

/// The failure class of a webhook call's error text, in the order the causes are checked.
const CLASSES: &[(&[&str], &str)] = &[
    (&["connection refused"], "connection refused"),
    (&["no endpoints available"], "no endpoints"),
    (&["service \"", "not found"], "service not found"),
    (
        &[
            "context deadline exceeded",
            "Client.Timeout exceeded",
            "i/o timeout",
            "timeout awaiting",
        ],
        "timeout",
    ),
    (&["x509:", "tls:", "certificate"], "TLS"),
    (
        &[
            "invalid webhook response",
            "expected response.uid",
            "expected webhook response",
            "unexpected end of JSON",
            "cannot unmarshal",
        ],
        "bad response",
    ),
    (
        &["no such host", "no route to host", "network is unreachable"],
        "unreachable",
    ),
    (&["connection reset", "EOF"], "connection reset"),
];

fn class_of(why: &str) -> &'static str {
    for (needles, class) in CLASSES {
        let hit = if *class == "service not found" {
            needles.iter().all(|n| why.contains(n))
        } else {
            needles.iter().any(|n| why.contains(n))
        };
        if hit {
            return class;
        }
    }
    "error"
}

/// The webhook named by a response's status message, and the class of its failure
/// (`denied` when it rejected the request: a policy decision, not an outage).
pub fn from_message(msg: &str) -> Option<WebhookEvent<'_>> {
    if let Some(name) = quoted_after(msg, "failed calling webhook ")
        .or_else(|| quoted_after(msg, "failed calling admission webhook "))
    {
        let why = msg.split_once(name).map(|(_, r)| r).unwrap_or(msg);
        // the cause follows the URL (whose host may say "certificate" or "timeout" itself)
        let why = why
            .find("Post \"")
            .and_then(|p| {
                let url = &why[p + 6..];
                url.find('"').map(|q| &url[q + 1..])
            })
            .unwrap_or(why);
        return Some(WebhookEvent {
            name,
            error: class_of(why),
        });
    }
    quoted_after(msg, "admission webhook ")
        .filter(|_| msg.contains("denied the request"))
        .map(|name| WebhookEvent {
            name,
            error: "denied",
        })
}

/// The first fail-open webhook recorded in a request's annotations (the call failed and
/// `failurePolicy: Ignore` let the request through).
pub fn failed_open<K: AsRef<str>, V: AsRef<str>>(annotations: &[(K, V)]) -> Option<&str> {
    annotations
        .iter()
        .find(|(k, _)| {
            let k = k.as_ref();
            k.starts_with("failed-open.") && k.contains(".webhook.admission.k8s.io/")
        })
        .map(|(_, v)| v.as_ref())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_classes_from_real_messages() {
        let m = r#"Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=10s": dial tcp 10.96.12.7:443: connect: connection refused"#;
        assert_eq!(
            from_message(m),
            Some(WebhookEvent {
                name: "validate.kyverno.svc-fail",
                error: "connection refused"
            })
        );
        let t = r#"Internal error occurred: failed calling webhook "sidecar-injector.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout=10s": context deadline exceeded"#;
        assert_eq!(from_message(t).map(|w| w.error), Some("timeout"));
        let x = r#"Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/mutate?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority"#;
        assert_eq!(from_message(x).map(|w| w.error), Some("TLS"));
        let n = r#"Internal error occurred: failed calling webhook "a.b": failed to call webhook: Post "https://a.b.svc:443/?timeout=10s": service "a" not found"#;
        assert_eq!(from_message(n).map(|w| w.error), Some("service not found"));
        let e = r#"Internal error occurred: failed calling webhook "a.b": failed to call webhook: Post "https://a.b.svc:443/?timeout=10s": no endpoints available for service "a""#;
        assert_eq!(from_message(e).map(|w| w.error), Some("no endpoints"));
        let d = r#"admission webhook "validation.gatekeeper.sh" denied the request: [deny-all] no"#;
        assert_eq!(
            from_message(d),
            Some(WebhookEvent {
                name: "validation.gatekeeper.sh",
                error: "denied"
            })
        );
        assert_eq!(from_message("etcdserver: request timed out"), None);
        assert_eq!(from_message("failed calling webhook \""), None);
        assert_eq!(from_message("failed calling webhook \"\": x"), None);
    }

    #[test]
    fn fail_open_annotation_and_bounded_message() {
        let a = [
            ("authorization.k8s.io/decision", "allow"),
            (
                "failed-open.mutation.webhook.admission.k8s.io/round_0_index_2",
                "inject.example.com",
            ),
        ];
        assert_eq!(failed_open(&a), Some("inject.example.com"));
        assert_eq!(failed_open(&a[..1]), None);
        let long = "é".repeat(400);
        let b = bounded_message(&long);
        assert!(b.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(b.ends_with('…'));
        assert_eq!(bounded_message("short"), "short");
    }
}
