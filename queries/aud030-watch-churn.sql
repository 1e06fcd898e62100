-- code: AUD030
-- name: watch-churn
-- title: Watch churn by client and resource
-- finds: WATCH requests by client and resource, per watch stream (one identity watching one
--   namespace/selector from one address), with the LISTs of the same pair (relists) and the median
--   watch duration. Churn is judged on the watches that completed inside the window: watches still
--   open, and watches that ended in the last `edge_seconds` of the log (at most a tenth of the
--   window) or just before a gap of at least `gap_seconds` without any request (the API server
--   stopped), ended because the log or the server did, not because they failed. Two signals, each
--   needing `min_watches` observations: watches that lasted less than `short_watch_seconds` (seen
--   directly, in any window), and the rate of completed watches per stream per hour (judged only in
--   a window of at least `min_window_minutes`; shorter windows show no rate). A pair with neither
--   signal judged says "too few observations to judge" and has no severity.
-- never: A healthy informer's cycle (one watch per 5-10 minutes), one or two watches seen in a
--   short window, watches cut by the end of the log or an API-server restart.
-- why: A healthy informer keeps one watch open and re-opens it every 5-10 minutes (timeoutSeconds), so
--   about 6-12 per stream per hour. Far more, or watches that last seconds, means watches are failing or
--   closed early, and each failure usually means a relist: an informer relist storm that multiplies
--   LIST load.
-- columns: client, control_plane, resource, streams, watches, completed, short, per_stream_hour, relists, p50_watch_s, window, note, severity
-- param: max_per_stream_hour = 30 | completed watches per stream per hour above which a pair is reported
-- param: short_watch_seconds = 60 | a completed watch shorter than this ended early (informers ask for 5-10 minutes)
-- param: min_watches = 10 | completed (or short) watches a pair needs before it is judged
-- param: min_window_minutes = 30 | shortest window (minutes) in which a rate per hour is judged
-- param: edge_seconds = 120 | watches ending this close to the end of the log (at most a tenth of the window) or to a gap are not counted
-- param: gap_seconds = 30 | seconds without any request that mark the API server stopped
-- severity: warning
-- subject: {client} WATCH {resource}
-- message: {client} completed {completed} watches of {resource} in {window}, {short} of them shorter
--   than {short_watch_seconds} s ({per_stream_hour} per stream per hour over {streams} streams, median
--   duration {p50_watch_s} s, {relists} LISTs); thresholds {min_watches} short watches, {max_per_stream_hour}
--   per stream per hour{note}
-- remediation: Find why the watches end early (client timeouts, a proxy or load balancer idle timeout,
--   410 Gone from a too-old resourceVersion, crashes) and use shared informers with bookmarks.
-- reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
-- requires: Metadata
WITH secs AS (
  SELECT DISTINCT date_trunc('second', request_received_ts) AS sec FROM audit
),
stops AS (
  -- the last second before a silence of gap_seconds: the API server was not answering
  SELECT sec AS stop_ts FROM (
    SELECT sec, lead(sec) OVER (ORDER BY sec) AS next_sec FROM secs
  ) g
  WHERE date_part('epoch', next_sec) - date_part('epoch', sec) >= ${gap_seconds}
),
near_stop AS (
  -- watches that ended from edge_seconds before a stop to gap_seconds after it ended with the API
  -- server (stops are few: one per silence)
  -- a watch is known by its receipt and end (microseconds): no string key to load or hash
  SELECT DISTINCT a.request_received_ts, a.stage_ts
  FROM audit a JOIN stops s
    ON date_part('epoch', a.stage_ts) >= date_part('epoch', s.stop_ts) - ${edge_seconds}
   AND date_part('epoch', a.stage_ts) < date_part('epoch', s.stop_ts) + ${gap_seconds}
  WHERE a.verb = 'watch' AND a.stage = 'ResponseComplete'
),
wt AS (
  SELECT a.*,
    a.verb = 'watch' AND a.stage = 'ResponseComplete'
      AND date_part('epoch', w.last_ts) - date_part('epoch', a.stage_ts) > least(${edge_seconds}, w.hours * 360)
      AND n.stage_ts IS NULL AS inside
  FROM audit a CROSS JOIN ${window} AS w
    LEFT JOIN near_stop n ON a.request_received_ts = n.request_received_ts AND a.stage_ts = n.stage_ts
  WHERE a.verb IN ('watch', 'list') AND a.resource IS NOT NULL
),
p AS (
  SELECT
    coalesce(client, '(no user agent)') AS client,
    resource,
    ${control_plane_of_group} AS control_plane,
    count(DISTINCT concat_ws('|', caller, source_ip, namespace, label_selector, field_selector)) FILTER (WHERE verb = 'watch') AS streams,
    count(*) FILTER (WHERE verb = 'watch') AS watches,
    count(*) FILTER (WHERE inside) AS completed,
    count(*) FILTER (WHERE inside AND latency_ms < ${short_watch_seconds} * 1000) AS short,
    count(*) FILTER (WHERE verb = 'list') AS relists,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN inside THEN latency_ms END) AS p50_watch_ms
  FROM wt
  GROUP BY 1, 2
),
r AS (
  SELECT p.*, w.hours, w.window,
    w.hours * 60 >= ${min_window_minutes} AND completed >= ${min_watches} AS rate_judged,
    short >= ${min_watches} AS early,
    completed / w.hours / greatest(streams, 1) AS rate
  FROM p CROSS JOIN ${window} AS w
  WHERE watches > 0
),
v AS (
  SELECT r.*, early OR rate_judged AND rate > ${max_per_stream_hour} AS churn FROM r
)
SELECT
  client,
  control_plane,
  resource,
  streams,
  watches,
  completed,
  short,
  CASE WHEN rate_judged THEN round(rate, 1) END AS per_stream_hour,
  relists,
  round(p50_watch_ms / 1000.0, 1) AS p50_watch_s,
  window,
  CASE WHEN NOT rate_judged AND short < ${min_watches} THEN 'too few observations to judge'
       WHEN churn THEN ${control_plane_note} ELSE '' END AS note,
  CASE WHEN churn THEN 'warning' END AS severity
FROM v
ORDER BY churn DESC, rate_judged DESC, rate DESC, watches DESC, client, resource
