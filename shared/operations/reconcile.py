"""``marquee reconcile``: nothing accepted is lost, even when Redis loses its data.

The archive is the record of what was accepted (ingest answers 202 only once
``submissions/<id>/request.json`` is stored) and of how far each submission got
(each stage writes its outputs there before it moves the state on). Redis holds the
state and the queues, and can lose them: a FLUSHALL, a failover to an empty
replica, a restore from an old snapshot. Reconcile walks the archive and, for each
submission in no final state (published, rejected, failed, superseded, retracted) with
no message waiting in a queue or held by a worker, sends it on from the right stage:

* Redis knows it: from its state (``validated`` → render, ``uploaded`` → notify…).
* Redis does not: from what the archive holds, after re-creating its state record
  from ``request.json`` (and the review's slug and revision from ``review.json``)::

      no review.json                            → validate  (from received)
      review.json, no out/index.html            → render    (from validated)
      index.html, a teaser marker missing       → social    (from rendered)
      both teasers, no manifest with its id     → upload    (from social_ready; upload
                                                  ends it superseded if a later revision is live)
      the publish store's manifest has its id   → notify    (from uploaded)

Stages skip work already done, so sending one again is harmless; the state
transitions make publication and its event happen once.

Submissions newer than ``min_age`` seconds are left alone (ingest may be halfway
through accepting one), as is one whose webhook-id Redis remembers for another
submission (an attempt that failed before its 202, which the writer then sent again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime

import redis

from shared import state as state_module
from shared.errors import ObjectNotFound
from shared.keys import (
    MANIFEST,
    SOCIAL_PARTS,
    is_submission_id,
    output_key,
    published_key,
    request_key,
    retracted_key,
    revision_key,
)
from shared.observability import logs
from shared.observability.metrics import RECENT_SUBMISSIONS_KEY, SUBMISSIONS_REQUEUED
from shared.operations.failure_sources import FINAL_STATES, NEXT_TASKS, send_stage
from shared.operations.queues import in_flight
from shared.queues import QUEUES
from shared.state import WEBHOOK_MEMORY_SECONDS, now_iso, webhook_key
from shared.storage import LocalStore, S3Store, Store

SUBMISSIONS_PREFIX = "submissions"
BATCH = 500

# KEYS: hash, history. ARGV: the history entries (received, then reconcile), field pairs…
# Creates the record only if Redis has none: a record that exists is never overwritten.
_RECREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('RPUSH', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Finding:
    id: str
    action: (
        str  # requeued | recreated | in_flight | scheduled | final | too_recent | not_accepted | unknown_state | error
    )
    state: str | None = None
    tasks: tuple[str, ...] = ()
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def submission_ids(store: Store) -> Iterator[str]:
    """The id of every archived submission: one listing of ``submissions/``'s children,
    without listing each submission's files where the store can avoid it."""
    if isinstance(store, LocalStore):
        base = store.root / SUBMISSIONS_PREFIX
        if base.is_dir():
            yield from sorted(p.name for p in base.iterdir() if p.is_dir() and is_submission_id(p.name))
        return
    if isinstance(store, S3Store):
        prefix = f"{store.prefix}/{SUBMISSIONS_PREFIX}/" if store.prefix else f"{SUBMISSIONS_PREFIX}/"
        paginator = store.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=store.bucket, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(prefix) :].rstrip("/")
                if is_submission_id(name):
                    yield name
        return
    seen = set()
    for key in store.list(SUBMISSIONS_PREFIX):
        name = key.split("/")[1] if key.count("/") >= 2 else ""
        if is_submission_id(name) and name not in seen:
            seen.add(name)
            yield name


def _timestamp(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None


def _age(received_at: str, now: float) -> float:
    at = _timestamp(received_at)
    return float("inf") if at is None else now - at


def from_archive(rt, id: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """Where a submission stands by the archive alone: (state, tasks to send, record fields)."""
    try:
        review = rt.load_review(id)
    except ObjectNotFound:
        return "received", NEXT_TASKS["received"], {}
    # As validate records them, so that the events it goes on to make name its revision.
    fields = {
        "slug": review.slug,
        "revision": str(review.revision),
        "manifest_url": rt.public_url(revision_key(review.slug, review.revision, MANIFEST)),
    }
    if rt.archive.head(retracted_key(id)) is not None:
        return "retracted", (), fields  # withdrawn: final, whatever else the archive holds
    if rt.archive.head(output_key(id, "index.html")) is None:
        return "validated", NEXT_TASKS["validated"], fields
    if any(rt.archive.head(output_key(id, f"{part}.json")) is None for part in SOCIAL_PARTS):
        return "rendered", NEXT_TASKS["rendered"], fields
    try:
        manifest = json.loads(rt.publish.get(published_key(review.slug, MANIFEST)))
    except ObjectNotFound:
        manifest = {}
    if manifest.get("id") != id:
        return "social_ready", NEXT_TASKS["social_ready"], fields
    fields["urls"] = json.dumps(
        {
            "article": rt.public_url(published_key(review.slug, "index.html")),
            "manifest": rt.public_url(published_key(review.slug, MANIFEST)),
            "review": rt.public_url(published_key(review.slug, "review.json")),
        }
    )
    return "uploaded", NEXT_TASKS["uploaded"], fields


def _recreate(client: redis.Redis, id: str, request: dict, state: str, fields: dict[str, str]) -> bool:
    received_at = request.get("received_at") or now_iso()
    record = {
        "id": id,
        "writer": request.get("writer", ""),
        "state": state,
        "webhook_id": request.get("webhook_id", ""),
        "received_at": received_at,
        "errors": "[]",
        "urls": "{}",
        "reconciled_at": now_iso(),
        **fields,
    }
    history = [
        json.dumps({"stage": "ingest", "state": "received", "at": received_at}),
        json.dumps({"stage": "reconcile", "state": state, "at": now_iso()}),
    ]
    pairs = [item for kv in record.items() for item in kv]
    created = client.register_script(_RECREATE)(
        keys=[f"marquee:sub:{id}", f"marquee:sub:{id}:history"], args=[*history, *pairs]
    )
    if created:
        client.zadd(RECENT_SUBMISSIONS_KEY, {id: _timestamp(received_at) or time.time()})
        if request.get("webhook_id") and _age(received_at, time.time()) < WEBHOOK_MEMORY_SECONDS:
            # A writer re-sending this webhook-id is answered with this id, as before.
            client.set(
                webhook_key(request.get("writer", ""), request["webhook_id"]), id, nx=True, ex=WEBHOOK_MEMORY_SECONDS
            )
    return bool(created)


def declare_queues() -> None:
    """Declare every stage queue and its binding again: a Redis that lost its data lost
    kombu's bindings too, and a message sent to an unbound exchange goes nowhere."""
    from shared.broker.celery_app import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in QUEUES:
            app.amqp.queues[queue].bind(channel).declare()


def reconcile(
    rt,
    *,
    min_age: float = 30.0,
    dry_run: bool = False,
    now: float | None = None,
    send: Callable[[str, str], None] = send_stage,
) -> list[Finding]:
    """Find every archived submission that is stuck and send it on; return what was found."""
    client: redis.Redis = rt.states.redis
    now = time.time() if now is None else now
    if not dry_run and send is send_stage:
        declare_queues()
    flying = in_flight(client)
    schedule_key = getattr(state_module, "SCHEDULE", "marquee:schedule")
    findings: list[Finding] = []
    ids = list(submission_ids(rt.archive))
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with client.pipeline(transaction=False) as pipe:
            for id in batch:
                pipe.hgetall(f"marquee:sub:{id}")
                pipe.zscore(schedule_key, id)
            replies = pipe.execute()
        for id, record, scheduled in zip(batch, replies[::2], replies[1::2], strict=True):
            try:
                findings.append(
                    _one(
                        rt,
                        client,
                        id,
                        record,
                        scheduled is not None,
                        flying=flying,
                        now=now,
                        min_age=min_age,
                        dry_run=dry_run,
                        send=send,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - one bad submission does not stop the rest
                findings.append(
                    Finding(id, "error", record.get("state") if record else None, detail=f"{type(exc).__name__}: {exc}")
                )
    return findings


def _one(rt, client, id, record, scheduled, *, flying, now, min_age, dry_run, send) -> Finding:
    state = record.get("state") if record else None
    if state in FINAL_STATES:
        return Finding(id, "final", state)
    if id in flying:
        return Finding(id, "in_flight", state, detail="a message for it is queued or held by a worker")
    if state == "scheduled" and scheduled:
        return Finding(id, "scheduled", state, detail="held until its embargo lifts")
    if record:
        if state not in NEXT_TASKS:
            return Finding(id, "unknown_state", state)
        if _age(record.get("received_at", ""), now) < min_age:
            return Finding(id, "too_recent", state)
        tasks = NEXT_TASKS[state]
        if not dry_run:
            for task in tasks:
                send(task, id)
            SUBMISSIONS_REQUEUED.labels(reason="reconcile").inc(client=client)
            logs.event("reconcile.requeued", id=id, writer=record.get("writer"), state=state, tasks=list(tasks))
        return Finding(id, "requeued", state, tasks)

    try:
        request = json.loads(rt.archive.get(request_key(id)))
    except ObjectNotFound:
        return Finding(id, "not_accepted", None, detail="no request.json: ingest never accepted it")
    if _age(request.get("received_at", ""), now) < min_age:
        return Finding(id, "too_recent", None)
    claim = client.get(webhook_key(request.get("writer", ""), request.get("webhook_id", "")))
    if claim and claim != id:
        return Finding(id, "not_accepted", None, detail=f"its webhook-id was accepted as {claim}")
    state, tasks, fields = from_archive(rt, id)
    if dry_run:
        return Finding(id, "recreated", state, tasks, detail="dry run: nothing changed")
    if not _recreate(client, id, request, state, fields):
        return Finding(id, "in_flight", state, detail="its record reappeared meanwhile")
    logs.transition(id, writer=request.get("writer"), stage="reconcile", state=state)
    for task in tasks:
        send(task, id)
    SUBMISSIONS_REQUEUED.labels(reason="reconcile").inc(client=client)
    return Finding(id, "recreated", state, tasks, detail="state re-made from the archive")
