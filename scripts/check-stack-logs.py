#!/usr/bin/env python3
"""The integration suite's last word: every 5xx that no test asked for, and every
panic, in the logs of the local stacks this run started fails the run, naming the
request (and the function's error lines just before it).

A test asks for a 5xx by sending the header `x-gatehouse-local-expect-error`, or
by switching on an emulated failure (`POST /_local/aws/outage`); the stack marks
those request lines `[asked for]` (local/src/gateway.rs).

usage: check-stack-logs.py LOG...
"""

import re
import sys

REQUEST = re.compile(r"\b([A-Z]+) (\S+) -> (\d{3}) (\S+) \((\d+) ms\) request (\S+)(.*)$")
ASKED_FOR = "[asked for]"
# Any line that looks like a request line: one that REQUEST cannot read means the
# stack's format changed, and the scan would otherwise pass without looking.
LOOKS_LIKE_REQUEST = re.compile(r"\b[A-Z]+ /\S* -> \d{3} ")


def scan(path):
    """Every unexpected 5xx and panic in one log, as printable findings."""
    findings = []
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            lines = log.read().splitlines()
    except OSError as err:
        return [f"{path}: cannot read: {err}"]
    for number, line in enumerate(lines, 1):
        if "panicked at" in line:
            findings.append(f"{path}:{number}: a panic: {line.strip()}")
            continue
        request = REQUEST.search(line)
        if not request:
            if LOOKS_LIKE_REQUEST.search(line) and "route " not in line:
                findings.append(f"{path}:{number}: a request line this scan cannot read: {line.strip()}")
            continue
        if not request.group(3).startswith("5"):
            continue
        if ASKED_FOR in request.group(7):
            continue
        method, target, status, function, request_id = request.group(1, 2, 3, 4, 6)
        finding = [f"{path}:{number}: {method} {target} answered {status} ({function}), and no test asked for it"]
        # The function's own lines for that request (its `api_request_id`).
        finding.extend(f"    its log: {other.strip()[:600]}" for other in lines if request_id in other and other != line)
        findings.append("\n".join(finding))
    return findings


def main(paths):
    findings = [f for path in paths for f in scan(path)]
    if findings:
        print(f"check-stack-logs: {len(findings)} finding(s): answers no test asked for, or lines it cannot read")
        for finding in findings:
            print(finding)
        return 1
    print(f"check-stack-logs: no unexpected 5xx or panic in {len(paths)} stack log(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
