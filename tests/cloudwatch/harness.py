#!/usr/bin/env python3
"""CloudWatch Logs test harness: moto's server plus a loopback fault proxy in front of it.

Started by the integration tests and the benchmark; both listen on 127.0.0.1 with free ports.
Prints one JSON line {"moto": PORT, "proxy": PORT}, then reads one JSON command per line on stdin
and answers each with one JSON line on stdout. Exits when stdin closes (the test ended).

Commands
  {"cmd": "config", ...}   proxy settings (see Proxy.DEFAULTS); unknown keys are an error
  {"cmd": "stats"}         requests per operation, faults injected, peak requests in any 1 s window
  {"cmd": "reset_stats"}
  {"cmd": "seed", ...}     fill a log group from an audit log (see seed())
  {"cmd": "s3_bucket", "name": N, "create": true}   create an S3 bucket (false: only list its keys;
                           "put": [KEY, ...] first writes those objects, a few bytes each)

What the proxy adds that moto lacks: ThrottlingException (a share of calls, or a per-operation rate
limit over a sliding 1 s window), 503s, dropped connections, added latency per call, and a page-size
cap (the service stops a page at 1 MB or 10 000 events; moto returns everything). It also corrects
DescribeLogStreams' lastIngestionTime: moto stamps the time of the seeding call, the service the
time the events arrived, which for a live log is just after their timestamps; the proxy answers
lastEventTimestamp + 2 s, so a stream that ended days ago looks like one.
"""

import datetime as dt
import logging
import http.client
import http.server
import json
import random
import re
import socket
import sys
import threading
import time
from collections import defaultdict

from moto.server import ThreadedMotoServer


class Proxy:
    DEFAULTS = {
        "latency_ms": 0,  # added to every call
        "throttle_share": 0.0,  # share of calls answered 400 ThrottlingException
        "unavailable_share": 0.0,  # share answered 503 ServiceUnavailableException
        "drop_share": 0.0,  # share whose connection is closed without an answer
        "fault_ops": ["GetLogEvents", "FilterLogEvents", "DescribeLogStreams"],
        "rate_limit": {},  # operation -> requests per second (sliding 1 s window)
        "page_cap": 0,  # cap on `limit` for GetLogEvents/FilterLogEvents (0: none)
        "fail_after": -1,  # after this many answered reads (GetLogEvents, FilterLogEvents), answer every read 503
        "deny": [],  # operations answered 400 AccessDeniedException
        "seed": 1,
    }

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.cfg = dict(self.DEFAULTS)
        self.rng = random.Random(1)
        self.reset_stats()

    def configure(self, changes):
        unknown = set(changes) - set(self.DEFAULTS)
        if unknown:
            raise ValueError(f"unknown proxy settings: {sorted(unknown)}")
        with self.lock:
            self.cfg.update(changes)
            if "seed" in changes:
                self.rng = random.Random(changes["seed"])

    def reset_stats(self):
        with self.lock:
            self.calls = defaultdict(int)
            self.answered_get = 0
            self.faults = defaultdict(int)
            self.streams = defaultdict(int)
            self.arrivals = defaultdict(list)  # op -> monotonic arrival times
            self.window = defaultdict(list)  # op -> accepted times in the last second

    def stats(self):
        with self.lock:
            peak = {}
            for op, times in self.arrivals.items():
                times = sorted(times)
                best, j = 0, 0
                for i, t in enumerate(times):
                    while times[j] <= t - 1.0:
                        j += 1
                    best = max(best, i - j + 1)
                peak[op] = best
            span = {
                op: (max(times) - min(times)) if len(times) > 1 else 0.0
                for op, times in self.arrivals.items()
            }
            return {
                "calls": dict(self.calls),
                "faults": dict(self.faults),
                "streams": dict(self.streams),
                "peak_per_second": peak,
                "span_seconds": span,
            }

    def decide(self, op, now):
        """What to do with one call that arrived at `now`: None (forward) or a fault name."""
        with self.lock:
            self.calls[op] += 1
            self.arrivals[op].append(now)
            cfg = self.cfg
            if op in cfg["deny"]:
                return self._fault("deny")
            limit = cfg["rate_limit"].get(op)
            if limit:
                # arrivals are stamped before the added latency, so they may come in out of order
                w = self.window[op] = [t for t in self.window[op] if t > now - 1.0]
                if len(w) >= limit:
                    return self._fault("rate_limited")
                w.append(now)
            read = op in ("GetLogEvents", "FilterLogEvents")
            if read and 0 <= cfg["fail_after"] <= self.answered_get:
                return self._fault("unavailable")
            if op in cfg["fault_ops"]:
                r = self.rng.random()
                if r < cfg["throttle_share"]:
                    return self._fault("throttle")
                r -= cfg["throttle_share"]
                if r < cfg["unavailable_share"]:
                    return self._fault("unavailable")
                r -= cfg["unavailable_share"]
                if r < cfg["drop_share"]:
                    return self._fault("drop")
            if read:
                self.answered_get += 1
            return None

    def _fault(self, name):
        self.faults[name] += 1
        return name


PROXY = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        # the arrival time counts for the rate limit, taken before the added latency: under load,
        # a sleeping thread can wake late, which would bunch arrivals up that were spread out
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        op = target.rsplit(".", 1)[-1]
        cfg = PROXY.cfg
        if cfg["latency_ms"]:
            time.sleep(cfg["latency_ms"] / 1000.0)
        fault = PROXY.decide(op, arrived)
        if op in ("GetLogEvents", "FilterLogEvents"):
            try:
                req = json.loads(body)
                with PROXY.lock:
                    for name in [req.get("logStreamName")] + req.get("logStreamNames", []):
                        if name:
                            PROXY.streams[name] += 1
                    if op == "FilterLogEvents" and not req.get("logStreamNames"):
                        PROXY.streams["(whole group)"] += 1
            except ValueError:
                pass
        if fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "throttle" or fault == "rate_limited":
            return self.answer(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        if fault == "unavailable":
            return self.answer(
                503, {"__type": "ServiceUnavailableException", "message": "Service unavailable"}
            )
        if fault == "deny":
            return self.answer(
                400,
                {
                    "__type": "AccessDeniedException",
                    "message": f"User: arn:aws:iam::123456789012:user/test is not authorized to perform: logs:{op}",
                },
            )
        cap = cfg["page_cap"]
        if cap and op in ("GetLogEvents", "FilterLogEvents"):
            req = json.loads(body)
            if not req.get("limit") or req["limit"] > cap:
                req["limit"] = cap
            body = json.dumps(req).encode()
        conn = http.client.HTTPConnection("127.0.0.1", PROXY.upstream_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        headers["Content-Length"] = str(len(body))
        conn.request("POST", self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if op == "DescribeLogStreams" and resp.status == 200:
            data = ingested_when_written(data)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("content-type", "x-amzn-requestid"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def ingested_when_written(data):
    """DescribeLogStreams answer with lastIngestionTime as the service would have it."""
    doc = json.loads(data)
    for s in doc.get("logStreams", []):
        if "lastEventTimestamp" in s:
            s["lastIngestionTime"] = s["lastEventTimestamp"] + 2000
    return json.dumps(doc).encode()


TS = re.compile(r'"(requestReceivedTimestamp|stageTimestamp)":"([^"]+)"')


def parse_ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def fmt_ts(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed(moto_port, args):
    """Seeds a log group from an audit log, shifted in time so that its newest event is
    `newest_age_s` before now (moto rejects events older than 14 days).

    args: group, source (audit JSON lines), out (where the shifted audit lines are written: exactly
    the lines put into the audit streams), newest_age_s, repeat (copies of the source, each moved
    back by the source's span / density), same_ms_every (every Nth event takes the previous one's timestamp),
    truncated (add one event cut short the way CloudWatch cuts oversized events), decoys.
    Stream layout: two API servers; the first one's stream rotates half way (three audit streams).
    """
    import boto3

    client = boto3.client(
        "logs",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        region_name=args.get("region", "eu-central-1"),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    group = args["group"]
    with open(args["source"], encoding="utf-8", errors="replace") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    # the source's time span, from its timestamps
    stamps = [parse_ts(m.group(2)) for line in lines for m in TS.finditer(line)]
    first, last = min(stamps), max(stamps)
    span = (last - first) + dt.timedelta(seconds=1)
    now = dt.datetime.now(dt.timezone.utc)
    newest = now - dt.timedelta(seconds=args.get("newest_age_s", 2400))
    repeat = args.get("repeat", 1)
    density = args.get("density", 1)  # copies per source span (they overlap in time when > 1)
    every = args.get("same_ms_every", 0)
    rng = random.Random(args.get("seed", 7))

    events = []  # (timestamp ms, message)
    prev_ms = None
    n = 0
    for copy in range(repeat):
        shift = newest - last - span * (repeat - 1 - copy) / density
        for line in lines:
            def move(m):
                return f'"{m.group(1)}":"{fmt_ts(parse_ts(m.group(2)) + shift)}"'

            moved = TS.sub(move, line)
            if copy > 0:
                # a different request: fresh audit IDs
                moved = re.sub(
                    r'"auditID":"([0-9a-f]{8})', lambda m: f'"auditID":"{copy:04x}{m.group(1)[4:]}', moved
                )
            found = [parse_ts(m.group(2)) for m in TS.finditer(moved)]
            ms = int(max(found).timestamp() * 1000) if found else prev_ms
            if ms is None:
                ms = int(newest.timestamp() * 1000)
            n += 1
            if every and prev_ms is not None and n % every == 0:
                ms = prev_ms
            prev_ms = ms
            events.append((ms, moved))
    if args.get("truncated"):
        big = '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"truncated-1","stage":"ResponseComplete","requestURI":"/api/v1/configmaps","verb":"list","responseObject":{"items":[' + (
            '{"data":"' + "x" * 1000 + '"},'
        ) * 300
        events.append((events[-1][0], big[: 256 * 1024 - 26]))
    events.sort(key=lambda e: e[0])

    # two API servers; server A's stream rotates half way
    a_first, a_second, b = ([], [], [])
    mid = events[len(events) // 2][0]
    for ms, msg in events:
        if rng.random() < 0.5:
            b.append((ms, msg))
        elif ms < mid:
            a_first.append((ms, msg))
        else:
            a_second.append((ms, msg))
    streams = {
        "kube-apiserver-audit-" + "%032x" % rng.getrandbits(128): a_first,
        "kube-apiserver-audit-" + "%032x" % rng.getrandbits(128): a_second,
        "kube-apiserver-audit-" + "%032x" % rng.getrandbits(128): b,
    }
    client.create_log_group(logGroupName=group)
    for name, evs in streams.items():
        put(client, group, name, evs)
    decoys = {}
    if args.get("decoys", True):
        t0 = events[0][0]
        t_old = int((now - dt.timedelta(days=3)).timestamp() * 1000)
        text = [(t0 + i, f"I1121 12:00:{i:02d}.000000 1 controller.go:{i}] not an audit event") for i in range(20)]
        decoys = {
            # other control-plane logs in the same group
            "kube-apiserver-" + "%032x" % rng.getrandbits(128): text,
            "authenticator-" + "%032x" % rng.getrandbits(128): text,
            "kube-controller-manager-" + "%032x" % rng.getrandbits(128): text,
            # looks like an audit stream but the id is not 32 hex digits
            "kube-apiserver-audit-notes": text,
            # an audit stream that ended days before the window
            "kube-apiserver-audit-" + "%032x" % rng.getrandbits(128): [
                (t_old + i, events[i][1]) for i in range(min(50, len(events)))
            ],
        }
        for name, evs in decoys.items():
            put(client, group, name, evs)
    with open(args["out"], "w", encoding="utf-8") as f:
        for ms, msg in events:
            f.write(msg + "\n")
    same_ms = sum(1 for i in range(1, len(events)) if events[i][0] == events[i - 1][0])
    return {
        "events": len(events),
        "same_ms_pairs": same_ms,
        "first_ms": events[0][0],
        "last_ms": events[-1][0],
        "audit_streams": {k: len(v) for k, v in streams.items()},
        "decoy_streams": sorted(decoys),
    }


def put(client, group, stream, events):
    client.create_log_stream(logGroupName=group, logStreamName=stream)
    batch, size = [], 0
    for ms, msg in events:
        n = len(msg.encode()) + 26
        if batch and (len(batch) >= 10000 or size + n > 1_000_000):
            client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
            batch, size = [], 0
        batch.append({"timestamp": ms, "message": msg})
        size += n
    if batch:
        client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)


def s3_bucket(moto_port, args):
    """Creates an S3 bucket on moto's server (for the Parquet store tests); lists its keys."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = args["name"]
    if args.get("create", True):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    for key in args.get("put", []):
        s3.put_object(Bucket=name, Key=key, Body=b"old")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return {"ok": True, "keys": sorted(keys)}


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    global PROXY
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    _, moto_port = moto.get_host_and_port()
    PROXY = Proxy(moto_port)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"moto": moto_port, "proxy": server.server_address[1]}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            cmd = req.pop("cmd")
            if cmd == "config":
                PROXY.configure(req)
                out = {"ok": True}
            elif cmd == "stats":
                out = PROXY.stats()
            elif cmd == "reset_stats":
                PROXY.reset_stats()
                out = {"ok": True}
            elif cmd == "seed":
                out = seed(moto_port, req)
            elif cmd == "s3_bucket":
                out = s3_bucket(moto_port, req)
            else:
                out = {"error": f"unknown command {cmd}"}
        except Exception as e:  # report, keep serving
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)
    server.shutdown()
    moto.stop()


if __name__ == "__main__":
    main()
