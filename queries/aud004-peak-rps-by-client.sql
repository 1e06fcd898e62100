-- code: AUD004
-- name: peak-rps-by-client
-- title: Peak requests per second by client
-- finds: For each client, its average and peak requests per second (busiest one-second bucket by
--   request receipt time) and when the peak happened.
-- why: Averages hide bursts: a controller that relists everything on restart, or a CronJob fleet
--   starting at :00, can saturate API Priority and Fairness seats for seconds while the hourly
--   average looks harmless.
-- columns: client, requests, avg_rps, peak_rps, peak_at
-- requires: Metadata
WITH per_second AS (
  -- per client and second, then per client: both within an hour, so over a store both come from
  -- each hour's partial aggregates; the window's length joins only the per-client rows
  SELECT coalesce(client, '(no user agent)') AS client,
         date_trunc('second', request_received_ts) AS second,
         count(*) AS n
  FROM audit
  GROUP BY 1, 2
),
per_client AS (
  SELECT
    client,
    sum(n) AS requests,
    max(n) AS peak_rps,
    first_value(second ORDER BY n DESC, second) AS peak_at
  FROM per_second
  GROUP BY client
),
span AS (
  SELECT greatest(1.0, date_part('epoch', max(request_received_ts)) - date_part('epoch', min(request_received_ts))) AS seconds
  FROM audit
)
SELECT
  client,
  requests,
  round(requests / span.seconds, 3) AS avg_rps,
  peak_rps,
  peak_at
FROM per_client CROSS JOIN span
ORDER BY peak_rps DESC, requests DESC, client
