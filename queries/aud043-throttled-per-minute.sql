-- code: AUD043
-- name: throttled-per-minute
-- title: 429s per minute by client and cause
-- finds: HTTP 429 responses per minute, by client and cause: `apf` (API Priority and Fairness rejected
--   the request) or `pdb-eviction` (an eviction a PodDisruptionBudget refused).
-- why: When throttling starts and who it hits: APF 429s that begin with one client's burst point at
--   that client or its priority level; PDB-eviction 429s during a node drain are expected and not
--   an API-server problem.
-- columns: minute, client_cause, throttled
-- chart: timeseries x=minute y=throttled series=client_cause
-- requires: Metadata
SELECT
  date_trunc('minute', request_received_ts) AS minute,
  coalesce(client, '(no user agent)') || ' ('
    || CASE WHEN subresource = 'eviction' THEN 'pdb-eviction' ELSE 'apf' END || ')' AS client_cause,
  count(*) AS throttled
FROM audit
WHERE response_code = 429
GROUP BY 1, 2
ORDER BY minute, client_cause
