"""Noticing that Redis lost its data, and repairing it with nobody watching.

A FLUSHALL, a restore from nothing, or a failover to a replica that was empty leaves a
Redis that answers every command and knows nothing: no states, no queues, no slugs. The
stack would run on, and the submissions it forgot would wait for ever.

So the stack keeps an identity in Redis: ``marquee:epoch``, written once. Its absence
while the archive holds submissions that Redis has no record of means Redis lost its data
(or this Redis never had Marquee's, which needs the same repair). Both halves count: a
new stack whose start-up check could not reach the store (at a 30 % fault rate, say) has
no epoch and soon an archive that is not empty, yet knows every submission in it, and
reconciling it would log a loss that never happened. The sweeper checks before each sweep
(one EXISTS; the archive is read only while the epoch is missing); on a loss, reconcile
(shared/operations/reconcile.py) runs once, under a lock that operators' ``marquee
reconcile`` takes too, and the epoch is written again. Reconcile
re-makes each state from the archive and re-sends what was in progress; what was already
published is restored as published and not announced again.

Reconcile leaves alone a submission stored in the last few seconds (ingest may be in the
middle of accepting it), so the sweep that notices the loss only notes when, and the
first sweep that many seconds later reconciles: by then everything stored before the
loss is old enough to be seen. Should one still be left out, the epoch stays unwritten
and the next sweep reconciles again.

Redis must not evict keys (``maxmemory-policy noeviction``, as Celery needs anyway): an
evicted epoch costs a listing of the archive before it is written again, and evicted
states look like a loss.
"""

from __future__ import annotations

import contextlib
import itertools
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
from shared.state import SubmissionStates
from shared.storage import Store

EPOCH_KEY = "marquee:epoch"
NOTICED_KEY = "marquee:recovery:noticed_at"  # when a sweep first found the epoch missing
RECONCILE_LOCK = "marquee:reconcile:lock"
RECONCILE_LOCK_SECONDS = 900  # a reconcile of a large archive reads every submission once
AUTOMATIC_MIN_AGE = 5.0  # seconds: ingest stores a request and records it within milliseconds
CHECK_BATCH = 500  # submissions checked against Redis in one round trip


def reconcile_lock(client: redis.Redis, *, wait: float | None) -> redis.lock.Lock:
    """The lock every reconcile holds, automatic or an operator's: one at a time."""
    return client.lock(RECONCILE_LOCK, timeout=RECONCILE_LOCK_SECONDS, blocking_timeout=wait, blocking=wait != 0)


def write_epoch(client: redis.Redis) -> bool:
    """Write the epoch if there is none; True if this call wrote it."""
    value = json.dumps({"epoch": uuid.uuid4().hex, "since": datetime.now(UTC).isoformat(timespec="seconds")})
    return bool(client.set(EPOCH_KEY, value, nx=True))


def holds_unknown_submissions(client: redis.Redis, archive: Store) -> bool:
    """Whether the archive holds a submission this Redis has no record of: what a Redis
    that lost its data looks like. One listing of the archive, one EXISTS per submission
    (pipelined), stopping at the first batch with one unknown."""
    states, ids = SubmissionStates(client), submission_ids(archive)
    while batch := list(itertools.islice(ids, CHECK_BATCH)):
        if states.unknown(batch):
            return True
    return False


def claim_fresh_epoch(client: redis.Redis, archive: Store) -> bool:
    """At start-up (beat): a Redis that knows every archived submission (a new stack's
    empty Redis beside an empty archive, or one that was never lost) has lost nothing, so
    its epoch is written at once. True if written; never written over a loss."""
    if client.exists(EPOCH_KEY) or holds_unknown_submissions(client, archive):
        return False
    return write_epoch(client)


def claim_epoch_at_start(client: redis.Redis, archive: Store, *, attempts: int = 6, first_wait: float = 0.5) -> bool:
    """``claim_fresh_epoch``, tried again while Redis or the store fails for a moment.

    Giving up is safe, only slower: the first sweep then makes the same check, listing
    the archive, which by then holds whatever ingest accepted meanwhile."""
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
    """If Redis lost its data, reconcile once; return what happened: ``intact``, ``new``
    (Redis knows every archived submission: epoch written), ``busy`` (a reconcile is
    running), ``noticed`` (the loss is too recent to reconcile yet), ``reconciled``, or
    ``partial`` (reconciled, and the next sweep reconciles again)."""
    client: redis.Redis = rt.states.redis
    if client.exists(EPOCH_KEY):
        return "intact"
    lock = reconcile_lock(client, wait=0)
    if not lock.acquire():
        return "busy"
    try:
        if client.exists(EPOCH_KEY):
            return "intact"
        if not holds_unknown_submissions(client, rt.archive):
            # Nothing was lost: a new stack whose start-up check could not finish, or an
            # archived submission that ingest recorded in the moments since the last sweep.
            write_epoch(client)
            client.delete(NOTICED_KEY)
            return "new"
        # Unknown submissions: lost, or stored by ingest a moment ago and not yet recorded.
        # Only one still unknown AUTOMATIC_MIN_AGE later is taken for a loss.
        client.set(NOTICED_KEY, time.time(), nx=True)
        if time.time() - float(client.get(NOTICED_KEY) or 0) < AUTOMATIC_MIN_AGE:
            return "noticed"
        logs.event("recovery.redis_data_lost", detail="no epoch in Redis, and archived submissions it has no record of")
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
