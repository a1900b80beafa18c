"""The deliver task: send one outbound webhook, retrying on the receiver's schedule.

Not a stage of a submission: a delivery that fails never fails the review.
"""

from __future__ import annotations

import functools
import json
import logging

import httpx
from celery import Task

from shared.broker.celery_app import app
from shared.observability.metrics import WEBHOOK_DELIVERIES
from shared.outbound.deliveries import Deliveries, classify, retry_delay, sign_delivery
from shared.pipeline import get_runtime
from shared.queues import task_name

log = logging.getLogger("marquee.deliver")


@functools.lru_cache(maxsize=1)
def _client() -> httpx.Client:
    # One pooled client per process; redirects are never followed, to anywhere.
    timeout = get_runtime().settings.webhook_timeout
    return httpx.Client(follow_redirects=False, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))


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

    body = record["body"].encode()
    retry_after = None
    try:
        response = _client().post(
            subscriber.url, content=body, headers=sign_delivery(subscriber.secret, msg_id=delivery, body=body)
        )
        outcome, error = classify(response.status_code), f"HTTP {response.status_code}"
        retry_after = response.headers.get("retry-after")
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
        raise self.retry(countdown=countdown)
    else:
        deliveries.finish(delivery, state="failed", error=f"gave up after {attempts} attempt(s): {error}")
        WEBHOOK_DELIVERIES.labels(result="failed").inc(client=rt.states.redis)
