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
  SELECT coalesce(client, '(no user agent)') AS client,
         date_trunc('second', request_received_ts) AS second,
         count(*) AS n
  FROM audit
  GROUP BY 1, 2
),
span AS (
  SELECT greatest(1.0, date_part('epoch', max(request_received_ts)) - date_part('epoch', min(request_received_ts))) AS seconds
  FROM audit
)
SELECT
  client,
  sum(n) AS requests,
  round(sum(n) / max(span.seconds), 3) AS avg_rps,
  max(n) AS peak_rps,
  first_value(second ORDER BY n DESC, second) AS peak_at
FROM per_second CROSS JOIN span
GROUP BY client
ORDER BY peak_rps DESC, requests DESC, client
