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
WITH top AS (
  SELECT coalesce(client, '(no user agent)') AS client
  FROM audit
  GROUP BY 1
  ORDER BY count(*) DESC, 1
  LIMIT 10
)
SELECT
  date_trunc('minute', a.request_received_ts) AS minute,
  t.client,
  count(*) AS requests,
  round(count(*) / 60.0, 2) AS rps
FROM audit a
JOIN top t ON coalesce(a.client, '(no user agent)') = t.client
GROUP BY 1, 2
ORDER BY minute, client
