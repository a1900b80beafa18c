"""Ingest alone: signed webhooks accepted per second by one uvicorn process, against a hello endpoint.

The load generator is ``wrk`` (Debian package ``wrk``), 32 connections, one thread. A
submission needs its own signature (Standard Webhooks: HMAC over id, timestamp and
body), and wrk's Lua cannot compute HMAC-SHA256 cheaply, so Python signs every request
beforehand and wrk's script sends them in turn, each webhook-id once: the generator
does no crypto while it runs. Its CPU time is measured, so the report can show it was
not the bottleneck.

No worker consumes the queues: a submission is "accepted" once ingest has stored it
in the archive, recorded it in Redis and queued its validate message, which is what
the 202 promises. Leaving the workers off keeps the pipeline's work from competing for
the same two cores, so this measures ingest alone.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.writers import sign
from tests.bench.common import REPO, cpu_seconds, review_bytes, tree_cpu_seconds
from tests.support.processes import RedisServer, Stack, launched, poll, stop_process

LUA = r"""
local raw = {}
local lines = {}
local n = 0
local i = 0
local f = io.open(os.getenv("BENCH_REQUESTS"), "r")
local body = f:read("*l")
for line in f:lines() do
  n = n + 1
  raw[n] = line
end
f:close()
-- Formatted in init, once wrk knows the Host header.
init = function(args)
  for k = 1, n do
    local id, ts, sig = raw[k]:match("^(%S+) (%S+) (.+)$")
    lines[k] = wrk.format("POST", "/v1/writers/fuzz/reviews", {
      ["content-type"] = "application/json", ["webhook-id"] = id, ["webhook-timestamp"] = ts,
      ["webhook-signature"] = sig}, body)
  end
  raw = nil
end
request = function()
  i = i + 1
  if i > n then i = 1 end  -- wraps only if the run outlasts the signed requests (reported)
  return lines[i]
end
done = function(summary, latency, requests)
  io.write("BENCH-JSON ")
  io.write(string.format('{"requests": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %f, "errors": %d, "timeouts": %d, "signed": %d}\n',
    summary.requests, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout, n))
end
"""

HELLO_LUA = r"""
done = function(summary, latency, requests)
  io.write("BENCH-JSON ")
  io.write(string.format('{"requests": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %f, "errors": %d, "timeouts": %d}\n',
    summary.requests, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout))
end
"""


class IngestBench:
    def __init__(self, root: Path, *, workers: int = 1):
        self.root, self.workers = root, workers
        self.redis = RedisServer(root / "redis").start()
        # A Stack only for its environment and writers file: none of its workers start.
        self.stack = Stack(
            root / "stack",
            redis_url=self.redis.url,
            archive_url=f"file://{root}/archive",
            publish_url=str(root / "publish"),
            extra_env={"MARQUEE_RELEASE_INTERVAL": "5"},
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> IngestBench:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.bench.ingest_app:create",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.stack.port),
                "--log-level",
                "info",
                "--no-access-log",
                "--workers",
                str(self.workers),
            ],
            env=self.stack.env,
            cwd=REPO,
            stdout=open(self.root / "ingest.log", "ab"),  # noqa: SIM115 - the child writes to it for as long as it lives
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        poll(lambda: httpx.get(f"{self.stack.url}/readyz", timeout=2).status_code == 200, timeout=30, what="ingest")
        return self

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)
        self.stack.client.close()
        self.redis.stop()

    def presign(self, count: int, *, size: int = 1000) -> Path:
        body = review_bytes("Ingest Bench", size=size)
        path = self.root / "requests.txt"
        now = int(time.time())
        with path.open("w") as out:
            out.write(body.decode() + "\n")
            for _ in range(count):
                msg_id = f"msg_{os.urandom(12).hex()}"
                headers = sign(self.stack.fuzz_secret, msg_id=msg_id, timestamp=now, body=body)
                out.write(f"{msg_id} {now} {headers['webhook-signature']}\n")
        return path

    def wrk(self, path: str, *, seconds: int, connections: int = 32, requests: Path | None = None) -> dict:
        script = self.root / ("signed.lua" if requests else "hello.lua")
        script.write_text(LUA if requests else HELLO_LUA)
        env = {**os.environ, "BENCH_REQUESTS": str(requests or "")}
        server_cpu = tree_cpu_seconds(launched(self.process).pid)
        redis_cpu = cpu_seconds(launched(self.redis.process).pid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"{self.stack.url}{path}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        found = re.search(r"BENCH-JSON (\{.*\})", done.stdout)
        if not found:
            raise RuntimeError(f"wrk said: {done.stdout}\n{done.stderr}")
        result = json.loads(found.group(1))
        result["rps"] = result["requests"] / seconds
        for key in ("p50", "p90", "p99", "max", "mean"):
            result[key + "_ms"] = result.pop(key) / 1000  # wrk reports microseconds
        result["server_cpu_pct"] = 100 * (tree_cpu_seconds(launched(self.process).pid) - server_cpu) / wall
        result["redis_cpu_pct"] = 100 * (cpu_seconds(launched(self.redis.process).pid) - redis_cpu) / wall
        result["wrk_cpu_pct"] = 100 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / wall
        result["path"] = path
        result["connections"] = connections
        result["seconds"] = seconds
        return result

    def queued(self) -> int:
        return int(self.stack.redis.llen("validate"))


def run(root: Path, *, seconds: int = 10, connections: int = 32, size: int = 1000) -> dict:
    bench = IngestBench(root).start()
    try:
        bench.wrk("/bench/hello", seconds=2, connections=connections)  # warm up
        hello = bench.wrk("/bench/hello", seconds=seconds, connections=connections)
        healthz = bench.wrk("/healthz", seconds=seconds, connections=connections)
        signed = _webhooks(bench, seconds=seconds, connections=connections, size=size)
    finally:
        bench.stop()
    # For scale: the same load on two server processes (`marquee ingest --workers 2`).
    bench = IngestBench(root / "two-workers", workers=2).start()
    try:
        two = _webhooks(bench, seconds=seconds, connections=connections, size=size)
    finally:
        bench.stop()
    return {"hello": hello, "healthz": healthz, "webhooks": signed, "webhooks_2_workers": two}


def _webhooks(bench: IngestBench, *, seconds: int, connections: int, size: int) -> dict:
    requests = bench.presign(max(20_000, 3_000 * seconds), size=size)
    queued_before = bench.queued()
    signed = bench.wrk("/v1/writers/fuzz/reviews", seconds=seconds, connections=connections, requests=requests)
    signed["queued"] = bench.queued() - queued_before
    signed["wrapped"] = signed["requests"] > signed["signed"]
    return signed
