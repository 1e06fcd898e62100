-- code: AUD012
-- name: slow-lists
-- title: Slowest LISTs by client and resource
-- finds: LIST latency by client and resource (count, p50, p99, max), for pairs with at least
--   `min_count` LISTs; rows whose p99 reaches `warn_p99_ms` are warnings, `error_p99_ms` errors.
-- never: A (client, resource) pair with fewer than `min_count` LISTs (one slow LIST is noise);
--   LISTs whose p99 stays under `warn_p99_ms`.
-- why: Latency is measured from the request's receipt to its last byte (stageTimestamp minus
--   requestReceivedTimestamp, correct across midnight, unlike regex arithmetic on the timestamps).
--   Slow LISTs hold API Priority and Fairness seats and memory for their whole duration, and
--   SIG Scalability's SLO is 5 s at p99 for namespaced LISTs (30 s cluster-wide).
-- columns: client, resource, lists, p50_ms, p99_ms, max_ms, severity
-- chart: bar x=resource y=p99_ms series=client
-- param: min_count = 3 | LISTs a (client, resource) pair needs to be shown
-- param: warn_p99_ms = 1000 | p99 latency (ms) from which a pair is a warning
-- param: error_p99_ms = 5000 | p99 latency (ms) from which a pair is an error
-- severity: warning
-- subject: {client} LIST {resource}
-- message: p99 latency of {lists} LISTs of {resource} by {client} is {p99_ms} ms (max {max_ms} ms);
--   threshold {warn_p99_ms} ms warning, {error_p99_ms} ms error
-- remediation: Page the LIST (limit=500) and serve it from the watch cache (resourceVersion=0 or an
--   informer) instead of reading everything from etcd; narrow it to a namespace.
-- reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
-- requires: Metadata
WITH l AS (
  SELECT
    coalesce(client, '(no user agent)') AS client,
    resource,
    count(*) AS lists,
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), 1) AS p50_ms,
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms), 1) AS p99_ms,
    round(max(latency_ms), 1) AS max_ms
  FROM audit
  WHERE verb = 'list' AND latency_ms IS NOT NULL
  GROUP BY 1, 2
  HAVING count(*) >= ${min_count}
)
SELECT *,
  CASE WHEN p99_ms >= ${error_p99_ms} THEN 'error' WHEN p99_ms >= ${warn_p99_ms} THEN 'warning' END AS severity
FROM l
ORDER BY p99_ms DESC, client, resource
