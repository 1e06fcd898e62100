-- code: AUD081
-- name: apf-level-load-per-minute
-- title: Seats in use per priority level and minute
-- finds: Per priority level and minute: the seats in use on average (estimated seat-seconds of the
--   requests received in that minute, divided by 60), the level's nominal seats and the most it can
--   reach by borrowing, the 429s and the longest APF queue wait (`apiserver.latency.k8s.io/apf-queue-wait`)
--   of that minute. Long-running requests and exempt levels are left out, as in AUD080.
-- why: The chart an operator looks at after an incident: a level whose seats in use reach its
--   nominal seats queues its requests (the queue wait rises), and rejects them with 429 when the
--   queues are full, unless it can borrow from idle levels.
-- columns: minute, priority_level, requests, seats_in_use, nominal_seats, max_seats, pct_of_nominal, throttled, max_queue_wait_ms, unknown
-- chart: timeseries x=minute y=seats_in_use series=priority_level
-- requires: Metadata
WITH r AS (
  SELECT
    ${cluster_key}
    date_trunc('minute', request_received_ts) AS minute,
    priority_level,
    count(*) AS requests,
    sum(est_seats * least(latency_ms, 60000.0) / 1000.0) AS seat_seconds,
    count(*) FILTER (WHERE response_code = 429) AS throttled,
    max(lat_apf_queue_wait_ms) AS max_queue_wait_ms,
    count(*) FILTER (WHERE est_seats IS NULL) AS unknown
  FROM audit
  WHERE priority_level IS NOT NULL
    AND verb <> 'watch'
    AND coalesce(subresource, '') NOT IN ('exec', 'attach', 'portforward', 'proxy')
  GROUP BY ${cluster_key} date_trunc('minute', request_received_ts), priority_level
)
SELECT ${cluster_key} r.minute, r.priority_level, r.requests,
  round(coalesce(r.seat_seconds, 0) / 60.0, 2) AS seats_in_use,
  l.nominal_seats,
  l.nominal_seats + l.borrowing_limit_seats AS max_seats,
  round(100.0 * coalesce(r.seat_seconds, 0) / 60.0 / nullif(l.nominal_seats, 0), 1) AS pct_of_nominal,
  r.throttled,
  round(r.max_queue_wait_ms, 1) AS max_queue_wait_ms,
  r.unknown
FROM r JOIN kscope_apf_levels l ON l.priority_level = r.priority_level
WHERE NOT l.exempt
ORDER BY r.minute, ${cluster_key} r.priority_level
