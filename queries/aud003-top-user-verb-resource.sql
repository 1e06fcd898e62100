-- code: AUD003
-- name: top-user-verb-resource
-- title: Top (user, verb, resource)
-- finds: Requests per user, verb and resource (with subresource; the path for non-resource URLs), with
--   the p99 latency and the number of errors.
-- why: Narrows a top talker down to the call it repeats: a node patching its status, an operator
--   updating one CRD's status in a loop, a user listing secrets.
-- columns: caller, verb, resource, requests, p99_ms, errors
-- requires: Metadata
SELECT
  coalesce(caller, '(none)') AS caller,
  verb,
  coalesce(resource || coalesce('/' || subresource, ''), path) AS resource,
  count(*) AS requests,
  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms), 1) AS p99_ms,
  count(*) FILTER (WHERE response_code >= 400) AS errors
FROM audit
GROUP BY 1, 2, 3
ORDER BY requests DESC, caller, verb, resource
