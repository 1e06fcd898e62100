-- code: AUD060
-- name: deprecated-api-callers
-- title: Deprecated API callers
-- finds: Requests the API server marked `k8s.io/deprecated=true`, by client, user and API (group/version
--   resource), with the release that removes the API (`k8s.io/removed-release`), the count and when it
--   was last called: the table EKS Upgrade Insights shows, for any cluster and any window.
-- why: After the removal release those calls fail with 404. Manifests can be fixed ahead of time, but
--   only the audit log shows which running clients still call the old version.
-- columns: client, user_name, api, removed_release, requests, last_seen
-- chart: bar x=client y=requests series=api
-- severity: warning
-- subject: {client} ({user_name})
-- message: {client} as {user_name} called deprecated {api} {requests} times, last at {last_seen};
--   removed in {removed_release}
-- remediation: Upgrade the client (or its Kubernetes client library) to the replacement API version
--   before upgrading the cluster to {removed_release}.
-- reference: https://kubernetes.io/docs/reference/using-api/deprecation-guide/
-- requires: Metadata
WITH d AS (
  SELECT
    ${cluster_key}
    coalesce(client, '(no user agent)') AS client,
    coalesce(user_name, '(none)') AS user_name,
    CASE WHEN api_group = '' OR api_group IS NULL THEN '' ELSE api_group || '/' END
      || coalesce(api_version, '?') || ' ' || coalesce(resource, path) AS api,
    coalesce(removed_release, '') AS removed_release,
    request_received_ts
  FROM audit
  WHERE deprecated
)
SELECT
  ${cluster_key}
  client,
  user_name,
  api,
  removed_release,
  count(*) AS requests,
  date_trunc('second', max(request_received_ts)) AS last_seen
FROM d
GROUP BY ${cluster_key} client, user_name, api, removed_release
ORDER BY removed_release, requests DESC, ${cluster_key} client, user_name, api
