//! Stage 1, discovery: the audit streams of the log group whose events overlap the window
//! (DescribeLogStreams, paged by token).

use super::*;

/// Lists the group's streams and keeps the audit streams whose events overlap the window.
pub(super) async fn discover(
    client: &cwl::Client,
    describe: &Caller,
    group: &str,
    o: &CwOptions,
) -> Result<(Vec<StreamInfo>, usize), CwError> {
    let prefix = o.stream_prefix.as_deref().unwrap_or(AUDIT_PREFIX);
    let mut token: Option<String> = None;
    let mut kept = Vec::new();
    let mut skipped = 0;
    let what = format!("log group {group}");
    loop {
        let page = describe
            .call(|| {
                let req = client
                    .describe_log_streams()
                    .log_group_name(group)
                    .log_stream_name_prefix(prefix)
                    .limit(50)
                    .set_next_token(token.clone());
                let what = what.clone();
                async move {
                    req.send()
                        .await
                        .map_err(|e| classify(Op::DescribeLogStreams, &what, e))
                }
            })
            .await
            .map_err(fatal)?;
        for s in page.log_streams() {
            let Some(name) = s.log_stream_name() else {
                continue;
            };
            let is_audit = match &o.stream_prefix {
                Some(p) => name.starts_with(p.as_str()),
                None => is_eks_audit_stream(name),
            };
            // lastEventTimestamp is updated lazily (up to an hour late); lastIngestionTime is not
            let (Some(first), Some(last)) = (
                s.first_event_timestamp(),
                s.last_event_timestamp()
                    .max(s.last_ingestion_time())
                    .map(|t| t + HOUR_MS),
            ) else {
                skipped += 1;
                continue;
            };
            if is_audit && first < o.end_ms && last >= o.start_ms {
                kept.push(StreamInfo {
                    name: name.to_string(),
                    first_ms: first,
                    last_ms: last,
                });
            } else {
                skipped += 1;
            }
        }
        // an empty page can still carry a token: only a missing or repeated token ends the list
        match page.next_token() {
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => break,
        }
    }
    kept.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((kept, skipped))
}

/// `kube-apiserver-audit-` followed by exactly 32 lowercase hex digits.
pub fn is_eks_audit_stream(name: &str) -> bool {
    name.strip_prefix(AUDIT_PREFIX).is_some_and(|id| {
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_eks_audit_streams() {
        assert!(is_eks_audit_stream(
            "kube-apiserver-audit-0123456789abcdef0123456789abcdef"
        ));
        for bad in [
            "kube-apiserver-audit-notes",
            "kube-apiserver-0123456789abcdef0123456789abcdef",
            "kube-apiserver-audit-0123456789ABCDEF0123456789abcdef",
            "kube-apiserver-audit-0123456789abcdef0123456789abcdef0",
        ] {
            assert!(!is_eks_audit_stream(bad), "{bad}");
        }
    }
}
