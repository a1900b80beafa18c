"""Task-run metrics, counted in the workers: runs by result, queue wait and duration.

Counted in each process and sent to Redis once a second in one pipeline (a busy worker
then costs Redis one round trip a second, not one per run; docs/SCALING.md). A forked
pool process starts afresh, and an exiting one sends what it counted. Every task message
is stamped with ``sent_at`` as it is published, so the age of a backlog can be read.

Importing this module connects its Celery signal handlers; ``shared.pipeline`` does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis
from celery.signals import (
    before_task_publish,
    task_failure,
    task_prerun,
    task_retry,
    task_success,
    worker_process_shutdown,
    worker_shutdown,
)

from shared.config import MissingSettingError
from shared.observability import logs, metrics
from shared.observability.metrics import (
    QUEUE_WAIT,
    RECENT_BUCKET_KEY,
    RECENT_BUCKET_SECONDS,
    RECENT_WINDOW_SECONDS,
    TASK_DURATION,
    TASK_RUNS,
    _started,
)
from shared.queues import TASK_QUEUES

log = logging.getLogger("marquee.metrics")

# task id → how long its message waited in the queue, measured as the run starts and
# counted with the run's outcome, in one go.
_waits: dict[str | None, float] = {}


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
        _tally.send(client or metrics.redis_client())
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
            except (Exception, MissingSettingError):
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
    """A pool process sends its last counts as it exits (the main process: _flush_on_worker_exit).
    A process killed outright loses at most the last second's."""
    flush_runs()


@worker_shutdown.connect
def _flush_on_worker_exit(**_: Any) -> None:
    """The worker's main process sends its counts as it stops (runs whose pool process died)."""
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
    record_run(
        task,
        "succeeded",
        duration=None if started is None else time.monotonic() - started,
        queue_wait=_waits.pop(task_id, None),
    )


@task_retry.connect
def _on_retry(sender=None, request=None, reason=None, **_):
    task = _task(sender)
    if task is None:
        return
    task_id = getattr(request, "id", None)
    _started.pop(task_id, None)
    args = getattr(request, "args", None) or []
    logs.event(
        "task.retry",
        id=args[0] if args else None,
        stage=task,
        task_id=task_id,
        attempt=(getattr(request, "retries", 0) or 0) + 1,
        reason=str(reason)[:500],
    )
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


def recent_runs(
    client: redis.Redis, *, now: float | None = None, window: int = RECENT_WINDOW_SECONDS
) -> dict[str, dict[str, int]]:
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
