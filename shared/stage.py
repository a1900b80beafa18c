"""What every stage task shares: its runtime (settings, state, stores), retries, failure.

A stage task is a thin adapter: read its inputs from the archive, call pure
functions, write its outputs under deterministic keys, advance the state and hand
off to the next stage by name. If its outputs already exist it skips the work, so
a redelivered message (acks late) is harmless.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import before_task_publish, task_failure
from kombu.entity import PERSISTENT_DELIVERY_MODE
from kombu.utils.uuid import uuid

from shared.celery_app import app
from shared.config import Settings, get_settings
from shared.deliveries import Deliveries, Subscriber
from shared.errors import ObjectNotFound, TransientError
from shared.events import announce, recipients
from shared.keys import MANIFEST, public_url, published_key, review_key
import shared.metrics  # noqa: F401 - connects the metrics' Celery signal handlers, in every worker
from shared.models import Manifest, Review, State
from shared.queues import TASK_QUEUES, task_name
from shared.state import SubmissionStates, connect
from shared.storage import Store, open_store

log = logging.getLogger("marquee.stage")

# The order in which a submission passes through states, to tell "done" from "not yet".
PROGRESS = [State.RECEIVED, State.VALIDATED, State.RENDERED, State.SOCIAL_READY, State.UPLOADED, State.PUBLISHED]


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    states: SubmissionStates
    archive: Store
    publish: Store

    def public_url(self, key: str) -> str:
        return public_url(self.settings.public_base_url, key)

    def load_review(self, id: str) -> Review:
        return Review.model_validate_json(self.archive.get(review_key(id)))

    def published_revision(self, slug: str) -> int:
        """The revision now public at ``slug``, from its manifest; 0 if none is."""
        try:
            return Manifest.model_validate_json(self.publish.get(published_key(slug, MANIFEST))).revision
        except ObjectNotFound:
            return 0

    def announce(self, event: dict) -> list[str]:
        """Fan an event out to the outbound webhook subscribers that want it."""
        return announce(event, deliveries=Deliveries(self.states.redis), to=self.recipients())

    def recipients(self) -> dict[str, Subscriber]:
        return recipients(subscribers_file=self.settings.subscribers_file, writers_file=self.settings.writers_file)


@functools.lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    settings = get_settings()
    s3 = {"checksum_calculation": settings.s3_checksum_calculation, "timeout": settings.s3_timeout,
          "max_attempts": settings.s3_max_attempts}
    return Runtime(
        settings=settings,
        states=SubmissionStates(connect(settings.redis_url)),
        archive=open_store(settings.archive_url, **s3),
        publish=open_store(settings.publish_url, **s3),
    )


def should_hand_off(current: State | None, reached: State) -> bool:
    """Hand off when the submission stands at ``reached``: just moved there, or moved
    there by an earlier run that died before handing off. Past it, someone already did."""
    return current == reached


def hand_off(task: str, submission_id: str) -> None:
    """Queue ``task`` for the submission; a broker that is briefly away is retried as
    ``send_task`` retries (``task_publish_retry_policy``)."""
    with app.producer_or_acquire() as producer:
        _publish(producer, task, submission_id, retry=True)


def hand_off_many(messages: Iterable[tuple[str, str]]) -> None:
    """Queue each ``(task, submission_id)``, the messages sent to Redis in one round trip
    (ingest's validate messages for a batch). If sending fails, the caller's retry sends
    them again, and a task queued twice skips its done work."""
    with app.producer_or_acquire() as producer, producer.batch():
        for task, submission_id in messages:
            # The batch reaches Redis only as it closes, where a per-message retry cannot reach.
            _publish(producer, task, submission_id, retry=False)


def _publish(producer, task: str, submission_id: str, *, retry: bool) -> None:
    """Publish Celery's own message (``as_task_v2``) for ``task`` straight to its queue.

    ``send_task`` would also look up a route, declare the queue and build a retry wrapper
    for every message: three times the CPU of the message itself in ingest (measured: 385
    against 104 µs a message), for nothing Marquee needs: the queues are fixed
    (``TASK_QUEUES``) and Redis needs no declaring.
    """
    name, queue, args = task_name(task), TASK_QUEUES[task], [submission_id]
    parent = app.current_worker_task  # keeps the lineage send_task would record
    headers, properties, body, _ = app.amqp.as_task_v2(
        uuid(), name, args=args, argsrepr=repr(args), kwargsrepr="{}", ignore_result=True,
        root_id=parent.request.root_id if parent else None, parent_id=parent.request.id if parent else None)
    # As send_task does: receivers stamp the message (metrics' sent_at, read for queue age).
    before_task_publish.send(sender=name, body=body, exchange="", routing_key=queue, declare=[],
                             headers=headers, properties=properties, retry_policy={})
    producer.publish(body, exchange="", routing_key=queue, serializer="json", headers=headers,
                     delivery_mode=PERSISTENT_DELIVERY_MODE, retry=retry,
                     retry_policy=app.conf.task_publish_retry_policy, **properties)


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
    log.error(json.dumps({"event": "stage.failed", "id": submission_id, "stage": stage, "task_id": task_id, "error": error}))
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
    log.warning(json.dumps({"event": "stage.timeout_retry", "id": submission_id, "stage": stage, "attempt": int(count)}))
    hand_off(stage, submission_id)
    return True
