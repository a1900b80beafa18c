"""The sweeper: a submission that stands still with nothing to move it on is sent on again.

An accepted submission moves on because a message for its next stage exists: waiting in
the stage's queue, or taken by a worker (kombu's Redis transport keeps a taken message in
its ``unacked`` hash until the task ends, acks late, prefetched or running alike). A few
windows can leave a submission with no such message, and nothing else would ever notice:

* kombu takes a message with BRPOP and only then records it as unacked: a worker killed
  in between loses it;
* ingest records a submission, then queues it; a stage moves the state, then hands off;
  ``release`` takes an embargo entry, then hands off: a crash or a lost reply in between;
* a stage that gave up could not record its failure (Redis was away);
* a queue's list was lost (trimmed, deleted, a failover to a replica that never had it).

Every ``MARQUEE_SWEEP_INTERVAL`` seconds beat runs ``sweep`` (services/maintenance/sweep.py).
It reads the submissions in no final state whose last move is older than
``stalled_after`` (``ACTIVE_INDEX``, kept by the state's scripts; one held by an embargo
counts from when the embargo lifts) and, if any, the ids every message in flight names.
A candidate with no message, and no embargo still waiting in the schedule, is *seen*; seen
again at the same move on the next sweep, it is sent its next stage again. Two sightings,
because the in-flight snapshot cannot see a message in the instant between BRPOP and the
unacked record; a sweep later, that message is either recorded or lost for good.

After ``max_resends`` re-sends at the same state it is failed, "stalled in <stage>", which
the writer sees in its status and an operator can retry. Each decision is one Lua script
on the submission's own keys, checked against the score it was read with, so two sweepers
(two beat processes, or one sweep overlapping a slow one) never both act on the same
stall; a lease keeps a second sweeper from doing the reading at all.

Outbound webhook deliveries get the same care: a pending one (``PENDING_INDEX``, kept by
shared/outbound/deliveries.py) whose next attempt was due ``stalled_after`` ago, with no
``deliver`` message naming it, is seen, then sent again; after ``max_resends`` it is
recorded as failed, where ``marquee retry`` replays it. A receiver drops the rare
duplicate a re-send may make by its ``webhook-id``. And teaser videos: a published
review's video still owed (shared/videos.py) with no ``video`` or ``publish_video``
message is sent to the video stage again, and after ``max_resends`` recorded as failed
(the review stays published: a video never holds back or undoes an article).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import redis

from shared.models import State
from shared.observability import logs
from shared.observability.metrics import (
    STALLED,
    STALLED_DELIVERIES,
    SUBMISSIONS_REQUEUED,
    SWEEPS,
    WEBHOOK_DELIVERIES,
    RedisCounter,
)
from shared.operations.failure_sources import FINAL_STATES, NEXT_TASKS
from shared.operations.queues import in_flight
from shared.outbound.deliveries import PENDING_INDEX, Deliveries
from shared.outbound.deliveries import record_key as delivery_key
from shared.state import ACTIVE_INDEX, SCHEDULE, SubmissionStates
from shared.videos import DONE_STATES as VIDEO_DONE
from shared.videos import PENDING_INDEX as VIDEO_INDEX
from shared.videos import PendingVideos
from shared.videos import record_key as video_key

LEASE_KEY = "marquee:sweeper:lease"
BATCH = 1000  # candidates read per sweep: the rest wait for the next one

# KEYS: its hash, its index. ARGV: id, the score it was read with, now, max re-sends, the
# states it is done in… (a submission's final states; a delivery's delivered and failed).
# Returns {"moved"} when it moved since it was read, {"final"} when it is done (and leaves
# the index), {"seen", state} on a first sighting, {"resend", state, n} on the n-th
# re-send (the threshold starts again), {"give_up", state, n} when n re-sends were enough.
_DECIDE = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return {'moved'} end
local state = redis.call('HGET', KEYS[1], 'state')
local done = {}
for i = 5, #ARGV do done[ARGV[i]] = true end
if not state or done[state] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {'final'}
end
if redis.call('HGET', KEYS[1], 'stall_seen') ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'stall_seen', ARGV[2])
  return {'seen', state}
end
local n = redis.call('HINCRBY', KEYS[1], 'sweeps', 1)
if n > tonumber(ARGV[4]) then return {'give_up', state, n - 1} end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {'resend', state, n}
"""


@dataclass(frozen=True, kw_only=True)
class Owed:
    """Work owed beside a submission's stages, pending in an index of its own until done,
    which the sweeper sends on as it does a stalled submission."""

    task: str  # the task a lost message is sent to again
    index: str  # sorted set: id → when a message for it should exist
    key: Callable[[str], str]  # its record's hash: the state, and the sweeper's sightings
    done: tuple[str, ...]  # the record's states in which nothing is owed any more
    state: str  # what a Stall reports it stands at
    id_field: str  # the id's name in the log lines
    counter: RedisCounter
    labels: dict[str, str]  # the counter's labels beside ``reason``
    give_up: Callable[[redis.Redis, str, str], None]  # record it failed, with the error


def _fail_delivery(client: redis.Redis, id: str, error: str) -> None:
    Deliveries(client).finish(id, state="failed", error=error)  # where `marquee retry` finds it
    WEBHOOK_DELIVERIES.labels(result="failed").inc(client=client)  # a failed delivery: its alert fires


def _fail_video(client: redis.Redis, id: str, error: str) -> None:
    PendingVideos(client).finish(id, state="failed", error=error)  # the review stays published


OWED = (
    Owed(
        task="deliver",
        index=PENDING_INDEX,
        key=delivery_key,
        done=("delivered", "failed"),
        state="pending",
        id_field="delivery",
        counter=STALLED_DELIVERIES,
        labels={},
        give_up=_fail_delivery,
    ),
    Owed(
        task="video",
        index=VIDEO_INDEX,
        key=video_key,
        done=VIDEO_DONE,
        state="published",
        id_field="id",
        counter=STALLED,
        labels={"stage": "video"},
        give_up=_fail_video,
    ),
)


@dataclass(frozen=True)
class Stall:
    id: str
    state: str
    stage: str  # the stage it stalled before: the task it is sent to
    action: str  # seen | resent | failed
    reason: str = ""  # no_message | embargo_not_released | gave_up
    resends: int = 0


def stalled_candidates(client: redis.Redis, *, before: float, limit: int = BATCH) -> list[tuple[str, float]]:
    """Submissions in no final state that last moved before ``before`` (epoch seconds)."""
    [entries] = _overdue(client, [ACTIVE_INDEX], before=before, limit=limit)
    return entries


def _overdue(
    client: redis.Redis, indexes: Sequence[str], *, before: float, limit: int = BATCH
) -> list[list[tuple[str, float]]]:
    """For each index, in one round trip, its entries scored before ``before``: in
    ``ACTIVE_INDEX``, submissions that last moved before it; in an ``Owed`` kind's index,
    work whose message should have existed by then."""
    with client.pipeline(transaction=False) as pipe:
        for index in indexes:
            pipe.zrangebyscore(index, "-inf", before, start=0, num=limit, withscores=True)
        return cast("list[list[tuple[str, float]]]", pipe.execute())  # decoded (shared.connection): str


def sweep(
    client: redis.Redis,
    *,
    stalled_after: float,
    max_resends: int,
    send: Callable[[str, str], None],
    announce: Callable[[dict], object],
    now: float | None = None,
) -> list[Stall]:
    """One sweep; returns what it found. ``send(task, id)`` queues a stage's task, and
    ``announce(event)`` sends out the event of a submission it failed."""
    now = time.time() if now is None else now
    lease = client.lock(LEASE_KEY, timeout=max(stalled_after, 60.0), blocking=False)
    if not lease.acquire():
        return []  # another sweeper is at it
    try:
        SWEEPS.inc(client=client)
        candidates, *owed = _overdue(client, [ACTIVE_INDEX, *(kind.index for kind in OWED)], before=now - stalled_after)
        if not candidates and not any(owed):
            return []
        flying = in_flight(client)
        waiting = [id for id, _ in candidates if id not in flying]
        with client.pipeline(transaction=False) as pipe:
            for id in waiting:
                pipe.zscore(SCHEDULE, id)
            held = dict(zip(waiting, pipe.execute(), strict=True))
        decide = client.register_script(_DECIDE)
        found = []
        for id, score in candidates:
            if id in flying or held[id] is not None:
                continue  # a message will move it on, or release will when its embargo lifts
            reply = decide(
                keys=[f"marquee:sub:{id}", ACTIVE_INDEX], args=[id, repr(score), now, max_resends, *FINAL_STATES]
            )
            if stall := _act(client, id, reply, send=send, announce=announce):
                found.append(stall)
        for kind, entries in zip(OWED, owed, strict=True):
            for id, score in entries:
                if id in flying:
                    continue  # its message waits, or a worker holds it (a delivery's retry countdown too)
                reply = decide(keys=[kind.key(id), kind.index], args=[id, repr(score), now, max_resends, *kind.done])
                if stall := _act_on_owed(client, kind, id, reply, send=send):
                    found.append(stall)
        return found
    finally:
        # Outlived its lease: another sweeper may have started; each decision stays single.
        with contextlib.suppress(redis.exceptions.LockError):
            lease.release()


def _act(
    client: redis.Redis,
    id: str,
    reply: list,
    *,
    send: Callable[[str, str], None],
    announce: Callable[[dict], object],
) -> Stall | None:
    action, *rest = reply
    if action in ("moved", "final"):
        return None
    state = rest[0]
    if state not in NEXT_TASKS:  # not a state a stage moves on from: nothing to send
        return None
    task = NEXT_TASKS[state][0]
    if action == "seen":
        return Stall(id, state, task, "seen")
    resends = int(rest[1])
    if action == "give_up":
        error = f"stalled in {task}: still not moving after {resends} re-send(s) by the sweeper"
        states = SubmissionStates(client)
        moved, event = states.fail(id, stage=task, error=error, attempts=resends)
        if moved == State.FAILED:
            announce(event)
        STALLED.labels(stage=task, reason="gave_up").inc(client=client)
        logs.event("sweeper.gave_up", id=id, state=state, stage=task, resends=resends)
        return Stall(id, state, task, "failed", "gave_up", resends)
    reason = "embargo_not_released" if state == "scheduled" else "no_message"
    for stage_task in NEXT_TASKS[state]:
        send(stage_task, id)
    STALLED.labels(stage=task, reason=reason).inc(client=client)
    SUBMISSIONS_REQUEUED.labels(reason="sweep").inc(client=client)
    logs.event("sweeper.resent", id=id, state=state, stage=task, reason=reason, resends=resends)
    return Stall(id, state, task, "resent", reason, resends)


def _act_on_owed(
    client: redis.Redis, kind: Owed, id: str, reply: list, *, send: Callable[[str, str], None]
) -> Stall | None:
    action, *rest = reply
    if action in ("moved", "final"):
        return None
    if action == "seen":
        return Stall(id, kind.state, kind.task, "seen")
    resends = int(rest[1])
    if action == "give_up":
        error = f"stalled in {kind.task}: its message was lost again after {resends} re-send(s) by the sweeper"
        kind.give_up(client, id, error)
        kind.counter.labels(**kind.labels, reason="gave_up").inc(client=client)
        logs.event("sweeper.gave_up", **{kind.id_field: id}, stage=kind.task, resends=resends)
        return Stall(id, kind.state, kind.task, "failed", "gave_up", resends)
    send(kind.task, id)
    kind.counter.labels(**kind.labels, reason="no_message").inc(client=client)
    logs.event("sweeper.resent", **{kind.id_field: id}, stage=kind.task, reason="no_message", resends=resends)
    return Stall(id, kind.state, kind.task, "resent", "no_message", resends)
