-- code: AUD042
-- name: conflicts
-- title: Write conflicts (409) by client, verb and resource
-- finds: HTTP 409 responses (Conflict on update, AlreadyExists on create) by client, verb and
--   resource, with the share of that client's writes of that kind that conflicted. Groups with at
--   least `min_conflicts` conflicts and a conflict ratio of at least `min_ratio` are warnings.
-- never: The control plane's conflicts (leader election and controllers retry on 409 by design):
--   shown, labelled, not judged.
-- why: A few conflicts are normal optimistic concurrency. A high ratio means a controller fights another
--   writer or works from a stale cache, and every conflict is a wasted write plus a re-read.
-- columns: client, control_plane, verb, resource, conflicts, writes, ratio, window, severity
-- param: min_conflicts = 10 | conflicts before a group is considered
-- param: min_ratio = 0.25 | share of conflicting writes that makes a group a warning
-- severity: warning
-- subject: {client} {verb} {resource}
-- message: {conflicts} of {writes} {verb} requests of {resource} by {client} conflicted (409, ratio {ratio})
--   in {window};
--   thresholds {min_conflicts} per window and a ratio of {min_ratio}
-- remediation: Make the controller read from its informer cache and retry with backoff, use server-side
--   apply or patches instead of full updates, or find the second writer of the same objects.
-- requires: Metadata
WITH c AS (
  SELECT
    coalesce(client, '(no user agent)') AS client,
    ${control_plane_of_group} AS control_plane,
    verb,
    coalesce(resource || coalesce('/' || subresource, ''), path) AS resource,
    count(*) FILTER (WHERE response_code = 409) AS conflicts,
    count(*) AS writes
  FROM audit
  WHERE verb IN ('create', 'update', 'patch')
  GROUP BY 1, 3, 4
)
SELECT client, control_plane, verb, resource, conflicts, writes, round(1.0 * conflicts / writes, 3) AS ratio, w.window,
  CASE WHEN control_plane IS NULL AND conflicts >= ${min_conflicts} AND 1.0 * conflicts / writes >= ${min_ratio} THEN 'warning' END AS severity
FROM c CROSS JOIN ${window} AS w
WHERE conflicts > 0
ORDER BY conflicts DESC, client, verb, resource
