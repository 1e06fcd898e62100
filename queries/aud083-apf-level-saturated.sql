-- code: AUD083
-- name: apf-level-saturated
-- title: Priority levels that ran out of seats
-- finds: Priority levels whose estimated seats in use (as in AUD081) reached `saturated_percent` of
--   their nominal seats in at least `min_minutes` minutes of the window, with the 429s and the longest
--   APF queue wait of those minutes and the client that held the most seat-seconds in them.
-- why: A level at its nominal seats queues new requests and, once its queues are full, rejects them
--   with 429 unless it can borrow from idle levels; minutes on end at that point mean the level is too
--   small for its load, or one client takes it over.
-- never: Exempt levels, long-running requests, and levels that reach the threshold in fewer than
--   `min_minutes` minutes (a short burst that queuing absorbs).
-- columns: priority_level, minutes, peak_seats_in_use, nominal_seats, throttled, max_queue_wait_ms, top_client, severity
-- param: saturated_percent = 100 | seats in use, as a share of the level's nominal seats (%), that make a minute saturated
-- param: min_minutes = 5 | saturated minutes a level needs in the window to be reported
-- severity: warning
-- subject: priority level {priority_level}
-- message: priority level {priority_level} used {peak_seats_in_use} estimated seats at its peak against
--   {nominal_seats} nominal, and was at or above the threshold in {minutes} minutes ({throttled}
--   requests throttled, longest APF queue wait {max_queue_wait_ms} ms); {top_client} held the most
--   seat-seconds then
-- remediation: Find what fills the level (AUD080, AUD082); make its LISTs cheaper (paging, the watch
--   cache, informers), move the heavy client to its own level, or raise the level's
--   nominalConcurrencyShares (or the server's seats).
-- reference: https://kubernetes.io/docs/concepts/cluster-administration/flow-control/#priority-levels
-- requires: Metadata
WITH r AS (
  SELECT
    ${cluster_key}
    date_trunc('minute', request_received_ts) AS minute,
    priority_level,
    coalesce(client, '(no user agent)') AS client,
    sum(est_seats * least(latency_ms, 60000.0) / 1000.0) AS seat_seconds,
    count(*) FILTER (WHERE response_code = 429) AS throttled,
    max(lat_apf_queue_wait_ms) AS queue_wait_ms
  FROM audit
  WHERE priority_level IS NOT NULL
    AND verb <> 'watch'
    AND coalesce(subresource, '') NOT IN ('exec', 'attach', 'portforward', 'proxy')
  GROUP BY ${cluster_key} date_trunc('minute', request_received_ts), priority_level, coalesce(client, '(no user agent)')
),
m AS (
  SELECT ${cluster_key} minute, r.priority_level, sum(seat_seconds) / 60.0 AS seats_in_use,
    sum(throttled) AS throttled, max(queue_wait_ms) AS queue_wait_ms, l.nominal_seats
  FROM r JOIN kscope_apf_levels l ON l.priority_level = r.priority_level
  WHERE NOT l.exempt AND l.nominal_seats > 0
  GROUP BY ${cluster_key} minute, r.priority_level, l.nominal_seats
),
hot AS (
  SELECT * FROM m WHERE seats_in_use >= nominal_seats * ${saturated_percent} / 100.0
),
leader AS (
  SELECT ${cluster_key} priority_level, client,
    row_number() OVER (PARTITION BY ${cluster_key} priority_level ORDER BY sum(seat_seconds) DESC, client) AS rank
  FROM r
  WHERE EXISTS (SELECT 1 FROM hot h WHERE h.minute = r.minute AND h.priority_level = r.priority_level${cluster_match:h,r})
  GROUP BY ${cluster_key} priority_level, client
),
agg AS (
  SELECT ${cluster_key} priority_level,
    count(*) AS minutes,
    round(max(seats_in_use), 1) AS peak_seats_in_use,
    max(nominal_seats) AS nominal_seats,
    sum(throttled) AS throttled,
    round(max(queue_wait_ms), 1) AS max_queue_wait_ms
  FROM hot
  GROUP BY ${cluster_key} priority_level
)
SELECT agg.*, leader.client AS top_client,
  CASE WHEN agg.minutes >= ${min_minutes} THEN 'warning' END AS severity
FROM agg LEFT JOIN leader ON leader.priority_level = agg.priority_level AND leader.rank = 1${cluster_match:leader,agg}
ORDER BY agg.minutes DESC, agg.priority_level
