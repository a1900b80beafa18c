"""What failed, from every source (submissions, webhook deliveries), and an operator's retry.

One implementation behind ``marquee failed|retry`` (services/cli/operators.py), the
ingest service's /ops page (services/ingest/ops.py) and its /metrics, so the three
always agree. Everything here reads Redis directly and cheaply: a few pipelined
commands per view, no scans over every key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol, cast

import redis

from shared.observability import logs
from shared.observability.metrics import SUBMISSIONS_REQUEUED
from shared.outbound.deliveries import FAILED_INDEX as DELIVERIES_FAILED
from shared.outbound.deliveries import Deliveries
from shared.state import ACTIVE_INDEX, FAILED_INDEX, SubmissionStates, now_iso

# Where a submission in each in-progress state goes next, and where a stage starts from.
NEXT_TASKS: dict[str, tuple[str, ...]] = {
    "received": ("validate",),
    "validated": ("render",),
    "rendered": ("social",),
    "social_ready": ("upload",),
    "scheduled": ("upload",),  # upload holds it again until its embargo lifts
    "uploaded": ("notify",),
}
STAGE_STARTS_AT = {
    "validate": "received",
    "render": "validated",
    "social": "rendered",
    "upload": "social_ready",
    "notify": "uploaded",
}
# Failure records written before social became one task name its two old tasks as the
# failed stage; retrying one of those sends the social task that replaced them.
LEGACY_STAGES = {"instagram": "social", "youtube": "social"}
FINAL_STATES = ("published", "rejected", "failed", "superseded", "retracted")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
    webhooks of shared/outbound/deliveries.py, say), implement these and ``register`` it."""

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


# KEYS: hash, history, failed index, active index. ARGV: the state to reopen at, at, id.
# Only a failed submission is reopened, and only once however many operators press Retry.
_REOPEN = """
if redis.call('HGET', KEYS[1], 'state') ~= 'failed' then return false end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'errors', '[]')
redis.call('HINCRBY', KEYS[1], 'replays', 1)
redis.call('ZREM', KEYS[3], ARGV[3])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[4], t[1] + t[2] / 1000000, ARGV[3])
redis.call('HDEL', KEYS[1], 'sweeps', 'stall_seen')
redis.call('RPUSH', KEYS[2], cjson.encode({stage='retry', state=ARGV[1], at=ARGV[2]}))
return redis.call('HGET', KEYS[1], 'writer') or ''
"""


def send_stage(task: str, submission_id: str) -> None:
    from shared.pipeline.handoff import hand_off  # the Celery app needs the settings: load it only to send

    hand_off(task, submission_id)


class SubmissionFailures:
    """Reviews whose stage gave up (state ``failed``), indexed in ``marquee:submissions:failed``."""

    name = "submission"

    def __init__(self, send: Callable[[str, str], None] = send_stage):
        self.send = send

    def count(self, client: redis.Redis) -> int:
        return int(client.zcard(FAILED_INDEX))

    def failures(self, client: redis.Redis, *, limit: int) -> list[Failure]:
        # The client decodes (shared.connection): str, where redis-py's types say bytes | str.
        entries = cast("list[tuple[str, float]]", client.zrevrange(FAILED_INDEX, 0, limit - 1, withscores=True))
        with client.pipeline(transaction=False) as pipe:
            for id, _ in entries:
                pipe.hgetall(f"marquee:sub:{id}")
            records = pipe.execute()
        found = []
        for (id, score), record in zip(entries, records, strict=True):
            if not record:
                continue
            errors = json.loads(record.get("errors") or "[]")
            found.append(
                Failure(
                    source=self.name,
                    id=id,
                    subject=record.get("writer", ""),
                    stage=record.get("failed_stage", ""),
                    error="; ".join(e.get("message", "") for e in errors),
                    attempts=int(record.get("attempts") or 0),
                    failed_at=score,
                    replays=int(record.get("replays") or 0),
                )
            )
        return found

    def retry(self, client: redis.Redis, id: str) -> RetryOutcome:
        """Send a failed submission through the stage that failed again.

        Its state moves back to where the stage starts (so the stage's transition is
        accepted and a second failure is recorded afresh), then the stage's task is
        sent. Stages skip work already done, so nothing is made twice.
        """
        record = cast("dict[str, str]", client.hgetall(f"marquee:sub:{id}"))  # decoded: str
        if not record:
            return RetryOutcome(
                self.name, id, False, "no such submission in Redis (marquee reconcile finds archived ones)"
            )
        if record.get("state") != "failed":
            return RetryOutcome(self.name, id, False, f"not failed: it is {record.get('state')}")
        stage = record.get("failed_stage", "")
        stage = LEGACY_STAGES.get(stage, stage)
        reopen_at = record.get("failed_from", "")
        if reopen_at not in NEXT_TASKS:
            reopen_at = STAGE_STARTS_AT.get(stage, "received")
        tasks: tuple[str, ...]
        if stage in STAGE_STARTS_AT:
            tasks = (stage,)
        else:
            tasks = NEXT_TASKS[reopen_at]
        writer = client.register_script(_REOPEN)(
            keys=[f"marquee:sub:{id}", f"marquee:sub:{id}:history", FAILED_INDEX, ACTIVE_INDEX],
            args=[reopen_at, now_iso(), id],
        )
        if writer is None:
            return RetryOutcome(self.name, id, False, "not failed any more (retried by someone else)")
        logs.transition(id, writer=writer, stage="retry", state=reopen_at)
        try:
            for task in tasks:
                self.send(task, id)
        except Exception as exc:
            # Not queued after all: failed again, with the reason, rather than stuck in progress.
            SubmissionStates(client).fail(
                id,
                stage=stage or tasks[0],
                attempts=int(record.get("attempts") or 0),
                error=f"the retry could not be queued: {type(exc).__name__}: {exc}",
            )
            raise
        SUBMISSIONS_REQUEUED.labels(reason="retry").inc(client=client)
        return RetryOutcome(self.name, id, True, f"re-sent to {', '.join(tasks)} from {reopen_at}", tasks)


register(SubmissionFailures())


class WebhookFailures:
    """Outbound webhook deliveries that were given up on (shared/outbound/deliveries.py)."""

    name = "webhook"

    def count(self, client: redis.Redis) -> int:
        return int(client.zcard(DELIVERIES_FAILED))

    def failures(self, client: redis.Redis, *, limit: int) -> list[Failure]:
        return [
            Failure(
                "webhook",
                d["id"],
                d["subscriber"],
                f"deliver {d['event_type']} for {d['submission_id']}",
                d.get("last_error", ""),
                int(d.get("attempts") or 0),
                float(d.get("updated_at") or 0) or None,
            )
            for d in Deliveries(client).failed(limit=limit)
        ]

    def retry(self, client: redis.Redis, id: str) -> RetryOutcome:
        from shared.outbound.events import replay  # needs the Celery app, and so the settings

        if not replay(id, deliveries=Deliveries(client)):
            return RetryOutcome("webhook", id, False, "no such delivery")
        return RetryOutcome("webhook", id, True, "sent again from its first attempt", ("deliver",))


register(WebhookFailures())
