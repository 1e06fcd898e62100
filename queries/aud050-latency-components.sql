-- code: AUD050
-- name: latency-components
-- title: Where slow requests spend their time
-- finds: For requests that carry `apiserver.latency.k8s.io/*` annotations (the API server adds them
--   to slow requests), by verb and resource: count, p99 total latency and the mean time in each
--   component: APF queue wait, etcd, mutating and validating admission webhooks, response
--   serialisation and write. Rows whose mean webhook time reaches `max_webhook_ms` or mean APF wait
--   reaches `max_apf_wait_ms` are warnings.
-- never: Requests without latency annotations (the API server writes them for slow requests only);
--   webhook and APF averages under the thresholds.
-- why: A slow request is slow somewhere: etcd (storage latency, large objects), admission webhooks (a
--   slow or failing webhook on the critical path), APF queuing (the priority level is saturated) or
--   serialisation (huge responses). Total latency is computed from the timestamps; the annotation
--   `apiserver.latency.k8s.io/total` is never used (only written above 500 ms, negative on 1.34+).
-- columns: verb, resource, requests, p99_ms, apf_wait_ms, etcd_ms, webhooks_ms, serialize_ms, write_ms, severity
-- chart: bar x=resource y=p99_ms series=verb
-- param: max_webhook_ms = 500 | mean admission webhook time (ms) that makes a row a warning
-- param: max_apf_wait_ms = 1000 | mean APF queue wait (ms) that makes a row a warning
-- severity: warning
-- subject: {verb} {resource}
-- message: {requests} slow {verb} requests of {resource} (p99 {p99_ms} ms) spent on average {webhooks_ms} ms in
--   admission webhooks and {apf_wait_ms} ms queued by APF; thresholds {max_webhook_ms} ms and {max_apf_wait_ms} ms
-- remediation: Webhooks: lower their timeoutSeconds, scope them with namespaceSelector/objectSelector, fix or
--   scale the webhook backend. APF: give the traffic its own priority level or reduce it.
-- requires: Metadata (annotations are written for slow requests)
WITH s AS (
  SELECT
    verb,
    coalesce(resource || coalesce('/' || subresource, ''), path) AS resource,
    count(*) AS requests,
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms), 1) AS p99_ms,
    round(avg(coalesce(lat_apf_queue_wait_ms, 0)), 1) AS apf_wait_ms,
    round(avg(coalesce(lat_etcd_ms, 0)), 1) AS etcd_ms,
    round(avg(coalesce(lat_mutating_webhook_ms, 0) + coalesce(lat_validating_webhook_ms, 0)), 1) AS webhooks_ms,
    round(avg(coalesce(lat_serialize_ms, 0)), 1) AS serialize_ms,
    round(avg(coalesce(lat_response_write_ms, 0)), 1) AS write_ms
  FROM audit
  WHERE lat_etcd_ms IS NOT NULL OR lat_apf_queue_wait_ms IS NOT NULL OR lat_mutating_webhook_ms IS NOT NULL
     OR lat_validating_webhook_ms IS NOT NULL OR lat_serialize_ms IS NOT NULL OR lat_response_write_ms IS NOT NULL
  GROUP BY 1, 2
)
SELECT *,
  CASE WHEN webhooks_ms >= ${max_webhook_ms} OR apf_wait_ms >= ${max_apf_wait_ms} THEN 'warning' END AS severity
FROM s
ORDER BY requests DESC, verb, resource
