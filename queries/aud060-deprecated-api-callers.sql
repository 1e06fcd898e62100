-- code: AUD060
-- name: deprecated-api-callers
-- title: Deprecated API callers
-- finds: Requests the API server marked `k8s.io/deprecated=true`, by client, user and API
--   (group/version resource), with the release that removes the API (`k8s.io/removed-release`), the
--   count and when it was last called: the table EKS Upgrade Insights shows, for any cluster and
--   any window. An API with a removal scheduled is a warning, the control plane's calls too (with a
--   note: an old component against a newer server is version skew). An API deprecated with no
--   removal scheduled (core/v1 Endpoints from 1.33) is info for workloads.
-- never: The control plane's use of an API with no removal scheduled (kube-apiserver and
--   kube-controller-manager still maintain v1 Endpoints).
-- why: After the removal release those calls fail with 404. Manifests can be fixed ahead of time, but
--   only the audit log shows which running clients still call the old version.
-- columns: client, caller, control_plane, api, removed_release, requests, last_seen, window, removal, note, severity
-- chart: bar x=client y=requests series=api
-- severity: warning
-- subject: {client} ({caller})
-- message: {client} as {caller} called deprecated {api} {requests} times in {window}, last at
--   {last_seen}; {removal}{note}
-- remediation: Upgrade the client (or its Kubernetes client library) to the replacement API version
--   before upgrading the cluster to the release that removes it.
-- reference: https://kubernetes.io/docs/reference/using-api/deprecation-guide/
-- requires: Metadata
WITH d AS (
  SELECT
    ${cluster_key}
    coalesce(client, '(no user agent)') AS client,
    coalesce(caller, '(none)') AS caller,
    control_plane,
    CASE WHEN api_group = '' OR api_group IS NULL THEN '' ELSE api_group || '/' END
      || coalesce(api_version, '?') || ' ' || coalesce(resource, path) AS api,
    coalesce(removed_release, '') AS removed_release,
    request_received_ts
  FROM audit
  WHERE deprecated
),
g AS (
  SELECT
    ${cluster_key}
    client,
    caller,
    control_plane,
    api,
    removed_release,
    count(*) AS requests,
    date_trunc('second', max(request_received_ts)) AS last_seen
  FROM d
  GROUP BY ${cluster_key} client, caller, control_plane, api, removed_release
)
SELECT
  g.*,
  w.window,
  CASE WHEN removed_release = '' THEN 'no removal scheduled' ELSE 'removed in ' || removed_release END AS removal,
  ${control_plane_note} AS note,
  CASE
    WHEN removed_release <> '' THEN 'warning'
    WHEN control_plane IS NULL THEN 'info'
  END AS severity
FROM g CROSS JOIN ${window} AS w
ORDER BY removed_release = '', removed_release, requests DESC, ${cluster_key} client, caller, api
