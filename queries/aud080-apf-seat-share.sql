-- code: AUD080
-- name: apf-seat-share
-- title: Who uses each priority level's seats
-- finds: Estimated seat-seconds (the seats the server's work estimator charges a request, times its
--   latency) by priority level, FlowSchema, client and user, with each one's share of its level and of
--   the server. Long-running requests (WATCH, exec, attach, port-forward, proxy) hold no seats after
--   they start and are left out; exempt levels are not limited and are left out. A client holding
--   more than `max_share_percent` of a level's seat-seconds, with at least `min_seat_seconds` in the
--   window, is reported. `unknown`: requests whose estimate is unknown (LISTs of resources without an
--   object count), not in the sums.
-- why: A priority level has a fixed number of seats (its nominal concurrency); when they run out its
--   requests queue and then get 429s. Requests are not equal: a LIST of many large objects takes the
--   seats of dozens of small GETs, so who holds the seats, not who sends the most requests, decides
--   who crowds out the rest of the level.
-- columns: priority_level, flow_schema, client, caller, requests, seat_seconds, share_of_level_pct, share_of_server_pct, unknown, severity
-- param: max_share_percent = 50 | share of a level's seat-seconds (%) a client may hold before it is reported
-- param: min_seat_seconds = 60 | seat-seconds a client needs in the window to be judged (quiet levels are not)
-- chart: bar x=client y=seat_seconds series=priority_level
-- never: Exempt levels (not limited) and long-running requests (WATCH, exec, attach, port-forward,
--   proxy), which hold no seats once started; clients below `min_seat_seconds`.
-- severity: warning
-- subject: {client} in {priority_level}
-- message: {client} ({caller}) held {share_of_level_pct}% of priority level {priority_level}'s estimated
--   seat-seconds ({seat_seconds} over {requests} requests through FlowSchema {flow_schema}; {share_of_server_pct}%
--   of the server's)
-- remediation: Look at what the client sends (AUD082 shows what its LISTs cost and what paging or the
--   watch cache would save); give it its own FlowSchema and priority level if its load is legitimate,
--   so that it queues behind itself instead of the level's other clients.
-- reference: https://kubernetes.io/docs/concepts/cluster-administration/flow-control/#seats-occupied-by-a-request
-- requires: Metadata
WITH r AS (
  SELECT
    ${cluster_key}
    priority_level,
    flow_schema,
    coalesce(client, '(no user agent)') AS client,
    caller,
    count(*) AS requests,
    sum(est_seats * latency_ms / 1000.0) AS seat_seconds,
    count(*) FILTER (WHERE est_seats IS NULL) AS unknown
  FROM audit
  WHERE priority_level IS NOT NULL
    AND verb <> 'watch'
    AND coalesce(subresource, '') NOT IN ('exec', 'attach', 'portforward', 'proxy')
    AND priority_level NOT IN (SELECT priority_level FROM kscope_apf_levels WHERE exempt)
  GROUP BY ${cluster_key} priority_level, flow_schema, coalesce(client, '(no user agent)'), caller
),
s AS (
  SELECT r.*,
    100.0 * seat_seconds / nullif(sum(seat_seconds) OVER (PARTITION BY ${cluster_key} priority_level), 0) AS level_share,
    100.0 * seat_seconds / nullif(sum(seat_seconds) OVER (PARTITION BY ${cluster_key} 'server'), 0) AS server_share
  FROM r
)
SELECT ${cluster_key} priority_level, flow_schema, client, caller, requests,
  round(seat_seconds, 1) AS seat_seconds,
  round(level_share, 1) AS share_of_level_pct,
  round(server_share, 1) AS share_of_server_pct,
  unknown,
  CASE WHEN level_share > ${max_share_percent} AND seat_seconds >= ${min_seat_seconds} THEN 'warning' END AS severity
FROM s
ORDER BY seat_seconds DESC NULLS LAST, ${cluster_key} priority_level, client, caller
