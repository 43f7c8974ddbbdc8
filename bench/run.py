#!/usr/bin/env python3
"""The benchmark (`make bench`): every function built in release as `make
sam-build` builds it (cargo-lambda, the Makefile's RELEASE_RUSTFLAGS), run as Lambda runs it (a process talking to a Lambda
Runtime API, here this script's) with its sample event against the local stack,
beside its peers, measured A/B in the same run:

- stripped and gzip'd size of the bootstrap;
- init: process start to its first `GET /next`, median and p90 over the cold starts;
- first and warm invocation duration (event handed out to answer received);
- CPU per warm request, the process's own (all its threads' on-CPU time from
  /proc/<pid>/task/*/schedstat, so the emulators' time is excluded);
- peak RSS (VmHWM).

Peers: `get-profile` in Python 3 + boto3 (bench/peers/get_profile.py) and the
floor, a Rust function that does nothing but aws-config and one GetItem on
tokio's current-thread runtime (bench/minimal-sdk).

`--baseline DIR` runs a second build of each function beside this one (DIR holds
`<function>/bootstrap`, as target/lambda does), to measure a build setting A/B.

Writes bench/results/latest.json and latest.md. Standard library only."""
import argparse
import gzip
import json
import os
import platform
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
SAMPLE_USER = "8f452769-9947-4d75-8113-c328cafb5d5f"


class RuntimeApi:
    """A Lambda Runtime API for one process."""

    def __init__(self):
        self.lock = threading.Condition()
        self.events = queue.Queue()
        self.first_next = None
        self.init_error = None
        self.results = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out as separate writes: without this, Nagle
                # and the client's delayed ACK add 40 ms to every invocation.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    self.send_error(404)
                    return
                now = time.perf_counter_ns()
                with api.lock:
                    events = api.events
                    if api.first_next is None:
                        api.first_next = now
                        api.lock.notify_all()
                item = events.get()
                if item is None:  # the API is closing
                    self.send_error(410)
                    return
                request_id, payload = item
                with api.lock:
                    api.results[request_id] = {"sent": time.perf_counter_ns()}
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench",
                )
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                now = time.perf_counter_ns()
                parts = self.path.split("/")
                if "init" in parts:
                    with api.lock:
                        api.init_error = body
                        api.lock.notify_all()
                else:
                    request_id, outcome = parts[-2], parts[-1]
                    with api.lock:
                        result = api.results.setdefault(request_id, {})
                        result.update({"done": now, "ok": outcome == "response", "body": body})
                        api.lock.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a killed process drops its connection: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        for _ in range(8):
            self.events.put(None)  # releases polls still waiting
        self.server.shutdown()
        self.server.server_close()

    def wait_first_next(self, timeout=60):
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.first_next is None and self.init_error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("the process never asked for work")
                self.lock.wait(left)
            if self.init_error is not None:
                raise RuntimeError(f"init failed: {self.init_error[:300]!r}")
            return self.first_next

    def invoke(self, payload, timeout=60):
        request_id = str(uuid.uuid4())
        self.events.put((request_id, payload))
        deadline = time.monotonic() + timeout
        with self.lock:
            while "done" not in self.results.get(request_id, {}):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("no answer to an invocation")
                self.lock.wait(left)
            result = self.results.pop(request_id)
        return result["done"] - result["sent"], result["ok"]


def cpu_ns(pid):
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Subject:
    def __init__(self, name, kind, cmd, env, payload, binary=None):
        self.name, self.kind, self.cmd, self.env, self.payload, self.binary = (
            name, kind, cmd, env, payload, binary)
        self.inits, self.firsts, self.warms = [], [], []
        self.cpu_per_request, self.rss_kb, self.errors, self.timeouts = [], [], 0, 0


def run_round(subject, cold, warm):
    for i in range(cold):
        # A Runtime API of its own for each process, as Lambda gives each sandbox:
        # a poll a killed process left in flight can never take the next event.
        api = RuntimeApi()
        env = dict(subject.env, AWS_LAMBDA_RUNTIME_API=api.address)
        started = time.perf_counter_ns()
        process = subprocess.Popen(subject.cmd, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            subject.inits.append(api.wait_first_next() - started)
            duration, ok = api.invoke(subject.payload)
            subject.firsts.append(duration)
            subject.errors += not ok
            if i < cold - 1:
                continue
            before = cpu_ns(process.pid)
            done = 0
            for _ in range(warm):
                try:
                    duration, ok = api.invoke(subject.payload, timeout=10)
                except RuntimeError:
                    # Lambda would time the invocation out and end the process.
                    subject.timeouts += 1
                    break
                subject.warms.append(duration)
                subject.errors += not ok
                done += 1
            subject.cpu_per_request.append((cpu_ns(process.pid) - before) / max(done, 1))
            subject.rss_kb.append(peak_rss_kb(process.pid))
        finally:
            process.kill()
            process.wait()
            api.close()


def stack_get(url, path):
    with urllib.request.urlopen(f"{url}{path}") as response:
        return json.loads(response.read())


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def ms(ns):
    return ns / 1e6


def summary(subject):
    size = subject.binary.stat().st_size if subject.binary else None
    gz = len(gzip.compress(subject.binary.read_bytes(), 9)) if subject.binary else None
    return {
        "name": subject.name,
        "kind": subject.kind,
        "size_bytes": size,
        "gzip_bytes": gz,
        "init_ms_median": ms(statistics.median(subject.inits)),
        "init_ms_p90": ms(percentile(subject.inits, 90)),
        "first_invocation_ms_median": ms(statistics.median(subject.firsts)),
        "warm_invocation_ms_median": ms(statistics.median(subject.warms)),
        "cpu_ms_per_warm_request": ms(statistics.median(subject.cpu_per_request)),
        "peak_rss_mb": max(subject.rss_kb) / 1024,
        "cold_starts": len(subject.inits),
        "warm_requests": len(subject.warms),
        "errors": subject.errors,
        "timeouts": subject.timeouts,
    }


def markdown(results, info):
    def mb(b):
        return "–" if b is None else f"{b / 1e6:.2f} MB"
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
        f"Linux {info['kernel']}; {info['date']}. {info['rounds']} rounds A/B, "
        f"{info['cold']} cold starts and {info['warm']} warm requests per round; "
        "DynamoDB and Cognito are the local emulators.",
        "",
        "| function | size | gzip | init median | init p90 | first call | warm call | CPU / warm request | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {mb(r['size_bytes'])} | {mb(r['gzip_bytes'])} | "
            f"{r['init_ms_median']:.1f} ms | {r['init_ms_p90']:.1f} ms | "
            f"{r['first_invocation_ms_median']:.1f} ms | {r['warm_invocation_ms_median']:.2f} ms | "
            f"{r['cpu_ms_per_warm_request']:.2f} ms | {r['peak_rss_mb']:.1f} MB |"
        )
    by = {r["name"]: r for r in results}
    compared = [(r, by[f"{r['name']} (baseline)"]) for r in results if f"{r['name']} (baseline)" in by]
    if compared:
        lines += [
            "",
            "| this build ÷ baseline | init | CPU / warm request | peak RSS | gzip |",
            "|---|---:|---:|---:|---:|",
        ]
        for new, old in compared:
            lines.append(
                f"| {new['name']} | {new['init_ms_median'] / old['init_ms_median']:.2f}x | "
                f"{new['cpu_ms_per_warm_request'] / old['cpu_ms_per_warm_request']:.2f}x | "
                f"{new['peak_rss_mb'] / old['peak_rss_mb']:.2f}x | "
                f"{new['gzip_bytes'] / old['gzip_bytes']:.2f}x |"
            )
    rust, python, floor = by.get("get-profile"), by.get("get-profile (Python 3 + boto3)"), by.get("floor (aws-config + GetItem)")
    if rust and python and floor:
        lines += [
            "",
            "| get-profile against its peers | init | CPU / warm request | peak RSS |",
            "|---|---:|---:|---:|",
            f"| Python 3 + boto3 ÷ Rust | {python['init_ms_median'] / rust['init_ms_median']:.1f}x | "
            f"{python['cpu_ms_per_warm_request'] / rust['cpu_ms_per_warm_request']:.1f}x | "
            f"{python['peak_rss_mb'] / rust['peak_rss_mb']:.1f}x |",
            f"| Rust ÷ floor | {rust['init_ms_median'] / floor['init_ms_median']:.2f}x | "
            f"{rust['cpu_ms_per_warm_request'] / floor['cpu_ms_per_warm_request']:.2f}x | "
            f"{rust['peak_rss_mb'] / floor['peak_rss_mb']:.2f}x |",
        ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", type=int, default=7, help="cold starts per round")
    parser.add_argument("--warm", type=int, default=334, help="warm requests per round")
    parser.add_argument("--only", help="comma-separated subjects (function names, python, floor)")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--python", default=str(ROOT / ".tools/bench/bin/python"))
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    parser.add_argument("--baseline", help="a folder of <function>/bootstrap built another way "
                        "(another profile, say): each is run beside this build's, A/B")
    args = parser.parse_args()

    functions = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").exists())
    wanted = set(args.only.split(",")) if args.only else None
    if wanted:
        functions = [f for f in functions if f in wanted]
    if not args.skip_build:
        if "relocation-model" not in os.environ.get("RUSTFLAGS", ""):
            sys.exit("run this through `make bench`: it passes the Makefile's RELEASE_RUSTFLAGS, "
                     "so the functions measured are built as `make sam-build` ships them")
        # As `make sam-build` builds them (--bin from the workspace root, with the
        # RUSTFLAGS the Makefile passes), so the same artifacts serve both.
        binaries = [a for f in functions + ["bench-minimal-sdk"] for a in ("--bin", f)]
        print("building release bootstraps with cargo-lambda (as make sam-build does)...", flush=True)
        subprocess.run(["cargo", "lambda", "build", "--release", *binaries], cwd=ROOT, check=True)

    Path(args.out).mkdir(parents=True, exist_ok=True)
    stack = subprocess.Popen(
        [str(TARGET / "debug/gatehouse-local"), "--port", "0", "--exit-with-stdin",
         "--moto-server", str(ROOT / ".tools/venv/bin/moto_server"),
         "--parameter-overrides", "AlarmEmail=alarms@example.com"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(Path(args.out) / "stack.log", "w"), text=True)
    ready = stack.stdout.readline()
    if "ready on" not in ready:
        sys.exit(f"the local stack did not start: {ready!r}")
    url = ready.split("ready on ")[1].split(" ")[0]
    try:
        # The sample events' user: a profile for get-profile to read.
        confirm = (ROOT / "events/cognito-post-confirmation.json").read_bytes()
        urllib.request.urlopen(urllib.request.Request(
            f"{url}/2015-03-31/functions/cognito-post-confirmation/invocations", data=confirm, method="POST")).read()

        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        subjects = []
        for name in functions:
            env = dict(base_env, **stack_get(url, f"/_local/functions/{name}/environment"))
            binary = TARGET / "lambda" / name / "bootstrap"
            payload = (ROOT / "events" / f"{name}.json").read_bytes()
            subjects.append(Subject(name, "rust", [str(binary)], env, payload, binary))
            baseline = Path(args.baseline) / name / "bootstrap" if args.baseline else None
            if baseline and baseline.exists():
                subjects.append(Subject(f"{name} (baseline)", "baseline", [str(baseline)], env,
                                        payload, baseline))
        profile_env = dict(base_env, **stack_get(url, "/_local/functions/get-profile/environment"))
        subjects.append(Subject("get-profile (Python 3 + boto3)", "python",
                                [args.python, str(ROOT / "bench/peers/get_profile.py")], profile_env,
                                (ROOT / "events/get-profile.json").read_bytes()))
        floor_env = dict(base_env, **stack_get(url, "/_local/functions/logout/environment"))
        floor = TARGET / "lambda/bench-minimal-sdk/bootstrap"
        subjects.append(Subject("floor (aws-config + GetItem)", "floor", [str(floor)], floor_env,
                                json.dumps({"user_id": SAMPLE_USER}).encode(), floor))
        if wanted:
            subjects = [s for s in subjects if s.kind in ("rust", "baseline") or s.kind in wanted]

        for round_number in range(args.rounds):
            # A/B: each round runs the subjects in the other order.
            order = subjects if round_number % 2 == 0 else list(reversed(subjects))
            for subject in order:
                print(f"round {round_number + 1}/{args.rounds}: {subject.name}", flush=True)
                run_round(subject, args.cold, args.warm)
    finally:
        stack.stdin.close()
        stack.wait(timeout=30)

    info = dict(machine(), rounds=args.rounds, cold=args.cold, warm=args.warm)
    results = [summary(s) for s in subjects]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    table = markdown(results, info)
    (out / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
