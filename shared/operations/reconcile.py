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
      the publish store's manifest has its id   → nothing   (published: it was announced
        (the live one, or its revision's own)                when it went out, and is not again)

Stages skip work already done, so sending one again is harmless; the state
transitions make publication and its event happen once.

Before it sends anything, it restores what Redis lost of what is public, from the
publish store (``restore_published``): each live slug's owner, revision counter and
first publication, so a new submission neither takes another writer's slug nor reuses a
revision number; and the catalogue's entries (shared/catalogue.py), then it sends the
upload queue's ``rebuild`` task, which writes the index pages and feeds again.

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

from shared import catalogue
from shared import state as state_module
from shared.envelope import published_urls
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
from shared.models import Manifest, Review
from shared.observability import logs
from shared.observability.metrics import RECENT_SUBMISSIONS_KEY, SUBMISSIONS_REQUEUED
from shared.operations.failure_sources import FINAL_STATES, NEXT_TASKS, send_stage
from shared.operations.queues import in_flight
from shared.queues import ALL_QUEUES, TASK_QUEUES, task_name
from shared.slugs import make_slug, slug_owner
from shared.state import ACTIVE_INDEX, WEBHOOK_MEMORY_SECONDS, now_iso, webhook_key
from shared.storage import LocalStore, S3Store, Store

SUBMISSIONS_PREFIX = "submissions"
BATCH = 500

# KEYS: hash, history, active index. ARGV: the history entries (received, then reconcile),
# the id, whether it is final ("1" or ""), field pairs… Creates the record only if Redis has
# none: a record that exists is never overwritten.
_RECREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('RPUSH', KEYS[2], ARGV[1], ARGV[2])
if ARGV[4] == '' then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[3], t[1] + t[2] / 1000000, ARGV[3])
end
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
        yield from (name for name in store.list_folders(SUBMISSIONS_PREFIX) if is_submission_id(name))
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


def from_archive(rt, id: str) -> tuple[str, tuple[str, ...], dict[str, str], Review | None]:
    """Where a submission stands by the archive alone: (state, tasks to send, record fields, its review)."""
    try:
        review = rt.load_review(id)
    except ObjectNotFound:
        return "received", NEXT_TASKS["received"], {}, None
    # As validate records them, so that the events it goes on to make name its revision.
    fields = {
        "slug": review.slug,
        "revision": str(review.revision),
        "manifest_url": rt.public_url(revision_key(review.slug, review.revision, MANIFEST)),
    }
    if rt.archive.head(retracted_key(id)) is not None:
        return "retracted", (), fields, review  # withdrawn: final, whatever else the archive holds
    if rt.archive.head(output_key(id, "index.html")) is None:
        return "validated", NEXT_TASKS["validated"], fields, review
    if any(rt.archive.head(output_key(id, f"{part}.json")) is None for part in SOCIAL_PARTS):
        return "rendered", NEXT_TASKS["rendered"], fields, review
    if not _went_out(rt, id, review):
        return "social_ready", NEXT_TASKS["social_ready"], fields, review
    fields["urls"] = json.dumps(published_urls(rt.settings.public_base_url, review.slug))
    # Public already, so announced already: notify would announce it again. Publication
    # goes manifest, catalogue, then notify; a loss in between costs that one event.
    return "published", (), fields, review


def _manifest_id(store, key: str) -> str | None:
    try:
        return json.loads(store.get(key)).get("id")
    except ObjectNotFound:
        return None


def _went_out(rt, id: str, review: Review) -> bool:
    """Whether this submission's revision was published: the live manifest is its own, or
    its revision's own manifest (written once, kept after a later revision) is."""
    return _manifest_id(rt.publish, published_key(review.slug, MANIFEST)) == id or (
        _manifest_id(rt.publish, revision_key(review.slug, review.revision, MANIFEST)) == id
    )


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
    if request.get("title_source"):  # as ingest recorded it (requests archived before it did have none)
        record["title_source"] = request["title_source"]
    history = [
        json.dumps({"stage": "ingest", "state": "received", "at": received_at}),
        json.dumps({"stage": "reconcile", "state": state, "at": now_iso()}),
    ]
    pairs = [item for kv in record.items() for item in kv]
    final = "1" if state in FINAL_STATES else ""
    created = client.register_script(_RECREATE)(
        keys=[f"marquee:sub:{id}", f"marquee:sub:{id}:history", ACTIVE_INDEX], args=[*history, id, final, *pairs]
    )
    if created:
        client.zadd(RECENT_SUBMISSIONS_KEY, {id: _timestamp(received_at) or time.time()})
        if request.get("webhook_id") and _age(received_at, time.time()) < WEBHOOK_MEMORY_SECONDS:
            # A writer re-sending this webhook-id is answered with this id, as before.
            client.set(
                webhook_key(request.get("writer", ""), request["webhook_id"]), id, nx=True, ex=WEBHOOK_MEMORY_SECONDS
            )
    return bool(created)


def send_rebuild() -> None:
    """Queue the upload service's ``rebuild`` task: every index page and feed written again."""
    from shared.broker.celery_app import app

    app.send_task(task_name("rebuild"), queue=TASK_QUEUES["rebuild"], ignore_result=True)


def _owner(rt, manifest: Manifest) -> tuple[str | None, str | None]:
    """Who ``manifest``'s slug belongs to: the writer, title and year of its first revision
    still public (a later one, sent with ``replaces``, may have changed the title); and the
    slug that title and year make, of which this one may be the owner's variant."""
    try:
        first = _manifest_id(rt.publish, revision_key(manifest.slug, 1, MANIFEST)) or manifest.id
        review = rt.load_review(first)
    except (ObjectNotFound, ValueError, AttributeError):
        return None, None
    return slug_owner(review.writer, review.title, review.year), make_slug(review.title, review.year)


def restore_published(rt, *, dry_run: bool = False, rebuild: Callable[[], None] = send_rebuild) -> dict[str, int]:
    """What Redis lost of what is public, put back from the publish store, before reconcile
    sends anything on: each live slug's owner, revision counter and first publication, and
    the catalogue's entries (then ``rebuild`` writes the pages and feeds again). Reads only
    what Redis lacks, so with Redis whole it costs one listing and a few commands."""
    client: redis.Redis = rt.states.redis
    slugs = catalogue.live_slugs(rt.publish)
    unlisted = catalogue.unlisted(client, slugs)
    unowned = [slug for slug, known in zip(slugs, rt.states.slug_known(slugs), strict=True) if not known]
    summary = {"live": len(slugs), "unlisted": len(unlisted), "unowned": len(unowned)}
    if dry_run or not (unlisted or unowned):
        return summary
    manifests: dict[str, Manifest] = {}
    for slug in sorted({*unlisted, *unowned}):
        try:
            if (manifest := catalogue.read_manifest(rt.publish, slug)) is not None:
                manifests[slug] = manifest
        except ValueError as exc:  # not a manifest Marquee wrote: left alone, and said so
            logs.event("reconcile.unreadable_manifest", slug=slug, error=str(exc)[:200])
    for slug in unowned:
        if manifest := manifests.get(slug):
            owner, base = _owner(rt, manifest)
            rt.states.restore_slug(
                slug,
                owner=owner,
                revision=manifest.revision,
                first_published=manifest.published_at.isoformat(),
                base=base,
            )
    entries = [manifests[slug] for slug in unlisted if slug in manifests]
    if entries:
        restored = catalogue.restore(client, rt.publish, entries, base_url=rt.public_url("").rstrip("/"))
        summary |= {
            "restored": len(restored.entries),
            "skipped": len(restored.skipped),
            "count": restored.count,
            "tag_recovered": int(bool(restored.tag)),
        }
        rebuild()
    logs.event("reconcile.restored", **summary)
    return summary


def declare_queues() -> None:
    """Declare every stage queue and its binding again: a Redis that lost its data lost
    kombu's bindings too, and a message sent to an unbound exchange goes nowhere."""
    from shared.broker.celery_app import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in ALL_QUEUES:
            app.amqp.queues[queue].bind(channel).declare()


def reconcile(
    rt,
    *,
    min_age: float = 30.0,
    dry_run: bool = False,
    now: float | None = None,
    send: Callable[[str, str], None] = send_stage,
    rebuild: Callable[[], None] = send_rebuild,
    restored: Callable[[dict[str, int]], None] | None = None,
) -> list[Finding]:
    """Find every archived submission that is stuck and send it on; return what was found.
    ``restored``, if given, hears what was put back from the publish store first."""
    client: redis.Redis = rt.states.redis
    now = time.time() if now is None else now
    if not dry_run and send is send_stage:
        declare_queues()
    # Slugs and the catalogue first: a submission sent on below may claim a slug or publish.
    summary = restore_published(rt, dry_run=dry_run, rebuild=rebuild)
    if restored is not None:
        restored(summary)
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
            # Indexed for the sweeper from now on (a record made before the index had none).
            client.zadd(ACTIVE_INDEX, {id: time.time()}, nx=True)
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
    state, tasks, fields, review = from_archive(rt, id)
    if dry_run:
        return Finding(id, "recreated", state, tasks, detail="dry run: nothing changed")
    if review is not None:
        # Its revision number is taken, public or not: the next submission at the slug gets a later one.
        rt.states.restore_slug(
            review.slug,
            owner=slug_owner(review.writer, review.title, review.year),
            revision=review.revision,
            first_published=review.date_published.isoformat(),
            base=make_slug(review.title, review.year),
        )
    if not _recreate(client, id, request, state, fields):
        return Finding(id, "in_flight", state, detail="its record reappeared meanwhile")
    logs.transition(id, writer=request.get("writer"), stage="reconcile", state=state)
    for task in tasks:
        send(task, id)
    SUBMISSIONS_REQUEUED.labels(reason="reconcile").inc(client=client)
    return Finding(id, "recreated", state, tasks, detail="state re-made from the archive")
