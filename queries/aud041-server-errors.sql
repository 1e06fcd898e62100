-- code: AUD041
-- name: server-errors
-- title: Server errors (5xx)
-- finds: Responses with a 5xx status by client, verb, resource, code and reason; groups of at least
--   `min_errors` are warnings.
-- why: 500s usually come from etcd (request timed out, leader changes) or a failing admission webhook or
--   aggregated API; 503 from an unavailable aggregated API; 504 from requests that exceeded the server's
--   timeout, typically huge unpaginated LISTs.
-- columns: client, verb, resource, response_code, response_reason, errors, last_seen, severity
-- param: min_errors = 3 | 5xx responses of one group before it is a warning
-- severity: warning
-- subject: {client} {verb} {resource}
-- message: {errors} {verb} requests of {resource} by {client} failed with {response_code} {response_reason},
--   last at {last_seen}; threshold {min_errors}
-- remediation: 504 on LISTs: page them (limit) or serve them from the cache. 500 InternalError: check
--   etcd health and latency and the webhooks and aggregated APIs on the request's path.
-- requires: Metadata
WITH e AS (
  SELECT
    coalesce(client, '(no user agent)') AS client,
    verb,
    coalesce(resource || coalesce('/' || subresource, ''), path) AS resource,
    response_code,
    coalesce(response_reason, '') AS response_reason,
    count(*) AS errors,
    date_trunc('second', max(request_received_ts)) AS last_seen
  FROM audit
  WHERE response_code >= 500
  GROUP BY 1, 2, 3, 4, 5
)
SELECT *, CASE WHEN errors >= ${min_errors} THEN 'warning' END AS severity
FROM e
ORDER BY errors DESC, client, verb, resource, response_code
