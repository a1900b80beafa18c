"""``marquee run``: the whole stack on one machine, on embedded defaults, under ``var/``.

A private redis-server (append-only), the ingest service, one Celery worker per
stage queue, and Celery beat (which lifts embargoes), each its own process. Ctrl-C stops them all, workers first finishing
what they hold.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

from services.cli.localstack import ensure_ops_token
from shared.queues import QUEUES
from shared.writers import new_secret

STOP_GRACE_SECONDS = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise SystemExit(f"marquee run: {what} did not come up within {timeout:.0f}s; see var/log/")


def ensure_writers_file(path: Path) -> bool:
    """Create a writers file with a ``dev`` writer; False if one was already there."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"writers": {"dev": {"secrets": [new_secret()]}}}, indent=2) + "\n")
    path.chmod(0o600)
    return True


class Stack:
    def __init__(self, root: Path):
        self.root = root
        self.var = root / "var"
        self.logs = self.var / "log"
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        # Each child leads its own session, so Ctrl-C reaches only us and we stop them in order.
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root
        )
        self.processes.append((name, process))
        return process

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop in time; killing it")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        (self.var / "stack.json").unlink(missing_ok=True)


def run_stack(root: Path) -> None:
    stack = Stack(root)
    stack.logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)

    if "MARQUEE_REDIS_URL" not in env:
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit(
                "marquee run: redis-server is not installed (apt-get install redis-server), "
                "or set MARQUEE_REDIS_URL to a Redis you run"
            )
        port = free_port()
        (stack.var / "redis").mkdir(parents=True, exist_ok=True)
        stack.start(
            "redis",
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(stack.var / "redis"),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ],
            env,
        )
        env["MARQUEE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"

    ingest_port = int(env.setdefault("MARQUEE_INGEST_PORT", "8000"))
    ingest_url = f"http://127.0.0.1:{ingest_port}"
    env.setdefault("MARQUEE_ARCHIVE_URL", str(stack.var / "archive"))
    env.setdefault("MARQUEE_PUBLISH_URL", str(stack.var / "publish"))
    env.setdefault("MARQUEE_PUBLIC_BASE_URL", f"{ingest_url}/site")
    writers_file = Path(env.setdefault("MARQUEE_WRITERS_FILE", str(stack.var / "writers.json")))
    created = ensure_writers_file(writers_file)
    env.setdefault("MARQUEE_OPS_TOKEN", ensure_ops_token(stack.var / "ops-token"))

    def shutdown(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        client = redis.Redis.from_url(env["MARQUEE_REDIS_URL"])
        wait_until(client.ping, timeout=15, what="redis-server")
        stack.start("ingest", [sys.executable, "-m", "services.cli.main", "ingest"], env)
        for queue in QUEUES:
            # Social draws images: most of a review's CPU (docs/PERFORMANCE.md), so it gets a
            # process per core, as in docker-compose; the other stages one each.
            processes = str(os.cpu_count() or 1) if queue == "social" else "1"
            stack.start(
                f"worker-{queue}",
                [sys.executable, "-m", "services.cli.main", "worker", queue, "--concurrency", processes],
                env,
            )
        stack.start(
            "beat",
            [sys.executable, "-m", "services.cli.main", "beat", "--schedule-file", str(stack.var / "beat-schedule")],
            env,
        )
        wait_until(
            lambda: httpx.get(f"{ingest_url}/readyz", timeout=2).status_code == 200,
            timeout=30,
            what="the ingest service",
        )
        (stack.var / "stack.json").write_text(
            json.dumps(
                {
                    "ingest_url": ingest_url,
                    "redis_url": env["MARQUEE_REDIS_URL"],
                    "writers_file": str(writers_file),
                }
            )
        )
        _welcome(ingest_url, writers_file, created, env["MARQUEE_PUBLISH_URL"])
        # The token itself is a secret: say where it is, never print it.
        print(
            f"Operations: {ingest_url}/ops  (any user name; the password is the ops token in var/ops-token),\n"
            f"            or `marquee queues`, `failed`, `retry`, `reconcile`.\n",
            flush=True,
        )
        while True:
            for name, process in stack.processes:
                if process.poll() is not None:
                    raise SystemExit(f"marquee run: {name} exited ({process.returncode}); see var/log/{name}.log")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        stack.stop()
        print("stopped.")


def _welcome(ingest_url: str, writers_file: Path, created: bool, publish_url: str) -> None:
    marquee = Path(sys.executable).parent / "marquee"
    command = marquee if marquee.exists() else "marquee"
    print(
        f"""
Marquee is running.
  ingest     {ingest_url}   (status: {ingest_url}/v1/reviews/<id>)
  site       {ingest_url}/site/   (files in {publish_url})
  writers    {writers_file}{'  (created, with the writer "dev")' if created else ""}
  logs       var/log/

Submit a review (in another terminal, from this folder):

  {command} submit examples/reviews/the-salt-road.txt --writer dev --wait
  {command} submit examples/reviews/paper-lanterns.json --writer dev --wait

Ctrl-C stops everything.
""",
        flush=True,
    )
