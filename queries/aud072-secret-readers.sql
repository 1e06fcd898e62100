-- code: AUD072
-- name: secret-readers
-- title: Who reads Secrets
-- finds: get, list and watch of Secrets by user and client: how many of each, how many cluster-wide
--   (all namespaces), and how many namespaces they touched.
-- why: Reading Secrets is the most sensitive read in a cluster; a user or service account that lists
--   or watches secrets cluster-wide holds every credential. Know who does, and whether they should.
-- columns: caller, client, gets, lists, watches, cluster_wide, namespaces, last_seen
-- requires: Metadata
SELECT
  coalesce(caller, '(none)') AS caller,
  coalesce(client, '(no user agent)') AS client,
  count(*) FILTER (WHERE verb = 'get') AS gets,
  count(*) FILTER (WHERE verb = 'list') AS lists,
  count(*) FILTER (WHERE verb = 'watch') AS watches,
  count(*) FILTER (WHERE namespace IS NULL AND verb IN ('list', 'watch')) AS cluster_wide,
  count(DISTINCT namespace) AS namespaces,
  date_trunc('second', max(request_received_ts)) AS last_seen
FROM audit
WHERE resource = 'secrets' AND api_group = '' AND verb IN ('get', 'list', 'watch') AND response_code < 400
GROUP BY 1, 2
ORDER BY cluster_wide DESC, gets + lists + watches DESC, caller, client
