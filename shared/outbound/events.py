"""Announcing events to outbound webhook subscribers, once each.

The event itself is appended to ``marquee:events`` by the state transition; this
fans it out to the subscribers that asked for its type, as deliveries the
``deliver`` task sends. A stage that runs twice announces twice, and the stable
delivery ids make the second announcement a no-op.
"""

from __future__ import annotations

import functools
from pathlib import Path

from shared.broker.celery_app import app
from shared.envelope import EVENT_TYPES
from shared.jsonfile import WatchedJSON
from shared.outbound.deliveries import Deliveries, Subscriber, delivery_id, parse_subscribers
from shared.queues import task_name
from shared.writers import WritersFile

CALLBACK_EVENTS = EVENT_TYPES  # a writer's callback hears how each of their submissions ended, whichever way


@functools.lru_cache(maxsize=4)
def _subscribers_file(path: Path) -> WatchedJSON[dict[str, Subscriber]]:
    return WatchedJSON(path, parse_subscribers)


@functools.lru_cache(maxsize=4)
def _writers_file(path: Path) -> WritersFile:
    return WritersFile(path)


def recipients(*, subscribers_file: Path | None, writers_file: Path | None) -> dict[str, Subscriber]:
    """Every subscriber, and every writer's callback as a subscriber to their own events."""
    found = dict(_subscribers_file(Path(subscribers_file)).value()) if subscribers_file else {}
    for writer in (_writers_file(Path(writers_file)).all() if writers_file else {}).values():
        if writer.callback_url:
            name = f"writer:{writer.id}"
            found[name] = Subscriber(name, writer.callback_url, writer.secrets[0], CALLBACK_EVENTS, writer=writer.id)
    return found


def announce(event: dict, *, deliveries: Deliveries, to: dict[str, Subscriber]) -> list[str]:
    """Queue a delivery of ``event`` to each recipient that wants it; return the ids queued."""
    queued = []
    for subscriber in to.values():
        if not subscriber.wants(event):
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
