-- code: AUD011
-- name: cluster-wide-lists
-- title: Cluster-wide LISTs by client and resource
-- finds: LISTs without a namespace (all namespaces, or a cluster-scoped resource), by client and
--   resource: how many, how many were not paged, how many were cache reads, and their latency.
-- why: A cluster-wide LIST returns every object of the resource; on a large cluster that is tens of
--   thousands of pods or secrets per call. Repeated, these dominate API-server memory and etcd load.
-- columns: client, resource, lists, unpaged, from_cache, p50_ms, p99_ms, timeouts
-- requires: Metadata
SELECT
  coalesce(client, '(no user agent)') AS client,
  resource,
  count(*) AS lists,
  count(*) FILTER (WHERE (list_limit IS NULL OR list_limit <= 0) AND continue_token IS NULL) AS unpaged,
  count(*) FILTER (WHERE resource_version = '0' OR resource_version_match = 'NotOlderThan') AS from_cache,
  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), 1) AS p50_ms,
  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms), 1) AS p99_ms,
  count(*) FILTER (WHERE response_code = 504) AS timeouts
FROM audit
WHERE verb = 'list' AND namespace IS NULL AND resource IS NOT NULL
GROUP BY 1, 2
ORDER BY lists DESC, client, resource
