"""Worker heartbeats: which queues have a live consumer, for ``marquee queues``, /ops and /metrics.

Each worker's main process writes ``{"queues", "pid", "at"}`` under its hostname every
few seconds, and removes it as it stops; a heartbeat older than three beats is stale.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from typing import cast

import redis
from celery.signals import worker_ready, worker_shutdown

from shared.observability import metrics
from shared.observability.metrics import WORKERS_KEY

log = logging.getLogger("marquee.metrics")

HEARTBEAT_SECONDS = 5
HEARTBEAT_STALE_SECONDS = 3 * HEARTBEAT_SECONDS

_heartbeat_stop = threading.Event()
_heartbeat_hostname: str | None = None


@worker_ready.connect
def _start_heartbeat(sender=None, **_):
    hostname = getattr(sender, "hostname", None) or f"{os.getpid()}@{socket.gethostname()}"
    try:
        queues = sorted(sender.app.amqp.queues.consume_from)
    except AttributeError:
        queues = []

    def beat() -> None:
        while True:
            try:
                metrics.redis_client().hset(
                    WORKERS_KEY, hostname, json.dumps({"queues": queues, "pid": os.getpid(), "at": time.time()})
                )
            except redis.RedisError:
                log.warning("worker heartbeat failed", exc_info=True)
            if _heartbeat_stop.wait(HEARTBEAT_SECONDS):
                return

    global _heartbeat_hostname
    _heartbeat_hostname = hostname
    _heartbeat_stop.clear()
    threading.Thread(target=beat, name="marquee-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(**_):
    _heartbeat_stop.set()
    if _heartbeat_hostname:
        with contextlib.suppress(redis.RedisError):
            metrics.redis_client().hdel(WORKERS_KEY, _heartbeat_hostname)


def live_workers(client: redis.Redis, *, now: float | None = None) -> dict[str, list[str]]:
    """Queue → hostnames of workers that consumed it and beat within the last few seconds."""
    now = time.time() if now is None else now
    by_queue: dict[str, list[str]] = {}
    workers = cast("dict[str, str]", client.hgetall(WORKERS_KEY))  # decoded (shared.connection): str
    for hostname, raw in workers.items():
        try:
            beat = json.loads(raw)
        except ValueError:
            continue
        if now - float(beat.get("at", 0)) > HEARTBEAT_STALE_SECONDS:
            if now - float(beat.get("at", 0)) > 3600:
                client.hdel(WORKERS_KEY, hostname)  # long gone: forget it
            continue
        for queue in beat.get("queues", []):
            by_queue.setdefault(queue, []).append(hostname)
    return by_queue
