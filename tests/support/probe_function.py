#!/usr/bin/env python3
"""A Lambda function for the local stack's fidelity tests: it speaks the Lambda
Runtime API with the standard library only and shows the tests what the stack
gave it (the event, the environment, the invocation headers), or misbehaves on
purpose (sleeps past its timeout, answers a trigger badly).

Records go to files in $PROBE_DIR, so tests can see what ran and how often."""
import json
import os
import time
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
PROBE_DIR = os.environ.get("PROBE_DIR", "/tmp")
ENV_NAMES = [
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_INITIALIZATION_TYPE", "LAMBDA_TASK_ROOT", "TZ",
    "AWS_REGION", "USER_POOL_ID", "USER_POOL_CLIENT_ID",
]


def record(name, value):
    with open(os.path.join(PROBE_DIR, name), "a", encoding="utf-8") as f:
        f.write(json.dumps(value) + "\n")


def attempts(name):
    path = os.path.join(PROBE_DIR, name)
    record(name, 1)
    with open(path, encoding="utf-8") as f:
        return len(f.readlines())


def api_gateway(event):
    if event.get("rawPath") == "/probe/sleep":
        time.sleep(3)
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"event": event}),
    }


def trigger(event):
    source = event.get("triggerSource", "")
    email = event.get("request", {}).get("userAttributes", {}).get("email", "")
    record("triggers", event)
    if source.startswith("PreSignUp"):
        if email.startswith("slow-once") and attempts(f"attempts-{email}") == 1:
            time.sleep(6)
        if email.startswith("slow-always"):
            attempts(f"attempts-{email}")
            time.sleep(6)
        if email.startswith("autoverify"):
            event["response"]["autoConfirmUser"] = True
            event["response"]["autoVerifyEmail"] = True
    if source.startswith("CustomMessage") and email.startswith("noplaceholder"):
        event["response"]["emailSubject"] = "Hello"
        event["response"]["emailMessage"] = "<p>Welcome, but no code here.</p>"
    return event


def handle(event, headers):
    if isinstance(event, dict) and "routeKey" in event:
        return api_gateway(event)
    if isinstance(event, dict) and "triggerSource" in event:
        return trigger(event)
    probe = event.get("probe") if isinstance(event, dict) else None
    if probe == "env":
        return {
            "env": {name: os.environ.get(name) for name in ENV_NAMES},
            "trace_id": headers.get("Lambda-Runtime-Trace-Id"),
        }
    if probe == "hold":
        # Runs until the test lets go (a file named after the marker), at most
        # the given seconds: the test decides how long the run lasts, not a clock.
        record("holds", event)
        release = os.path.join(os.environ["PROBE_DIR"], f"release-{event['marker']}")
        until = time.time() + event.get("seconds", 10)
        while not os.path.exists(release) and time.time() < until:
            time.sleep(0.05)
        return {"held": True}
    if probe == "sleep":
        time.sleep(event.get("seconds", 3))
        return {"slept": True}
    if probe == "record":
        record("records", event)
        return {"recorded": True}
    return event


while True:
    with urllib.request.urlopen(f"{API}/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        headers = response.headers
        event = json.loads(response.read() or b"null")
    answer = json.dumps(handle(event, headers)).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{API}/{request_id}/response", data=answer, method="POST")
    ).read()
