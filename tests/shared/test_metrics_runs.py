"""The Celery signal handlers count each task run in one Redis round trip, as it ends."""

import time
from types import SimpleNamespace

import pytest
import redis

from shared import metrics


@pytest.fixture
def client(redis_server, monkeypatch):
    client = redis.Redis.from_url(redis_server.url.replace("/0", "/8"), decode_responses=True)
    monkeypatch.setattr(metrics, "_client", lambda: client)
    yield client
    client.flushdb()


def run(task_id: str, *, retries: int = 0, waited: float = 0.2):
    request = SimpleNamespace(id=task_id, sent_at=time.time() - waited, retries=retries, args=["a" * 32])
    sender = SimpleNamespace(name="marquee.render", request=request)
    metrics._on_prerun(sender=sender, task_id=task_id)
    return sender, request


def histogram(client, name: str, labels: dict, part: str) -> str | None:
    return client.hget(metrics.HISTOGRAMS_KEY, metrics._field(name, labels, part))


def test_a_run_and_its_queue_wait_are_counted_together_when_it_ends(client):
    sender, _ = run("t1")
    assert client.hlen(metrics.HISTOGRAMS_KEY) == 0  # nothing is sent as the run starts
    metrics._on_success(sender=sender)
    assert histogram(client, "marquee_queue_wait_seconds", {"queue": "render"}, "count") == "1"
    assert float(histogram(client, "marquee_queue_wait_seconds", {"queue": "render"}, "sum")) >= 0.2
    assert histogram(client, "marquee_task_duration_seconds", {"task": "render", "queue": "render"}, "count") == "1"
    assert not metrics._waits and not metrics._started  # nothing left behind


def test_a_retried_and_a_failed_run_count_their_wait_too_but_a_retry_has_none_of_its_own(client):
    sender, request = run("t2")
    metrics._on_retry(sender=sender, request=request, reason="boom")
    sender, request = run("t2", retries=1)  # its wait would include the retry's countdown
    metrics._on_failure(sender=sender, task_id="t2")
    assert histogram(client, "marquee_queue_wait_seconds", {"queue": "render"}, "count") == "1"
    runs = client.hgetall(metrics.COUNTERS_KEY)
    for result in ("retried", "failed"):
        assert runs[metrics._field("marquee_task_runs_total", {"task": "render", "queue": "render", "result": result})] == "1"
    assert not metrics._waits and not metrics._started
