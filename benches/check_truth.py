#!/usr/bin/env python3
"""Checks kscope's answers on a generated log against gen-audit-log.py's --truth file.

The generator counts lines; kscope counts requests (a watch or exec writes ResponseStarted and
ResponseComplete with one audit ID). Lines of a client = its requests + its long-running requests whose
completion is in the log (a rejected watch logs only ResponseComplete), which the SQL below adds back."""
import csv, io, json, subprocess, sys

kscope, log, truth_path = sys.argv[1:4]
truth = json.load(open(truth_path))

def sql(q):
    out = subprocess.run([kscope, "sql", q, log, "--format", "csv"], check=True, capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(out)))

LINES = ("count(*) + count(*) FILTER (WHERE stage = 'ResponseComplete' AND response_code < 300 "
         "AND (verb = 'watch' OR subresource = 'exec'))")
ok = True
def check(name, got, want):
    global ok
    good = got == want
    ok &= good
    print(f"{'ok  ' if good else 'FAIL'} {name}" + ("" if good else f"\n  got  {got}\n  want {want}"))

rows = sql(f"SELECT {LINES} AS lines FROM audit")
check("total lines", int(rows[0]["lines"]), truth["total_events"])
rows = sql(f"SELECT user_agent, {LINES} AS n FROM audit GROUP BY 1 ORDER BY n DESC, user_agent LIMIT 10")
check("top user agents", [(r["user_agent"], int(r["n"])) for r in rows], [(x["userAgent"], x["count"]) for x in truth["top_user_agents"]])
rows = sql(f"SELECT user_name, verb, resource, {LINES} AS n FROM audit GROUP BY 1, 2, 3 ORDER BY n DESC, user_name LIMIT 10")
check("top user/verb/resource", [(r["user_name"], r["verb"], r["resource"], int(r["n"])) for r in rows],
      [(x["username"], x["verb"], x["resource"], x["count"]) for x in truth["top_user_verb_resource"]])
rows = sql("SELECT user_agent, resource, count(*) AS n FROM audit WHERE verb = 'list' AND namespace IS NULL "
           "AND request_uri NOT LIKE '%limit=%' GROUP BY 1, 2 ORDER BY n DESC, user_agent, resource")
check("cluster-wide LISTs without limit", sorted((r["user_agent"], r["resource"], int(r["n"])) for r in rows),
      sorted((x["userAgent"], x["resource"], x["count"]) for x in truth["cluster_wide_list_without_limit"]))
rows = sql("SELECT count(*) AS n FROM audit WHERE response_code = 429")
check("429 responses", int(rows[0]["n"]), truth["status_429"])
rows = sql("SELECT user_agent, api_group || '/' || api_version AS api, count(*) AS n FROM audit WHERE deprecated GROUP BY 1, 2")
check("deprecated API calls", sorted((r["user_agent"], r["api"], int(r["n"])) for r in rows),
      sorted((x["userAgent"], x["apiVersion"], x["count"]) for x in truth["deprecated_api_calls"]))
sys.exit(0 if ok else 1)
