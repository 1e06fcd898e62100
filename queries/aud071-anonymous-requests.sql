-- code: AUD071
-- name: anonymous-requests
-- title: Anonymous requests
-- finds: Requests by `system:anonymous` by source IP and path, with how many were allowed.
--   Anonymous requests that were allowed to anything but the health and version endpoints are
--   errors.
-- never: Anonymous requests that were denied, and allowed anonymous health and version checks
--   (`/healthz`, `/livez`, `/readyz`, `/version`).
-- why: With anonymous auth enabled, any network peer can call the API server. Allowed anonymous access
--   beyond /healthz, /livez, /readyz and /version means RBAC grants something to system:anonymous or
--   system:unauthenticated, a common misconfiguration behind cluster takeovers.
-- columns: source_ip, path, requests, allowed, denied, last_seen, severity
-- severity: error
-- subject: {source_ip} (system:anonymous)
-- message: {allowed} anonymous requests from {source_ip} to {path} were allowed, last at {last_seen}
-- remediation: Remove RBAC bindings to system:anonymous and system:unauthenticated (other than
--   system:public-info-viewer) and, where possible, disable anonymous auth or restrict it to health endpoints.
-- reference: https://kubernetes.io/docs/reference/access-authn-authz/authentication/#anonymous-requests
-- requires: Metadata
WITH a AS (
  SELECT coalesce(source_ip, '(none)') AS source_ip, path,
    count(*) AS requests,
    count(*) FILTER (WHERE response_code < 400) AS allowed,
    count(*) FILTER (WHERE response_code IN (401, 403)) AS denied,
    date_trunc('second', max(request_received_ts)) AS last_seen
  FROM audit
  WHERE caller = 'system:anonymous'
  GROUP BY 1, 2
)
SELECT *,
  CASE WHEN allowed > 0 AND path NOT IN ('/healthz', '/livez', '/readyz', '/version', '/version/')
            AND path NOT LIKE '/healthz/%' AND path NOT LIKE '/livez/%' AND path NOT LIKE '/readyz/%'
       THEN 'error' END AS severity
FROM a
ORDER BY allowed DESC, requests DESC, source_ip, path
