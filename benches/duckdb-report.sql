-- The DuckDB side of benches/audit.sh's report comparison: load the columns kscope's report needs
-- once, then the equivalent analyses (top user agents, top user/verb/resource, cluster-wide LISTs
-- without limit, 429s by user agent, deprecated-API callers). @LOG@ is the log's path.
SET threads=2;
CREATE TABLE audit AS SELECT * FROM read_ndjson('@LOG@', columns={
  'auditID': 'VARCHAR', 'stage': 'VARCHAR', 'verb': 'VARCHAR', 'requestURI': 'VARCHAR', 'userAgent': 'VARCHAR',
  'user': 'STRUCT(username VARCHAR)',
  'objectRef': 'STRUCT(resource VARCHAR, namespace VARCHAR, apiGroup VARCHAR, apiVersion VARCHAR, subresource VARCHAR)',
  'responseStatus': 'STRUCT(code INTEGER)', 'requestReceivedTimestamp': 'TIMESTAMP', 'stageTimestamp': 'TIMESTAMP',
  'annotations': 'MAP(VARCHAR, VARCHAR)'});
SELECT userAgent, count(*) n FROM audit GROUP BY 1 ORDER BY n DESC LIMIT 10;
SELECT "user".username, verb, objectRef.resource, count(*) n FROM audit GROUP BY ALL ORDER BY n DESC LIMIT 10;
SELECT userAgent, objectRef.resource, count(*) n,
  quantile_cont(epoch_ms(stageTimestamp) - epoch_ms(requestReceivedTimestamp), 0.99) p99
FROM audit WHERE verb = 'list' AND objectRef.namespace IS NULL AND requestURI NOT LIKE '%limit=%'
GROUP BY ALL ORDER BY n DESC;
SELECT userAgent, count(*) n FROM audit WHERE responseStatus.code = 429 GROUP BY 1 ORDER BY n DESC;
SELECT userAgent, objectRef.apiGroup, objectRef.apiVersion, annotations['k8s.io/removed-release'] rr, count(*) n
FROM audit WHERE annotations['k8s.io/deprecated'] = 'true' GROUP BY ALL ORDER BY n DESC;
