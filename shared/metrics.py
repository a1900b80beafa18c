"""What operators count: Prometheus metrics kept in Redis, written where things happen.

Why Redis and not prometheus-client's multiprocess mode or a port per worker: every
Marquee process already shares one Redis and nothing else. Ingest and each worker
run in separate containers under docker-compose and Kubernetes (``deploy/``), where
there is no directory they all share for ``PROMETHEUS_MULTIPROC_DIR``, and a port
per worker (and per prefork child) would need discovering. So each event is a
``HINCRBY`` from the process it happens in: a submission's outcome inside the Lua
script that moves its state (run by ingest and the workers); a task run's counts,
queue wait and duration (the Celery signal handlers below, run by the workers) summed
in the process and sent once a second, one pipeline for all its runs. The ingest
service's ``/metrics`` reads the totals at scrape time, together with the queue
gauges, which are read from Redis then too. Counts survive worker restarts (a worker
killed outright loses its last second of runs); a Redis that loses its data resets
them to zero, which Prometheus treats as any counter reset.

These numbers are the cluster's, not the scraped process's: if Prometheus scrapes
several ingest replicas, aggregate with ``max without(instance)`` (docs/OPERATIONS.md).

Also kept here, for ``marquee queues`` and the /ops page: per-task counts in
10-second buckets (the last five minutes' throughput), worker heartbeats (which
queues have a live consumer), the index of recent submissions, and the ``sent_at``
header stamped on every task message as it is published (the age of a backlog).

shared/stage.py imports this module, so every worker connects these handlers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator

import redis
from celery.signals import (
    before_task_publish,
    task_failure,
    task_prerun,
    task_retry,
    task_success,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from shared import logs
from shared.config import MissingSettingError
from shared.queues import TASK_QUEUES

log = logging.getLogger("marquee.metrics")

COUNTERS_KEY = "marquee:metrics:counters"
HISTOGRAMS_KEY = "marquee:metrics:histograms"
RECENT_BUCKET_KEY = "marquee:metrics:recent:{}"  # per-task counts in one 10 s bucket
RECENT_BUCKET_SECONDS = 10
RECENT_WINDOW_SECONDS = 300
WORKERS_KEY = "marquee:workers"  # hostname → {"queues", "pid", "at"}
HEARTBEAT_SECONDS = 5
HEARTBEAT_STALE_SECONDS = 3 * HEARTBEAT_SECONDS
RECENT_SUBMISSIONS_KEY = "marquee:submissions:recent"  # id scored by the time it was received
RECENT_SUBMISSIONS_KEEP = 1000

DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


# --- metrics kept in Redis, with prometheus-client's calling convention -----------------

_DEFINED: list[RedisCounter | RedisHistogram] = []


def _client() -> redis.Redis:
    from shared.config import get_settings
    from shared.state import connect

    return connect(get_settings().redis_url)


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

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), *,
                 known: Iterable[dict[str, str]] = ()):
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
            (client or _client()).hincrby(COUNTERS_KEY, field, amount)
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

SUBMISSIONS_ACCEPTED = RedisCounter("marquee_submissions_accepted_total", "Submissions accepted by ingest (answered 202).", known=[{}])
SUBMISSIONS_REJECTED = RedisCounter("marquee_submissions_rejected_total", "Submissions rejected by the content rules.", known=[{}])
SUBMISSIONS_PUBLISHED = RedisCounter("marquee_submissions_published_total", "Submissions published.", known=[{}])
SUBMISSIONS_FAILED = RedisCounter(
    "marquee_submissions_failed_total", "Submissions that failed, by the stage that gave up.", ["stage"],
)
SUBMISSIONS_REQUEUED = RedisCounter(
    "marquee_submissions_requeued_total", "Submissions sent through a stage again by an operator.", ["reason"],
    known=[{"reason": "retry"}, {"reason": "reconcile"}],
)
TASK_RUNS = RedisCounter(
    "marquee_task_runs_total",
    "Task runs by how they ended: succeeded, retried (a transient error; it runs again) or failed (gave up).",
    ["task", "queue", "result"],
    known=[{"task": t, "queue": q, "result": r} for t, q in TASK_QUEUES.items() for r in _TASK_RESULTS],
)
TASK_DURATION = RedisHistogram(
    "marquee_task_duration_seconds", "How long a successful run of each stage's task took.", ["task", "queue"],
    buckets=DURATION_BUCKETS,
)
QUEUE_WAIT = RedisHistogram(
    "marquee_queue_wait_seconds", "How long a message waited in its queue before a worker started it.", ["queue"],
    buckets=WAIT_BUCKETS,
)
# For the outbound webhooks (shared/deliveries.py): count each delivery attempt's end,
# e.g. WEBHOOK_DELIVERIES.labels(result="delivered").inc(); results delivered, retried,
# failed (undeliverable: gave up). The alert in docs/OPERATIONS.md watches result="failed".
WEBHOOK_DELIVERIES = RedisCounter(
    "marquee_webhook_deliveries_total", "Outbound webhook delivery attempts, by result.", ["result"],
)


# --- transitions: counted and logged once, by whoever made them -------------------------

_started: dict[str, float] = {}  # task id → monotonic start, in the process running it
# task id → how long its message waited in the queue, measured as the run starts and
# counted with the run's outcome, in one go.
_waits: dict[str, float] = {}

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
    started = _started.get(task_id) if task_id else logs.request_started.get()
    logs.transition(id, writer=writer, stage=stage, state=state, task_id=task_id,
                    duration_seconds=None if started is None else time.monotonic() - started)


def count_accepted(pipe, received: dict[str, float]) -> None:
    """Count submissions accepted (id → when, in epoch seconds) and keep them among the recent."""
    SUBMISSIONS_ACCEPTED.inc(len(received), pipe=pipe)
    pipe.zadd(RECENT_SUBMISSIONS_KEY, received)
    pipe.zremrangebyrank(RECENT_SUBMISSIONS_KEY, 0, -RECENT_SUBMISSIONS_KEEP - 1)


# --- Celery signals, in the workers -----------------------------------------------------

@before_task_publish.connect
def _stamp_sent_at(headers=None, **_):
    """Every task message Marquee sends (a hand-off, a retry, a webhook delivery, beat's
    release) says when it was sent: the age of a queue's backlog is read from it."""
    if headers is not None and str(headers.get("task", "")).startswith("marquee."):
        headers["sent_at"] = time.time()


def _task(sender) -> str | None:
    name = getattr(sender, "name", "") or ""
    return name.removeprefix("marquee.") if name.startswith("marquee.") else None


def record_run(task: str, result: str, *, duration: float | None = None, queue_wait: float | None = None) -> None:
    """Count one run of ``task`` that ended ``result`` (succeeded, retried, failed), with
    how long its message had waited in the queue (``queue_wait``).

    Counted in this process and sent to Redis with the process's other runs once a
    second (``flush_runs``): a busy worker then costs Redis one pipeline a second, not
    one per run (a quarter of all the commands a review cost; docs/SCALING.md)."""
    queue = TASK_QUEUES.get(task, "")
    recent = RECENT_BUCKET_KEY.format(int(time.time() // RECENT_BUCKET_SECONDS))
    tally = _tally
    if queue_wait is not None:
        QUEUE_WAIT.observe(queue_wait, pipe=tally, queue=queue)
    TASK_RUNS.labels(task=task, queue=queue, result=result).inc(pipe=tally)
    if duration is not None:
        TASK_DURATION.observe(duration, pipe=tally, task=task, queue=queue)
    tally.hincrby(recent, f"{task}|{result}", 1)
    tally.expire(recent, RECENT_WINDOW_SECONDS + 10 * RECENT_BUCKET_SECONDS)
    _start_flusher()


class _Tally:
    """Increments made in this process, summed until they are sent to Redis together.

    It takes the three pipeline commands the metrics above use, so they count into it
    as into a pipeline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ints: dict[tuple[str, str], int] = {}
        self._floats: dict[tuple[str, str], float] = {}
        self._expiries: dict[str, int] = {}

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        with self._lock:
            self._ints[key, field] = self._ints.get((key, field), 0) + amount

    def hincrbyfloat(self, key: str, field: str, amount: float) -> None:
        with self._lock:
            self._floats[key, field] = self._floats.get((key, field), 0.0) + amount

    def expire(self, key: str, seconds: int) -> None:
        with self._lock:
            self._expiries[key] = seconds

    def pending(self) -> bool:
        return bool(self._ints or self._floats)

    def send(self, client: redis.Redis) -> None:
        """Send what was counted, in one round trip; if Redis fails, keep it for next time."""
        with self._lock:
            ints, floats, expiries = self._ints, self._floats, self._expiries
            self._ints, self._floats, self._expiries = {}, {}, {}
        if not (ints or floats):
            return
        try:
            with client.pipeline(transaction=False) as pipe:
                _replay(pipe, ints, floats, expiries)
                pipe.execute()
        except redis.RedisError:
            _replay(self, ints, floats, expiries)
            raise


def _replay(target, ints: dict, floats: dict, expiries: dict) -> None:
    """Issue summed increments into a pipeline, or back into a tally."""
    for (key, field), amount in ints.items():
        target.hincrby(key, field, amount)
    for (key, field), amount in floats.items():
        target.hincrbyfloat(key, field, amount)
    for key, seconds in expiries.items():
        target.expire(key, seconds)


FLUSH_SECONDS = 1.0
_tally = _Tally()
_flusher_pid: int | None = None  # the process whose flusher thread runs


def flush_runs(client: redis.Redis | None = None) -> None:
    """Send this process's counted runs to Redis now (the flusher does it every second)."""
    if not _tally.pending():
        return
    try:
        _tally.send(client or _client())
    except redis.RedisError:
        log.warning("could not send the task-run counts; they are kept for the next try", exc_info=True)


def _start_flusher() -> None:
    global _flusher_pid
    if _flusher_pid == os.getpid():
        return
    _flusher_pid = os.getpid()

    def flush_every_second() -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                flush_runs()
            except (Exception, MissingSettingError):  # noqa: BLE001 - the counts wait; the thread lives on
                log.warning("could not send the task-run counts", exc_info=True)

    threading.Thread(target=flush_every_second, name="marquee-metrics", daemon=True).start()


def _forget_parents_tally() -> None:
    # A forked pool process starts with a copy of its parent's unsent counts (which the
    # parent sends itself) and of a lock another thread may have held: start afresh.
    global _tally, _flusher_pid
    _tally, _flusher_pid = _Tally(), None


os.register_at_fork(after_in_child=_forget_parents_tally)


@worker_process_shutdown.connect
def _flush_on_exit(**_):
    """A pool process sends its last counts as it exits (the main process: _stop_heartbeat).
    A process killed outright loses at most the last second's."""
    flush_runs()


@task_prerun.connect
def _on_prerun(sender=None, task_id=None, **_):
    """Note when the run started and how long its message waited; both are counted,
    with the run's outcome, by the handlers below."""
    task = _task(sender)
    if task is None:
        return
    _started[task_id] = time.monotonic()
    request = getattr(sender, "request", None)
    sent_at = getattr(request, "sent_at", None)
    if sent_at and not getattr(request, "retries", 0):  # a retry's wait includes its countdown
        try:
            _waits[task_id] = max(time.time() - float(sent_at), 0.0)
        except (ValueError, TypeError):
            log.warning("could not read the queue wait of %s", task, exc_info=True)


@task_success.connect
def _on_success(sender=None, **_):
    task = _task(sender)
    if task is None:
        return
    task_id = getattr(sender.request, "id", None)
    started = _started.pop(task_id, None)
    record_run(task, "succeeded", duration=None if started is None else time.monotonic() - started,
               queue_wait=_waits.pop(task_id, None))


@task_retry.connect
def _on_retry(sender=None, request=None, reason=None, **_):
    task = _task(sender)
    if task is None:
        return
    task_id = getattr(request, "id", None)
    _started.pop(task_id, None)
    args = getattr(request, "args", None) or []
    logs.event("task.retry", id=args[0] if args else None, stage=task, task_id=task_id,
               attempt=(getattr(request, "retries", 0) or 0) + 1, reason=str(reason)[:500])
    record_run(task, "retried", queue_wait=_waits.pop(task_id, None))


@task_failure.connect
def _on_failure(sender=None, task_id=None, **_):
    """Sent in the pool process for an exception, and in the worker's main process for
    a run whose process died (hard time limit, lost worker): that one's queue wait,
    noted in the process that died, goes uncounted, as does its duration."""
    task = _task(sender)
    if task is None:
        return
    _started.pop(task_id, None)
    record_run(task, "failed", queue_wait=_waits.pop(task_id, None))


def recent_runs(client: redis.Redis, *, now: float | None = None, window: int = RECENT_WINDOW_SECONDS) -> dict[str, dict[str, int]]:
    """Runs per task and result over the last ``window`` seconds: {task: {result: n}}."""
    now = time.time() if now is None else now
    last = int(now // RECENT_BUCKET_SECONDS)
    keys = [RECENT_BUCKET_KEY.format(b) for b in range(last - window // RECENT_BUCKET_SECONDS + 1, last + 1)]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        buckets = pipe.execute()
    totals: dict[str, dict[str, int]] = {}
    for bucket in buckets:
        for field, count in bucket.items():
            task, _, result = field.partition("|")
            totals.setdefault(task, {}).setdefault(result, 0)
            totals[task][result] += int(count)
    return totals


# --- worker heartbeats: which queues have a live consumer --------------------------------

_heartbeat_stop = threading.Event()
_heartbeat_hostname: str | None = None


@worker_ready.connect
def _start_heartbeat(sender=None, **_):
    hostname = getattr(sender, "hostname", None) or f"{os.getpid()}@{socket.gethostname()}"
    try:
        queues = sorted(sender.app.amqp.queues.consume_from)
    except AttributeError:
        queues = []

    def beat() -> None:
        while True:
            try:
                _client().hset(WORKERS_KEY, hostname, json.dumps({"queues": queues, "pid": os.getpid(), "at": time.time()}))
            except redis.RedisError:
                log.warning("worker heartbeat failed", exc_info=True)
            if _heartbeat_stop.wait(HEARTBEAT_SECONDS):
                return

    global _heartbeat_hostname
    _heartbeat_hostname = hostname
    _heartbeat_stop.clear()
    threading.Thread(target=beat, name="marquee-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(**_):
    _heartbeat_stop.set()
    flush_runs()  # the main process's counts (runs whose pool process died)
    if _heartbeat_hostname:
        try:
            _client().hdel(WORKERS_KEY, _heartbeat_hostname)
        except redis.RedisError:
            pass


def live_workers(client: redis.Redis, *, now: float | None = None) -> dict[str, list[str]]:
    """Queue → hostnames of workers that consumed it and beat within the last few seconds."""
    now = time.time() if now is None else now
    by_queue: dict[str, list[str]] = {}
    for hostname, raw in client.hgetall(WORKERS_KEY).items():
        try:
            beat = json.loads(raw)
        except ValueError:
            continue
        if now - float(beat.get("at", 0)) > HEARTBEAT_STALE_SECONDS:
            if now - float(beat.get("at", 0)) > 3600:
                client.hdel(WORKERS_KEY, hostname)  # long gone: forget it
            continue
        for queue in beat.get("queues", []):
            by_queue.setdefault(queue, []).append(hostname)
    return by_queue


# --- the Prometheus view ------------------------------------------------------------------

class RedisCollector:
    """Exports the counters and histograms above, and queue gauges read at scrape time."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        up = GaugeMetricFamily("marquee_redis_up", "1 if Redis answered this scrape, else 0.")
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(COUNTERS_KEY)
                pipe.hgetall(HISTOGRAMS_KEY)
                counters, histograms = pipe.execute()
            from shared.ops import failed_count, queue_stats

            stats = queue_stats(self.client)
            awaiting = failed_count(self.client)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        counter_values: dict[str, dict[tuple, float]] = {}
        for field, value in counters.items():
            name, labels = json.loads(field)[:2]
            counter_values.setdefault(name, {})[tuple(tuple(kv) for kv in labels)] = float(value)
        hist_values: dict[str, dict[tuple, dict]] = {}
        for field, value in histograms.items():
            name, labels, part = json.loads(field)
            entry = hist_values.setdefault(name, {}).setdefault(tuple(tuple(kv) for kv in labels), {})
            entry[part] = float(value)

        for metric in _DEFINED:
            if isinstance(metric, RedisCounter):
                family = CounterMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
                values = dict.fromkeys((tuple(sorted(k.items())) for k in metric.known), 0.0)
                values.update(counter_values.get(metric.name, {}))
                for labels, value in sorted(values.items()):
                    label_map = dict(labels)
                    family.add_metric([label_map.get(n, "") for n in metric.labelnames], value)
                yield family
            else:
                family = HistogramMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
                for labels, parts in sorted(hist_values.get(metric.name, {}).items()):
                    label_map = dict(labels)
                    cumulative, buckets = 0.0, []
                    for i, bound in enumerate(metric.buckets):
                        cumulative += parts.get(i, 0.0)
                        buckets.append((_bound(bound), cumulative))
                    cumulative += parts.get(len(metric.buckets), 0.0)
                    buckets.append(("+Inf", cumulative))
                    family.add_metric([label_map.get(n, "") for n in metric.labelnames], buckets,
                                      sum_value=parts.get("sum", 0.0))
                yield family

        messages = GaugeMetricFamily("marquee_queue_messages", "Messages in each stage queue: waiting, or unacked (reserved by a worker).", labels=["queue", "state"])
        age = GaugeMetricFamily("marquee_queue_oldest_message_age_seconds", "Age of the oldest waiting message in each queue (0 when none waits).", labels=["queue"])
        workers = GaugeMetricFamily("marquee_queue_workers", "Workers consuming each queue (heartbeat within the last 15 s).", labels=["queue"])
        for row in stats:
            messages.add_metric([row.queue, "waiting"], row.waiting)
            messages.add_metric([row.queue, "unacked"], row.unacked)
            age.add_metric([row.queue], row.oldest_age_seconds or 0.0)
            workers.add_metric([row.queue], row.workers)
        yield messages
        yield age
        yield workers
        failed = GaugeMetricFamily("marquee_submissions_awaiting_retry", "Submissions now failed, awaiting an operator's retry.")
        failed.add_metric([], awaiting)
        yield failed


def _bound(value: float) -> str:
    return repr(float(value))


def totals(client: redis.Redis) -> dict[str, float]:
    """Each Redis-kept counter's total over its labels, e.g. {"marquee_submissions_published_total": 12}."""
    sums: dict[str, float] = {m.name: 0.0 for m in _DEFINED if isinstance(m, RedisCounter)}
    for field, value in client.hgetall(COUNTERS_KEY).items():
        name = json.loads(field)[0]
        sums[name] = sums.get(name, 0.0) + float(value)
    return sums
