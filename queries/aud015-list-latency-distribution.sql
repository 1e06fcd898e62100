-- code: AUD015
-- name: list-latency-distribution
-- title: LIST latency distribution, busiest resources
-- finds: How long LISTs of the six most listed resources took, as counts per latency band (under
--   100 ms, 100 ms to 1 s, 1 to 5 s, 5 to 30 s, 30 s and more).
-- why: A p99 hides the shape: a resource whose LISTs are mostly fast with a tail of 30-second reads is
--   a few unpaged cluster-wide LISTs from etcd; one whose LISTs are all slow is an overloaded server or
--   a huge collection.
-- columns: latency_band, resource, lists
-- chart: bar x=latency_band y=lists series=resource
-- requires: Metadata
WITH top AS (
  SELECT resource
  FROM audit
  WHERE verb = 'list' AND resource IS NOT NULL
  GROUP BY 1
  ORDER BY count(*) DESC, 1
  LIMIT 6
)
SELECT
  CASE
    WHEN a.latency_ms < 100 THEN '1: < 100 ms'
    WHEN a.latency_ms < 1000 THEN '2: 100 ms - 1 s'
    WHEN a.latency_ms < 5000 THEN '3: 1 - 5 s'
    WHEN a.latency_ms < 30000 THEN '4: 5 - 30 s'
    ELSE '5: >= 30 s'
  END AS latency_band,
  a.resource,
  count(*) AS lists
FROM audit a
JOIN top t ON a.resource = t.resource
WHERE a.verb = 'list' AND a.latency_ms IS NOT NULL
GROUP BY 1, 2
ORDER BY latency_band, lists DESC, a.resource
