"""The Celery signal handlers count each task run as it ends; a process sends its runs'
counts to Redis together, once a second, and loses none when Redis fails."""

import os
import time
from types import SimpleNamespace

import pytest
import redis

from shared.observability import metrics, task_runs
from tests.support.processes import poll


@pytest.fixture
def client(redis_server, monkeypatch):
    client = redis.Redis.from_url(redis_server.url.replace("/0", "/8"), decode_responses=True)
    client.flushdb()
    monkeypatch.setattr(metrics, "redis_client", lambda: client)
    monkeypatch.setattr(task_runs, "_tally", task_runs._Tally())  # none of other tests' runs
    yield client
    client.flushdb()


def run(task_id: str, *, retries: int = 0, waited: float = 0.2):
    request = SimpleNamespace(id=task_id, sent_at=time.time() - waited, retries=retries, args=["a" * 32])
    sender = SimpleNamespace(name="marquee.render", request=request)
    task_runs._on_prerun(sender=sender, task_id=task_id)
    return sender, request


def histogram(client, name: str, labels: dict, part: str) -> str | None:
    return client.hget(metrics.HISTOGRAMS_KEY, metrics._field(name, labels, part))


def runs(client, result: str, task: str = "render") -> str | None:
    return client.hget(
        metrics.COUNTERS_KEY, metrics._field("marquee_task_runs_total", {"task": task, "queue": task, "result": result})
    )


def test_a_run_and_its_queue_wait_are_counted_together_when_it_ends(client):
    sender, _ = run("t1")
    task_runs._on_success(sender=sender)
    task_runs.flush_runs(client)
    assert histogram(client, "marquee_queue_wait_seconds", {"queue": "render"}, "count") == "1"
    assert float(histogram(client, "marquee_queue_wait_seconds", {"queue": "render"}, "sum") or "nan") >= 0.2
    assert histogram(client, "marquee_task_duration_seconds", {"task": "render", "queue": "render"}, "count") == "1"
    assert runs(client, "succeeded") == "1"
    assert not task_runs._waits and not metrics._started  # nothing left behind


def test_a_retried_and_a_failed_run_count_their_wait_too_but_a_retry_has_none_of_its_own(client):
    sender, request = run("t2")
    task_runs._on_retry(sender=sender, request=request, reason="boom")
    sender, request = run("t2", retries=1)  # its wait would include the retry's countdown
    task_runs._on_failure(sender=sender, task_id="t2")
    task_runs.flush_runs(client)
    assert histogram(client, "marquee_queue_wait_seconds", {"queue": "render"}, "count") == "1"
    assert (runs(client, "retried"), runs(client, "failed")) == ("1", "1")
    assert not task_runs._waits and not metrics._started


def test_runs_reach_redis_within_seconds_without_anyone_flushing(client):
    for i in range(3):
        sender, _ = run(f"t3-{i}")
        task_runs._on_success(sender=sender)
    # The process's flusher thread sends them; the last second's runs are never held longer.
    poll(lambda: runs(client, "succeeded") == "3", timeout=5, what="the flusher to send three runs")
    assert task_runs.recent_runs(client)["render"] == {"succeeded": 3}


def test_counts_that_redis_refused_are_sent_with_the_next_flush(client, tmp_path):
    tally = task_runs._Tally()
    metrics.TASK_RUNS.labels(task="upload", queue="upload", result="succeeded").inc(pipe=tally)
    metrics.TASK_DURATION.observe(0.5, pipe=tally, task="upload", queue="upload")
    gone = redis.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"), socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError):
        tally.send(gone)
    metrics.TASK_RUNS.labels(task="upload", queue="upload", result="succeeded").inc(pipe=tally)
    tally.send(client)
    assert runs(client, "succeeded", task="upload") == "2"
    assert (
        float(histogram(client, "marquee_task_duration_seconds", {"task": "upload", "queue": "upload"}, "sum") or "nan")
        == 0.5
    )


def test_a_forked_pool_process_does_not_send_its_parents_counts_again(client):
    task_runs.record_run("render", "failed")  # as the main process counts a run whose pool process died
    child = os.fork()
    if child == 0:  # the pool process: sends what it counted itself, which is nothing
        try:
            task_runs.flush_runs(client)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    task_runs.flush_runs(client)
    assert runs(client, "failed") == "1"
