#!/usr/bin/env python3
"""The baselines for benches/cloudwatch.sh, one call at a time:
  --api filter  FilterLogEvents over the whole log group, the way `aws logs filter-log-events` pages
                (boto3's paginator)
  --api get     GetLogEvents per audit stream, one stream after the other, following the forward
                token until it repeats (the way `aws logs get-log-events` pages)
Prints the number of events read."""

import argparse

import boto3
from botocore.config import Config

p = argparse.ArgumentParser()
p.add_argument("--endpoint-url", required=True)
p.add_argument("--group", required=True)
p.add_argument("--start-ms", type=int, required=True)
p.add_argument("--end-ms", type=int, required=True)
p.add_argument("--api", choices=["filter", "get"], default="filter")
a = p.parse_args()

client = boto3.client(
    "logs",
    endpoint_url=a.endpoint_url,
    region_name="eu-central-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    config=Config(retries={"mode": "standard", "max_attempts": 10}),
)
n = 0
if a.api == "filter":
    for page in client.get_paginator("filter_log_events").paginate(
        logGroupName=a.group, startTime=a.start_ms, endTime=a.end_ms - 1
    ):
        n += len(page["events"])
else:
    streams = []
    for page in client.get_paginator("describe_log_streams").paginate(
        logGroupName=a.group, logStreamNamePrefix="kube-apiserver-audit-"
    ):
        streams += [s["logStreamName"] for s in page["logStreams"]]
    for stream in streams:
        token = None
        while True:
            kw = {"nextToken": token} if token else {}
            page = client.get_log_events(
                logGroupName=a.group, logStreamName=stream, startTime=a.start_ms,
                endTime=a.end_ms - 1, startFromHead=True, **kw,
            )
            n += len(page["events"])
            if page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
print(n)
