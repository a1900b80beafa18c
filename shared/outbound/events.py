"""Announcing events to outbound webhook subscribers, once each.

The event itself is appended to ``marquee:events`` by the state transition; this
fans it out to the subscribers that asked for its type, as deliveries the
``deliver`` task sends. A stage that runs twice announces twice, and the stable
delivery ids make the second announcement a no-op.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

from shared.broker.celery_app import app
from shared.envelope import EVENT_TYPES
from shared.jsonfile import WatchedJSON
from shared.outbound.deliveries import Deliveries, Subscriber, delivery_id, parse_subscribers
from shared.outbound.guard import Network, check_url
from shared.queues import task_name
from shared.writers import parse_writers

CALLBACK_EVENTS = EVENT_TYPES  # a writer's callback hears how each of their submissions ended, whichever way

log = logging.getLogger("marquee.config")


@functools.lru_cache(maxsize=4)
def _subscribers_file(path: Path, allow: tuple[Network, ...]) -> WatchedJSON[dict[str, Subscriber]]:
    return WatchedJSON(path, functools.partial(parse_subscribers, allow=allow))


@functools.lru_cache(maxsize=4)
def _callbacks_file(path: Path, allow: tuple[Network, ...]) -> WatchedJSON[dict[str, Subscriber]]:
    return WatchedJSON(path, functools.partial(parse_callbacks, allow=allow))


def parse_callbacks(data: dict, *, allow: Sequence[Network] = ()) -> dict[str, Subscriber]:
    """The writers file's callbacks, each as a subscriber to that writer's own events, signed
    with the writer's ``callback_secrets`` and never their inbound secrets."""
    callbacks = {}
    for writer in parse_writers(data).values():
        if not writer.callback_url:
            continue
        try:
            check_url(writer.callback_url, allow=allow)
        except ValueError as exc:
            raise ValueError(f"writer {writer.id!r}: callback_url {exc}") from None
        if not writer.callback_secrets:
            # An entry from before callbacks had secrets of their own: it still submits, but
            # its callbacks are refused (deliver records why) rather than signed inbound.
            log.warning(
                "writer %r has a callback_url but no callback_secrets: their callbacks are refused "
                "until the writers file gives them callback_secrets (docs/WRITERS.md)",
                writer.id,
            )
        name = f"writer:{writer.id}"
        callbacks[name] = Subscriber(
            name, writer.callback_url, writer.callback_secrets, CALLBACK_EVENTS, writer=writer.id
        )
    return callbacks


def recipients(
    *, subscribers_file: Path | None, writers_file: Path | None, allow: Sequence[Network] = ()
) -> dict[str, Subscriber]:
    """Every subscriber, and every writer's callback as a subscriber to their own events."""
    found = dict(_subscribers_file(Path(subscribers_file), tuple(allow)).value()) if subscribers_file else {}
    if writers_file:
        found.update(_callbacks_file(Path(writers_file), tuple(allow)).value())
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
