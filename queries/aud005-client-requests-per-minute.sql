-- code: AUD005
-- name: client-requests-per-minute
-- title: Requests per second over time, top 10 clients
-- finds: Requests per minute (and the mean rate per second in it) of the ten busiest clients, minute by
--   minute over the window.
-- why: A total says who is busy; the timeline says when. A client whose rate jumps at the minute the
--   429s start, or after a rollout, is usually the cause; a flat line is background load.
-- columns: minute, client, requests, rps
-- chart: timeseries x=minute y=rps series=client
-- requires: Metadata
WITH per_minute AS (
  -- Counted per minute and client first, then limited to the top clients: the aggregation reads
  -- the requests once (and over a store, its per-hour partial aggregates).
  SELECT date_trunc('minute', request_received_ts) AS minute,
         coalesce(client, '(no user agent)') AS client,
         count(*) AS requests
  FROM audit
  GROUP BY 1, 2
),
top AS (
  SELECT client
  FROM per_minute
  GROUP BY 1
  ORDER BY sum(requests) DESC, 1
  LIMIT 10
)
SELECT
  p.minute,
  p.client,
  p.requests,
  round(p.requests / 60.0, 2) AS rps
FROM per_minute p
JOIN top t ON p.client = t.client
ORDER BY minute, client
