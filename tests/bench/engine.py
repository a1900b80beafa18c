"""Baseline (b): the bare engine. Celery alone, in the pipeline's shape, doing nothing.

No-op tasks on the same queues (validate → render → social → upload → notify, one task
per stage), the same Celery settings (``shared.broker.celeryconfig``: acks late, prefetch 1,
JSON, the Redis transport and its visibility timeout), one prefork worker per queue, on
the same redis-server. Each task only hands off to the next by name, as the stages do.
The notify task records when the chain ended.

Workers: ``celery -A tests.bench.engine worker -Q <queue>`` with the services' settings.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import cast

import redis
from celery import Celery

from shared.queues import QUEUES, TASK_QUEUES
from tests.bench.common import summary_ms, tree_cpu_seconds
from tests.support.processes import REPO, poll, stop_process

TASKS = ("validate", "render", "social", "upload", "notify")
DONE = "bench:engine:done"

app = Celery("bench-engine")
app.config_from_object("shared.broker.celeryconfig")
app.conf.task_routes = {f"bench.{t}": {"queue": TASK_QUEUES[t]} for t in TASKS}
app.conf.task_annotations = None


def _redis() -> redis.Redis:
    return redis.Redis.from_url(app.conf.broker_url, decode_responses=True)


_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = _redis()
    return _client


def hand_off(task: str, chain_id: str) -> None:
    app.send_task(f"bench.{task}", args=[chain_id])


@app.task(name="bench.validate", acks_late=True)
def validate(chain_id: str) -> None:
    hand_off("render", chain_id)


@app.task(name="bench.render", acks_late=True)
def render(chain_id: str) -> None:
    hand_off("social", chain_id)


@app.task(name="bench.social", acks_late=True)
def social(chain_id: str) -> None:
    hand_off("upload", chain_id)


@app.task(name="bench.upload", acks_late=True)
def upload(chain_id: str) -> None:
    hand_off("notify", chain_id)


@app.task(name="bench.notify", acks_late=True)
def notify(chain_id: str) -> None:
    client().rpush(DONE, f"{chain_id} {time.time()}")


class Engine:
    """One worker per queue running the no-op tasks, started with the services' environment."""

    def __init__(self, workdir: Path, env: dict[str, str], *, concurrency: int = 1):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.concurrency = concurrency
        self.workers: dict[str, subprocess.Popen] = {}

    def start(self) -> Engine:
        for queue in QUEUES:
            self.workers[queue] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tests.bench.engine",
                    "worker",
                    "-Q",
                    queue,
                    "-n",
                    f"bench-{queue}@%h",
                    "--concurrency",
                    str(self.concurrency),
                    "--loglevel",
                    "INFO",
                ],
                env=self.env,
                cwd=REPO,
                stdout=open(self.dir / f"engine-{queue}.log", "ab"),  # noqa: SIM115 - the child writes to it for as long as it lives
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for queue in QUEUES:
            log = self.dir / f"engine-{queue}.log"

            def ready(log: Path = log) -> bool:
                return "ready." in log.read_text(errors="replace")

            poll(ready, timeout=40, what=f"engine {queue}")
        return self

    def stop(self) -> None:
        for process in self.workers.values():
            stop_process(process)

    def run(self, count: int, *, rate: float | None = None, timeout: float = 300) -> dict:
        """Start ``count`` chains at ``rate`` a second (None: all at once); wait for each to end."""
        r = client()
        r.delete(DONE)
        cpu = sum(tree_cpu_seconds(p.pid) for p in self.workers.values())
        sent: dict[str, float] = {}
        started = time.time()
        for i in range(count):
            if rate:
                time.sleep(max(0.0, started + i / rate - time.time()))  # pacing the offered load
            chain_id = uuid.uuid4().hex
            sent[chain_id] = time.time()
            hand_off("validate", chain_id)
        deadline = time.monotonic() + timeout
        while r.llen(DONE) < count and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting, bounded, for the last chains
        done = {}
        for entry in cast("list[str]", r.lrange(DONE, 0, -1)):  # decoded: str
            chain_id, at = entry.split()
            if chain_id in sent:
                done[chain_id] = float(at)
        span = max(done.values()) - started if done else 0.0
        cpu = sum(tree_cpu_seconds(p.pid) for p in self.workers.values()) - cpu
        return {
            "worker_cpu_ms_per_chain": 1000 * cpu / max(1, len(done)),
            "count": count,
            "rate": rate,
            "completed": len(done),
            "throughput": len(done) / span if span else None,
            "latency_ms": summary_ms([done[c] - sent[c] for c in done]),
            "seconds": span,
        }
