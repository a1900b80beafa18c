"""The windows where an accepted submission used to stall for ever, reproduced on the real
stack; each now ends published with nobody running anything (the sweeper, every second
here, with a 12 s threshold).

- ingest recorded the submission but its message never reached the queue (a crash, or a
  lost reply, between the two);
- ``release`` took an embargo off the schedule and died before it handed the review to
  upload;
- after a failover, notify's message met a record that had lost upload's write;
- a webhook delivery's message was lost (taken by a worker killed before kombu recorded it).

(A submission that keeps stalling is failed as "stalled in <stage>":
tests/shared/operations/test_sweeper.py, against a real redis-server.)
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.operations.queues import PRIORITY_SUFFIXES
from tests.chaos.campaign import QUICK_SWEEP_ENV
from tests.conftest import fixture_bytes
from tests.support.processes import RedisServer, Stack, poll
from tests.support.receivers import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("self-healing")
    redis_server = RedisServer(root / "redis").start()
    stack = Stack(
        root / "stack",
        redis_url=redis_server.url,
        archive_url=str(root / "archive"),
        publish_url=str(root / "publish"),
        extra_env=QUICK_SWEEP_ENV,
    ).start()
    yield stack
    stack.stop()
    redis_server.stop()


def review(**changes) -> bytes:
    base = json.loads(fixture_bytes("glasshouse.json")) | {"title": f"Stalled {uuid.uuid4().hex[:8]}"}
    return json.dumps(base | changes).encode()


def test_a_submission_recorded_but_never_queued_is_published_by_itself(stack, tmp_path):
    body, msg_id = review(), f"msg_{uuid.uuid4().hex}"
    (tmp_path / "review.json").write_bytes(body)
    # Ingest's own acceptance, in a process that dies between recording and queueing.
    accepted = stack.python(
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from services.ingest.acceptor import Submission, accept_batch\n"
        "from shared.pipeline import get_runtime\n"
        f"body = open({str(tmp_path / 'review.json')!r}, 'rb').read()\n"
        f"submission = Submission('alice', {msg_id!r}, 'application/json', None, body)\n"
        "import os\n"
        "def crash(ids): os._exit(0)  # killed: no clean-up runs\n"
        "print(accept_batch(get_runtime(), [submission], writers=ThreadPoolExecutor(1), queue=crash))\n"
    )
    assert accepted.returncode == 0 and not accepted.stdout, accepted.stderr
    # The sender, who never got its answer, sends again: answered with the recorded id.
    retry = stack.submit(body, msg_id=msg_id)
    assert retry.status_code == 202, retry.text
    submission_id = retry.json()["id"]
    assert stack.status(submission_id)["state"] == "received"
    assert all(stack.redis.llen(f"validate{s}") == 0 for s in PRIORITY_SUFFIXES)  # nothing queued

    record = stack.wait_for(submission_id, timeout=90)
    assert record["state"] == "published"
    assert len(stack.events("review.published", submission_id)) == 1
    requeued = stack.redis.hget(
        "marquee:metrics:counters", '["marquee_submissions_requeued_total",[["reason","sweep"]]]'
    )
    assert int(requeued or 0) >= 1


def test_an_embargo_taken_off_the_schedule_but_never_handed_off_is_published_by_itself(stack):
    # Far enough ahead that the review is held (upload reaches it first, however loaded the
    # machine) and the test, not release, takes the entry.
    at = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    submission_id = stack.submit(review(publish_at=at)).json()["id"]
    stack.wait_for(submission_id, "scheduled", timeout=25)
    # What release does first, and then it dies: the entry is gone, upload never hears of it.
    assert stack.redis.zrem("marquee:schedule", submission_id) == 1
    # The sweeper looks once the embargo has lifted and the threshold passed (12 s here).
    record = stack.wait_for(submission_id, timeout=120)
    assert record["state"] == "published"
    assert len(stack.events("review.published", submission_id)) == 1


def test_notify_meeting_a_record_that_lost_uploads_write_still_announces_every_address(stack):
    # Found by CI's failover scenario (10): upload moved the record to "uploaded", with the
    # review's addresses, on a primary that died before its replica had the write; notify's
    # message, sent after the reconnect, reached the new primary, whose record still said
    # social_ready. The review went out as "published" with no addresses, its event with
    # an empty article_url. Here notify is held while the record is put back as that replica had it.
    trigger = stack.pause_dir / "marquee.notify"
    trigger.touch()
    try:
        submission_id = stack.submit(review()).json()["id"]
        held = stack.pause_dir / f"marquee.notify.{submission_id}.paused"
        poll(held.exists, timeout=60, what="notify to start")
        stack.redis.hset(f"marquee:sub:{submission_id}", mapping={"state": "social_ready", "urls": "{}"})
    finally:
        trigger.unlink()
    record = stack.wait_for(submission_id, timeout=60)
    assert record["state"] == "published", record
    slug = record["slug"]
    assert record["urls"] == {
        "article": f"{stack.url}/site/reviews/{slug}/index.html",
        "manifest": f"{stack.url}/site/reviews/{slug}/manifest.json",
        "review": f"{stack.url}/site/reviews/{slug}/review.json",
    }
    [event] = stack.events("review.published", submission_id)
    assert event["data"]["article_url"] == record["urls"]["article"]
    assert httpx.get(record["urls"]["manifest"], timeout=10).json()["id"] == submission_id


def test_a_webhook_delivery_whose_message_was_lost_is_delivered_by_itself(stack):
    receiver = Receiver(lambda n, r: (204, {}))
    name = f"site-{uuid.uuid4().hex[:6]}"
    stack.subscribe(name, receiver.url, "review.published")
    try:
        submission_id = lose_the_delivery_message(stack)
        stack.start_worker("notify")  # as a supervisor would restart it
        got = poll(
            lambda: [r for r in receiver.received if r.json()["data"]["id"] == submission_id],
            timeout=120,
            what="the delivery, sent again by the sweeper",
        )
        assert [r.json()["type"] for r in got] == ["review.published"]
        resent = stack.redis.hget(
            "marquee:metrics:counters", '["marquee_stalled_deliveries_total",[["reason","no_message"]]]'
        )
        assert int(resent or 0) >= 1
    finally:
        stack.unsubscribe(name)
        receiver.stop()


def lose_the_delivery_message(stack: Stack) -> str:
    """Submit a review and lose its delivery's message: the notify worker dies holding it,
    and the message is gone with it, as kombu loses one taken by BRPOP from a worker killed
    before it recorded it unacked. Returns the submission's id."""
    trigger = stack.pause_dir / "marquee.deliver"
    trigger.touch()
    try:
        submission_id = stack.submit(review()).json()["id"]
        pid_file = stack.pause_dir / "marquee.deliver.pid"
        poll(pid_file.exists, timeout=60, what="deliver to start")
        pid_file.unlink()
        worker = stack.workers["notify"]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        held = [
            tag
            for tag, raw in stack.redis.hgetall("unacked").items()
            if json.loads(raw)[0]["headers"]["task"] == "marquee.deliver"
        ]
        assert len(held) == 1, held
        stack.redis.hdel("unacked", *held)
        stack.redis.zrem("unacked_index", *held)
        return submission_id
    finally:
        trigger.unlink()
