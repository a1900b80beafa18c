"""Submission state in Redis: where each review is, what went wrong, and the event log.

One hash per submission (``marquee:sub:<id>``), its history as a list, and the
``marquee:events`` stream for downstream consumers (each entry: ``type``, ``id`` and the
event's envelope, shared/envelope.py). Transitions run as one Lua script, so a state
never moves backwards, a final state is never left (but for a published review being
withdrawn, and a failed one being replayed), and the event for a state is appended
exactly once however often a stage runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis
import redis.lock

from shared.envelope import STREAM_FIELD, dumps, envelope
from shared.errors import Problem
from shared.models import State
from shared.observability import logs
from shared.observability.metrics import COUNTERS_KEY, count_accepted, on_transition, outcome_field
from shared.slugs import is_variant_of, variant

log = logging.getLogger("marquee.state")

EVENTS_STREAM = "marquee:events"
SCHEDULE = "marquee:schedule"  # sorted set: submission id → time its embargo lifts
EVENTS_MAXLEN = 100_000
WEBHOOK_MEMORY_SECONDS = 7 * 24 * 3600
FAILED_INDEX = "marquee:submissions:failed"  # sorted set: each failed submission's id → when it failed
# Sorted set: each submission in no final state → when it last moved (for one held by an
# embargo: when the embargo lifts). The sweeper's index of what may have stalled.
ACTIVE_INDEX = "marquee:submissions:active"

# KEYS: hash, history, events, failed index, metrics counters, active index. ARGV: new state, stage, at,
# the event's envelope as JSON ("" for none), the counter field the move counts ("" for
# none), field pairs…
# Returns the state it is in; when it moved, {new state, writer}.
_TRANSITION = """
local rank = {received=0, validated=1, rendered=2, social_ready=3, scheduled=3.5, uploaded=4, published=5,
              rejected=9, failed=9, superseded=9, retracted=10}
local current = redis.call('HGET', KEYS[1], 'state')
local new = ARGV[1]
if not current then return false end
if current == new then return current end
if current == 'rejected' or current == 'retracted' or current == 'superseded' then return current end
if current == 'published' then
  if new ~= 'retracted' then return current end
elseif current == 'failed' then
  if new == 'received' then return current end
elseif rank[new] <= rank[current] then
  return current
end
redis.call('HSET', KEYS[1], 'state', new)
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('RPUSH', KEYS[2], cjson.encode({stage=ARGV[2], state=new, at=ARGV[3]}))
if ARGV[4] ~= '' then
  -- type and id beside the envelope, so a reader filters without parsing it
  local event = cjson.decode(ARGV[4])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '@MAXLEN@', '*', 'type', event.type, 'id', event.data.id,
             '@FIELD@', ARGV[4])
end
local id = string.sub(KEYS[1], 13)  -- after 'marquee:sub:'
-- The sweeper's view: when it last moved, and its count of re-sends starts again.
redis.call('HDEL', KEYS[1], 'sweeps', 'stall_seen')
if rank[new] >= 5 then
  redis.call('ZREM', KEYS[6], id)
else
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[6], t[1] + t[2] / 1000000, id)
end
if new == 'failed' then
  redis.call('ZADD', KEYS[4], redis.call('TIME')[1], id)
elseif current == 'failed' then
  redis.call('ZREM', KEYS[4], id)
end
if ARGV[5] ~= '' then redis.call('HINCRBY', KEYS[5], ARGV[5], 1) end
return {new, redis.call('HGET', KEYS[1], 'writer') or ''}
""".replace("@MAXLEN@", str(EVENTS_MAXLEN)).replace("@FIELD@", STREAM_FIELD)


# KEYS: the note's claim, hash, history, events. ARGV: claim TTL, stage, at, note, event json
# ("" for none). A note is history without a move (a rollback making a published revision
# live again): the state stays, the entry records the state it is in. Returns 1 once per
# claim, 0 after.
_NOTE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local state = redis.call('HGET', KEYS[2], 'state')
if state then
  redis.call('RPUSH', KEYS[3], cjson.encode({stage=ARGV[2], state=state, at=ARGV[3], note=ARGV[4]}))
end
if ARGV[5] ~= '' then
  local event = cjson.decode(ARGV[5])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '@MAXLEN@', '*', 'type', event.type, 'id', event.data.id,
             '@FIELD@', ARGV[5])
end
return 1
""".replace("@MAXLEN@", str(EVENTS_MAXLEN)).replace("@FIELD@", STREAM_FIELD)


# KEYS: the webhook-id's claim, hash, history, active index. ARGV: id, writer, webhook_id,
# received_at, history entry, claim TTL, title source ("" for none). Returns the id holding
# the webhook-id already, or false once the claim and the record are made.
_CREATE = """
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[6])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'writer', ARGV[2], 'state', 'received', 'webhook_id', ARGV[3],
           'received_at', ARGV[4], 'errors', '[]', 'urls', '{}')
if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'title_source', ARGV[7]) end
redis.call('RPUSH', KEYS[3], ARGV[5])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[4], t[1] + t[2] / 1000000, ARGV[1])
return false
"""

# KEYS: the slug's hash, its base slug's variants. ARGV: owner ("" for none known),
# revision, first published ("" for none), the slug if it is a variant of that base ("").
# After Redis lost its data: what is set stays (a claim made since is kept); the counter
# only ever moves up; a variant is remembered for its owner only if the slug is theirs.
_RESTORE_SLUG = """
local owner = 0
if ARGV[1] ~= '' then owner = redis.call('HSETNX', KEYS[1], 'owner', ARGV[1]) end
if ARGV[3] ~= '' then redis.call('HSETNX', KEYS[1], 'first_published', ARGV[3]) end
local current = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], 'revision', ARGV[2]) end
if ARGV[4] ~= '' and ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[4])
end
return owner
"""

# KEYS: a base slug's variants (owner → the variant slug they hold). ARGV: owner, the
# variant recorded now as far as the caller knows ("" for none), the new one. Records the
# new one only if the record is still what the caller saw; returns what it holds after.
_RECORD_VARIANT = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return ARGV[3]
"""

VARIANT_DRAWS = 8  # random suffixes tried before giving up (each one taken is a 1 in 36^6 event)

# KEYS: the webhook-id's claim, hash, history, active index. ARGV: the id that made them. Removes them
# only if that id still holds the claim.
_FORGET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('ZREM', KEYS[4], ARGV[1])
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hash(id: str) -> str:
    return f"marquee:sub:{id}"


def _history(id: str) -> str:
    return f"marquee:sub:{id}:history"


def _slug_key(slug: str) -> str:
    return f"marquee:slug:{slug}"


def _variants_key(base: str) -> str:
    """The variants of ``base`` and their owners. Slugs hold no ':', so no slug's own key is this."""
    return f"marquee:slug:{base}:variants"


def webhook_key(writer: str, webhook_id: str) -> str:
    """The claim on a writer's webhook-id: the id of the submission it was accepted as."""
    return f"marquee:webhook:{writer}:{webhook_id}"


def withdrawal_key(writer: str, webhook_id: str) -> str:
    """The claim on a webhook-id a writer used to withdraw a review: that review's id.

    Apart from submissions' claims, so that a submission reusing the id is never answered
    with the withdrawn review's id as if it were its own.
    """
    return f"marquee:withdrawal:{writer}:{webhook_id}"


@dataclass(frozen=True)
class NewSubmission:
    id: str
    writer: str
    webhook_id: str
    received_at: str
    started: float | None = None  # time.monotonic() when its request arrived, for the log line
    title_source: str = ""  # "body" or "query": where ingest found the title (docs/SECURITY.md)


# The longest ingest holds its answer waiting for a replica to acknowledge what it wrote
# (count_received); on a LAN a replica answers within a millisecond.
REPLICA_WAIT_MS = 500


class SubmissionStates:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._transition = client.register_script(_TRANSITION)
        self._create = client.register_script(_CREATE)
        self._forget = client.register_script(_FORGET)
        self._restore_slug = client.register_script(_RESTORE_SLUG)
        self._record_variant = client.register_script(_RECORD_VARIANT)
        self._note = client.register_script(_NOTE)

    def create(self, id: str, *, writer: str, webhook_id: str, received_at: str) -> str | None:
        """Record one new submission; see ``create_many``."""
        submission = NewSubmission(id, writer=writer, webhook_id=webhook_id, received_at=received_at)
        [holder] = self.create_many([submission])
        if holder is None:
            self.count_received([submission])
        return holder

    def create_many(self, submissions: Sequence[NewSubmission]) -> list[str | None]:
        """Record each submission as received together with the claim on its webhook-id,
        all in one round trip; return, for each, None if it was recorded, or the id that
        already holds its webhook-id (then nothing was recorded for it).

        Claim and record are one script, so a claim never exists without its record: a
        sender's retry is answered with an id only if that id was really recorded.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            for sub in submissions:
                history = json.dumps({"stage": "ingest", "state": State.RECEIVED, "at": sub.received_at})
                self._create(
                    keys=[webhook_key(sub.writer, sub.webhook_id), _hash(sub.id), _history(sub.id), ACTIVE_INDEX],
                    args=[
                        sub.id,
                        sub.writer,
                        sub.webhook_id,
                        sub.received_at,
                        history,
                        WEBHOOK_MEMORY_SECONDS,
                        sub.title_source,
                    ],
                    client=pipe,
                )
            return [holder or None for holder in pipe.execute()]

    def count_received(self, submissions: Sequence[NewSubmission], *, replicas: int = 0) -> int:
        """Count and log submissions accepted (recorded and queued): the ``received`` transition.

        With ``replicas``, then wait (at most REPLICA_WAIT_MS) until that many replicas have
        everything written so far, the submissions' records and messages included, and return
        how many did. Replication is asynchronous: without the wait, a primary that dies just
        after ingest's 202 can take the record with it, and a failover to a replica that never
        had it leaves an accepted submission nobody knows of (the epoch survives, so no
        automatic reconcile runs). The Sentinels promote the replica furthest along, which has it.
        """
        now, acknowledged = time.time(), 0
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                count_accepted(pipe, {sub.id: now for sub in submissions})
                if replicas:
                    pipe.wait(replicas, REPLICA_WAIT_MS)  # on the same connection, after its writes
                results = pipe.execute()
            acknowledged = int(results[-1]) if replicas else 0
        except redis.RedisError:  # they are accepted all the same: a count is not worth a 503
            log.warning("could not count %d accepted submissions", len(submissions), exc_info=True)
        if replicas and acknowledged < replicas:
            # Accepted all the same (recorded and queued): a replica that is away is no reason
            # to refuse; the window is back to Redis's own until it returns.
            log.warning("%d accepted submissions reached %d of %d replicas", len(submissions), acknowledged, replicas)
        for sub in submissions:
            logs.transition(
                sub.id,
                writer=sub.writer,
                stage="ingest",
                state=State.RECEIVED,
                duration_seconds=None if sub.started is None else time.monotonic() - sub.started,
            )
        return acknowledged

    def forget_many(self, submissions: Sequence[NewSubmission]) -> None:
        """Undo ``create_many`` for submissions that were not accepted after all (their
        first stage could not be queued), so the sender's retry starts afresh. Only what
        each one itself recorded is removed."""
        with self.redis.pipeline(transaction=False) as pipe:
            for sub in submissions:
                self._forget(
                    keys=[webhook_key(sub.writer, sub.webhook_id), _hash(sub.id), _history(sub.id), ACTIVE_INDEX],
                    args=[sub.id],
                    client=pipe,
                )
            pipe.execute()

    def claim_withdrawal(self, id: str, *, writer: str, webhook_id: str) -> bool:
        """Claim the webhook-id of a withdrawal of ``id``; False if the writer used it already.

        Remembered as long as submissions' webhook-ids, well past the five minutes a
        signature is good for, so a captured withdrawal can never be sent again.
        """
        return bool(self.redis.set(withdrawal_key(writer, webhook_id), id, nx=True, ex=WEBHOOK_MEMORY_SECONDS))

    def release_withdrawal(self, *, writer: str, webhook_id: str) -> None:
        """Give a claimed webhook-id back: nothing was withdrawn, so the writer may send it again."""
        self.redis.delete(withdrawal_key(writer, webhook_id))

    def advance(self, id: str, state: State, *, stage: str, event: dict | None = None, **fields: str) -> State | None:
        """Move ``id`` forward to ``state`` and return the state it is in afterwards.

        The state is unchanged (and returned) when it is already ``state``, past it, or
        final; None means Redis knows no such submission.
        """
        pairs = [item for kv in fields.items() for item in kv]
        counter = outcome_field(state.value, stage=stage) or ""  # counted by the script, with the move
        args = [state.value, stage, now_iso(), dumps(event) if event else "", counter, *pairs]
        keys = [_hash(id), _history(id), EVENTS_STREAM, FAILED_INDEX, COUNTERS_KEY, ACTIVE_INDEX]
        result = self._transition(keys=keys, args=args)
        if isinstance(result, list):  # it moved (and the script counted it): log it once
            result, writer = result
            on_transition(id, writer=writer, stage=stage, state=result)
        return State(result) if result else None

    def note(self, id: str, text: str, *, stage: str, claim: str, event: dict | None = None) -> bool:
        """Add ``text`` to ``id``'s history without moving its state, and append ``event`` (if
        any) to the stream: both once per ``claim``, however often the caller runs. False if
        ``claim`` was made before. A final state is never moved backwards to say something
        happened after it; a note says it instead."""
        args: list[str | int] = [WEBHOOK_MEMORY_SECONDS, stage, now_iso(), text, dumps(event) if event else ""]
        keys = [f"marquee:note:{claim}:{id}", _hash(id), _history(id), EVENTS_STREAM]
        return bool(self._note(keys=keys, args=args))

    def reject(self, id: str, problems: list[Problem], *, writer: str) -> tuple[State | None, dict]:
        """Mark ``id`` rejected with every problem; return its state and the event announced.
        A rejected review has no slug and no revision: the event says so with nulls."""
        errors = [p.as_dict() for p in problems]
        event = envelope(
            "review.rejected",
            id=id,
            writer=writer,
            slug=None,
            revision=None,
            manifest_url=None,
            timestamp=now_iso(),
            errors=errors,
        )
        return self.advance(id, State.REJECTED, stage="validate", event=event, errors=json.dumps(errors)), event

    def fail(self, id: str, *, stage: str, error: str, attempts: int) -> tuple[State | None, dict]:
        """Mark ``id`` failed at ``stage``; return its state and the event announced.

        The slug, revision and its manifest's address are the ones validate recorded; a
        submission that failed before them has none, and the event says so with nulls."""
        record = self.get(id) or {}
        errors = [{"field": "", "message": f"{stage} failed after {attempts} attempt(s): {error}"}]
        revision, manifest_url = record.get("revision") or "", record.get("manifest_url") or ""
        known = bool(revision and manifest_url)  # recorded together by validate, or not at all
        event = envelope(
            "review.failed",
            id=id,
            writer=record.get("writer", ""),
            slug=record.get("slug") or None,
            revision=int(revision) if known else None,
            manifest_url=manifest_url if known else None,
            timestamp=now_iso(),
            stage=stage,
            attempts=attempts,
            errors=errors,
        )
        state = self.advance(
            id,
            State.FAILED,
            stage=stage,
            event=event,
            errors=json.dumps(errors),
            failed_stage=stage,
            failed_from=record.get("state", ""),
            attempts=str(attempts),
        )
        return state, event

    def set_fields(self, id: str, **fields: str) -> None:
        self.redis.hset(_hash(id), mapping=fields)  # type: ignore[arg-type]  # redis-py's Mapping key is invariant: it refuses a dict[str, str]

    def fields(self, id: str, *names: str) -> dict[str, str] | None:
        """Some fields of the submission's record, in one HMGET (not its history, as ``get``
        reads too); None if Redis knows no such submission. A field not set reads "" here."""
        # The client decodes (shared.connection): str, where redis-py's types say bytes | str.
        state, *values = cast("list[str | None]", self.redis.hmget(_hash(id), ["state", *names]))
        if state is None:
            return None
        return {"state": state, **{name: value or "" for name, value in zip(names, values, strict=True)}}

    def unknown(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` Redis has no record of: one pipelined EXISTS each."""
        with self.redis.pipeline(transaction=False) as pipe:
            for id in ids:
                pipe.exists(_hash(id))
            found = pipe.execute()
        return [id for id, exists in zip(ids, found, strict=True) if not exists]

    def state_of(self, id: str) -> str | None:
        """The submission's state alone: one HGET, for stages that need nothing else."""
        return cast("str | None", self.redis.hget(_hash(id), "state"))  # decoded: str

    def get(self, id: str) -> dict | None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(_hash(id))
            pipe.lrange(_history(id), 0, -1)
            record, history = pipe.execute()
        if not record:
            return None
        record["history"] = [json.loads(h) for h in history]
        record["errors"] = json.loads(record.get("errors") or "[]")
        record["urls"] = json.loads(record.get("urls") or "{}")
        return record

    def schedule(self, id: str, *, at: datetime) -> State | None:
        """Hold ``id`` until ``at``; the release task hands it to upload then."""
        self.redis.zadd(SCHEDULE, {id: at.timestamp()})
        state = self.advance(id, State.SCHEDULED, stage="upload", scheduled_for=at.isoformat())
        if state == State.SCHEDULED:
            # Not stalled while it waits: the sweeper looks at it only once the embargo lifts.
            self.redis.zadd(ACTIVE_INDEX, {id: at.timestamp()}, xx=True)
        return state

    def take_due(self, *, now: float) -> list[str]:
        """Remove and return the held submissions whose time has come (each to one caller)."""
        due = cast("list[str]", self.redis.zrangebyscore(SCHEDULE, "-inf", now))  # decoded: str
        return [id for id in due if self.redis.zrem(SCHEDULE, id)]

    def unschedule(self, id: str) -> None:
        self.redis.zrem(SCHEDULE, id)

    def _set_once(self, key: str, field: str, value: str) -> str:
        """Set a hash field unless it is set; return what it holds now (one round trip)."""
        with self.redis.pipeline() as pipe:
            pipe.hsetnx(key, field, value)
            pipe.hget(key, field)
            _, now = pipe.execute()
        return now

    def claim_slug(self, slug: str, *, owner: str) -> bool:
        """Reserve ``slug`` for ``owner``; True if it is free or already theirs."""
        return self._set_once(_slug_key(slug), "owner", owner) == owner

    def slug_owner(self, slug: str) -> str | None:
        """Who holds ``slug``, as far as Redis knows."""
        return cast("str | None", self.redis.hget(_slug_key(slug), "owner"))  # decoded: str

    def place_slug(
        self, base: str, *, owner: str, draw: Callable[[str], str] = variant, draws: int = VARIANT_DRAWS
    ) -> str | None:
        """The slug ``owner``'s review is published at, claimed for them: ``base`` if free or
        theirs, else the variant of it they were given before, else a fresh one (``draw``).

        Every claim is checked: a slug someone else holds is never returned. A variant is
        claimed before it is recorded, so a record never names a slug its owner lacks; two
        submissions of one owner racing end on the one recorded first. None only when
        ``draws`` fresh variants were all taken."""
        if self.claim_slug(base, owner=owner):
            return base
        key = _variants_key(base)
        known = cast("str", self.redis.hget(key, owner) or "")  # decoded: str
        if known and self.claim_slug(known, owner=owner):
            return known
        # None yet, or a record naming a slug another holds (claimed while Redis had lost
        # this one, before reconcile put it back): a fresh variant replaces it.
        for _ in range(draws):
            candidate = draw(base)
            if not self.claim_slug(candidate, owner=owner):
                continue  # held by someone else: never theirs to lose
            recorded = cast("str", self._record_variant(keys=[key], args=[owner, known, candidate]))
            if recorded == candidate:
                return candidate
            if recorded and self.claim_slug(recorded, owner=owner):
                return recorded  # the same owner's other submission recorded its variant first
            known = recorded
        return None

    def next_revision(self, slug: str, *, published: int) -> int:
        """The next revision at ``slug``; ``published`` (from the store) seeds a lost counter."""
        key = f"marquee:slug:{slug}"
        with self.redis.pipeline() as pipe:
            pipe.hsetnx(key, "revision", published)
            pipe.hincrby(key, "revision", 1)
            _, revision = pipe.execute()
        return int(revision)

    def slug_lock(self, slug: str, *, seconds: float, wait: float) -> redis.lock.Lock:
        """The lease on ``slug``'s public objects: upload, retract and release take it, so one
        writer changes a slug at a time and each re-checks, under it, what it is about to do.

        It lapses after ``seconds`` (longer than a stage may run, so only a holder that died
        loses it); a caller that cannot have it within ``wait`` raises ``LockError``."""
        return self.redis.lock(f"marquee:slug:{slug}:lease", timeout=seconds, blocking_timeout=wait)

    def slug_known(self, slugs: Sequence[str]) -> list[bool]:
        """For each slug, whether Redis remembers its owner (one round trip)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.hexists(f"marquee:slug:{slug}", "owner")
            return [bool(known) for known in pipe.execute()]

    def restore_slug(
        self, slug: str, *, owner: str | None, revision: int, first_published: str = "", base: str | None = None
    ) -> bool:
        """After Redis lost its data: ``slug`` is ``owner``'s again (unless claimed since), its
        revision counter at least ``revision``, its first publication ``first_published``
        (unless set since), and, if it is a variant of ``base`` (the slug the owner's title
        and year make), the variant the owner's next submission of the film lands on again.
        True if the owner was set here."""
        variant_slug = slug if base and is_variant_of(slug, base) else ""
        args: list[str | int] = [owner or "", revision, first_published, variant_slug]
        keys = [_slug_key(slug), _variants_key(base or slug)]
        return bool(self._restore_slug(keys=keys, args=args))

    def first_published(self, slug: str, *, candidate: str) -> str:
        """When the review at ``slug`` was first published: ``candidate`` unless set before."""
        return self._set_once(f"marquee:slug:{slug}", "first_published", candidate)
