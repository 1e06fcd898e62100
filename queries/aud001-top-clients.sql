-- code: AUD001
-- name: top-clients
-- title: Top clients
-- finds: Requests per client (the user agent's product; controller managers per controller), with their
--   share of all requests, distinct users, and how many were LISTs, WATCHes, writes and errors.
-- why: The first question in any API-server overload: who is talking. One chatty client (a misbehaving
--   operator, a monitoring agent scraping too often) can use a large share of the server's capacity.
-- columns: client, requests, pct, users, lists, watches, writes, errors
-- requires: Metadata
SELECT
  ${cluster_key}
  coalesce(client, '(no user agent)') AS client,
  count(*) AS requests,
  round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct,
  count(DISTINCT caller) AS users,
  count(*) FILTER (WHERE verb = 'list') AS lists,
  count(*) FILTER (WHERE verb = 'watch') AS watches,
  count(*) FILTER (WHERE verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')) AS writes,
  count(*) FILTER (WHERE response_code >= 400) AS errors
FROM audit
GROUP BY ${cluster_key} coalesce(client, '(no user agent)')
ORDER BY requests DESC, ${cluster_key} client
