"""What every stage task shares: its runtime (settings, state, stores), retries, failure.

A stage task is a thin adapter: read its inputs from the archive, call pure
functions, write its outputs under deterministic keys, advance the state and hand
off to the next stage by name. If its outputs already exist it skips the work, so
a redelivered message (acks late) is harmless.
"""

from __future__ import annotations

import json
import logging

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import task_failure, worker_init

import shared.observability.heartbeats
import shared.observability.task_runs  # noqa: F401 - connects the task-run metrics' Celery signal handlers, in every worker
from shared.config import get_settings
from shared.errors import TransientError
from shared.models import State
from shared.pipeline.handoff import hand_off
from shared.pipeline.runtime import announce_one_host_stores, get_runtime

log = logging.getLogger("marquee.stage")


class StageTask(Task):
    """Base of every stage task: transient errors retry with backoff, the rest fail loudly."""

    autoretry_for = (
        TransientError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        SoftTimeLimitExceeded,
    )
    retry_backoff = True
    retry_jitter = True


@worker_init.connect
def announce_stores(**_) -> None:
    """As a worker starts (its main process, once): a directory store serves this host only."""
    announce_one_host_stores(get_settings())


@task_failure.connect
def record_failure(sender=None, task_id=None, exception=None, args=(), kwargs=None, **_):
    """Mark the submission failed once a stage gives up on it.

    Celery sends this signal for every way a task can end in failure: an exception
    with its retries used up, a hard time limit, and a worker lost once too often.
    """
    if not isinstance(sender, StageTask) or not args:
        return
    submission_id = args[0]
    attempts = (getattr(sender.request, "retries", 0) or 0) + 1
    error = f"{type(exception).__name__}: {exception}"
    stage = sender.name.removeprefix("marquee.")
    if isinstance(exception, TimeLimitExceeded) and _retry_after_hard_timeout(sender, submission_id, stage=stage):
        return
    log.error(
        json.dumps({"event": "stage.failed", "id": submission_id, "stage": stage, "task_id": task_id, "error": error})
    )
    try:
        rt = get_runtime()
        state, event = rt.states.fail(submission_id, stage=stage, error=error, attempts=attempts)
        if state == State.FAILED:
            rt.announce(event)
    except redis.exceptions.RedisError:
        # The archive still holds the submission; reconcile finds it once Redis is back.
        log.exception("could not record the failure of %s", submission_id)


def _retry_after_hard_timeout(task: StageTask, submission_id: str, *, stage: str) -> bool:
    """A stage killed at its hard time limit was most likely stuck on a slow dependency:
    run it again, counting the runs in Redis (Celery keeps no count for this path), so
    that one that always hangs still ends failed."""
    rt = get_runtime()
    key = f"marquee:sub:{submission_id}:timeouts:{stage}"
    with rt.states.redis.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, 7 * 24 * 3600)
        count, _ = pipe.execute()
    if int(count) > rt.settings.max_retries:
        return False
    log.warning(
        json.dumps({"event": "stage.timeout_retry", "id": submission_id, "stage": stage, "attempt": int(count)})
    )
    hand_off(stage, submission_id)
    return True
