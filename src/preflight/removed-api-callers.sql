-- Callers of removed and deprecated API versions in the audit log: every request whose
-- (group, version, resource) is a row of the API removal table (`api_removals`, registered from
-- rules/data/api-removals.yaml), and every request the API server annotated with
-- `k8s.io/removed-release` (it does only for APIs it knows to be deprecated). kscope's own
-- requests are left out, and so are the control plane's own writes of kinds only it writes.
SELECT
  coalesce(a.api_group, '') AS api_group,
  a.api_version,
  a.resource,
  coalesce(a.client, '(no user agent)') AS client,
  -- the effective user: the impersonated one, shown with its impersonator
  coalesce(a.caller, '(none)') AS user_name,
  coalesce(a.user_agent, '') AS user_agent,
  count(*) AS requests,
  date_trunc('second', min(a.request_received_ts)) AS first_seen,
  date_trunc('second', max(a.request_received_ts)) AS last_seen,
  max(a.removed_release) AS removed_release,
  min(a.source) AS example
FROM audit a
LEFT JOIN api_removals r
  ON coalesce(a.api_group, '') = r.api_group
  AND a.api_version = r.api_version
  AND a.resource = r.resource
WHERE a.resource IS NOT NULL
  AND a.api_version IS NOT NULL
  AND (r.resource IS NOT NULL OR a.removed_release IS NOT NULL)
  AND (a.user_agent IS NULL OR a.user_agent NOT LIKE 'kscope/%')
  -- kinds the control plane writes itself (LeaseCandidate) are nobody's to migrate when it does
  AND NOT (coalesce(r.writer, '') = 'control-plane' AND a.control_plane IS NOT NULL)
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY 1, 2, 3, requests DESC, client, user_name
