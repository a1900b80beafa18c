"""End to end: signed submissions offered to the real local stack, timed from the 202 to the manifest.

The stack is the one the integration tests start (``tests/support/processes.Stack``):
ingest, one Celery worker per queue with ``concurrency`` pool processes, and beat, over
local-directory stores and a private redis-server. Submissions come from the writer
``fuzz``, whose rate limit is high enough for load.

A review counts as published when its ``manifest.json`` is in the publish store. The
store writes a file beside its target and renames it into place, and the rename sets
the file's ctime, so the manifest's ctime is the moment it became visible: the poller
only has to find it, not to be quick about it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from shared.queues import QUEUES
from shared.state import EVENTS_STREAM
from shared.writers import sign
from tests.bench.common import (
    MachineLoad,
    commandstats,
    review_bytes,
    slug_for,
    stats_delta,
    summary_ms,
    tree_cpu_seconds,
    unique_title,
    worker_rss,
)
from tests.support.processes import RedisServer, Stack, launched, poll, read_stream

BENCH_ENV = {"MARQUEE_RELEASE_INTERVAL": "5"}  # the default; the test stack checks every second
POLL_INTERVAL = 0.25  # seconds between looks for manifests (see _poll_manifests)


def deployed_processes() -> dict[str, int]:
    """Pool processes per stage as `make run` (services/cli/supervisor.py) and docker-compose deploy
    them: one per core for social, where most of a review's CPU goes, one for each other stage.
    Against the monolith (one process per core) this is the like-for-like comparison: both
    may use every core."""
    return {queue: (os.cpu_count() or 1) if queue == "social" else 1 for queue in QUEUES}


class _Stack(Stack):
    """The test stack with a number of pool processes per stage (``Stack`` takes one for all)."""

    def __init__(self, *args, processes: dict[str, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.processes = processes

    def start_worker(self, queue: str):
        self.concurrency = self.processes[queue]  # what Stack.start_worker passes as --concurrency
        return super().start_worker(queue)


@dataclass
class Offer:
    count: int
    rate: float | None  # offered reviews a second; None: as fast as ingest accepts (saturation)
    size: int
    sent: dict[str, dict] = field(default_factory=dict)  # slug → {id, t_sent, t_202}
    refused: int = 0
    started: float = 0.0
    offered_for: float = 0.0


class PipelineBench:
    """``concurrency``: pool processes for every stage, or per stage (e.g. ``deployed_processes()``)."""

    def __init__(self, root: Path, *, concurrency: int | dict[str, int] = 1, redis_server: RedisServer | None = None):
        self.root = root
        self.own_redis = redis_server is None
        self.redis_server = redis_server or RedisServer(root / "redis").start()
        self.publish_root = root / "publish"
        processes = concurrency if isinstance(concurrency, dict) else dict.fromkeys(QUEUES, concurrency)
        self.stack = _Stack(
            root / "stack",
            redis_url=self.redis_server.url,
            archive_url=f"file://{root}/archive",
            publish_url=str(self.publish_root),
            extra_env=BENCH_ENV,
            include="tests.bench",
            processes=processes,
        )
        self.concurrency = concurrency
        self.http = httpx.Client(
            base_url=self.stack.url, timeout=60, limits=httpx.Limits(max_connections=32, max_keepalive_connections=32)
        )

    def start(self) -> PipelineBench:
        self.stack.start()
        return self

    def stop(self) -> None:
        self.http.close()
        self.stack.stop()
        if self.own_redis:
            self.redis_server.stop()

    # Load

    def _submit(self, offer: Offer, title: str, body: bytes) -> None:
        t_sent = time.time()
        headers = sign(self.stack.fuzz_secret, msg_id=f"msg_{os.urandom(12).hex()}", timestamp=int(t_sent), body=body)
        try:
            response = self.http.post(
                "/v1/writers/fuzz/reviews", content=body, headers={**headers, "content-type": "application/json"}
            )
        except httpx.HTTPError:
            offer.refused += 1
            return
        t_202 = time.time()
        if response.status_code != 202:
            offer.refused += 1
            return
        offer.sent[slug_for(title)] = {"id": response.json()["id"], "t_sent": t_sent, "t_202": t_202}

    def offer(
        self, count: int, *, rate: float | None = None, size: int = 1000, senders: int = 8, timeout: float = 300
    ) -> dict:
        """Offer ``count`` reviews at ``rate`` a second (None: all at once), wait (bounded) for each manifest."""
        bodies = [(title, review_bytes(title, size=size)) for title in (unique_title() for _ in range(count))]
        offer = Offer(count=count, rate=rate, size=size)
        redis_before = commandstats(self.stack.redis)
        cpu_before = self._cpu()
        found: dict[str, float] = {}
        stop = threading.Event()
        poller = threading.Thread(target=self._poll_manifests, args=(offer, found, stop), daemon=True)
        poller.start()
        load = MachineLoad().__enter__()
        self_cpu = time.process_time()
        offer.started = time.time()
        with ThreadPoolExecutor(max_workers=senders) as pool:
            for i, (title, body) in enumerate(bodies):
                if rate:
                    time.sleep(max(0.0, offer.started + i / rate - time.time()))  # pacing the offered load
                pool.submit(self._submit, offer, title, body)
        offer.offered_for = time.time() - offer.started
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(found) < len(offer.sent):
            time.sleep(0.1)  # waiting, bounded, for the last manifests
        stop.set()
        poller.join()
        load.__exit__()
        cpu_after = self._cpu()
        redis_after = commandstats(self.stack.redis)
        cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
        cpu["bench"] = time.process_time() - self_cpu  # this process: the senders and the poller
        result = self._result(offer, found, redis=stats_delta(redis_before, redis_after), cpu=cpu)
        result["machine"] = load.result(sum(cpu.values()), time.time() - offer.started)
        result["redis_calls_total"] = sum(stats_delta(redis_before, redis_after).values())
        return result

    def _poll_manifests(self, offer: Offer, found: dict[str, float], stop: threading.Event) -> None:
        # Every 0.25 s: the ctime times the manifest, so the interval changes no figure, only
        # this thread's CPU, which competes with the stack for the same cores. At 20 ms it
        # was ~7 ms of CPU per review at saturation (a stat of every missing manifest, 50
        # times a second), as much as a whole stage.
        reviews = f"{self.publish_root}/reviews"
        while not stop.is_set():
            for slug in list(offer.sent):
                if slug in found:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    found[slug] = os.stat(f"{reviews}/{slug}/manifest.json").st_ctime
            stop.wait(POLL_INTERVAL)

    def _cpu(self) -> dict[str, float]:
        cpu = {queue: tree_cpu_seconds(p.pid) for queue, p in self.stack.workers.items()}
        cpu["ingest"] = tree_cpu_seconds(launched(self.stack.ingest).pid)
        cpu["beat"] = tree_cpu_seconds(launched(self.stack.beat).pid)
        cpu["redis"] = tree_cpu_seconds(launched(self.redis_server.process).pid)
        return cpu

    def _result(self, offer: Offer, found: dict[str, float], *, redis: dict, cpu: dict) -> dict:
        done = {slug: t for slug, t in found.items() if slug in offer.sent}
        latency = [done[s] - offer.sent[s]["t_202"] for s in done]
        accept = [r["t_202"] - r["t_sent"] for r in offer.sent.values()]
        first_202 = min((r["t_202"] for r in offer.sent.values()), default=offer.started)
        span = (max(done.values()) - first_202) if done else 0.0
        published_state = self._published_latency(offer)
        n = max(1, len(done))
        return {
            "count": offer.count,
            "rate": offer.rate,
            "size": offer.size,
            "accepted": len(offer.sent),
            "refused": offer.refused,
            "published": len(done),
            "offered_rate": len(offer.sent) / offer.offered_for if offer.offered_for else None,
            "throughput": len(done) / span if span else None,
            "latency_manifest_ms": summary_ms(latency),
            "latency_published_state_ms": summary_ms(published_state),
            "accept_ms": summary_ms(accept),
            "redis_calls_per_review": {k: round(v / n, 2) for k, v in redis.items()},
            "redis_calls_total_per_review": round(sum(redis.values()) / n, 1),
            "cpu_ms_per_review": {k: round(v * 1000 / n, 1) for k, v in cpu.items()},
            "stage_ms": self._stage_times(offer),
            "seconds": span,
        }

    def _published_latency(self, offer: Offer) -> list[float]:
        """202 → state ``published`` (after notify), from the review.published events' stream ids."""
        by_id = {r["id"]: r["t_202"] for r in offer.sent.values()}
        out = []
        for entry_id, fields in read_stream(self.stack.redis, EVENTS_STREAM, min=f"{int(offer.started * 1000) - 1000}"):
            if fields.get("type") == "review.published" and fields.get("id") in by_id:
                out.append(int(entry_id.split("-")[0]) / 1000 - by_id[fields["id"]])
        return out

    def _stage_times(self, offer: Offer) -> dict:
        """Median time from one state to the next (queue wait + service + hand-off), from each history."""
        gaps: dict[str, list[float]] = {}
        with self.stack.redis.pipeline(transaction=False) as pipe:
            for record in offer.sent.values():
                pipe.lrange(f"marquee:sub:{record['id']}:history", 0, -1)
            histories = pipe.execute()
        for record, history in zip(offer.sent.values(), histories, strict=True):
            steps = [json.loads(h) for h in history]
            previous = record["t_202"]
            for step in steps[1:]:
                at = datetime.fromisoformat(step["at"].replace("Z", "+00:00")).timestamp()
                gaps.setdefault(step["stage"], []).append(at - previous)
                previous = at
        return {stage: summary_ms(values) for stage, values in gaps.items()}

    # Memory

    def rss(self) -> dict:
        return worker_rss(self.stack.workers)

    def drain(self, timeout: float = 120) -> None:
        """Wait (bounded) until every queue is empty and nothing is unacknowledged."""

        def empty():
            return (
                all(self.stack.redis.llen(q) == 0 for q in ("validate", "render", "social", "upload", "notify"))
                and self.stack.redis.hlen("unacked") == 0
            )

        poll(empty, timeout=timeout, what="the queues to drain", interval=0.2)


class RssSampler:
    """Samples VmRSS of every worker process (main and pool) every ``interval`` s; keeps the peaks."""

    def __init__(self, bench: PipelineBench, interval: float = 0.05):
        self.bench, self.interval = bench, interval
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for queue, procs in self.bench.rss().items():
                self.peak[queue] = max(self.peak.get(queue, 0), max(procs.values()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
