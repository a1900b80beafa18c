"""Noticing that Redis lost its data, and repairing it with nobody watching.

A FLUSHALL, a restore from nothing, or a failover to a replica that was empty leaves a
Redis that answers every command and knows nothing: no states, no queues, no slugs. The
stack would run on, and the submissions it forgot would wait for ever.

So the stack keeps an identity in Redis: ``marquee:epoch``, written once. Its absence
while the archive holds submissions means Redis lost its data (or this Redis never had
Marquee's, which needs the same repair). The sweeper checks before each sweep (one
EXISTS); on a loss, reconcile (shared/operations/reconcile.py) runs once, under a lock
that operators' ``marquee reconcile`` takes too, and the epoch is written again. Reconcile
re-makes each state from the archive and re-sends what was in progress; what was already
published is restored as published and not announced again.

Reconcile leaves alone a submission stored in the last few seconds (ingest may be in the
middle of accepting it), so the sweep that notices the loss only notes when, and the
first sweep that many seconds later reconciles: by then everything stored before the
loss is old enough to be seen. Should one still be left out, the epoch stays unwritten
and the next sweep reconciles again.

Redis must not evict keys (``maxmemory-policy noeviction``, as Celery needs anyway): an
evicted epoch looks like a loss, and costs one needless reconcile.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from kombu.utils.functional import retry_over_time

from shared.errors import TransientError
from shared.observability import logs
from shared.observability.metrics import RECONCILES
from shared.operations.reconcile import Finding, reconcile, submission_ids
from shared.storage import Store

EPOCH_KEY = "marquee:epoch"
NOTICED_KEY = "marquee:recovery:noticed_at"  # when a sweep first found the epoch missing
RECONCILE_LOCK = "marquee:reconcile:lock"
RECONCILE_LOCK_SECONDS = 900  # a reconcile of a large archive reads every submission once
AUTOMATIC_MIN_AGE = 5.0  # seconds: ingest stores a request and records it within milliseconds


def reconcile_lock(client: redis.Redis, *, wait: float | None) -> redis.lock.Lock:
    """The lock every reconcile holds, automatic or an operator's: one at a time."""
    return client.lock(RECONCILE_LOCK, timeout=RECONCILE_LOCK_SECONDS, blocking_timeout=wait, blocking=wait != 0)


def write_epoch(client: redis.Redis) -> bool:
    """Write the epoch if there is none; True if this call wrote it."""
    value = json.dumps({"epoch": uuid.uuid4().hex, "since": datetime.now(UTC).isoformat(timespec="seconds")})
    return bool(client.set(EPOCH_KEY, value, nx=True))


def archive_is_empty(archive: Store) -> bool:
    return next(submission_ids(archive), None) is None


def claim_fresh_epoch(client: redis.Redis, archive: Store) -> bool:
    """At start-up (beat): a new stack, with an empty Redis and an empty archive, has lost
    nothing, so its epoch is written at once. True if written; never written over a loss."""
    if client.exists(EPOCH_KEY) or not archive_is_empty(archive):
        return False
    return write_epoch(client)


def claim_epoch_at_start(client: redis.Redis, archive: Store, *, attempts: int = 6, first_wait: float = 0.5) -> bool:
    """``claim_fresh_epoch``, tried again while Redis or the store fails for a moment.

    Giving up early costs more than waiting: once ingest has stored a submission the
    archive is no longer empty, and the first sweep would take the new stack for one that
    lost its data (a needless reconcile, and a loss logged that never happened)."""
    return retry_over_time(
        claim_fresh_epoch,
        (redis.RedisError, TransientError, OSError),
        args=(client, archive),
        max_retries=attempts - 1,
        interval_start=first_wait,
        interval_step=first_wait,
        interval_max=4 * first_wait,
    )


def is_complete(findings: list[Finding]) -> bool:
    """Whether reconcile saw every submission: none left for being too new or for an error
    while Redis knew nothing of it."""
    return not any(f.action in ("too_recent", "error") and f.state is None for f in findings)


def recover_lost_state(rt, *, run: Callable[..., list[Finding]] = reconcile) -> str:
    """If Redis lost its data, reconcile once; return what happened: ``intact``, ``new`` (a
    new stack: epoch written), ``busy`` (a reconcile is running), ``noticed`` (the loss is
    too recent to reconcile yet), ``reconciled``, or ``partial`` (reconciled, and the next
    sweep reconciles again)."""
    client: redis.Redis = rt.states.redis
    if client.exists(EPOCH_KEY):
        return "intact"
    lock = reconcile_lock(client, wait=0)
    if not lock.acquire():
        return "busy"
    try:
        if client.exists(EPOCH_KEY):
            return "intact"
        if archive_is_empty(rt.archive):
            write_epoch(client)
            return "new"
        if client.set(NOTICED_KEY, time.time(), nx=True):
            logs.event("recovery.redis_data_lost", detail="no epoch in Redis while the archive holds submissions")
        if time.time() - float(client.get(NOTICED_KEY) or 0) < AUTOMATIC_MIN_AGE:
            return "noticed"
        findings = run(rt, min_age=AUTOMATIC_MIN_AGE)
        complete = is_complete(findings)
        if complete:
            write_epoch(client)
            client.delete(NOTICED_KEY)
        RECONCILES.labels(trigger="automatic").inc(client=client)
        actions: dict[str, int] = {}
        for finding in findings:
            actions[finding.action] = actions.get(finding.action, 0) + 1
        logs.event("recovery.reconciled", complete=complete, **actions)
        return "reconciled" if complete else "partial"
    finally:
        with contextlib.suppress(redis.exceptions.LockError):  # outlived its lock: reconcile is idempotent
            lock.release()
