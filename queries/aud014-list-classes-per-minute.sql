-- code: AUD014
-- name: list-classes-per-minute
-- title: LISTs per minute, served from the watch cache or from etcd
-- finds: LISTs per minute split by where the API server serves them: the watch cache
--   (`resourceVersion=0` or `resourceVersionMatch=NotOlderThan`) or etcd (everything else, including
--   consistent reads and later pages).
-- why: Cache reads are cheap; etcd reads cost the server and etcd memory and time in proportion to
--   what they read. A rise in the etcd line during an incident points at clients that list without
--   resourceVersion=0.
-- columns: minute, served_from, lists
-- chart: timeseries x=minute y=lists series=served_from
-- requires: Metadata
SELECT
  date_trunc('minute', request_received_ts) AS minute,
  CASE
    WHEN coalesce(resource_version, '') = '0' OR coalesce(resource_version_match, '') = 'NotOlderThan'
      THEN 'watch cache'
    ELSE 'etcd'
  END AS served_from,
  count(*) AS lists
FROM audit
WHERE verb = 'list'
GROUP BY 1, 2
ORDER BY minute, served_from
