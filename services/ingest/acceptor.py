"""Accepting submissions in batches: a group commit, as databases do for their log.

Accepting one submission is an archive write (fsynced), the claim on its webhook-id
with its state record, and its validate message: a disk flush and several Redis round
trips. Done per request, each in its own pool thread, most of the cost is round trips
and threads fighting over the GIL, not work. So requests queue here and are accepted
together: the batch's archive writes run side by side, one pipeline claims and records
them all, and one more queues their validate messages.

Batches form by themselves, with no timer: one batch is accepted at a time, and a
request arriving meanwhile waits for the next one. A lone request is a batch of one and waits
for nothing. Each request still gets its own answer: one whose archive write fails
is answered 503 while the rest of its batch is accepted.

The promise is unchanged: an id is handed back (and the 202 sent) only once its
request is in the archive, its state is recorded and its first stage is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis

from shared.keys import request_key
from shared.pipeline import Runtime, hand_off_many
from shared.state import NewSubmission, now_iso

MAX_BATCH = 64  # bounds one batch's pipelines and the wait of the requests behind it
ARCHIVE_WRITERS = 4  # fsyncs side by side; more threads only fight over the GIL (measured)


@dataclass
class Submission:
    """One request to accept, as the ingest endpoint checked it."""

    writer: str
    webhook_id: str
    content_type: str
    title: str | None
    body: bytes
    started: float = field(default_factory=time.monotonic)  # when the request arrived
    title_source: str = "body"  # where the parser found the title: "body" (signed) or "query" (not)


def accept_batch(
    rt: Runtime,
    batch: list[Submission],
    *,
    writers: ThreadPoolExecutor,
    queue: Callable[[list[str]], None],
    replicas: int = 0,
) -> list[str | BaseException]:
    """Accept each submission; return, in order, its id (or the id its webhook-id was
    first accepted as), or the exception that kept it from being accepted. ``queue``
    sends the accepted ids on to their first stage; with ``replicas``, the answers wait
    until that many Redis replicas have the records (``SubmissionStates.count_received``).

    Archive first, then claim and record in Redis, then queue: whatever fails along the
    way, no webhook-id is left claimed by an id that is not both archived and recorded.
    """
    received_at = now_iso()
    news = [
        NewSubmission(
            secrets.token_hex(16),  # 128 random bits: the id is the status URL's only key
            writer=s.writer,
            webhook_id=s.webhook_id,
            received_at=received_at,
            started=s.started,
            title_source=s.title_source,
        )
        for s in batch
    ]
    outcomes: list[str | BaseException] = [new.id for new in news]
    archived = []
    for i, error in zip(
        range(len(batch)), writers.map(lambda i: _archive(rt, batch[i], news[i]), range(len(batch))), strict=False
    ):
        if error is None:
            archived.append(i)
        else:
            outcomes[i] = error

    try:
        holders = rt.states.create_many([news[i] for i in archived])
    except BaseException as exc:  # noqa: BLE001 - every request of the batch is answered with it
        # Redis failed part way, perhaps after recording some: undo what it can, so that
        # the senders' retries start afresh.
        _give_up(rt, [news[i] for i in archived])
        return [exc if i in archived else outcome for i, outcome in enumerate(outcomes)]
    recorded = []
    for i, holder in zip(archived, holders, strict=True):
        if holder is None:
            recorded.append(i)
        else:  # a repeat delivery: answered with the first's id; its own copy is not needed
            outcomes[i] = holder
            with contextlib.suppress(Exception):
                rt.archive.delete(request_key(news[i].id))

    try:
        if recorded:
            queue([news[i].id for i in recorded])
    except BaseException as exc:  # noqa: BLE001 - every request of the batch is answered with it
        _give_up(rt, [news[i] for i in recorded])
        failed = {news[i].id for i in recorded}
        # A repeat in the same batch shares its first's fate: never a 202 with an id not queued.
        return [exc if isinstance(outcome, str) and outcome in failed else outcome for outcome in outcomes]
    rt.states.count_received([news[i] for i in recorded], replicas=replicas)
    return outcomes


def _give_up(rt: Runtime, news: list[NewSubmission]) -> None:
    """Not accepted after all: forget what Redis recorded, then drop the archived copies.

    If Redis cannot be told, the copies stay: a submission Redis did record is then
    whole (claimed, recorded, archived), and ``marquee reconcile`` sends it on.
    """
    try:
        rt.states.forget_many(news)
    except redis.RedisError:
        return
    for new in news:
        with contextlib.suppress(Exception):
            rt.archive.delete(request_key(new.id))


def _archive(rt: Runtime, submission: Submission, new: NewSubmission) -> Exception | None:
    """Store the request, body included, in one object: with the claim, it is the accepted request."""
    request = {
        "id": new.id,
        "writer": submission.writer,
        "webhook_id": submission.webhook_id,
        "content_type": submission.content_type,
        "title": submission.title,
        "title_source": submission.title_source,
        "received_at": new.received_at,
        "bytes": len(submission.body),
        "body": submission.body.decode(),  # UTF-8, checked before
    }
    try:
        rt.archive.put(
            request_key(new.id), json.dumps(request, ensure_ascii=False).encode(), content_type="application/json"
        )
    except Exception as exc:  # noqa: BLE001 - answered to this request alone
        return exc
    return None


def queue_validation(ids: list[str]) -> None:
    """Send accepted submissions on to their first stage, in one round trip."""
    hand_off_many(("validate", id) for id in ids)


class Acceptor:
    """Queues requests and accepts them in batches, off the event loop."""

    def __init__(self, runtime: Runtime, *, queue: Callable[[list[str]], None] = queue_validation, replicas: int = 0):
        self.runtime, self.queue, self.replicas = runtime, queue, replicas
        self._waiting: list[tuple[Submission, asyncio.Future[str]]] = []
        self._drain_task: asyncio.Task | None = None  # held: asyncio keeps only weak references to tasks
        # One batch at a time: while it is accepted the next gathers. Measured on two cores,
        # a second concurrent batch or more archive threads only added GIL contention.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="accept")
        self._writers = ThreadPoolExecutor(ARCHIVE_WRITERS, thread_name_prefix="archive")

    async def accept(self, submission: Submission) -> str:
        """The submission's id once it is accepted; raises what kept it from being accepted."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((submission, future))
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = asyncio.get_running_loop().create_task(self._drain())
        # A client that hangs up cancels only its wait: its submission is accepted all the same.
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            taken, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            batch = [submission for submission, _ in taken]
            try:
                outcomes = await loop.run_in_executor(
                    self._thread,
                    lambda: accept_batch(
                        self.runtime,
                        batch,
                        writers=self._writers,
                        queue=self.queue,
                        replicas=self.replicas,
                    ),
                )
            except BaseException as exc:  # noqa: BLE001 - a bug or a lost Redis: every request hears it
                outcomes = [exc] * len(taken)
            for (_, future), outcome in zip(taken, outcomes, strict=True):
                if future.done():  # its client hung up
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
