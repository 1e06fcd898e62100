-- code: AUD030
-- name: watch-churn
-- title: Watch churn by client and resource
-- finds: WATCH requests opened per hour by client and resource, per watch stream (one instance watching
--   one namespace/selector), with the LISTs of the same pair (relists) and the median watch duration.
--   Pairs opening more than `max_per_stream_hour` watches per stream per hour are warnings.
-- why: A healthy informer keeps one watch open and re-opens it every 5-10 minutes (timeoutSeconds), so
--   about 6-12 per stream per hour. Far more means watches are failing or closed early, and each failure
--   usually means a relist: an informer relist storm that multiplies LIST load.
-- columns: client, resource, streams, watches, watches_per_hour, per_stream_hour, relists, p50_watch_s, severity
-- param: max_per_stream_hour = 30 | watches per stream per hour above which a pair is reported
-- severity: warning
-- subject: {client} WATCH {resource}
-- message: {client} opened {watches} watches of {resource} ({per_stream_hour} per stream per hour over
--   {streams} streams, median duration {p50_watch_s} s, {relists} LISTs); threshold {max_per_stream_hour}
-- remediation: Find why the watches end early (client timeouts, a proxy or load balancer idle timeout,
--   410 Gone from a too-old resourceVersion, crashes) and use shared informers with bookmarks.
-- reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
-- requires: Metadata
WITH span AS (
  SELECT greatest(1.0 / 60, (date_part('epoch', max(request_received_ts)) - date_part('epoch', min(request_received_ts))) / 3600.0) AS hours
  FROM audit
),
w AS (
  SELECT
    coalesce(client, '(no user agent)') AS client,
    resource,
    count(DISTINCT concat_ws('|', user_name, source_ip, namespace, label_selector, field_selector)) FILTER (WHERE verb = 'watch') AS streams,
    count(*) FILTER (WHERE verb = 'watch') AS watches,
    count(*) FILTER (WHERE verb = 'list') AS relists,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN verb = 'watch' AND stage = 'ResponseComplete' THEN latency_ms END) AS p50_watch_ms
  FROM audit
  WHERE verb IN ('watch', 'list') AND resource IS NOT NULL
  GROUP BY 1, 2
)
SELECT
  client,
  resource,
  streams,
  watches,
  round(watches / hours, 1) AS watches_per_hour,
  round(watches / hours / streams, 1) AS per_stream_hour,
  relists,
  round(p50_watch_ms / 1000.0, 1) AS p50_watch_s,
  CASE WHEN watches / hours / streams > ${max_per_stream_hour} THEN 'warning' END AS severity
FROM w CROSS JOIN span
WHERE watches > 0
ORDER BY per_stream_hour DESC, watches DESC, client, resource
