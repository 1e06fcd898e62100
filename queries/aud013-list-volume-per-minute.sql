-- code: AUD013
-- name: list-volume-per-minute
-- title: LIST volume per minute (busiest minutes first)
-- finds: LISTs per minute: all, cluster-wide, unpaged reads not served from the cache, and the seconds
--   of server time they took; the busiest minutes first.
-- why: LIST storms are bursts: after an API-server restart or a controller rollout every informer
--   relists at once. The busiest minutes show when, and the columns show whether they were cheap
--   cache reads or expensive etcd reads.
-- columns: minute, lists, cluster_wide, unpaged_uncached, busy_s
-- requires: Metadata
SELECT
  date_trunc('minute', request_received_ts) AS minute,
  count(*) AS lists,
  count(*) FILTER (WHERE namespace IS NULL) AS cluster_wide,
  count(*) FILTER (WHERE (list_limit IS NULL OR list_limit <= 0) AND continue_token IS NULL
                   AND coalesce(resource_version, '') <> '0'
                   AND coalesce(resource_version_match, '') <> 'NotOlderThan') AS unpaged_uncached,
  round(sum(latency_ms) / 1000.0, 1) AS busy_s
FROM audit
WHERE verb = 'list'
GROUP BY 1
ORDER BY lists DESC, minute
