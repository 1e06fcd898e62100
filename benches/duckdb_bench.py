#!/usr/bin/env python3
"""DuckDB side of benches/audit.sh: the same analyses with an explicit column list, on 2 threads.

  duckdb_bench.py one FILE      top 10 user agents straight from read_ndjson
  duckdb_bench.py report FILE   load the columns the report needs into a table once, then run the
                                equivalent queries (top user agents, top user/verb/resource, cluster-wide
                                LISTs without limit, 429s by user agent, deprecated API callers)
"""
import sys
import duckdb

mode, path = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads=2")
if mode == "one":
    rows = con.execute(
        f"SELECT userAgent, count(*) AS n FROM read_ndjson('{path}', columns={{'userAgent': 'VARCHAR'}}) "
        "GROUP BY 1 ORDER BY n DESC, userAgent LIMIT 10").fetchall()
else:
    con.execute(f"""CREATE TABLE audit AS SELECT * FROM read_ndjson('{path}', columns={{
        'auditID': 'VARCHAR', 'stage': 'VARCHAR', 'verb': 'VARCHAR', 'requestURI': 'VARCHAR', 'userAgent': 'VARCHAR',
        'user': 'STRUCT(username VARCHAR)', 'objectRef': 'STRUCT(resource VARCHAR, namespace VARCHAR, apiGroup VARCHAR, apiVersion VARCHAR, subresource VARCHAR)',
        'responseStatus': 'STRUCT(code INTEGER)', 'requestReceivedTimestamp': 'TIMESTAMP', 'stageTimestamp': 'TIMESTAMP',
        'annotations': 'MAP(VARCHAR, VARCHAR)'}})""")
    rows = []
    for q in [
        "SELECT userAgent, count(*) n FROM audit GROUP BY 1 ORDER BY n DESC LIMIT 10",
        "SELECT \"user\".username, verb, objectRef.resource, count(*) n FROM audit GROUP BY ALL ORDER BY n DESC LIMIT 10",
        "SELECT userAgent, objectRef.resource, count(*) n, quantile_cont(epoch_ms(stageTimestamp) - epoch_ms(requestReceivedTimestamp), 0.99) p99 "
        "FROM audit WHERE verb = 'list' AND objectRef.namespace IS NULL AND requestURI NOT LIKE '%limit=%' GROUP BY ALL ORDER BY n DESC",
        "SELECT userAgent, count(*) n FROM audit WHERE responseStatus.code = 429 GROUP BY 1 ORDER BY n DESC",
        "SELECT userAgent, objectRef.apiGroup, objectRef.apiVersion, annotations['k8s.io/removed-release'] rr, count(*) n "
        "FROM audit WHERE annotations['k8s.io/deprecated'] = 'true' GROUP BY ALL ORDER BY n DESC",
    ]:
        rows += con.execute(q).fetchall()
print(len(rows), file=sys.stderr)
