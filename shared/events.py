"""Announcing events to outbound webhook subscribers, once each.

The event itself is appended to ``marquee:events`` by the state transition; this
fans it out to the subscribers that asked for its type, as deliveries the
``deliver`` task sends. A stage that runs twice announces twice, and the stable
delivery ids make the second announcement a no-op.
"""

from __future__ import annotations

import functools
from pathlib import Path

from shared.celery_app import app
from shared.deliveries import Deliveries, Subscriber, delivery_id, parse_subscribers
from shared.jsonfile import WatchedJSON
from shared.queues import task_name


@functools.lru_cache(maxsize=4)
def _subscribers_file(path: Path) -> WatchedJSON[dict[str, Subscriber]]:
    return WatchedJSON(path, parse_subscribers)


def subscribers(path: Path | None) -> dict[str, Subscriber]:
    return _subscribers_file(Path(path)).value() if path else {}


def announce(event: dict, *, deliveries: Deliveries, subscribers_file: Path | None) -> list[str]:
    """Queue a delivery of ``event`` to each subscriber that wants it; return the ids queued."""
    queued = []
    for subscriber in subscribers(subscribers_file).values():
        if event["type"] not in subscriber.events:
            continue
        delivery = delivery_id(event, subscriber.name)
        created = deliveries.create(delivery, subscriber=subscriber, event=event)
        record = deliveries.get(delivery) or {}
        # A delivery recorded by a run that died before queueing it is still pending
        # with no attempts: queue it. Receivers drop a rare duplicate by webhook-id.
        if created or (record.get("state") == "pending" and record.get("attempts") == "0"):
            app.send_task(task_name("deliver"), args=[delivery])
            queued.append(delivery)
    return queued


def replay(delivery: str, *, deliveries: Deliveries) -> bool:
    """Send a failed delivery again from its first attempt; False if there is no such delivery."""
    if not deliveries.reset(delivery):
        return False
    app.send_task(task_name("deliver"), args=[delivery])
    return True
