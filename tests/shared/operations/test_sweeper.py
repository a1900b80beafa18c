"""The sweeper and the automatic reconcile, against a real redis-server: what counts as in
flight (a message waiting, taken and unacked, or reserved by a real worker), what is
stalled, how often it is sent on before it is failed, and that two sweepers never both
send; then the epoch that tells a Redis that lost its data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Connection

from shared import operations as ops
from shared.errors import StorageUnavailable
from shared.observability import metrics
from shared.operations import sweeper
from shared.operations.failure_sources import FINAL_STATES
from shared.operations.reconcile import Finding
from shared.operations.recovery import (
    AUTOMATIC_MIN_AGE,
    EPOCH_KEY,
    NOTICED_KEY,
    claim_epoch_at_start,
    claim_fresh_epoch,
    reconcile_lock,
    recover_lost_state,
)
from shared.outbound.deliveries import PENDING_INDEX, Deliveries, Subscriber
from shared.state import ACTIVE_INDEX, SCHEDULE, SubmissionStates
from shared.storage import open_store
from shared.videos import PENDING_INDEX as VIDEO_INDEX
from shared.videos import PendingVideos
from tests.shared.operations.test_operations_redis import FakeRuntime, Sent, archive_submission
from tests.support.processes import REPO, poll, stop_process

DB = 12


@pytest.fixture
def url(redis_server):
    return redis_server.url.replace("/0", f"/{DB}")


@pytest.fixture
def client(url, monkeypatch):
    connection = redis.Redis.from_url(url, decode_responses=True)
    connection.flushdb()
    monkeypatch.setattr(metrics, "redis_client", lambda: connection)
    yield connection
    connection.flushdb()


@pytest.fixture
def states(client):
    return SubmissionStates(client)


def new(states, *, writer="alice") -> str:
    submission_id = uuid.uuid4().hex
    states.create(submission_id, writer=writer, webhook_id=f"msg_{submission_id}", received_at="2026-01-01T00:00:00Z")
    return submission_id


def age(client, submission_id: str, seconds: float) -> None:
    """As if it last moved ``seconds`` ago."""
    client.zadd(ACTIVE_INDEX, {submission_id: time.time() - seconds}, xx=True)


class Announced(list):
    def __call__(self, event: dict) -> None:
        self.append(event)


def sweep(client, sent, announced=None, **options):
    options = {"stalled_after": 60.0, "max_resends": 2} | options
    return sweeper.sweep(client, send=sent, announce=announced if announced is not None else Announced(), **options)


# --- in flight -------------------------------------------------------------------------------


def test_a_message_waiting_taken_unacked_or_reserved_by_a_worker_is_in_flight_and_none_is_not(client, url, tmp_path):
    waiting, taken, reserved, idle = (uuid.uuid4().hex for _ in range(4))
    sender = Celery(broker=url)
    sender.send_task("marquee.render", args=[waiting], queue="render")
    sender.send_task("marquee.upload", args=[taken], queue="upload")
    assert ops.in_flight(client) == {waiting, taken}

    with Connection(url) as connection:  # as a worker's consumer does: taken, not acknowledged
        channel: Any = connection.default_channel
        message = channel.basic_get("upload", no_ack=False)
        assert message is not None and client.llen("upload") == 0
        assert ops.in_flight(client) == {waiting, taken}
        message.ack()
    assert ops.in_flight(client) == {waiting}

    # A real worker reserves a message whose countdown has not run out: off the list, held unacked.
    sender.send_task("marquee.social", args=[reserved], queue="social", countdown=600)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MARQUEE_REDIS_URL": url,
        "MARQUEE_ARCHIVE_URL": str(tmp_path / "archive"),
        "MARQUEE_PUBLISH_URL": str(tmp_path / "publish"),
        "MARQUEE_PUBLIC_BASE_URL": "http://127.0.0.1:1/site",
        "MARQUEE_WRITERS_FILE": str(tmp_path / "writers.json"),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shared.broker.celery_app", "worker", "-Q", "social", "-P", "solo"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        poll(lambda: client.llen("social") == 0 and client.hlen("unacked") == 1, timeout=30, what="the reservation")
        assert ops.in_flight(client) == {waiting, reserved}
    finally:
        stop_process(worker)
    assert idle not in ops.in_flight(client)


# --- stalled submissions ------------------------------------------------------------------------


def test_a_stalled_submission_is_sent_on_after_two_sightings_then_failed_as_stalled(client, states):
    stuck, fresh = new(states), new(states)
    age(client, stuck, 120)
    sent, announced = Sent(), Announced()

    assert [s.action for s in sweep(client, sent, announced)] == ["seen"]  # once seen: maybe in transit
    assert sent == []
    assert [(s.action, s.reason) for s in sweep(client, sent, announced)] == [("resent", "no_message")]
    assert sent == [("validate", stuck)]
    assert sweep(client, sent, announced) == []  # sent on: the threshold starts again

    age(client, stuck, 120)  # still no message: the re-sent one was lost too
    assert [s.action for s in sweep(client, sent, announced)] == ["seen"]
    assert [s.resends for s in sweep(client, sent, announced)] == [2]
    age(client, stuck, 120)
    sweep(client, sent, announced)
    [gave_up] = sweep(client, sent, announced)
    assert (gave_up.action, gave_up.reason, gave_up.stage) == ("failed", "gave_up", "validate")
    record = states.get(stuck) or {}
    assert record["state"] == "failed" and record["failed_stage"] == "validate"
    assert "stalled in validate" in record["errors"][0]["message"]
    assert [e["type"] for e in announced] == ["review.failed"]
    assert client.zscore(ACTIVE_INDEX, stuck) is None  # final: out of the index
    assert len(sent) == 2 and states.state_of(fresh) == "received"

    counted = metrics.totals(client)
    assert counted["marquee_stalled_submissions_total"] == 3 and counted["marquee_sweeps_total"] == 7


def test_a_move_starts_the_count_again_and_a_final_state_leaves_the_index(client, states):
    sid = new(states)
    age(client, sid, 120)
    sweep(client, Sent())  # seen
    assert client.hget(f"marquee:sub:{sid}", "stall_seen")
    states.advance(sid, ops_state("validated"), stage="validate")
    assert client.hget(f"marquee:sub:{sid}", "stall_seen") is None
    assert time.time() - (client.zscore(ACTIVE_INDEX, sid) or 0) < 5
    states.reject(sid, [], writer="alice")
    assert client.zscore(ACTIVE_INDEX, sid) is None


def ops_state(name: str):
    from shared.models import State

    return State(name)


def test_a_submission_with_a_message_in_flight_is_never_sent_again(client, states, url):
    sid = new(states)
    age(client, sid, 3600)  # waited an hour behind a backlog
    Celery(broker=url).send_task("marquee.validate", args=[sid], queue="validate")
    sent = Sent()
    for _ in range(4):
        assert sweep(client, sent) == []
    assert sent == []


def test_an_embargo_waits_in_the_schedule_and_one_released_but_never_handed_off_is_sent_on(client, states):
    from datetime import UTC, datetime, timedelta

    sid = new(states)
    for state in ("validated", "rendered", "social_ready"):
        states.advance(sid, ops_state(state), stage="test")
    states.schedule(sid, at=datetime.now(UTC) - timedelta(seconds=120))
    sent = Sent()
    assert sweep(client, sent) == [] and sweep(client, sent) == []  # release will hand it off
    assert states.take_due(now=time.time()) == [sid]  # ...and then dies before it does
    sweep(client, sent)
    assert [(s.action, s.reason) for s in sweep(client, sent)] == [("resent", "embargo_not_released")]
    assert sent == [("upload", sid)]


def test_a_future_embargo_is_not_a_stall(client, states):
    from datetime import UTC, datetime, timedelta

    sid = new(states)
    for state in ("validated", "rendered", "social_ready"):
        states.advance(sid, ops_state(state), stage="test")
    states.schedule(sid, at=datetime.now(UTC) + timedelta(days=30))
    client.zrem(SCHEDULE, sid)  # even with its schedule entry gone, it counts from the embargo
    assert sweeper.stalled_candidates(client, before=time.time() - 60) == []


def test_two_sweepers_at_once_send_each_stall_once(client, states):
    ids = [new(states) for _ in range(20)]
    for sid in ids:
        age(client, sid, 120)
    sweep(client, Sent())  # all seen
    sent = Sent()
    start = threading.Barrier(2)

    def run():
        start.wait()
        sweep(client, sent)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == sorted(("validate", sid) for sid in ids)

    # And without the lease (a sweep that outlived it), the decisions alone keep it single.
    for sid in ids:
        age(client, sid, 120)
    sweep(client, Sent())
    first, second = Sent(), Sent()
    candidates = sweeper.stalled_candidates(client, before=time.time() - 60)
    decide = client.register_script(sweeper._DECIDE)
    for sid, score in candidates:
        for sink in (first, second):  # both read the same score before either decided
            args = [sid, repr(score), time.time(), 5, *FINAL_STATES]
            reply = decide(keys=[f"marquee:sub:{sid}", ACTIVE_INDEX], args=args)
            sweeper._act(client, sid, reply, send=sink, announce=Announced())
    assert len(first) + len(second) == len(ids)


def test_a_held_lease_means_another_sweeper_is_at_it(client, states):
    sid = new(states)
    age(client, sid, 120)
    lease = client.lock(sweeper.LEASE_KEY, timeout=30)
    assert lease.acquire(blocking=False)
    assert sweep(client, Sent()) == []
    lease.release()
    assert [s.action for s in sweep(client, Sent())] == ["seen"]


# --- stalled webhook deliveries ----------------------------------------------------------------


def delivery(client) -> str:
    """A pending delivery of a review.published, as announce records it, its message lost."""
    delivery = f"msg_{uuid.uuid4().hex}"
    subscriber = Subscriber("site", "https://site.example/hook", ("whsec_x",), frozenset({"review.published"}))
    event = {"type": "review.published", "data": {"id": uuid.uuid4().hex}}
    assert Deliveries(client).create(delivery, subscriber=subscriber, event=event)
    return delivery


def overdue(client, delivery: str, seconds: float) -> None:
    client.zadd(PENDING_INDEX, {delivery: time.time() - seconds}, xx=True)


def test_a_delivery_whose_message_was_lost_is_sent_again_then_failed_for_a_replay(client):
    lost, fresh = delivery(client), delivery(client)
    overdue(client, lost, 120)
    sent = Sent()

    assert [(s.action, s.stage) for s in sweep(client, sent)] == [("seen", "deliver")]
    assert [(s.action, s.reason) for s in sweep(client, sent)] == [("resent", "no_message")]
    assert sent == [("deliver", lost)]
    assert sweep(client, sent) == []  # sent again: the threshold starts again

    overdue(client, lost, 120)  # the re-sent message was lost too
    assert [s.action for s in sweep(client, sent)] == ["seen"]
    assert [s.resends for s in sweep(client, sent)] == [2]
    overdue(client, lost, 120)
    sweep(client, sent)
    [gave_up] = sweep(client, sent)
    assert (gave_up.action, gave_up.reason, gave_up.stage) == ("failed", "gave_up", "deliver")
    record = Deliveries(client).get(lost) or {}
    assert record["state"] == "failed" and "stalled" in record["last_error"]
    assert [r["id"] for r in Deliveries(client).failed()] == [lost]  # where `marquee retry` finds it
    assert client.zscore(PENDING_INDEX, lost) is None
    assert (Deliveries(client).get(fresh) or {})["state"] == "pending" and len(sent) == 2
    counted = metrics.totals(client)
    assert counted["marquee_stalled_deliveries_total"] == 3

    assert Deliveries(client).reset(lost)  # the operator's replay: pending, indexed, counted afresh
    overdue(client, lost, 120)
    assert [s.action for s in sweep(client, sent)] == ["seen"]


def test_a_delivery_with_its_message_in_flight_or_its_retry_not_yet_due_is_left_alone(client, url):
    waiting, retrying, done = delivery(client), delivery(client), delivery(client)
    overdue(client, waiting, 3600)
    Celery(broker=url).send_task("marquee.deliver", args=[waiting], queue="notify")
    Deliveries(client).retry_due(retrying, at=time.time() + 600)  # its countdown runs ten minutes
    overdue(client, done, 120)
    Deliveries(client).finish(done, state="delivered")
    sent = Sent()
    for _ in range(3):
        assert sweep(client, sent) == []
    assert sent == []
    assert client.zscore(PENDING_INDEX, done) is None


# --- teaser videos still owed -------------------------------------------------------------------


def owed_video(client, *, overdue_by: float) -> str:
    """A published review whose video notify recorded as owed, its message lost."""
    submission_id = uuid.uuid4().hex
    assert PendingVideos(client).expect(submission_id)
    assert not PendingVideos(client).expect(submission_id)  # notify run again: owed once
    client.zadd(VIDEO_INDEX, {submission_id: time.time() - overdue_by}, xx=True)
    return submission_id


def test_a_video_whose_message_was_lost_is_sent_again_then_recorded_as_failed(client):
    lost, fresh = owed_video(client, overdue_by=120), owed_video(client, overdue_by=0)
    sent = Sent()
    assert [(s.action, s.stage) for s in sweep(client, sent)] == [("seen", "video")]
    assert [(s.action, s.reason) for s in sweep(client, sent)] == [("resent", "no_message")]
    assert sent == [("video", lost)]
    client.zadd(VIDEO_INDEX, {lost: time.time() - 120}, xx=True)  # that one was lost too
    sweep(client, sent)
    sweep(client, sent)
    client.zadd(VIDEO_INDEX, {lost: time.time() - 120}, xx=True)
    sweep(client, sent)
    [gave_up] = sweep(client, sent)
    assert (gave_up.action, gave_up.reason, gave_up.stage) == ("failed", "gave_up", "video")
    assert (PendingVideos(client).get(lost) or {})["state"] == "failed"
    assert client.zscore(VIDEO_INDEX, lost) is None and len(sent) == 2
    assert (PendingVideos(client).get(fresh) or {})["state"] == "pending"
    counted = metrics.totals(client)
    assert counted["marquee_stalled_submissions_total"] == 3


def test_a_video_being_made_or_made_already_is_left_alone(client, url):
    making, made = owed_video(client, overdue_by=3600), owed_video(client, overdue_by=120)
    Celery(broker=url).send_task("marquee.publish_video", args=[making], queue="upload")
    PendingVideos(client).finish(made, state="done")
    sent = Sent()
    for _ in range(3):
        assert sweep(client, sent) == []
    assert sent == [] and client.zscore(VIDEO_INDEX, made) is None


# --- the epoch: Redis that lost its data --------------------------------------------------------


class Reconciles(list):
    def __init__(self, findings=()):
        super().__init__()
        self.findings = list(findings)

    def __call__(self, rt, *, min_age):
        self.append(min_age)
        return self.findings


def test_a_new_stack_gets_its_epoch_and_a_lost_one_is_reconciled_once(tmp_path, client):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    rt = FakeRuntime(archive, publish, client)
    assert claim_fresh_epoch(client, archive) and client.exists(EPOCH_KEY)
    run = Reconciles()
    assert recover_lost_state(rt, run=run) == "intact" and run == []

    archive_submission(archive, uuid.uuid4().hex, upto="validated")
    client.flushdb()  # Redis loses everything
    assert not claim_fresh_epoch(client, archive)  # never written over a loss at start-up
    assert recover_lost_state(rt, run=run) == "noticed" and run == []  # ingest may be mid-accept
    client.set(NOTICED_KEY, time.time() - AUTOMATIC_MIN_AGE)  # a few seconds later
    assert recover_lost_state(rt, run=run) == "reconciled" and len(run) == 1
    assert recover_lost_state(rt, run=run) == "intact" and len(run) == 1
    assert json.loads(client.get(EPOCH_KEY) or "{}")["epoch"]


def test_a_stack_that_knows_every_archived_submission_lost_nothing(tmp_path, client, states):
    """Beat's start-up check could not reach the store, ingest took submissions meanwhile:
    no epoch and an archive that is not empty, yet nothing to repair."""
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    rt = FakeRuntime(archive, publish, client)
    for _ in range(3):
        archive_submission(archive, new(states), upto="validated")
    run = Reconciles()
    assert recover_lost_state(rt, run=run) == "new" and run == [] and client.exists(EPOCH_KEY)

    client.delete(EPOCH_KEY)
    stored = uuid.uuid4().hex  # stored by ingest, its record not yet written
    archive_submission(archive, stored, upto="received")
    assert recover_lost_state(rt, run=run) == "noticed" and run == []
    states.create(stored, writer="alice", webhook_id=f"msg_{stored}", received_at="2026-01-01T00:00:00Z")
    client.set(NOTICED_KEY, time.time() - AUTOMATIC_MIN_AGE)  # recorded before the loss was confirmed
    assert recover_lost_state(rt, run=run) == "new" and run == [] and not client.exists(NOTICED_KEY)
    assert claim_fresh_epoch(client, archive) is False  # written already: never twice


class FlakyArchive:
    """A store whose listing fails ``failures`` times (S3 at a 30 % fault rate), then answers."""

    def __init__(self, store, failures: int):
        self.store, self.failures, self.calls = store, failures, 0

    def list(self, prefix: str = ""):
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageUnavailable("503 Slow Down")
        return self.store.list(prefix)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_the_start_up_epoch_check_outlasts_a_store_failing_for_a_moment(tmp_path, client):
    archive = FlakyArchive(open_store(str(tmp_path / "archive")), failures=2)
    assert claim_epoch_at_start(client, archive, first_wait=0.01) and client.exists(EPOCH_KEY)
    assert archive.calls == 3

    client.delete(EPOCH_KEY)
    down = FlakyArchive(open_store(str(tmp_path / "archive")), failures=99)
    with pytest.raises(StorageUnavailable):  # bounded: it gives up, and the first sweep decides
        claim_epoch_at_start(client, down, attempts=3, first_wait=0.01)
    assert down.calls == 3 and not client.exists(EPOCH_KEY)


def test_a_reconcile_that_met_a_submission_too_new_runs_again_and_none_runs_twice_at_once(tmp_path, client):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    rt = FakeRuntime(archive, publish, client)
    archive_submission(archive, uuid.uuid4().hex, upto="received")
    client.set(NOTICED_KEY, time.time() - AUTOMATIC_MIN_AGE)
    run = Reconciles([Finding("x", "too_recent", None)])
    assert recover_lost_state(rt, run=run) == "partial" and not client.exists(EPOCH_KEY)
    run.findings = [Finding("x", "recreated", "received")]
    with reconcile_lock(client, wait=0):  # an operator's reconcile is running
        assert recover_lost_state(rt, run=run) == "busy"
    assert recover_lost_state(rt, run=run) == "reconciled" and len(run) == 2


def test_the_real_reconcile_after_a_loss_recreates_and_indexes_what_was_in_progress(tmp_path, client):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    rt = FakeRuntime(archive, publish, client)
    sid = uuid.uuid4().hex
    archive_submission(archive, sid, upto="rendered")
    client.set(NOTICED_KEY, time.time() - AUTOMATIC_MIN_AGE)
    sent = Sent()
    from shared.operations.reconcile import reconcile

    assert (
        recover_lost_state(
            rt, run=lambda rt, *, min_age: reconcile(rt, min_age=min_age, send=sent, rebuild=lambda: None)
        )
        == "reconciled"
    )
    assert sent == [("social", sid)]
    assert client.zscore(ACTIVE_INDEX, sid) is not None  # the sweeper watches it from now on
    assert metrics.totals(client)["marquee_reconciles_total"] == 1
