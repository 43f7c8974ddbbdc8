"""The arm64 bootstraps start and answer, run as Lambda runs them.

After `make sam-build ARCHITECTURE=arm64`, target/lambda/<function>/bootstrap is
each function's aarch64 build. This machine is x86_64, so each runs under
qemu-aarch64-static (with Debian's aarch64 glibc as its root) behind the local
stack's Runtime API: the stack starts with a folder of wrappers, one per function,
that exec the real bootstrap under qemu. Then, through the local API Gateway:
GET /health (DynamoDB, Cognito and SQS through the SDK: 200, each ok) and a
sign-up (register, and the pre sign-up and custom message triggers Cognito runs:
201). Times under qemu say nothing about Graviton's speed; this proves the
binaries are whole, start, and speak the Runtime API and the SDK's protocols.

Usage: python3 scripts/arm64-check.py   (from `make arm64-check`)
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
QEMU = "qemu-aarch64-static"
SYSROOT = Path("/usr/aarch64-linux-gnu")
EM_AARCH64 = 183


def call(url, path, body=None):
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wrappers(folder):
    """One executable per function that runs its arm64 bootstrap under qemu."""
    qemu = shutil.which(QEMU)
    if not qemu or not (SYSROOT / "lib/ld-linux-aarch64.so.1").exists():
        sys.exit(f"{QEMU} or {SYSROOT} missing: run `make arm64-check`, which installs them")
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml"))
    for name in functions:
        bootstrap = TARGET / "lambda" / name / "bootstrap"
        if not bootstrap.is_file():
            sys.exit(f"{bootstrap} missing: run `make sam-build ARCHITECTURE=arm64`")
        header = bootstrap.read_bytes()[:20]
        if int.from_bytes(header[18:20], "little") != EM_AARCH64:
            sys.exit(f"{bootstrap} is not an aarch64 binary: run `make sam-build ARCHITECTURE=arm64`")
        wrapper = folder / name
        wrapper.write_text(f'#!/bin/sh\nexec {qemu} -L {SYSROOT} {bootstrap} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return len(functions)


def main():
    with tempfile.TemporaryDirectory(prefix="gatehouse-arm64-") as folder:
        count = wrappers(Path(folder))
        log_path = Path(folder) / "stack.log"
        stack = subprocess.Popen(
            [str(TARGET / "debug/gatehouse-local"), "--port", "0", "--exit-with-stdin",
             "--bin-dir", folder,
             "--moto-server", str(ROOT / ".tools/venv/bin/moto_server"),
             "--parameter-overrides", "AlarmEmail=alarms@example.com"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(log_path, "w"), text=True)
        problems = []
        try:
            ready = stack.stdout.readline()
            if "ready on" not in ready:
                sys.exit(f"the local stack did not start: {ready!r}\n{log_path.read_text()}")
            url = ready.split("ready on ")[1].split(" ")[0]

            status, body = call(url, "/health")
            health = json.loads(body) if body.startswith("{") else {}
            dependencies = health.get("dependencies", {})
            if status != 200 or not dependencies or any(v != "ok" for v in dependencies.values()):
                problems.append(f"GET /health: {status} {body}")
            else:
                print(f"GET /health: 200, {', '.join(f'{k} {v}' for k, v in dependencies.items())}")

            status, body = call(url, "/auth/register", {
                "email": "arm64-check@example.com", "password": "Arm64-check-password-1"})
            if status != 201:
                problems.append(f"POST /auth/register: {status} {body}")
            else:
                print("POST /auth/register: 201 (register, pre sign-up and custom message triggers)")
        finally:
            stack.stdin.close()
            stack.wait(timeout=60)
        if problems:
            print(log_path.read_text()[-6000:], file=sys.stderr)
            sys.exit("arm64 check failed:\n  " + "\n  ".join(problems))
        print(f"arm64: {count} bootstraps in place; the ones called started under qemu and answered")


if __name__ == "__main__":
    main()
