-- code: AUD082
-- name: apf-list-cost
-- title: What each client's LISTs cost in seats
-- finds: Per client and resource: LISTs, their estimated seats (mean and most), how many the
--   estimator counts as served from etcd, the objects it counted, and what one such LIST would cost
--   instead as a page of `limit=500` (`paged_seats`) or served from the watch cache
--   (`resourceVersion=0`, as an informer's first LIST: `cached_seats`). A label or field selector does
--   not make a LIST cheaper: the server reads the objects before it filters them. LISTs whose mean
--   cost reaches `min_mean_seats` and could cost at most half as much another way are reported.
-- why: Seats, not requests, are what a priority level runs out of. A cluster-wide LIST read from etcd
--   can take the level's largest share of seats (up to 100 per request from 1.34); the same data paged
--   or from the watch cache costs a fraction, and an informer pays once and then watches.
-- columns: client, resource, priority_level, lists, mean_seats, max_seats, from_etcd, mean_objects, paged_seats, cached_seats, unknown, severity
-- param: min_mean_seats = 5 | mean estimated seats per LIST from which a client's LISTs are reported
-- chart: bar x=client y=mean_seats series=resource
-- never: LISTs whose cost is unknown (no object count for the resource), and LISTs that no other
--   way would make at least twice as cheap.
-- severity: warning
-- subject: {client} LIST {resource}
-- message: {client}'s {lists} LISTs of {resource} cost {mean_seats} seats each on average (up to
--   {max_seats}; {from_etcd} counted as read from etcd) in priority level {priority_level}; a page of
--   limit=500 would cost {paged_seats}, a watch-cache read {cached_seats}
-- remediation: Use an informer (one LIST from the watch cache, then WATCH), or page with limit=500; set
--   resourceVersion=0 when the newest state is not needed.
-- reference: https://kubernetes.io/docs/concepts/cluster-administration/flow-control/#seats-occupied-by-a-request
-- requires: Metadata
WITH l AS (
  SELECT
    ${cluster_key}
    coalesce(client, '(no user agent)') AS client,
    resource,
    min(priority_level) AS priority_level,
    count(*) AS lists,
    avg(est_seats) AS mean_seats,
    max(est_seats) AS max_seats,
    count(*) FILTER (WHERE served_from = 'etcd') AS from_etcd,
    avg(est_objects) AS mean_objects,
    max(est_seats_paged) AS paged_seats,
    max(est_seats_cached) AS cached_seats,
    count(*) FILTER (WHERE est_seats IS NULL) AS unknown
  FROM audit
  WHERE verb = 'list' AND resource IS NOT NULL
  GROUP BY ${cluster_key} coalesce(client, '(no user agent)'), resource
)
SELECT ${cluster_key} client, resource, priority_level, lists,
  round(mean_seats, 1) AS mean_seats, max_seats, from_etcd,
  CAST(round(mean_objects) AS BIGINT) AS mean_objects,
  paged_seats, cached_seats, unknown,
  CASE WHEN mean_seats >= ${min_mean_seats}
        AND least(coalesce(paged_seats, mean_seats), coalesce(cached_seats, mean_seats)) <= mean_seats / 2
       THEN 'warning' END AS severity
FROM l
ORDER BY mean_seats DESC NULLS LAST, lists DESC, ${cluster_key} client, resource
