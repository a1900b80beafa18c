"""What is in each stage queue: messages waiting, held by workers, their age, consumers and throughput.

Kombu's Redis transport, which this reads, keeps each queue as a list (``LPUSH`` to
publish, ``RPOP`` to consume, so the oldest message is at the tail) with one list per
priority step (``queue``, ``queue\\x06\\x163``, ``…6``, ``…9``), and each message a
worker has taken but not yet acknowledged in the hash ``unacked`` (``[message,
exchange, routing key]``), indexed by the sorted set ``unacked_index``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import redis

from shared.observability.heartbeats import live_workers
from shared.observability.task_runs import recent_runs
from shared.queues import ALL_QUEUES, QUEUES, TASK_QUEUES

PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED_KEY = "unacked"


@dataclass
class QueueStats:
    queue: str
    waiting: int = 0  # in the queue's lists, not yet taken by a worker
    unacked: int = 0  # taken by a worker (running, prefetched, or waiting out a retry countdown)
    workers: int = 0  # live consumers (heartbeat within the last 15 s)
    processed_5m: int = 0  # runs that succeeded in the last five minutes
    failed_5m: int = 0  # runs that gave up in the last five minutes
    retried_5m: int = 0  # runs that hit a transient error and will run again
    oldest_age_seconds: float | None = None  # the oldest waiting message's age (None: none waits, or it has no sent_at)
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)  # the five minutes' runs by task and result

    def as_dict(self) -> dict:
        return asdict(self)


def decode_message(raw: str | bytes) -> dict:
    """A kombu message as stored in Redis → {"task", "id", "args", "headers", "routing_key"}."""
    message = json.loads(raw)
    headers = message.get("headers") or {}
    body = message.get("body", "")
    if (message.get("properties") or {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    try:
        args = json.loads(body)[0]
    except (ValueError, TypeError, IndexError, KeyError):
        args = []
    delivery = (message.get("properties") or {}).get("delivery_info") or {}
    return {
        "task": headers.get("task", ""),
        "id": headers.get("id", ""),
        "args": args,
        "headers": headers,
        "routing_key": delivery.get("routing_key", ""),
    }


def _sent_at(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return float(decode_message(raw)["headers"]["sent_at"])
    except (ValueError, KeyError, TypeError):
        return None


def periodic_tasks() -> set[str]:
    """Tasks beat runs on a timer (housekeeping, not submissions), left out of throughput."""
    try:
        from shared.broker.celery_app import app

        return {entry["task"].removeprefix("marquee.") for entry in (app.conf.beat_schedule or {}).values()}
    except (Exception, SystemExit):  # noqa: BLE001 - no settings here (MissingSettingError), or no beat: count all
        return set()


def queue_stats(
    client: redis.Redis, *, now: float | None = None, queues: Iterable[str] = ALL_QUEUES
) -> list[QueueStats]:
    """One row per queue (the stages', then the sweeper's, whose backlog means sweeps are
    not keeping up), from a single pipelined round trip plus the unacked hash."""
    now = time.time() if now is None else now
    queues = list(queues)
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for suffix in PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
                pipe.lindex(queue + suffix, -1)
        pipe.hvals(UNACKED_KEY)
        replies = pipe.execute()
    unacked_values = replies.pop()
    rows = {queue: QueueStats(queue) for queue in queues}
    for i, queue in enumerate(queues):
        ages = []
        for j in range(len(PRIORITY_SUFFIXES)):
            length, tail = replies[(i * len(PRIORITY_SUFFIXES) + j) * 2 : (i * len(PRIORITY_SUFFIXES) + j) * 2 + 2]
            rows[queue].waiting += int(length or 0)
            if (sent := _sent_at(tail)) is not None:
                ages.append(max(now - sent, 0.0))
        rows[queue].oldest_age_seconds = max(ages) if ages else None
    for raw in unacked_values:
        try:
            _, _, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if routing_key in rows:
            rows[routing_key].unacked += 1
    for queue, hosts in live_workers(client, now=now).items():
        if queue in rows:
            rows[queue].workers = len(hosts)
    skip = periodic_tasks()
    for task, results in recent_runs(client, now=now).items():
        row = rows.get(TASK_QUEUES.get(task, ""))
        if row is None:
            continue
        row.tasks[task] = results
        if task in skip:
            continue
        row.processed_5m += results.get("succeeded", 0)
        row.failed_5m += results.get("failed", 0)
        row.retried_5m += results.get("retried", 0)
    return [rows[q] for q in queues]


def in_flight(client: redis.Redis, *, queues: Iterable[str] = QUEUES) -> set[str]:
    """Submission ids that have a message waiting in a queue or held by a worker."""
    ids: set[str] = set()
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for suffix in PRIORITY_SUFFIXES:
                pipe.lrange(queue + suffix, 0, -1)
        pipe.hvals(UNACKED_KEY)
        replies = pipe.execute()
    raws = [raw for reply in replies[:-1] for raw in reply]
    for raw in replies[-1]:
        try:
            raws.append(json.dumps(json.loads(raw)[0]))
        except (ValueError, TypeError, IndexError):
            continue
    for raw in raws:
        try:
            args = decode_message(raw)["args"]
        except (ValueError, TypeError):
            continue
        if args and isinstance(args[0], str):
            ids.add(args[0])
    return ids
