"""What operators count: Prometheus metrics kept in Redis, written where things happen.

Each event is a ``HINCRBY`` from the process it happens in: a submission's outcome
inside the Lua script that moves its state (run by ingest and the workers); a task
run's counts, queue wait and duration (``task_runs``, in the workers) summed in the
process and sent once a second, one pipeline for all its runs. The ingest service's
``/metrics`` (``shared.operations.collector``) reads the totals at scrape time, with
the queue gauges. Names, types, labels and the exposition are Prometheus' own
(prometheus-client's metric families); only where the numbers live is ours.

Why not prometheus-client's multiprocess mode, each process or pod a scrape target
(the convention, and what was tried first), measured and weighed in 2026-12:

- Cost does not decide it. Counting one run (a counter and two histograms) costs
  15 µs in prometheus-client's multiprocess mode and 44 µs in this module's tally
  plus one pipeline a second; both are under 0.1 % of a stage's run (70 ms a review,
  docs/PERFORMANCE.md).
- The outcomes must be counted exactly once, with the move that makes them: a stage
  that runs twice (acks late, redelivery) moves the state once, so counting inside the
  transition's script is exact, where a per-process counter beside it counts twice.
- The operators' own views need the cluster's numbers from any one process, with no
  Prometheus server: ``marquee queues``, the /ops page and ``make run`` read them from
  Redis. Per-process counters would need a Prometheus to add them up first.
- Ingest and each worker run in separate containers (``deploy/``) that share Redis
  and nothing else: no directory for ``PROMETHEUS_MULTIPROC_DIR``, and a port per
  worker (and per prefork child) would need discovering.

Counts survive worker restarts (a worker killed outright loses its last second of
runs); a Redis that loses its data resets them to zero, which Prometheus treats as any
counter reset. These numbers are the cluster's, not the scraped process's: if
Prometheus scrapes several ingest replicas, aggregate with ``max without(instance)``
(docs/OPERATIONS.md).

Also kept here, for ``marquee queues`` and the /ops page: the keys of the per-task
counts in 10-second buckets (the last five minutes' throughput, written by
``task_runs``), of the worker heartbeats (``heartbeats``) and of the recent submissions.
"""

from __future__ import annotations

import json
import logging
import time
from bisect import bisect_left
from collections.abc import Iterable

import redis

from shared.connection import connect
from shared.observability import logs
from shared.queues import TASK_QUEUES

log = logging.getLogger("marquee.metrics")

COUNTERS_KEY = "marquee:metrics:counters"
HISTOGRAMS_KEY = "marquee:metrics:histograms"
RECENT_BUCKET_KEY = "marquee:metrics:recent:{}"  # per-task counts in one 10 s bucket
RECENT_BUCKET_SECONDS = 10
RECENT_WINDOW_SECONDS = 300
WORKERS_KEY = "marquee:workers"  # hostname → {"queues", "pid", "at"}
RECENT_SUBMISSIONS_KEY = "marquee:submissions:recent"  # id scored by the time it was received
RECENT_SUBMISSIONS_KEEP = 1000

DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


# --- metrics kept in Redis, with prometheus-client's calling convention -----------------

_DEFINED: list[RedisCounter | RedisHistogram] = []


def redis_client() -> redis.Redis:
    from shared.config import get_settings

    return connect(get_settings().redis)


def _field(name: str, labels: dict[str, str], part: object = None) -> str:
    key: list = [name, sorted(labels.items())]
    if part is not None:
        key.append(part)
    return json.dumps(key, separators=(",", ":"))


class RedisCounter:
    """A counter in the Redis hash ``marquee:metrics:counters``.

    ``COUNTER.labels(result="delivered").inc()`` as with prometheus-client (Redis from the
    settings); pass ``client=`` to use a connection of your own, or ``pipe=`` to batch
    the increment into your pipeline.
    """

    type = "counter"

    def __init__(
        self, name: str, documentation: str, labelnames: Iterable[str] = (), *, known: Iterable[dict[str, str]] = ()
    ):
        assert name.endswith("_total"), name
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.known = [dict(k) for k in known]  # label sets exported as 0 before anything happens
        _DEFINED.append(self)

    def labels(self, **labels: str) -> _BoundCounter:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {tuple(labels)}")
        return _BoundCounter(self, {k: str(v) for k, v in labels.items()})

    def inc(self, amount: int = 1, *, pipe=None, client: redis.Redis | None = None) -> None:
        self.labels().inc(amount, pipe=pipe, client=client)


class _BoundCounter:
    def __init__(self, counter: RedisCounter, labels: dict[str, str]):
        self.counter, self.label_values = counter, labels

    def inc(self, amount: int = 1, *, pipe=None, client: redis.Redis | None = None) -> None:
        field = _field(self.counter.name, self.label_values)
        if pipe is not None:
            pipe.hincrby(COUNTERS_KEY, field, amount)
            return
        try:
            (client or redis_client()).hincrby(COUNTERS_KEY, field, amount)
        except redis.RedisError:
            log.warning("could not count %s", self.counter.name, exc_info=True)


class RedisHistogram:
    """A histogram in the Redis hash ``marquee:metrics:histograms`` (bucket counts, sum, count)."""

    type = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str], *, buckets: tuple[float, ...]):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.buckets = tuple(sorted(buckets))
        _DEFINED.append(self)

    def observe(self, value: float, *, pipe, **labels: str) -> None:
        labels = {k: str(v) for k, v in labels.items()}
        pipe.hincrby(HISTOGRAMS_KEY, _field(self.name, labels, bisect_left(self.buckets, value)), 1)
        pipe.hincrbyfloat(HISTOGRAMS_KEY, _field(self.name, labels, "sum"), value)
        pipe.hincrby(HISTOGRAMS_KEY, _field(self.name, labels, "count"), 1)


_TASK_RESULTS = ("succeeded", "retried", "failed")

SUBMISSIONS_ACCEPTED = RedisCounter(
    "marquee_submissions_accepted_total", "Submissions accepted by ingest (answered 202).", known=[{}]
)
SUBMISSIONS_REJECTED = RedisCounter(
    "marquee_submissions_rejected_total", "Submissions rejected by the content rules.", known=[{}]
)
SUBMISSIONS_PUBLISHED = RedisCounter("marquee_submissions_published_total", "Submissions published.", known=[{}])
SUBMISSIONS_FAILED = RedisCounter(
    "marquee_submissions_failed_total",
    "Submissions that failed, by the stage that gave up.",
    ["stage"],
)
SUBMISSIONS_REQUEUED = RedisCounter(
    "marquee_submissions_requeued_total",
    "Submissions sent through a stage again: by an operator's retry, by reconcile, or by the sweeper.",
    ["reason"],
    known=[{"reason": "retry"}, {"reason": "reconcile"}, {"reason": "sweep"}],
)
# The sweeper (shared/operations/sweeper.py). docs/OPERATIONS.md alerts on all three.
SWEEPS = RedisCounter(
    "marquee_sweeps_total", "Sweeps the sweeper ran: flat for minutes means nothing is watching.", known=[{}]
)
STALLED = RedisCounter(
    "marquee_stalled_submissions_total",
    "Stalled submissions the sweeper found, by the stage they stalled before and what it did: "
    "no_message and embargo_not_released were sent on again; gave_up were failed as stalled.",
    ["stage", "reason"],
    known=[
        {"stage": stage, "reason": reason}
        for stage in ("validate", "render", "social", "upload", "notify", "video")
        for reason in ("no_message", "gave_up")
    ]
    + [{"stage": "upload", "reason": "embargo_not_released"}],
)
STALLED_DELIVERIES = RedisCounter(
    "marquee_stalled_deliveries_total",
    "Pending webhook deliveries the sweeper found without a message: no_message were sent "
    "again; gave_up were recorded as failed (marquee retry replays them).",
    ["reason"],
    known=[{"reason": "no_message"}, {"reason": "gave_up"}],
)
RECONCILES = RedisCounter(
    "marquee_reconciles_total",
    "Reconciles run: automatic (the sweeper found Redis had lost its data) or by an operator.",
    ["trigger"],
    known=[{"trigger": "automatic"}, {"trigger": "operator"}],
)
TASK_RUNS = RedisCounter(
    "marquee_task_runs_total",
    "Task runs by how they ended: succeeded, retried (a transient error; it runs again) or failed (gave up).",
    ["task", "queue", "result"],
    known=[{"task": t, "queue": q, "result": r} for t, q in TASK_QUEUES.items() for r in _TASK_RESULTS],
)
TASK_DURATION = RedisHistogram(
    "marquee_task_duration_seconds",
    "How long a successful run of each stage's task took.",
    ["task", "queue"],
    buckets=DURATION_BUCKETS,
)
QUEUE_WAIT = RedisHistogram(
    "marquee_queue_wait_seconds",
    "How long a message waited in its queue before a worker started it.",
    ["queue"],
    buckets=WAIT_BUCKETS,
)
# For the outbound webhooks (shared/outbound/deliveries.py): count each delivery attempt's end,
# e.g. WEBHOOK_DELIVERIES.labels(result="delivered").inc(); results delivered, retried,
# failed (undeliverable: gave up). The alert in docs/OPERATIONS.md watches result="failed".
WEBHOOK_DELIVERIES = RedisCounter(
    "marquee_webhook_deliveries_total",
    "Outbound webhook delivery attempts, by result.",
    ["result"],
)


# --- transitions: counted and logged once, by whoever made them -------------------------

_OUTCOMES = {"rejected": SUBMISSIONS_REJECTED, "published": SUBMISSIONS_PUBLISHED}


def outcome_field(state: str, *, stage: str) -> str | None:
    """The field of ``marquee:metrics:counters`` that a move to ``state`` counts, if any.

    ``SubmissionStates.advance`` increments it in the transition's own Lua script: counted
    exactly once, with the move, and without a round trip of its own."""
    if state == "failed":
        return _field(SUBMISSIONS_FAILED.name, {"stage": stage})
    if state in _OUTCOMES:
        return _field(_OUTCOMES[state].name, {})
    return None


def on_transition(id: str, *, writer: str | None, stage: str, state: str) -> None:
    """Called by ``SubmissionStates`` after it moved ``id`` to ``state``: the transition's
    log line. What the move counts (``outcome_field``) was incremented by the move itself,
    and ingest counts what it accepts with ``count_accepted``."""
    from celery._state import get_current_task

    task = get_current_task()
    task_id = getattr(task.request, "id", None) if task is not None else None
    started = run_started(task_id) if task_id else logs.request_started.get()
    logs.transition(
        id,
        writer=writer,
        stage=stage,
        state=state,
        task_id=task_id,
        duration_seconds=None if started is None else time.monotonic() - started,
    )


def count_accepted(pipe, received: dict[str, float]) -> None:
    """Count submissions accepted (id → when, in epoch seconds) and keep them among the recent."""
    SUBMISSIONS_ACCEPTED.inc(len(received), pipe=pipe)
    pipe.zadd(RECENT_SUBMISSIONS_KEY, received)
    pipe.zremrangebyrank(RECENT_SUBMISSIONS_KEY, 0, -RECENT_SUBMISSIONS_KEEP - 1)


# When each task run started, in the process running it (task id → monotonic time): the
# task-run handlers (``task_runs``) note it, and a transition's log line reads it.
_started: dict[str | None, float] = {}  # a signal may name no task id


def run_started(task_id: str) -> float | None:
    return _started.get(task_id)


def totals(client: redis.Redis) -> dict[str, float]:
    """Each Redis-kept counter's total over its labels, e.g. {"marquee_submissions_published_total": 12}."""
    sums: dict[str, float] = {m.name: 0.0 for m in _DEFINED if isinstance(m, RedisCounter)}
    for field, value in client.hgetall(COUNTERS_KEY).items():
        name = json.loads(field)[0]
        sums[name] = sums.get(name, 0.0) + float(value)
    return sums
