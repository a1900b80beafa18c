"""What operators see and do: queues, failures, retries, recent submissions and their timelines.

One implementation behind ``marquee queues|failed|retry`` (shared/opscommands.py), the
ingest service's /ops page (services/ingest/ops.py) and its /metrics, so the three
always agree. Everything here reads Redis directly and cheaply: a few pipelined
commands per view, no scans over every key.

Kombu's Redis transport, which this reads, keeps each queue as a list (``LPUSH`` to
publish, ``RPOP`` to consume, so the oldest message is at the tail) with one list per
priority step (``queue``, ``queue\\x06\\x163``, ``…6``, ``…9``), and each message a
worker has taken but not yet acknowledged in the hash ``unacked`` (``[message,
exchange, routing key]``), indexed by the sorted set ``unacked_index``.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import redis

from shared import logs
from shared.deliveries import FAILED_INDEX as DELIVERIES_FAILED
from shared.deliveries import Deliveries
from shared.metrics import RECENT_SUBMISSIONS_KEY, SUBMISSIONS_REQUEUED, live_workers, recent_runs
from shared.queues import QUEUES, TASK_QUEUES
from shared.state import FAILED_INDEX, SubmissionStates, now_iso

PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED_KEY = "unacked"

# Where a submission in each in-progress state goes next, and where a stage starts from.
NEXT_TASKS: dict[str, tuple[str, ...]] = {
    "received": ("validate",),
    "validated": ("render",),
    "rendered": ("social",),
    "social_ready": ("upload",),
    "scheduled": ("upload",),  # upload holds it again until its embargo lifts
    "uploaded": ("notify",),
}
STAGE_STARTS_AT = {"validate": "received", "render": "validated", "social": "rendered", "upload": "social_ready",
                   "notify": "uploaded"}
# Failure records written before social became one task name its two old tasks as the
# failed stage; retrying one of those sends the social task that replaced them.
LEGACY_STAGES = {"instagram": "social", "youtube": "social"}
FINAL_STATES = ("published", "rejected", "failed", "retracted")


# --- finding the stack -------------------------------------------------------------------

def use_local_stack(root: Path | None = None) -> dict | None:
    """Default the settings to the ``make run`` stack of this checkout, if one is running.

    ``marquee run`` writes ``var/stack.json`` (ingest URL, Redis URL, writers file) and
    keeps the archive and publish stores in ``var/archive`` and ``var/publish`` unless
    told otherwise. Settings already in the environment win, one by one, as they do for
    ``marquee run`` itself; elsewhere the commands take the services' own settings.
    """
    root = Path.cwd() if root is None else root
    stack_file = root / "var" / "stack.json"
    if not stack_file.exists():
        return None
    stack = json.loads(stack_file.read_text())
    var = (root / "var").resolve()
    defaults = {
        "MARQUEE_REDIS_URL": stack["redis_url"],
        "MARQUEE_WRITERS_FILE": stack.get("writers_file", str(var / "writers.json")),
        "MARQUEE_ARCHIVE_URL": stack.get("archive_url", str(var / "archive")),
        "MARQUEE_PUBLISH_URL": stack.get("publish_url", str(var / "publish")),
        "MARQUEE_PUBLIC_BASE_URL": stack.get("public_base_url", f"{stack['ingest_url'].rstrip('/')}/site"),
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    return stack


# --- queues ------------------------------------------------------------------------------

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
    return {"task": headers.get("task", ""), "id": headers.get("id", ""), "args": args, "headers": headers,
            "routing_key": delivery.get("routing_key", "")}


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
        from shared.celery_app import app

        return {entry["task"].removeprefix("marquee.") for entry in (app.conf.beat_schedule or {}).values()}
    except (Exception, SystemExit):  # noqa: BLE001 - no settings here (MissingSettingError), or no beat: count all
        return set()


def queue_stats(client: redis.Redis, *, now: float | None = None, queues: Iterable[str] = QUEUES) -> list[QueueStats]:
    """One row per stage queue, from a single pipelined round trip plus the unacked hash."""
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
            length, tail = replies[(i * len(PRIORITY_SUFFIXES) + j) * 2: (i * len(PRIORITY_SUFFIXES) + j) * 2 + 2]
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


# --- failures, from every source ---------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    source: str  # "submission" (a review that failed), later also "webhook" (an undeliverable delivery)
    id: str
    subject: str  # the writer, or the webhook's subscriber
    stage: str
    error: str
    attempts: int
    failed_at: float | None
    replays: int = 0  # how often an operator retried it before

    def as_dict(self) -> dict:
        return asdict(self) | {"failed_at": _iso(self.failed_at)}


@dataclass(frozen=True)
class RetryOutcome:
    source: str
    id: str
    retried: bool
    detail: str
    tasks: tuple[str, ...] = ()


class FailureSource(Protocol):
    """Something that can fail for good and be replayed. To add one (the undeliverable
    webhooks of shared/deliveries.py, say), implement these and ``register`` it."""

    name: str

    def failures(self, client: redis.Redis, *, limit: int) -> list[Failure]: ...
    def count(self, client: redis.Redis) -> int: ...
    def retry(self, client: redis.Redis, id: str) -> RetryOutcome: ...


FAILURE_SOURCES: dict[str, FailureSource] = {}


def register(source: FailureSource) -> FailureSource:
    FAILURE_SOURCES[source.name] = source
    return source


def failures(client: redis.Redis, *, limit: int = 100, sources: Iterable[str] | None = None) -> list[Failure]:
    """The newest failures of every (or the named) source, newest first."""
    found: list[Failure] = []
    for name, source in FAILURE_SOURCES.items():
        if sources is None or name in sources:
            found += source.failures(client, limit=limit)
    return sorted(found, key=lambda f: f.failed_at or 0, reverse=True)[:limit]


def failed_count(client: redis.Redis, *, source: str = "submission") -> int:
    return FAILURE_SOURCES[source].count(client)


def retry(client: redis.Redis, id: str, *, source: str = "submission") -> RetryOutcome:
    if source not in FAILURE_SOURCES:
        return RetryOutcome(source, id, False, f"no failure source called {source!r}")
    return FAILURE_SOURCES[source].retry(client, id)


# KEYS: hash, history, failed index. ARGV: the state to reopen at, at, id.
# Only a failed submission is reopened, and only once however many operators press Retry.
_REOPEN = """
if redis.call('HGET', KEYS[1], 'state') ~= 'failed' then return false end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'errors', '[]')
redis.call('HINCRBY', KEYS[1], 'replays', 1)
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('RPUSH', KEYS[2], cjson.encode({stage='retry', state=ARGV[1], at=ARGV[2]}))
return redis.call('HGET', KEYS[1], 'writer') or ''
"""


def _send(task: str, submission_id: str) -> None:
    from shared.stage import hand_off  # the Celery app needs the settings: load it only to send

    hand_off(task, submission_id)


class SubmissionFailures:
    """Reviews whose stage gave up (state ``failed``), indexed in ``marquee:submissions:failed``."""

    name = "submission"

    def __init__(self, send: Callable[[str, str], None] = _send):
        self.send = send

    def count(self, client: redis.Redis) -> int:
        return int(client.zcard(FAILED_INDEX))

    def failures(self, client: redis.Redis, *, limit: int) -> list[Failure]:
        entries = client.zrevrange(FAILED_INDEX, 0, limit - 1, withscores=True)
        with client.pipeline(transaction=False) as pipe:
            for id, _ in entries:
                pipe.hgetall(f"marquee:sub:{id}")
            records = pipe.execute()
        found = []
        for (id, score), record in zip(entries, records, strict=True):
            if not record:
                continue
            errors = json.loads(record.get("errors") or "[]")
            found.append(Failure(
                source=self.name, id=id, subject=record.get("writer", ""), stage=record.get("failed_stage", ""),
                error="; ".join(e.get("message", "") for e in errors), attempts=int(record.get("attempts") or 0),
                failed_at=score, replays=int(record.get("replays") or 0),
            ))
        return found

    def retry(self, client: redis.Redis, id: str) -> RetryOutcome:
        """Send a failed submission through the stage that failed again.

        Its state moves back to where the stage starts (so the stage's transition is
        accepted and a second failure is recorded afresh), then the stage's task is
        sent. Stages skip work already done, so nothing is made twice.
        """
        record = client.hgetall(f"marquee:sub:{id}")
        if not record:
            return RetryOutcome(self.name, id, False, "no such submission in Redis (marquee reconcile finds archived ones)")
        if record.get("state") != "failed":
            return RetryOutcome(self.name, id, False, f"not failed: it is {record.get('state')}")
        stage = record.get("failed_stage", "")
        stage = LEGACY_STAGES.get(stage, stage)
        reopen_at = record.get("failed_from", "")
        if reopen_at not in NEXT_TASKS:
            reopen_at = STAGE_STARTS_AT.get(stage, "received")
        if stage in STAGE_STARTS_AT:
            tasks = (stage,)
        else:
            tasks = NEXT_TASKS[reopen_at]
        writer = client.register_script(_REOPEN)(
            keys=[f"marquee:sub:{id}", f"marquee:sub:{id}:history", FAILED_INDEX], args=[reopen_at, now_iso(), id])
        if writer is None:
            return RetryOutcome(self.name, id, False, "not failed any more (retried by someone else)")
        logs.transition(id, writer=writer, stage="retry", state=reopen_at)
        try:
            for task in tasks:
                self.send(task, id)
        except Exception as exc:
            # Not queued after all: failed again, with the reason, rather than stuck in progress.
            SubmissionStates(client).fail(id, stage=stage or tasks[0], attempts=int(record.get("attempts") or 0),
                                          error=f"the retry could not be queued: {type(exc).__name__}: {exc}")
            raise
        SUBMISSIONS_REQUEUED.labels(reason="retry").inc(client=client)
        return RetryOutcome(self.name, id, True, f"re-sent to {', '.join(tasks)} from {reopen_at}", tasks)


register(SubmissionFailures())


class WebhookFailures:
    """Outbound webhook deliveries that were given up on (shared/deliveries.py)."""

    name = "webhook"

    def count(self, client: redis.Redis) -> int:
        return int(client.zcard(DELIVERIES_FAILED))

    def failures(self, client: redis.Redis, *, limit: int) -> list[Failure]:
        return [
            Failure("webhook", d["id"], d["subscriber"], f"deliver {d['event_type']} for {d['submission_id']}",
                    d.get("last_error", ""), int(d.get("attempts") or 0), float(d.get("updated_at") or 0) or None)
            for d in Deliveries(client).failed(limit=limit)
        ]

    def retry(self, client: redis.Redis, id: str) -> RetryOutcome:
        from shared.events import replay  # needs the Celery app, and so the settings

        if not replay(id, deliveries=Deliveries(client)):
            return RetryOutcome("webhook", id, False, "no such delivery")
        return RetryOutcome("webhook", id, True, "sent again from its first attempt", ("deliver",))


register(WebhookFailures())


# --- recent submissions and where their time went -----------------------------------------

def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_at(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError):
        return None


def timeline(history: list[dict], *, state: str, now: float | None = None) -> list[dict]:
    """Time spent in each stage: each history entry closes the segment of the stage that
    made it; a submission still in progress has an open segment for what it waits on."""
    now = time.time() if now is None else now
    segments = []
    for before, after in zip(history, history[1:], strict=False):
        start, end = _parse_at(before.get("at", "")), _parse_at(after.get("at", ""))
        if start is None or end is None:
            continue
        stage = after.get("stage", "")
        segments.append({"stage": stage, "state": after.get("state", ""), "seconds": max(end - start, 0.0),
                         "open": False, "failed": after.get("state") == "failed",
                         # The time before an operator's retry was spent failed, waiting for them.
                         "label": "awaiting retry" if stage == "retry" else stage})
    if history and state not in FINAL_STATES:
        start = _parse_at(history[-1].get("at", ""))
        if start is not None:
            waiting_on = "+".join(NEXT_TASKS.get(state, ("?",)))
            segments.append({"stage": waiting_on, "state": f"in {waiting_on}", "seconds": max(now - start, 0.0),
                             "open": True, "failed": False, "label": waiting_on})
    total = sum(s["seconds"] for s in segments) or 1.0
    for segment in segments:
        segment["percent"] = round(100 * segment["seconds"] / total, 2)
    return segments


def recent_submissions(client: redis.Redis, *, limit: int = 20, now: float | None = None) -> list[dict]:
    """The latest submissions (newest first), each with its record and timeline."""
    now = time.time() if now is None else now
    ids = client.zrevrange(RECENT_SUBMISSIONS_KEY, 0, limit - 1)
    with client.pipeline(transaction=False) as pipe:
        for id in ids:
            pipe.hgetall(f"marquee:sub:{id}")
            pipe.lrange(f"marquee:sub:{id}:history", 0, -1)
        replies = pipe.execute()
    found = []
    for id, record, history in zip(ids, replies[::2], replies[1::2], strict=True):
        if not record:
            continue
        entries = [json.loads(h) for h in history]
        segments = timeline(entries, state=record.get("state", ""), now=now)
        found.append({
            "id": id, "writer": record.get("writer", ""), "state": record.get("state", ""), "slug": record.get("slug", ""),
            "received_at": record.get("received_at", ""), "history": entries, "timeline": segments,
            "total_seconds": sum(s["seconds"] for s in segments),
            "errors": json.loads(record.get("errors") or "[]"), "urls": json.loads(record.get("urls") or "{}"),
        })
    return found


# --- the local stack's ops token ------------------------------------------------------------

def ensure_ops_token(path: Path) -> str:
    """The ``marquee run`` stack's ops token: read from ``path``, made there (mode 0600) the first time."""
    import secrets

    if path.exists() and (token := path.read_text().strip()):
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "mqops_" + secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token
