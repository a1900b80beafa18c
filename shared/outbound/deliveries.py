"""Outbound webhooks: every event a subscriber asked for, signed, retried, never lost.

Subscribers come from the JSON file named by ``MARQUEE_SUBSCRIBERS_FILE``::

    {"subscribers": {"<name>": {"url": "https://…", "secrets": ["whsec_…"],
                                "events": ["review.published", "review.retracted"]}}}

Each delivery carries one signature per secret in ``webhook-signature`` (``v1,<a> v1,<b>``),
so a secret rotates without a gap: add the new one, let the receiver move over, remove the
old. An entry with a single ``"secret"`` (the file's first shape) reads as a list of one.
A URL is checked when the file is loaded and again, resolved, at each delivery
(shared/outbound/guard.py).

Each (event, subscriber) pair is one delivery with a stable ``webhook-id``, so a
receiver can drop duplicates. A delivery lives in Redis (``marquee:delivery:<id>``,
its body included, its secret never) and is sent by the ``deliver`` task on the
notify queue: retried with backoff on failures, timeouts, 5xx and 429 (honouring
Retry-After), never following redirects, and after a bounded schedule recorded as
failed, where an operator can replay it. Each pending delivery is indexed by when a
message for it should next exist (``PENDING_INDEX``), so the sweeper
(shared/operations/sweeper.py) sends on one whose message was lost.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, cast

import redis
from standardwebhooks import Webhook

from shared.envelope import dumps
from shared.outbound.guard import Network, check_url

FAILED_INDEX = "marquee:deliveries:failed"
# Sorted set: each pending delivery → when a message for it should next exist (now, or when
# its retry is due). The sweeper's index of deliveries that may have lost their message.
PENDING_INDEX = "marquee:deliveries:pending"
RECORD_TTL_SECONDS = 30 * 24 * 3600

Outcome = Literal["delivered", "retry", "give_up"]


@dataclass(frozen=True)
class Subscriber:
    name: str
    url: str
    secrets: tuple[str, ...]  # empty only for a writer's callback without callback_secrets: refused
    events: frozenset[str]
    writer: str | None = None  # a writer's callback hears only about that writer's reviews

    def wants(self, event: dict) -> bool:
        return event["type"] in self.events and self.writer in (None, event["data"].get("writer"))


def parse_subscribers(data: dict, *, allow: Sequence[Network] = ()) -> dict[str, Subscriber]:
    """The subscribers file's entries; ``allow`` is MARQUEE_OUTBOUND_ALLOW, for the URL check."""
    subscribers = {}
    for name, entry in (data.get("subscribers") or {}).items():
        try:
            check_url(entry.get("url", ""), allow=allow)
        except ValueError as exc:
            raise ValueError(f"subscriber {name!r}: url {exc}") from None
        secrets = _subscriber_secrets(name, entry)
        events = entry.get("events") or []
        if not events or not all(isinstance(e, str) and e.startswith("review.") for e in events):
            raise ValueError(f"subscriber {name!r}: list the event types it wants, e.g. review.published")
        subscribers[name] = Subscriber(name, entry["url"], secrets, frozenset(events))
    return subscribers


def _subscriber_secrets(name: str, entry: dict) -> tuple[str, ...]:
    if "secret" in entry and "secrets" in entry:
        raise ValueError(f"subscriber {name!r}: give secrets (a list), not secret as well")
    secrets = entry["secrets"] if "secrets" in entry else [entry.get("secret")]
    if (
        not isinstance(secrets, list)
        or not secrets
        or not all(isinstance(s, str) and s.startswith("whsec_") for s in secrets)
    ):
        raise ValueError(f"subscriber {name!r}: secrets must be a list of at least one secret, each starting whsec_")
    for secret in secrets:
        Webhook(secret)  # a secret that is not base64 fails now, at load
    return tuple(secrets)


def delivery_id(event: dict, subscriber: str) -> str:
    """Stable for an (event, subscriber) pair: the same event announced twice is one delivery."""
    data = event["data"]
    key = f"{event['type']}\n{data['id']}\n{data.get('revision') or ''}\n{subscriber}"
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def webhook_body(event: dict) -> bytes:
    """The event's envelope (shared/envelope.py), as it is in the stream: Standard Webhooks'
    ``type``, ``timestamp`` and ``data``, with ``schema_version`` beside them."""
    return dumps(event).encode()


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 425, 429) or status >= 500:
        return "retry"
    return "give_up"  # 3xx (redirects are not followed) and other 4xx will not change on retry


def retry_delay(attempt: int, *, retry_after: str | None, cap: float) -> float:
    """Exponential backoff with jitter, or the receiver's Retry-After when it gives one."""
    if retry_after:
        seconds = _parse_retry_after(retry_after)
        if seconds is not None:
            return min(max(seconds, 0.0), cap)
    return min(cap, 2.0**attempt) * random.uniform(0.5, 1.0)


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError):
        return None


def sign_delivery(secrets: Sequence[str], *, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Standard Webhooks headers with a signature by each secret, space-separated: a receiver
    holding any one of them verifies (standardwebhooks signs with one secret at a time)."""
    if not secrets:
        raise ValueError("a delivery needs at least one secret to sign it")
    timestamp = datetime.fromtimestamp(int(now or time.time()), UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(Webhook(s).sign(msg_id, timestamp, body.decode()) for s in secrets),
        "content-type": "application/json",
    }


# KEYS: the delivery's hash, the pending index. ARGV: TTL, id, field pairs… Returns 1 if it
# recorded the delivery, 0 if it was there already.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], t[1] + t[2] / 1000000, ARGV[2])
return 1
"""


def record_key(delivery: str) -> str:
    return f"marquee:delivery:{delivery}"


class Deliveries:
    def __init__(self, client: redis.Redis):
        self.redis = client

    def create(self, delivery: str, *, subscriber: Subscriber, event: dict) -> bool:
        """Record a delivery; False if it exists already (the event was announced before)."""
        record = {
            "id": delivery,
            "subscriber": subscriber.name,
            "url": subscriber.url,
            "event_type": event["type"],
            "submission_id": event["data"]["id"],
            "body": webhook_body(event).decode(),
            "state": "pending",
            "attempts": "0",
            "last_error": "",
            "updated_at": str(time.time()),
        }
        pairs = [item for kv in record.items() for item in kv]
        # One script: a record is never there without its fields or its index entry.
        created = self.redis.register_script(_CREATE)(
            keys=[record_key(delivery), PENDING_INDEX], args=[RECORD_TTL_SECONDS, delivery, *pairs]
        )
        return bool(created)

    def get(self, delivery: str) -> dict | None:
        return self.redis.hgetall(record_key(delivery)) or None

    def attempted(self, delivery: str, *, error: str) -> int:
        with self.redis.pipeline() as pipe:
            pipe.hincrby(record_key(delivery), "attempts", 1)
            pipe.hset(record_key(delivery), mapping={"last_error": error, "updated_at": str(time.time())})
            attempts, _ = pipe.execute()
        return int(attempts)

    def finish(self, delivery: str, *, state: Literal["delivered", "failed"], error: str = "") -> None:
        with self.redis.pipeline() as pipe:
            pipe.hset(
                record_key(delivery), mapping={"state": state, "last_error": error, "updated_at": str(time.time())}
            )
            pipe.zrem(PENDING_INDEX, delivery)
            if state == "failed":
                pipe.zadd(FAILED_INDEX, {delivery: time.time()})
            else:
                pipe.zrem(FAILED_INDEX, delivery)
            pipe.execute()

    def failed(self, *, limit: int = 100) -> list[dict]:
        ids = cast("list[str]", self.redis.zrevrange(FAILED_INDEX, 0, limit - 1))  # decoded: str
        return [record for record in (self.get(i) for i in ids) if record]

    def reset(self, delivery: str) -> bool:
        """Make a failed delivery pending again, for a replay; False if there is no such delivery."""
        if not self.redis.exists(record_key(delivery)):
            return False
        with self.redis.pipeline() as pipe:
            pipe.hset(record_key(delivery), mapping={"state": "pending", "attempts": "0", "last_error": ""})
            pipe.hdel(record_key(delivery), "sweeps", "stall_seen")
            pipe.zrem(FAILED_INDEX, delivery)
            pipe.zadd(PENDING_INDEX, {delivery: time.time()})
            pipe.execute()
        return True

    def retry_due(self, delivery: str, *, at: float) -> None:
        """Its next attempt waits until ``at`` (a retry's countdown): not a stall before then."""
        self.redis.zadd(PENDING_INDEX, {delivery: at}, xx=True)
