"""Handing a submission to the next stage: one small message naming the task and the id.

Messages carry ids, never payloads; the next stage re-reads what it needs from the
archive, so a message sent twice costs a skipped run, never a wrong result.
"""

from __future__ import annotations

from collections.abc import Iterable

from celery.signals import before_task_publish
from kombu.entity import PERSISTENT_DELIVERY_MODE  # type: ignore[attr-defined]  # celery-types puts it on Exchange only; kombu has it at module level too
from kombu.utils.uuid import uuid

from shared.broker.celery_app import app
from shared.models import State
from shared.queues import TASK_QUEUES, task_name


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
        uuid(),
        name,
        args=args,  # type: ignore[arg-type]  # celery-types says tuple; celery takes a list or a tuple
        argsrepr=repr(args),
        kwargsrepr="{}",
        ignore_result=True,
        root_id=parent.request.root_id if parent else None,
        parent_id=parent.request.id if parent else None,
    )
    # As send_task does: receivers stamp the message (metrics' sent_at, read for queue age).
    before_task_publish.send(
        sender=name,
        body=body,
        exchange="",
        routing_key=queue,
        declare=[],
        headers=headers,
        properties=properties,
        retry_policy={},
    )
    producer.publish(
        body,
        exchange="",
        routing_key=queue,
        serializer="json",
        headers=headers,
        delivery_mode=PERSISTENT_DELIVERY_MODE,
        retry=retry,
        retry_policy=app.conf.task_publish_retry_policy,
        **properties,
    )
