-- code: AUD020
-- name: lists-without-limit
-- title: LISTs missing paging
-- finds: LISTs without `limit` (and not a later page) that the watch cache does not serve, by
--   client and resource, for pairs with at least `min_lists` such LISTs. Excluded:
--   `resourceVersion=0` and `resourceVersionMatch=NotOlderThan` (cache reads, where a limit is
--   ignored anyway) and LISTs of one object by `metadata.name=` field selector. A pair is judged
--   against the window: it needs `min_lists` in any window and `min_lists_per_hour` for every hour
--   the input covers (so a day of log needs 24 times an hour's). Severity follows what the LISTs
--   cost: rows whose LISTs take `error_seats` estimated APF seats or more on average (see AUD082), or
--   cluster-wide rows whose p99 reaches `error_p99_ms`, are errors, the rest warnings.
-- never: The control plane's own LISTs (kube-apiserver's quota and admission LISTs, the
--   controllers' informers at start): shown, labelled, not judged.
-- why: Without `limit`, the API server reads the whole collection from etcd, decodes and holds every
--   object in memory and writes one huge response; on large clusters that is the classic cause of
--   API-server OOMs and etcd latency. Paging (limit=500, as client-go's pager and kubectl do) bounds
--   each response, and informers (resourceVersion=0) avoid etcd entirely.
-- columns: client, control_plane, resource, lists, per_hour, cluster_wide, users, p99_ms, mean_seats, throttled, threshold, window, severity
-- param: min_lists = 5 | unpaginated uncached LISTs a (client, resource) pair needs in any window to be reported
-- param: min_lists_per_hour = 5 | unpaginated uncached LISTs per hour of the window a pair needs to be reported
-- param: error_p99_ms = 1000 | p99 latency (ms) of cluster-wide unpaginated LISTs that makes the finding an error
-- param: error_seats = 10 | mean estimated APF seats per LIST that make the finding an error (the most a LIST could cost up to 1.33)
-- severity: warning
-- subject: {client} LIST {resource}
-- message: {client} sent {lists} LISTs of {resource} without limit that the watch cache does not serve
--   in {window} ({per_hour} per hour; {cluster_wide} cluster-wide, p99 {p99_ms} ms, {mean_seats} APF seats
--   each, {throttled} throttled); threshold {threshold} in {window}
-- remediation: Use an informer or a paginated LIST (limit=500 with continue); if a full read is really
--   needed, set resourceVersion=0 so the watch cache serves it; scope it to a namespace.
-- reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
-- requires: Metadata
WITH l AS (
  SELECT
    ${cluster_key}
    coalesce(client, '(no user agent)') AS client,
    resource,
    -- the label only when every LIST of the pair came from the control plane
    ${control_plane_of_group} AS control_plane,
    count(*) AS lists,
    count(*) FILTER (WHERE namespace IS NULL) AS cluster_wide,
    count(DISTINCT caller) AS users,
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms), 1) AS p99_ms,
    round(avg(est_seats), 1) AS mean_seats,
    count(*) FILTER (WHERE response_code = 429) AS throttled
  FROM audit
  WHERE verb = 'list'
    AND (list_limit IS NULL OR list_limit <= 0)
    AND continue_token IS NULL
    AND coalesce(resource_version, '') <> '0'
    AND coalesce(resource_version_match, '') <> 'NotOlderThan'
    AND coalesce(field_selector, '') NOT LIKE 'metadata.name=%'
  GROUP BY ${cluster_key} coalesce(client, '(no user agent)'), resource
),
j AS (
  SELECT l.*,
    round(lists / w.hours, 1) AS per_hour,
    CAST(ceil(greatest(${min_lists}, ${min_lists_per_hour} * w.hours)) AS BIGINT) AS threshold,
    w.window
  FROM l CROSS JOIN ${window} AS w
)
SELECT ${cluster_key} client, control_plane, resource, lists, per_hour, cluster_wide, users, p99_ms, mean_seats, throttled, threshold, window,
  CASE
    WHEN control_plane IS NOT NULL THEN NULL
    WHEN mean_seats >= ${error_seats} THEN 'error'
    WHEN cluster_wide > 0 AND p99_ms >= ${error_p99_ms} THEN 'error'
    ELSE 'warning'
  END AS severity
FROM j
WHERE lists >= threshold OR control_plane IS NOT NULL AND lists >= ${min_lists}
ORDER BY lists DESC, ${cluster_key} client, resource
