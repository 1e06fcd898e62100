-- code: AUD010
-- name: list-classes
-- title: LIST requests by how the server answers them
-- finds: Every LIST by client and resource, classified by how the server answers it. `cache`: served from the watch cache
--   (`resourceVersion=0`, `resourceVersionMatch=NotOlderThan`, or a non-zero resourceVersion without
--   limit); `consistent`: a quorum read of the latest state (no resourceVersion; served by etcd before
--   consistent reads from cache, 1.31+); `paged`: part of a `limit`/`continue` chain (`continued`: a
--   later page), `selector` filtered by label or field selector; `by_name`: a `metadata.name=` field
--   selector; `cluster_wide`: no namespace. Classes overlap; each column counts its own test.
-- why: The cost of a LIST depends on where it is served: a cache read costs memory and CPU in the
--   API server, a consistent read of a large collection makes etcd read and the API server decode every
--   object, and a selector does not make the read smaller (objects are filtered after they are read).
-- columns: client, resource, lists, cache, consistent, paged, continued, selector, by_name, cluster_wide
-- requires: Metadata
SELECT
  coalesce(client, '(no user agent)') AS client,
  resource,
  count(*) AS lists,
  count(*) FILTER (WHERE resource_version = '0' OR resource_version_match = 'NotOlderThan'
                   OR (resource_version <> '' AND resource_version <> '0' AND resource_version_match IS NULL
                       AND (list_limit IS NULL OR list_limit <= 0) AND continue_token IS NULL)) AS cache,
  count(*) FILTER (WHERE (resource_version IS NULL OR resource_version = '') AND continue_token IS NULL) AS consistent,
  count(*) FILTER (WHERE list_limit > 0 OR continue_token IS NOT NULL) AS paged,
  count(*) FILTER (WHERE continue_token IS NOT NULL) AS continued,
  count(*) FILTER (WHERE label_selector IS NOT NULL
                   OR (field_selector IS NOT NULL AND field_selector NOT LIKE 'metadata.name=%')) AS selector,
  count(*) FILTER (WHERE field_selector LIKE 'metadata.name=%') AS by_name,
  count(*) FILTER (WHERE namespace IS NULL) AS cluster_wide
FROM audit
WHERE verb = 'list'
GROUP BY 1, 2
ORDER BY lists DESC, client, resource
