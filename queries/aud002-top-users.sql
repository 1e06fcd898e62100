-- code: AUD002
-- name: top-users
-- title: Top users
-- finds: Requests per user (service account, node, IAM role; the impersonated user, shown with its
--   impersonator, when the request used impersonation), labelled when the user is the control plane,
--   with their share, the
--   clients they used, and how many were LISTs, writes, throttled (429) or forbidden (403).
-- why: A client name can hide many identities (every kubelet says `kubelet`); the user shows which
--   service account or node to look at, and which identity APF flow schemas will see.
-- columns: caller, control_plane, requests, pct, clients, lists, writes, throttled, forbidden
-- requires: Metadata
SELECT
  coalesce(caller, '(none)') AS caller,
  control_plane,
  count(*) AS requests,
  round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct,
  count(DISTINCT client) AS clients,
  count(*) FILTER (WHERE verb = 'list') AS lists,
  count(*) FILTER (WHERE verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')) AS writes,
  count(*) FILTER (WHERE response_code = 429) AS throttled,
  count(*) FILTER (WHERE response_code = 403) AS forbidden
FROM audit
GROUP BY 1, 2
ORDER BY requests DESC, caller
