-- code: AUD040
-- name: throttled-requests
-- title: Throttled requests (429) by client, user and resource
-- finds: HTTP 429 responses by client, user and resource, split by cause: `apf` (API Priority and
--   Fairness or max-inflight rejected the request) and `pdb-eviction` (an eviction refused because
--   it would violate a PodDisruptionBudget, which is expected during drains). APF rejections of at
--   least `min_throttled` requests are warnings, the control plane's too (with a note: its flow
--   schemas are the system ones); evictions are listed as info.
-- never: A handful of 429s (below `min_throttled`), PDB-refused evictions during a drain.
-- why: APF rejects requests when a priority level's seats and queues are full: the client's flow
--   schema is too small for its traffic, or another flow in the same level is starving it. Clients
--   retry, so rejections feed more load.
-- columns: cause, client, caller, control_plane, resource, throttled, first_seen, last_seen, window, note, severity
-- param: min_throttled = 5 | APF rejections before a (client, user, resource) is a warning
-- severity: warning
-- subject: {client} ({caller}) {resource}
-- message: {throttled} requests of {client} as {caller} for {resource} were rejected with 429 ({cause})
--   in {window}, between {first_seen} and {last_seen}; threshold {min_throttled} per window{note}
-- remediation: For apf: find the flow schema and priority level that match this user
--   (X-Kubernetes-PF-FlowSchema-UID response header, apiserver_flowcontrol_* metrics), reduce the
--   client's request rate or give it its own FlowSchema and level. For pdb-eviction: expected while a
--   drain waits for a PodDisruptionBudget; check PDBs that allow no disruption.
-- reference: https://kubernetes.io/docs/concepts/cluster-administration/flow-control/
-- requires: Metadata
WITH t AS (
  SELECT
    CASE WHEN subresource = 'eviction' THEN 'pdb-eviction' ELSE 'apf' END AS cause,
    coalesce(client, '(no user agent)') AS client,
    coalesce(caller, '(none)') AS caller,
    control_plane,
    coalesce(resource || coalesce('/' || subresource, ''), path) AS resource,
    count(*) AS throttled,
    date_trunc('second', min(request_received_ts)) AS first_seen,
    date_trunc('second', max(request_received_ts)) AS last_seen
  FROM audit
  WHERE response_code = 429
  GROUP BY 1, 2, 3, 4, 5
)
SELECT t.*, w.window, ${control_plane_note} AS note,
  CASE WHEN cause = 'pdb-eviction' THEN 'info' WHEN throttled >= ${min_throttled} THEN 'warning' END AS severity
FROM t CROSS JOIN ${window} AS w
ORDER BY throttled DESC, cause, client, caller, resource
