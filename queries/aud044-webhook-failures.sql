-- code: AUD044
-- name: webhook-failures
-- title: Admission webhooks that failed or slowed requests
-- finds: Per admission webhook (`webhook`, parsed from the response's status message `failed calling
--   webhook "NAME": … <why>` and from the `failed-open.*` admission annotations): the requests it
--   failed (fail-closed: the API server answered 500) or let through after failing to answer
--   (fail-open: each waited up to the webhook's timeout), what went wrong (`webhook_error`, every kind
--   seen), how many clients it hit and which, the resources and namespaces, how many of those requests
--   were the control plane's or touched what keeps the cluster running (leases, nodes and pods with
--   their subresources, anything in kube-system), first and last seen, and one status message as the
--   API server wrote it. Fail-closed failures are errors when they hit the control plane, leases,
--   nodes, pods or kube-system, or at least `min_clients` clients; failures (either kind) are warnings
--   from `min_failed` requests.
-- never: Denials (`admission webhook "…" denied the request`: the webhook answered, a policy said no);
--   a webhook that failed fewer than `min_failed` requests, none of them the control plane's or on
--   leases, nodes, pods or kube-system, of fewer than `min_clients` clients.
-- why: A fail-closed webhook that cannot be reached fails every request it matches: when it matches
--   leases, nodes or kube-system, the control plane's own requests fail (node heartbeats, leader
--   election), which is how a webhook outage becomes a cluster outage. The audit log names the webhook
--   in every failed request; the WH rules of `kscope lint` say how to scope it.
-- columns: webhook, errors, calls, failed, failed_open, clients, client_names, control_plane_requests, system_requests, resources, namespaces, first_seen, last_seen, window, example, severity
-- chart: bar x=webhook y=calls series=errors
-- param: min_failed = 5 | failed requests of one webhook (either kind) in the window that make a warning
-- param: min_clients = 3 | distinct clients a fail-closed webhook failed that make it an error
-- severity: warning
-- subject: webhook {webhook}
-- message: admission webhook {webhook} could not be called ({errors}) on {calls} requests in {window}:
--   {failed} failed (failurePolicy Fail) and {failed_open} went through without it (Ignore), from
--   {clients} clients; {control_plane_requests} of them the control plane's and {system_requests} on
--   leases, nodes, pods or kube-system; thresholds {min_failed} requests per window, or for an error
--   any failed request of the control plane or the system, or {min_clients} clients
-- remediation: Seen from {first_seen} to {last_seen}: clients {client_names}; resources {resources};
--   namespaces {namespaces}; the API server said: {example} Restore the webhook's backend (its
--   Service, endpoints, certificate) first. Then scope it so that its outage cannot stop the cluster:
--   exclude kube-system and kube-node-lease with a namespaceSelector, do not match leases, nodes or
--   namespaces, keep timeoutSeconds short, and consider failurePolicy Ignore; run `kscope lint` on the
--   webhook configurations (WH001, WH003, WH004, WH005, WH007, WH008) for what to change, or give
--   `kscope report --webhooks` the configurations.
-- reference: https://kubernetes.io/docs/concepts/cluster-administration/admission-webhooks-good-practices/
-- requires: Metadata
WITH f AS (
  SELECT
    webhook,
    webhook_error,
    coalesce(client, '(no user agent)') AS client,
    resource AS base_resource,
    coalesce(resource || coalesce('/' || subresource, ''), path) AS resource,
    namespace,
    control_plane,
    request_received_ts,
    response_message
  FROM audit
  WHERE webhook IS NOT NULL AND webhook_error <> 'denied'
),
h AS (
  SELECT
    webhook,
    count(*) FILTER (WHERE webhook_error <> 'failed open') AS failed,
    count(*) FILTER (WHERE webhook_error = 'failed open') AS failed_open,
    count(DISTINCT client) AS clients,
    count(*) FILTER (WHERE control_plane IS NOT NULL) AS control_plane_requests,
    count(*) FILTER (WHERE base_resource IN ('leases', 'nodes', 'pods') OR namespace = 'kube-system') AS system_requests,
    count(*) FILTER (WHERE webhook_error <> 'failed open'
      AND (control_plane IS NOT NULL OR base_resource IN ('leases', 'nodes', 'pods') OR namespace = 'kube-system')) AS system_failed,
    date_trunc('second', min(request_received_ts)) AS first_seen,
    date_trunc('second', max(request_received_ts)) AS last_seen,
    min(response_message) AS example
  FROM f
  GROUP BY 1
),
-- the failure kinds, and the first five clients, resources and namespaces of each webhook, by name
items AS (
  SELECT DISTINCT webhook, 'error' AS kind, webhook_error AS item FROM f
  UNION ALL
  SELECT DISTINCT webhook, 'client' AS kind, client AS item FROM f
  UNION ALL
  SELECT DISTINCT webhook, 'resource' AS kind, resource AS item FROM f
  UNION ALL
  SELECT DISTINCT webhook, 'namespace' AS kind, namespace AS item FROM f WHERE namespace IS NOT NULL
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY webhook, kind ORDER BY item) AS rank FROM items
),
lists AS (
  SELECT webhook,
    string_agg(item, ', ' ORDER BY item) FILTER (WHERE kind = 'error') AS errors,
    string_agg(item, ', ' ORDER BY item) FILTER (WHERE kind = 'client') AS client_names,
    string_agg(item, ', ' ORDER BY item) FILTER (WHERE kind = 'resource') AS resources,
    string_agg(item, ', ' ORDER BY item) FILTER (WHERE kind = 'namespace') AS namespaces
  FROM ranked
  WHERE rank <= 5 OR kind = 'error'
  GROUP BY 1
)
SELECT h.webhook, l.errors, failed + failed_open AS calls, failed, failed_open, clients,
  l.client_names, control_plane_requests, system_requests, l.resources, coalesce(l.namespaces, '') AS namespaces,
  first_seen, last_seen, w.window, coalesce(example, '') AS example,
  CASE
    WHEN system_failed > 0 OR failed > 0 AND clients >= ${min_clients} THEN 'error'
    WHEN failed + failed_open >= ${min_failed} THEN 'warning'
  END AS severity
FROM h JOIN lists l ON h.webhook = l.webhook
  CROSS JOIN ${window} AS w
ORDER BY failed DESC, failed_open DESC, h.webhook
