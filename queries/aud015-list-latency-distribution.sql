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
WITH bands AS (
  -- Counted per resource and band first (the busiest resources by all their LISTs, those with a
  -- latency in the bands), then limited to the top resources.
  SELECT
    resource,
    CASE
      WHEN latency_ms IS NULL THEN NULL
      WHEN latency_ms < 100 THEN '1: < 100 ms'
      WHEN latency_ms < 1000 THEN '2: 100 ms - 1 s'
      WHEN latency_ms < 5000 THEN '3: 1 - 5 s'
      WHEN latency_ms < 30000 THEN '4: 5 - 30 s'
      ELSE '5: >= 30 s'
    END AS latency_band,
    count(*) AS lists
  FROM audit
  WHERE verb = 'list' AND resource IS NOT NULL
  GROUP BY 1, 2
),
top AS (
  SELECT resource
  FROM bands
  GROUP BY 1
  ORDER BY sum(lists) DESC, 1
  LIMIT 6
)
SELECT b.latency_band, b.resource, b.lists
FROM bands b
JOIN top t ON b.resource = t.resource
WHERE b.latency_band IS NOT NULL
ORDER BY latency_band, lists DESC, b.resource
