"""The operators' building blocks against a real redis-server: the failed index, retry,
queue statistics read from kombu's own messages, timelines, counters and their
Prometheus exposition, the transition log line, and reconcile's view of the archive."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis

from services.cli import localstack
from shared import operations as ops
from shared.models import Review, State
from shared.observability import metrics, task_runs
from shared.operations.collector import RedisCollector
from shared.operations.reconcile import from_archive, reconcile, submission_ids
from shared.state import EVENTS_STREAM, FAILED_INDEX, SubmissionStates
from shared.storage import open_store


@pytest.fixture
def client(redis_server, monkeypatch):
    connection = redis.Redis.from_url(redis_server.url.replace("/0", "/11"), decode_responses=True)
    connection.flushdb()
    # Runs counted here go to this database, and none counted by other tests come along.
    monkeypatch.setattr(task_runs, "_tally", task_runs._Tally())
    monkeypatch.setattr(metrics, "redis_client", lambda: connection)
    yield connection
    connection.flushdb()


def record_runs(client, *runs: tuple) -> None:
    """Count runs as the workers' signal handlers do, and send them, as each second's flush does."""
    for task, result, *duration in runs:
        task_runs.record_run(task, result, duration=duration[0] if duration else None)
    task_runs.flush_runs(client)


@pytest.fixture
def states(client):
    return SubmissionStates(client)


class Sent(list):
    def __call__(self, task: str, submission_id: str) -> None:
        self.append((task, submission_id))


def new(states, writer="alice") -> str:
    submission_id = uuid.uuid4().hex
    states.create(
        submission_id, writer=writer, webhook_id=f"msg_{submission_id}", received_at="2026-01-01T00:00:00.000Z"
    )
    return submission_id


# --- failures and retry -----------------------------------------------------------------


def test_a_failed_submission_is_indexed_until_it_moves_on(states, client):
    sid = new(states)
    states.advance(sid, State.VALIDATED, stage="validate")
    states.fail(sid, stage="render", error="StorageUnavailable: disk gone", attempts=7)
    assert client.zscore(FAILED_INDEX, sid) is not None
    [failure] = ops.SubmissionFailures().failures(client, limit=10)
    assert (failure.id, failure.subject, failure.stage, failure.attempts) == (sid, "alice", "render", 7)
    assert "disk gone" in failure.error and failure.failed_at and failure.failed_at > time.time() - 60
    assert ops.failed_count(client) == 1

    states.advance(sid, State.RENDERED, stage="render")  # replayed by hand, without `retry`
    assert client.zscore(FAILED_INDEX, sid) is None and ops.failed_count(client) == 0


def test_retry_reopens_the_submission_once_and_resends_the_stage_that_failed(states, client):
    sid = new(states)
    states.advance(sid, State.VALIDATED, stage="validate")
    states.fail(sid, stage="render", error="boom", attempts=3)
    sent = Sent()
    source = ops.SubmissionFailures(send=sent)

    outcome = source.retry(client, sid)
    assert outcome.retried and outcome.tasks == ("render",) and sent == [("render", sid)]
    record = states.get(sid)
    assert record["state"] == "validated" and record["errors"] == [] and record["replays"] == "1"
    assert record["history"][-1]["stage"] == "retry" and record["history"][-1]["state"] == "validated"
    assert ops.failed_count(client) == 0

    again = source.retry(client, sid)  # a second press, or a second operator
    assert not again.retried and "not failed" in again.detail and len(sent) == 1

    # Failing again is recorded afresh: new error, a second event, back in the index.
    states.fail(sid, stage="render", error="boom again", attempts=1)
    assert "boom again" in states.get(sid)["errors"][0]["message"]
    assert [f["type"] for _, f in client.xrange(EVENTS_STREAM) if f["id"] == sid] == ["review.failed", "review.failed"]
    assert ops.failed_count(client) == 1


def rendered(states) -> str:
    sid = new(states)
    for state, stage in ((State.VALIDATED, "validate"), (State.RENDERED, "render")):
        states.advance(sid, state, stage=stage)
    return sid


def test_retry_of_a_social_failure_sends_the_social_task_from_rendered(states, client):
    sid = rendered(states)
    states.fail(sid, stage="social", error="boom", attempts=1)
    sent = Sent()
    assert ops.SubmissionFailures(send=sent).retry(client, sid).tasks == ("social",)
    assert sent == [("social", sid)] and states.get(sid)["state"] == "rendered"


@pytest.mark.parametrize("legacy", ["instagram", "youtube"])
def test_retry_of_a_failure_recorded_by_an_old_social_task_sends_social(states, client, legacy):
    sid = rendered(states)
    states.fail(sid, stage=legacy, error="boom", attempts=1)
    client.hdel(f"marquee:sub:{sid}", "failed_from")  # where it reopens then comes from failed_stage alone
    sent = Sent()
    assert ops.SubmissionFailures(send=sent).retry(client, sid).tasks == ("social",)
    assert sent == [("social", sid)] and states.get(sid)["state"] == "rendered"


def test_a_failure_at_validate_reopens_at_received_which_transitions_cannot_reach(states, client):
    sid = new(states)
    states.fail(sid, stage="validate", error="KeyError: 'x'", attempts=1)
    sent = Sent()
    assert ops.SubmissionFailures(send=sent).retry(client, sid).retried
    assert states.get(sid)["state"] == "received" and sent == [("validate", sid)]
    assert states.advance(sid, State.VALIDATED, stage="validate") == State.VALIDATED


def test_retrying_an_unknown_submission_says_so(client):
    outcome = ops.SubmissionFailures(send=Sent()).retry(client, uuid.uuid4().hex)
    assert not outcome.retried and outcome.detail.startswith("no such submission")
    assert not ops.retry(client, "x", source="nonesuch").retried


def test_a_second_failure_source_needs_only_registering(client):
    class Webhooks:
        name = "webhook"

        def failures(self, client, *, limit):
            return [ops.Failure("webhook", "msg_1", "crm", "deliver", "HTTP 410", 8, time.time())]

        def count(self, client):
            return 1

        def retry(self, client, id):
            return ops.RetryOutcome("webhook", id, True, "sent again")

    ops.register(Webhooks())
    try:
        assert [f.id for f in ops.failures(client)] == ["msg_1"]
        assert ops.retry(client, "msg_1", source="webhook").retried
        assert ops.failures(client, sources=["submission"]) == []
    finally:
        del ops.FAILURE_SOURCES["webhook"]


# --- queues ------------------------------------------------------------------------------


def restamp(raw: str, sent_at: float) -> str:
    """A message as if it had been sent at ``sent_at``."""
    message = json.loads(raw)
    message["headers"]["sent_at"] = sent_at
    return json.dumps(message)


def test_queue_stats_count_every_priority_list_unacked_messages_workers_and_the_oldest_age(client, redis_server):
    from celery import Celery
    from kombu import Connection

    url = redis_server.url.replace("/0", "/11")
    sender = Celery(broker=url)
    sender.send_task("marquee.render", args=["a" * 32], queue="render", priority=9)
    client.lset("render\x06\x169", -1, restamp(client.lindex("render\x06\x169", -1), time.time() - 30))
    sender.send_task("marquee.render", args=["b" * 32], queue="render")
    sender.send_task("marquee.upload", args=["c" * 32], queue="upload")  # stamped as it is published
    sender.send_task("marquee.sweep", queue="maintenance")
    assert client.llen("render") + client.llen("render\x06\x169") + client.llen("render\x06\x166") == 2
    assert client.llen("render") == 1  # the other is in a priority list
    upload = json.loads(client.lindex("upload", -1))
    assert time.time() - upload["headers"]["sent_at"] < 5
    client.hset(
        metrics.WORKERS_KEY,
        mapping={
            "render@a": json.dumps({"queues": ["render"], "at": time.time()}),
            "render@gone": json.dumps({"queues": ["render"], "at": time.time() - 60}),
        },
    )
    record_runs(
        client, ("render", "succeeded", 0.2), ("render", "failed"), ("social", "succeeded"), ("social", "retried")
    )

    with Connection(url) as connection:  # as a worker does: take the upload message, not acked yet
        channel: Any = connection.default_channel  # a virtual Channel: kombu's stubs give the bare StdChannel
        assert channel.basic_get("upload", no_ack=False) is not None
        rows = {row.queue: row for row in ops.queue_stats(client)}
        flying = ops.in_flight(client)
    assert list(rows) == ["validate", "render", "social", "upload", "notify", "video", "maintenance"]
    assert rows["maintenance"].waiting == 1  # a sweep that no worker has taken yet
    assert (rows["render"].waiting, rows["render"].unacked, rows["render"].workers) == (2, 0, 1)
    assert 29 <= (rows["render"].oldest_age_seconds or 0) < 60
    assert (rows["upload"].waiting, rows["upload"].unacked) == (0, 1)
    assert rows["validate"].oldest_age_seconds is None and rows["validate"].workers == 0
    assert (rows["render"].processed_5m, rows["render"].failed_5m) == (1, 1)
    assert (rows["social"].processed_5m, rows["social"].retried_5m) == (1, 1)
    assert flying == {"a" * 32, "b" * 32, "c" * 32}


# --- timelines -----------------------------------------------------------------------------


def test_a_timeline_gives_each_stage_its_time_and_an_open_segment_for_what_waits():
    history = [
        {"stage": "ingest", "state": "received", "at": "2026-01-01T00:00:00.000Z"},
        {"stage": "validate", "state": "validated", "at": "2026-01-01T00:00:01.000Z"},
        {"stage": "render", "state": "failed", "at": "2026-01-01T00:00:04.000Z"},
        {"stage": "retry", "state": "validated", "at": "2026-01-01T00:01:04.000Z"},
    ]
    now = datetime(2026, 1, 1, 0, 1, 10, tzinfo=UTC).timestamp()
    segments = ops.timeline(history, state="validated", now=now)
    assert [(s["label"], s["seconds"], s["failed"], s["open"]) for s in segments] == [
        ("validate", 1.0, False, False),
        ("render", 3.0, True, False),
        ("awaiting retry", 60.0, False, False),
        ("render", 6.0, False, True),
    ]
    assert sum(s["percent"] for s in segments) == pytest.approx(100, abs=0.1)
    assert not ops.timeline(history[:2], state="published", now=now)[-1]["open"]


def test_recent_submissions_come_newest_first_with_their_timelines(states, client):
    first = new(states)
    second = new(states, writer="bob")
    states.advance(second, State.VALIDATED, stage="validate")
    recent = ops.recent_submissions(client, limit=10)
    assert [r["id"] for r in recent] == [second, first]
    assert recent[0]["writer"] == "bob" and recent[0]["timeline"][0]["stage"] == "validate"


# --- counters, exposition and log lines ------------------------------------------------------


def test_transitions_are_counted_once_and_logged_as_one_json_line_each(states, client, capfd):
    sid = new(states)
    states.advance(sid, State.VALIDATED, stage="validate")
    states.advance(sid, State.VALIDATED, stage="validate")  # no move: no count, no line
    states.reject(sid, [], writer="alice")
    totals = metrics.totals(client)
    assert totals["marquee_submissions_accepted_total"] == 1
    assert totals["marquee_submissions_rejected_total"] == 1
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if sid in line]
    assert [(line["stage"], line["state"]) for line in lines] == [
        ("ingest", "received"),
        ("validate", "validated"),
        ("validate", "rejected"),
    ]
    assert all(
        set(line) == {"event", "at", "id", "writer", "stage", "state", "task_id", "duration_seconds"} for line in lines
    )
    assert all(line["writer"] == "alice" for line in lines)


def test_the_exposition_is_valid_prometheus_with_conventional_names(client):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    record_runs(client, ("render", "succeeded", 0.02), ("render", "succeeded", 3.0), ("render", "retried"))
    with client.pipeline() as pipe:
        metrics.WEBHOOK_DELIVERIES.labels(result="delivered").inc(pipe=pipe)
        pipe.execute()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(client))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    for name, family in families.items():
        assert name.startswith("marquee_") and name == name.lower()
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
    runs = {(s.labels["task"], s.labels["result"]): s.value for s in families["marquee_task_runs"].samples}
    assert runs[("render", "succeeded")] == 2 and runs[("render", "retried")] == 1 and runs[("upload", "failed")] == 0
    buckets = {
        s.labels["le"]: s.value
        for s in families["marquee_task_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["task"] == "render"
    }
    assert (buckets["0.025"], buckets["1.0"], buckets["5.0"], buckets["+Inf"]) == (1, 1, 2, 2)
    [total] = [s for s in families["marquee_task_duration_seconds"].samples if s.name.endswith("_sum")]
    assert total.value == pytest.approx(3.02)
    assert [s.value for s in families["marquee_webhook_deliveries"].samples] == [1]
    assert {
        "marquee_queue_messages",
        "marquee_queue_workers",
        "marquee_queue_oldest_message_age_seconds",
        "marquee_submissions_awaiting_retry",
        "marquee_redis_up",
    } <= set(families)


def test_the_collector_says_so_when_redis_is_down():
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    down = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    registry.register(RedisCollector(down))
    assert "marquee_redis_up 0.0" in generate_latest(registry).decode()


def test_the_make_run_stack_is_found_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "stack.json").write_text(
        json.dumps(
            {"ingest_url": "http://127.0.0.1:8123", "redis_url": "redis://127.0.0.1:9/0", "writers_file": "/w.json"}
        )
    )
    for name in (
        "MARQUEE_REDIS_URL",
        "MARQUEE_ARCHIVE_URL",
        "MARQUEE_PUBLISH_URL",
        "MARQUEE_PUBLIC_BASE_URL",
        "MARQUEE_WRITERS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARQUEE_PUBLISH_URL", "s3://mine")
    localstack.use_local_stack(tmp_path)
    import os

    assert os.environ["MARQUEE_REDIS_URL"] == "redis://127.0.0.1:9/0"
    assert os.environ["MARQUEE_ARCHIVE_URL"] == str(tmp_path / "var" / "archive")
    assert os.environ["MARQUEE_PUBLISH_URL"] == "s3://mine"
    assert os.environ["MARQUEE_PUBLIC_BASE_URL"] == "http://127.0.0.1:8123/site"
    assert localstack.use_local_stack(tmp_path / "elsewhere") is None


def test_the_ops_token_is_made_once_and_kept_private(tmp_path):
    token = localstack.ensure_ops_token(tmp_path / "var" / "ops-token")
    assert token.startswith("mqops_") and len(token) > 30
    assert (tmp_path / "var" / "ops-token").stat().st_mode & 0o077 == 0
    assert localstack.ensure_ops_token(tmp_path / "var" / "ops-token") == token


# --- reconcile's view of the archive ------------------------------------------------------------


class FakeRuntime:
    """What reconcile uses of the stage runtime: the stores, the review loader, Redis."""

    def __init__(self, archive, publish, client):
        from shared.pipeline import Runtime

        self.archive, self.publish = archive, publish
        self.states = SubmissionStates(client)
        self.load_review = lambda id: Runtime.load_review(cast(Any, self), id)  # it reads only archive
        self.settings = SimpleNamespace(public_base_url="https://example.test")
        self.public_url = lambda key: Runtime.public_url(cast(Any, self), key)  # it reads only settings


AN_HOUR_AGO = datetime.fromtimestamp(time.time() - 3600, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def archive_submission(store, sid: str, *, upto: str, received_at: str = AN_HOUR_AGO) -> None:
    put = lambda key, data: store.put(key, data, content_type="application/octet-stream")  # noqa: E731
    put(
        f"submissions/{sid}/request.json",
        json.dumps(
            {
                "id": sid,
                "writer": "alice",
                "webhook_id": f"msg_{sid}",
                "content_type": "application/json",
                "title": None,
                "received_at": received_at,
                "bytes": 2,
                "body": "{}",
            }
        ).encode(),
    )
    order = ["received", "validated", "rendered", "social_ready", "uploaded"]
    if order.index(upto) >= 1:
        review = Review(
            id=sid,
            writer="alice",
            slug=f"film-{sid[:6]}",
            revision=1,
            title="Film",
            year=2025,
            certificate="12A",
            runtime_minutes=100,
            directors=["D"],
            cast=[],
            rating=4.0,
            paragraphs=["p"],
            author="A",
            note=None,
            date_published=datetime(2026, 1, 1, tzinfo=UTC),
        )
        put(f"submissions/{sid}/review.json", review.model_dump_json().encode())
    if order.index(upto) >= 2:
        put(f"submissions/{sid}/out/index.html", b"<html>")
    if order.index(upto) >= 3:
        put(f"submissions/{sid}/out/instagram.json", b"{}")
        put(f"submissions/{sid}/out/youtube.json", b"{}")


def test_reconcile_re_creates_lost_records_from_the_archive_at_the_right_stage(tmp_path, client, redis_server):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    ids = {stage: uuid.uuid4().hex for stage in ("received", "validated", "rendered", "social_ready", "uploaded")}
    for stage, sid in ids.items():
        archive_submission(archive, sid, upto=stage)
    done = ids["uploaded"]
    publish.put(
        f"reviews/film-{done[:6]}/manifest.json", json.dumps({"id": done}).encode(), content_type="application/json"
    )
    runtime = FakeRuntime(archive, publish, client)
    assert sorted(submission_ids(archive)) == sorted(ids.values())

    expected = {
        "received": ("received", ("validate",)),
        "validated": ("validated", ("render",)),
        "rendered": ("rendered", ("social",)),
        "social_ready": ("social_ready", ("upload",)),
        "uploaded": ("published", ()),  # its manifest is public: announced when it went out, not again
    }
    for stage, sid in ids.items():
        assert from_archive(runtime, sid)[:2] == expected[stage]

    sent = Sent()
    findings = {f.id: f for f in reconcile(runtime, min_age=0, send=sent)}
    for stage, sid in ids.items():
        assert (findings[sid].action, findings[sid].state, findings[sid].tasks) == ("recreated", *expected[stage])
        record = runtime.states.get(sid)
        assert record is not None
        assert record["state"] == expected[stage][0] and record["writer"] == "alice"
        assert record["received_at"] == AN_HOUR_AGO
        assert client.get(f"marquee:webhook:alice:msg_{sid}") == sid  # a re-sent webhook is known again
    assert (runtime.states.get(done) or {})["urls"]["manifest"].endswith(f"reviews/film-{done[:6]}/manifest.json")
    assert sorted(sent) == sorted((t, sid) for stage, sid in ids.items() for t in expected[stage][1])
    assert client.xlen(EVENTS_STREAM) == 0  # nothing announced

    # Messages now queued are found; nothing is sent twice.
    from celery import Celery

    sender = Celery(broker=redis_server.url.replace("/0", "/11"))
    for task, sid in sent:
        sender.send_task(f"marquee.{task}", args=[sid], queue=task)
    again = Sent()
    findings = {f.id: f for f in reconcile(runtime, min_age=0, send=again)}
    assert {f.action for i, f in findings.items() if i != done} == {"in_flight"} and again == []
    assert findings[done].action == "final"


def test_reconcile_keeps_where_each_title_came_from(tmp_path, client):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    sources = {uuid.uuid4().hex: "query", uuid.uuid4().hex: "body", uuid.uuid4().hex: None}  # None: archived before
    for sid, source in sources.items():
        archive_submission(archive, sid, upto="validated")
        if source:  # as ingest archives the request now
            key = f"submissions/{sid}/request.json"
            request = json.loads(archive.get(key)) | {"title_source": source}
            archive.put(key, json.dumps(request).encode(), content_type="application/json")
    runtime = FakeRuntime(archive, publish, client)

    reconcile(runtime, min_age=0, send=Sent())

    for sid, source in sources.items():
        assert (runtime.states.get(sid) or {}).get("title_source") == source


def publish_as_upload_does(archive, publish, sid: str) -> str:
    """The archived review's revision copies, its manifest and the live manifest; its slug."""
    from services.render.article import public_review
    from services.upload.publishing import build_manifest, describe_asset
    from shared.storage import ObjectInfo

    review = Review.model_validate_json(archive.get(f"submissions/{sid}/review.json"))
    data = json.dumps(public_review(review, article_url="x")).encode()
    asset = describe_asset("review.json", ObjectInfo.of(data), slug=review.slug, revision=1, base_url="https://e.test")
    publish.put(asset.key, data, content_type="application/json")
    manifest = build_manifest(review, [asset]).model_dump_json().encode()
    for key in (f"reviews/{review.slug}/r/1/manifest.json", f"reviews/{review.slug}/manifest.json"):
        publish.put(key, manifest, content_type="application/json")
    return review.slug


def test_reconcile_restores_slugs_and_the_catalogue_before_sending_anything(tmp_path, states, client):
    from shared.catalogue import KEYS
    from shared.slugs import slug_owner

    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    out, later = uuid.uuid4().hex, uuid.uuid4().hex
    archive_submission(archive, out, upto="social_ready")
    slug = publish_as_upload_does(archive, publish, out)
    # A second revision at the same slug, validated but not yet public when Redis forgot.
    archive_submission(archive, later, upto="validated")
    second = Review.model_validate_json(archive.get(f"submissions/{later}/review.json"))
    archive.put(
        f"submissions/{later}/review.json",
        second.model_copy(update={"slug": slug, "revision": 2}).model_dump_json().encode(),
        content_type="application/json",
    )
    runtime, sent = FakeRuntime(archive, publish, client), Sent()
    order: list[str] = []
    rebuilt: list[dict[str, str]] = []

    def rebuild() -> None:
        order.append("rebuild")
        rebuilt.append(cast(dict, client.hgetall(f"marquee:slug:{slug}")))  # restored before it is sent

    def send(task: str, sid: str) -> None:
        order.append(task)
        sent(task, sid)

    findings = {f.id: f for f in reconcile(runtime, min_age=0, send=send, rebuild=rebuild)}
    assert (findings[out].action, findings[out].state, findings[out].tasks) == ("recreated", "published", ())
    assert order == ["rebuild", "render"] and sent == [("render", later)]
    assert rebuilt[0]["owner"] == slug_owner("alice", "Film", 2025)
    assert client.hget(KEYS[1], slug) and client.get(KEYS[3]) == "1"
    assert states.next_revision(slug, published=1) == 3  # 2 is taken by the revision on its way
    assert not states.claim_slug(slug, owner=slug_owner("bob", "Film", 2025))
    assert client.xlen(EVENTS_STREAM) == 0

    # With Redis whole, nothing is restored again.
    rebuilt.clear()
    reconcile(runtime, min_age=0, send=Sent(), rebuild=rebuild)
    assert rebuilt == []


def test_reconcile_sends_one_social_task_for_a_rendered_submission_missing_a_marker(tmp_path, states, client):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    lost, known = uuid.uuid4().hex, uuid.uuid4().hex
    for sid in (lost, known):
        archive_submission(archive, sid, upto="rendered")
        archive.put(
            f"submissions/{sid}/out/instagram.json", b"{}", content_type="application/json"
        )  # youtube's missing
    states.create(known, writer="alice", webhook_id="k", received_at="2026-01-01T00:00:00.000Z")
    states.advance(known, State.VALIDATED, stage="validate")
    states.advance(known, State.RENDERED, stage="render")
    sent = Sent()
    findings = {f.id: f for f in reconcile(FakeRuntime(archive, publish, client), min_age=60, send=sent)}
    assert (findings[lost].action, findings[lost].state, findings[lost].tasks) == ("recreated", "rendered", ("social",))
    assert (findings[known].action, findings[known].tasks) == ("requeued", ("social",))
    assert sorted(sent) == sorted([("social", lost), ("social", known)])


def test_reconcile_leaves_the_young_the_final_and_attempts_never_accepted(tmp_path, states, client):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    young, final, retried_as, stuck = (uuid.uuid4().hex for _ in range(4))
    archive_submission(archive, young, upto="received", received_at=datetime.now(UTC).isoformat())
    archive_submission(archive, final, upto="validated")
    archive_submission(archive, retried_as, upto="received")
    client.set(f"marquee:webhook:alice:msg_{retried_as}", "another-id")  # its retry was the one accepted
    states.create(final, writer="alice", webhook_id="m", received_at="2026-01-01T00:00:00.000Z")
    states.reject(final, [], writer="alice")
    states.create(stuck, writer="alice", webhook_id="n", received_at="2026-01-01T00:00:00.000Z")
    states.advance(stuck, State.VALIDATED, stage="validate")
    archive_submission(archive, stuck, upto="validated")
    (tmp_path / "archive" / "submissions" / "not-an-id").mkdir()

    sent = Sent()
    findings = {f.id: f for f in reconcile(FakeRuntime(archive, publish, client), min_age=60, send=sent)}
    assert findings[young].action == "too_recent"
    assert findings[final].action == "final"
    assert findings[retried_as].action == "not_accepted"
    assert (findings[stuck].action, findings[stuck].tasks) == ("requeued", ("render",))  # Redis kept it: by its state
    assert sent == [("render", stuck)] and "not-an-id" not in findings
    assert states.get(retried_as) is None and states.get(young) is None


def test_submission_ids_list_only_the_top_level_of_an_s3_archive(moto, monkeypatch):
    moto.create_bucket("ops-archive")
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    store = open_store("s3://ops-archive/v1")
    ids = [uuid.uuid4().hex for _ in range(3)]
    for sid in ids:
        for name in ("request.json", "body", "out/index.html"):
            store.put(f"submissions/{sid}/{name}", b"x", content_type="text/plain")
    store.put("elsewhere/file", b"x", content_type="text/plain")
    assert sorted(submission_ids(store)) == sorted(ids)


def test_the_documented_alerts_parse_and_name_only_metrics_that_exist(client):
    import re
    from pathlib import Path

    import yaml
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    doc = (Path(__file__).resolve().parents[3] / "docs" / "OPERATIONS.md").read_text()
    [rules] = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "groups:" in block]
    alerts = {rule["alert"]: rule for rule in rules["groups"][0]["rules"]}
    assert {
        "MarqueeQueueBacklogOld",
        "MarqueeQueueHasNoWorkers",
        "MarqueeStageFailing",
        "MarqueeWebhooksUndeliverable",
        "MarqueeSubmissionsStalling",
        "MarqueeSweeperGaveUp",
        "MarqueeRedisLostItsData",
        "MarqueeSweeperStopped",
    } <= set(alerts)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(client))
    exported = {
        sample.name
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
    } | {"marquee_webhook_deliveries_total"}
    for name, rule in alerts.items():
        assert f"#{name.lower()}" in doc.replace("### ", "#").lower(), f"{name} has no runbook"
        for metric in re.findall(r"marquee_[a-z_]+", rule["expr"]):
            assert metric in exported, (name, metric)


def test_reconcile_puts_back_a_variant_so_its_owner_lands_on_it_again(tmp_path, states, client):
    """Alice's review of "Film" (2025) was published at a variant (Bob held film-2025). Redis
    lost it all; after reconcile her next submission of the film is a revision there."""
    from shared.slugs import slug_owner

    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"), public=True)
    sid = uuid.uuid4().hex
    archive_submission(archive, sid, upto="social_ready")
    review = Review.model_validate_json(archive.get(f"submissions/{sid}/review.json"))
    archive.put(
        f"submissions/{sid}/review.json",
        review.model_copy(update={"slug": "film-2025-q7x2mk"}).model_dump_json().encode(),
        content_type="application/json",
    )
    publish_as_upload_does(archive, publish, sid)
    reconcile(FakeRuntime(archive, publish, client), min_age=0, send=Sent(), rebuild=lambda: None)
    assert states.slug_owner("film-2025-q7x2mk") == slug_owner("alice", "Film", 2025)
    assert states.claim_slug("film-2025", owner=slug_owner("bob", "Film", 2025))  # Bob's, as before
    assert states.place_slug("film-2025", owner=slug_owner("alice", "Film", 2025)) == "film-2025-q7x2mk"
