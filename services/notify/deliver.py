"""The deliver task: send one outbound webhook, retrying on the receiver's schedule.

Not a stage of a submission: a delivery that fails never fails the review. A delivery
that may not be sent at all (a callback without secrets of its own, a URL that leads
to an address the SSRF guard refuses) fails at once, with the reason, and is not retried.
"""

from __future__ import annotations

import functools
import json
import logging
import time

import httpx
from celery import Task

from shared.broker.celery_app import app
from shared.errors import DestinationRefused
from shared.observability.metrics import WEBHOOK_DELIVERIES
from shared.outbound.deliveries import Deliveries, Subscriber, classify, retry_delay, sign_delivery
from shared.outbound.guard import guarded_client
from shared.pipeline import Runtime, get_runtime
from shared.queues import task_name

log = logging.getLogger("marquee.deliver")


@functools.lru_cache(maxsize=1)
def _client() -> httpx.Client:
    # One pooled client per process: it dials only addresses the guard checked, and follows
    # no redirect, to anywhere.
    settings = get_runtime().settings
    return guarded_client(allow=settings.outbound_allow, timeout=settings.webhook_timeout)


@app.task(name=task_name("deliver"), bind=True, max_retries=None)
def deliver(self: Task, delivery: str) -> None:
    rt = get_runtime()
    deliveries = Deliveries(rt.states.redis)
    record = deliveries.get(delivery)
    if record is None or record["state"] != "pending":
        return  # delivered already, or replaced; nothing to send
    subscriber = rt.recipients().get(record["subscriber"])
    if subscriber is None:
        deliveries.finish(delivery, state="failed", error="the recipient is no longer configured")
        return
    if not subscriber.secrets:
        _refuse(
            rt,
            delivery,
            subscriber,
            f"writer {subscriber.writer!r} has no callback_secrets in the writers file, and a callback is "
            "never signed with the secrets that submit reviews",
        )
        return

    body = record["body"].encode()
    retry_after = None
    try:
        response = _client().post(
            subscriber.url, content=body, headers=sign_delivery(subscriber.secrets, msg_id=delivery, body=body)
        )
        outcome, error = classify(response.status_code), f"HTTP {response.status_code}"
        retry_after = response.headers.get("retry-after")
    except DestinationRefused as exc:
        _refuse(rt, delivery, subscriber, str(exc))
        return
    except httpx.HTTPError as exc:
        outcome, error = "retry", f"{type(exc).__name__}: {exc}"[:300]

    attempts = deliveries.attempted(delivery, error="" if outcome == "delivered" else error)
    log.info(
        json.dumps(
            {
                "event": "webhook.attempt",
                "delivery": delivery,
                "subscriber": subscriber.name,
                "outcome": outcome,
                "attempt": attempts,
                "error": error,
            }
        )
    )
    if outcome == "delivered":
        deliveries.finish(delivery, state="delivered")
        WEBHOOK_DELIVERIES.labels(result="delivered").inc(client=rt.states.redis)
    elif outcome == "retry" and attempts < rt.settings.webhook_max_attempts:
        WEBHOOK_DELIVERIES.labels(result="retried").inc(client=rt.states.redis)
        countdown = retry_delay(attempts, retry_after=retry_after, cap=rt.settings.retry_backoff_max)
        deliveries.retry_due(delivery, at=time.time() + countdown)
        raise self.retry(countdown=countdown)
    else:
        deliveries.finish(delivery, state="failed", error=f"gave up after {attempts} attempt(s): {error}")
        WEBHOOK_DELIVERIES.labels(result="failed").inc(client=rt.states.redis)


def _refuse(rt: Runtime, delivery: str, subscriber: Subscriber, reason: str) -> None:
    """Fail a delivery that must not be sent: nothing left the worker, and a retry would not
    change that until an operator changes the files (then `marquee retry` sends it)."""
    Deliveries(rt.states.redis).finish(delivery, state="failed", error=f"refused: {reason}")
    WEBHOOK_DELIVERIES.labels(result="failed").inc(client=rt.states.redis)
    # The reason names hosts and addresses, never a secret.
    log.warning(
        json.dumps({"event": "webhook.refused", "delivery": delivery, "subscriber": subscriber.name, "reason": reason})
    )
