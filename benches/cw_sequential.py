#!/usr/bin/env python3
"""The baseline for benches/cloudwatch.sh: one sequential paginator over FilterLogEvents, the way
`aws logs filter-log-events` pages (boto3's paginator, interleaved over the whole log group).
Prints the number of events read."""

import argparse

import boto3
from botocore.config import Config

p = argparse.ArgumentParser()
p.add_argument("--endpoint-url", required=True)
p.add_argument("--group", required=True)
p.add_argument("--start-ms", type=int, required=True)
p.add_argument("--end-ms", type=int, required=True)
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
for page in client.get_paginator("filter_log_events").paginate(
    logGroupName=a.group, startTime=a.start_ms, endTime=a.end_ms - 1
):
    n += len(page["events"])
print(n)
