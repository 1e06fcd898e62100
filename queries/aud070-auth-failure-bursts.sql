-- code: AUD070
-- name: auth-failure-bursts
-- title: Authentication and authorization failures (401/403) by source IP and user
-- finds: 401 (unauthenticated) and 403 (forbidden) responses by source IP and user (the
--   impersonated user when the request used impersonation: Kubernetes authorizes that one), how
--   many, the peak per minute, the minutes they happened in, the resources tried and the time span.
--   Groups whose peak reaches `min_per_minute` are warnings; the control plane's only when its
--   failures also go on for `min_minutes_control_plane` minutes.
-- never: The control plane's failures before the API server was ready, and its bursts at a restart
--   (components that start before the API server's authorizer has its roles are forbidden for a few
--   seconds, at every start).
-- why: Bursts of 401s are expired or stolen tokens being retried, bursts of 403s a workload missing RBAC
--   (and retrying in a loop) or someone probing permissions. Both cost the API server authentication
--   and authorization work on every attempt.
-- columns: source_ip, caller, control_plane, unauthenticated, forbidden, peak_per_minute, minutes, resources, first_seen, last_seen, window, note, severity
-- param: min_per_minute = 10 | failures in one minute from one (source IP, user) that make a warning
-- param: min_minutes_control_plane = 3 | distinct minutes the control plane's failures must span to be judged (a start-up burst spans one or two)
-- severity: warning
-- subject: {source_ip} ({caller})
-- message: {source_ip} as {caller} got {unauthenticated} 401 and {forbidden} 403 responses in {window}, up
--   to {peak_per_minute} per minute over {minutes} minutes, between {first_seen} and {last_seen};
--   threshold {min_per_minute} per minute{note}
-- remediation: 401: rotate or fix the client's credentials. 403: grant the workload the RBAC it needs, or
--   stop the caller; an unknown source probing permissions is a security incident.
-- requires: Metadata
WITH f AS (
  SELECT coalesce(source_ip, '(none)') AS source_ip, coalesce(caller, '(none)') AS caller,
         control_plane, response_code, resource, request_received_ts,
         date_trunc('minute', request_received_ts) AS minute,
         -- what is judged: everyone's failures, the control plane's after the server was ready
         control_plane IS NULL OR request_received_ts >= rd.ready_ts AS judged
  FROM audit CROSS JOIN ${ready} AS rd
  WHERE response_code IN (401, 403)
),
per_minute AS (
  SELECT source_ip, caller, minute, count(*) AS n FROM f WHERE judged GROUP BY 1, 2, 3
),
peak AS (
  SELECT source_ip, caller, max(n) AS peak_per_minute, count(*) AS minutes FROM per_minute GROUP BY 1, 2
),
g AS (
  SELECT source_ip, caller,
    ${control_plane_of_group} AS control_plane,
    count(*) FILTER (WHERE response_code = 401) AS unauthenticated,
    count(*) FILTER (WHERE response_code = 403) AS forbidden,
    count(DISTINCT resource) AS resources,
    date_trunc('second', min(request_received_ts)) AS first_seen,
    date_trunc('second', max(request_received_ts)) AS last_seen
  FROM f GROUP BY 1, 2
)
SELECT g.source_ip, g.caller, control_plane, unauthenticated, forbidden, coalesce(peak_per_minute, 0) AS peak_per_minute,
  coalesce(minutes, 0) AS minutes, resources, first_seen, last_seen, w.window, ${control_plane_note} AS note,
  CASE
    WHEN control_plane IS NOT NULL AND coalesce(minutes, 0) < ${min_minutes_control_plane} THEN NULL
    WHEN peak_per_minute >= ${min_per_minute} THEN 'warning'
  END AS severity
FROM g LEFT JOIN peak ON g.source_ip = peak.source_ip AND g.caller = peak.caller
  CROSS JOIN ${window} AS w
ORDER BY peak_per_minute DESC, unauthenticated + forbidden DESC, g.source_ip, g.caller
