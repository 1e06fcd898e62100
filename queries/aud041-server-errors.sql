-- code: AUD041
-- name: server-errors
-- title: Server errors (5xx)
-- finds: Responses with a 5xx status by client, verb, resource, code and reason, with how many came
--   after the API server was ready (`${ready}`: in a log that shows the server starting, the first
--   `/readyz` answered 200, else the first success; in any other log, its first request). Groups with
--   at least `min_errors` errors after that are warnings.
-- never: Errors while the API server was starting (requests before it was ready); its health checks
--   (`/readyz`, `/livez`, `/healthz` answering 500 describe the server's own state, at every start and
--   restart: an unready server shows in the errors its clients get); errors an admission webhook
--   failed to answer (AUD044 reports those, per webhook).
-- why: 500s usually come from etcd (request timed out, leader changes) or a failing admission webhook or
--   aggregated API; 503 from an unavailable aggregated API; 504 from requests that exceeded the server's
--   timeout, typically huge unpaginated LISTs.
-- columns: client, control_plane, verb, resource, response_code, response_reason, errors, after_ready, last_seen, window, note, severity
-- param: min_errors = 3 | 5xx responses of one group after the API server was ready that make a warning
-- severity: warning
-- subject: {client} {verb} {resource}
-- message: {after_ready} {verb} requests of {resource} by {client} failed with {response_code}
--   {response_reason} after the API server was ready ({errors} in {window}), last at {last_seen};
--   threshold {min_errors} per window{note}
-- remediation: 504 on LISTs: page them (limit) or serve them from the cache. 500 InternalError: check
--   etcd health and latency and the aggregated APIs on the request's path.
-- requires: Metadata
WITH e AS (
  SELECT
    coalesce(client, '(no user agent)') AS client,
    ${control_plane_of_group} AS control_plane,
    verb,
    coalesce(resource || coalesce('/' || subresource, ''), path) AS resource,
    response_code,
    coalesce(response_reason, '') AS response_reason,
    count(*) AS errors,
    count(*) FILTER (WHERE request_received_ts >= rd.ready_ts) AS after_ready,
    date_trunc('second', max(request_received_ts)) AS last_seen,
    max(w.window) AS window
  FROM audit CROSS JOIN ${ready} AS rd CROSS JOIN ${window} AS w
  WHERE response_code >= 500 AND (webhook IS NULL OR webhook_error IN ('failed open', 'denied'))
  GROUP BY 1, 3, 4, 5, 6
)
SELECT client, control_plane, verb, resource, response_code, response_reason, errors, after_ready, last_seen, window,
  ${control_plane_note} AS note,
  CASE
    WHEN resource IN ('/readyz', '/livez', '/healthz') OR resource LIKE '/readyz/%'
      OR resource LIKE '/livez/%' OR resource LIKE '/healthz/%' THEN NULL
    WHEN after_ready >= ${min_errors} THEN 'warning'
  END AS severity
FROM e
ORDER BY errors DESC, client, verb, resource, response_code
