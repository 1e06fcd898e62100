//! `report --webhooks`: explains AUD044's webhook failures with the webhook configurations the
//! failures name (from manifests or a live cluster) and with what `kscope lint`'s WH rules say
//! about them. The audit log tells which webhook failed whom; the configuration tells why it could
//! reach them and what to change.

use anyhow::Result;
use serde_json::Value;

use crate::catalogue::Overrides;
use crate::cli::WebhookArgs;
use crate::finding::Finding;
use crate::gate::config::Config;
use crate::inventory::{Inventory, Obj};
use crate::lint::{self, Source};
use crate::rules;

/// The query whose findings name a failing webhook (`webhook NAME`).
const CODE: &str = "AUD044";
const KINDS: [&str; 2] = [
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// Where the configurations come from, if the flags name a place.
fn source(a: &WebhookArgs, limits: crate::inventory::yaml::Limits) -> Option<Source> {
    if !a.files.is_empty() {
        return Some(Source::Files(a.files.clone(), limits));
    }
    a.context.as_ref().map(|ctx| {
        Source::Cluster(crate::inventory::live::LiveOptions {
            context: Some(ctx.clone()).filter(|c| !c.is_empty()),
            kubeconfig: a.kubeconfig.clone(),
            ..Default::default()
        })
    })
}

/// Adds to every AUD044 finding its webhook's configuration and the WH findings about it. Reads
/// nothing when no webhook failed. Objects that cannot be read are reported like `lint`'s.
pub async fn explain(a: &WebhookArgs, cfg: &Config, findings: &mut [Finding]) -> Result<()> {
    let Some(source) = source(a, crate::inventory::yaml::Limits::default()) else {
        return Ok(());
    };
    if !findings.iter().any(|f| f.code == CODE) {
        return Ok(());
    }
    let wh = rules::select(&["WH".to_string()], &[])?;
    // the report stands without the explanation: a cluster that cannot be read (likely during the
    // outage being diagnosed) is a warning, not a failed report
    let inv = match lint::inventory(&source, &wh, &|f| cfg.ignores_file(f)).await {
        Ok(inv) => inv,
        Err(e) => {
            tracing::warn!("webhook configurations not read, AUD044 is not explained: {e:#}");
            return Ok(());
        }
    };
    let _ = crate::render::stderr::problems("invalid", &inv.problems, &mut std::io::stderr());
    let target = lint::target(&inv, None)?;
    let linted = lint::run(&inv, &wh, target, &Overrides::default());
    for f in findings.iter_mut().filter(|f| f.code == CODE) {
        let Some(name) = f.subject.name.strip_prefix("webhook ") else {
            continue;
        };
        let name = name.to_string();
        // the explanation goes with the remediation: the message (and so the finding's identity in
        // baselines) is the same with or without --webhooks
        let mut said: Vec<String> = Vec::new();
        for w in linted
            .outcome
            .findings
            .iter()
            .filter(|w| mentions(&w.message, &name))
        {
            let s = format!("{} ({})", w.code, w.severity.as_str());
            if !said.contains(&s) {
                said.push(s);
            }
        }
        let mut why = configured(&inv, &name);
        if !said.is_empty() {
            why.push_str(&format!(
                " What to change, for this webhook: {} (`kscope lint --rule WH` on the same input says why).",
                said.join(", ")
            ));
        }
        f.remediation = format!("{why} {}", f.remediation);
    }
    Ok(())
}

/// Whether a WH finding's message is about webhook `name` (`webhook NAME has …`, `… webhook NAME (…`).
fn mentions(message: &str, name: &str) -> bool {
    message.match_indices(name).any(|(at, _)| {
        let before = &message[..at];
        let after = message[at + name.len()..].chars().next();
        before.ends_with("webhook ") && after.is_none_or(|c| c == ' ' || c == ',' || c == ')')
    })
}

/// `Configured in MutatingWebhookConfiguration/x: failurePolicy Fail, timeoutSeconds 10, …`, or
/// that no configuration read names it.
fn configured(inv: &Inventory, name: &str) -> String {
    let found: Vec<(&Obj, &Value)> = KINDS
        .iter()
        .flat_map(|k| inv.of(k))
        .flat_map(|o| {
            o.get("webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(move |w| w.get("name").and_then(Value::as_str) == Some(name))
                .map(move |w| (o, w))
        })
        .collect();
    if found.is_empty() {
        return format!(
            "No webhook configuration in {} names {name} (deleted since, or not in the input).",
            inv.origin
        );
    }
    let parts: Vec<String> = found
        .iter()
        .map(|(o, w)| {
            let s = |k: &str| w.get(k).and_then(Value::as_str);
            format!(
                "{}/{} ({}): failurePolicy {}, timeoutSeconds {}, namespaceSelector {}, objectSelector {}",
                o.kind,
                o.name,
                o.origin,
                s("failurePolicy").unwrap_or("Fail (the default)"),
                w.get("timeoutSeconds")
                    .and_then(Value::as_i64)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "10 (the default)".into()),
                selector(w.get("namespaceSelector")),
                selector(w.get("objectSelector")),
            )
        })
        .collect();
    format!("Configured in {}.", parts.join("; "))
}

/// A label selector in one line: `none (everything)`, `app=x, kubernetes.io/metadata.name NotIn [a, b]`.
fn selector(v: Option<&Value>) -> String {
    let mut parts = Vec::new();
    if let Some(m) = v
        .and_then(|v| v.get("matchLabels"))
        .and_then(Value::as_object)
    {
        for (k, val) in m {
            parts.push(format!("{k}={}", val.as_str().unwrap_or("?")));
        }
    }
    if let Some(exprs) = v
        .and_then(|v| v.get("matchExpressions"))
        .and_then(Value::as_array)
    {
        for e in exprs {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("?");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if values.is_empty() {
                parts.push(format!("{} {}", s("key"), s("operator")));
            } else {
                parts.push(format!(
                    "{} {} [{}]",
                    s("key"),
                    s("operator"),
                    values.join(", ")
                ));
            }
        }
    }
    if parts.is_empty() {
        "none (everything)".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_and_mentions() {
        assert_eq!(selector(None), "none (everything)");
        assert_eq!(
            selector(Some(&json!({"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]},
                {"key": "inject", "operator": "Exists"}],
                "matchLabels": {"team": "a"}}))),
            "team=a, kubernetes.io/metadata.name NotIn [kube-system], inject Exists"
        );
        assert!(mentions("webhook a.b has failurePolicy Fail", "a.b"));
        assert!(mentions(
            "behind fail-closed webhook a.b (Service x)",
            "a.b"
        ));
        assert!(!mentions("webhook a.bc has failurePolicy Fail", "a.b"));
        assert!(!mentions("Service a.b is missing", "a.b"));
    }
}
