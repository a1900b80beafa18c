"""Marquee on a Redis with Sentinel failover (tests/support/sentinel.py): a primary, two
replicas, three Sentinels on loopback, and every Redis client Marquee has pointed at the
Sentinels: submission state, the rate limiter, the Celery broker, and a whole stack.
The fault campaign's scenario 10 kills the primary under load (tests/chaos/campaign.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import httpx
import kombu
import pytest
import redis

from services.ingest.ratelimit import RateLimiter
from shared.broker.redis_broker import SentinelChannel, SentinelTransport
from shared.connection import connect, parse_redis_address
from shared.state import NewSubmission, SubmissionStates, now_iso
from tests.conftest import fixture_bytes
from tests.support.processes import poll
from tests.support.sentinel import SentinelCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path):
    cluster = SentinelCluster(tmp_path / "sentinel").start()
    yield cluster
    cluster.stop()


def test_a_client_follows_the_primary_through_a_failover(cluster):
    client = connect(parse_redis_address(cluster.url(4), cluster.MASTER))
    client.set("before", "kept")
    poll(lambda: all(redis.Redis(port=r.port, db=4).get("before") for r in cluster.replicas), timeout=10, what="sync")
    old = cluster.kill_primary()

    cluster.wait_for_new_primary(old.port, timeout=30)
    # The same client, no restart: its next connections go to the new primary.
    poll(lambda: client.set("after", "written"), timeout=30, what="a write to the new primary")
    assert client.get("before") == "kept"
    assert cluster.master_port() != old.port
    assert redis.Redis(port=cluster.master_port() or 0, db=4).get("after") == b"written"


def test_the_rate_limiter_counts_on_the_primary_the_sentinels_name(cluster):
    limiter = RateLimiter(parse_redis_address(cluster.url(5), cluster.MASTER), "3/minute")

    async def run() -> list[int | None]:
        return [await limiter.wait_for("alice") for _ in range(4)]

    waits = asyncio.run(run())
    assert waits[:3] == [None] * 3 and waits[3] is not None
    primary = redis.Redis(port=cluster.master_port() or 0, db=5, decode_responses=True)
    assert any("alice" in key for key in primary.keys("*"))


def test_the_broker_sends_through_the_sentinels_and_its_channel_still_closes_when_the_primary_dies(cluster):
    connection = kombu.Connection(
        cluster.url(6), transport=SentinelTransport, transport_options={"master_name": cluster.MASTER}
    )
    channel: Any = connection.default_channel
    assert isinstance(channel, SentinelChannel)  # the fixed channel, not kombu's own
    queue = kombu.Queue("q", kombu.Exchange("q", "direct"), "q")
    with connection.Producer() as producer:
        producer.publish({"id": "one"}, exchange=queue.exchange, routing_key="q", declare=[queue])
    primary = redis.Redis(port=cluster.master_port() or 0, db=6)
    assert primary.llen("q") == 1  # on the primary the Sentinels name

    received: list[dict] = []
    kombu.Consumer(channel, [queue], callbacks=[lambda body, message: received.append(body)]).consume()
    connection.drain_events(timeout=5)
    assert received == [{"id": "one"}]
    transport: Any = connection.transport
    transport.cycle._register_BRPOP(channel)  # a BRPOP in flight, as a worker always has
    cluster.kill_primary()
    with contextlib.suppress(*connection.connection_errors):
        channel.close()
    assert channel.closed  # kombu's own close would have raised before this
    connection.close()  # what Celery does next: no AttributeError


def test_a_stack_on_sentinels_publishes_a_review(cluster, tmp_path):
    from tests.support.processes import Stack

    stack = Stack(
        tmp_path / "stack",
        redis_url=cluster.url(0),
        redis_sentinel_master=cluster.MASTER,
        archive_url=str(tmp_path / "archive"),
        publish_url=str(tmp_path / "publish"),
    ).start()
    try:
        body = json.loads(fixture_bytes("glasshouse.json")) | {"title": f"Sentinel {uuid.uuid4().hex[:8]}"}
        response = stack.submit(json.dumps(body).encode())
        assert response.status_code == 202, response.text
        status = stack.wait_for(response.json()["id"])
        assert status["state"] == "published", status
        manifest = httpx.get(status["urls"]["manifest"], timeout=10).json()  # as a consumer reads it
        assert manifest["id"] == response.json()["id"]
    finally:
        stack.stop()


def test_a_submission_ingest_accepted_is_on_a_replica_before_the_answer_so_a_failover_keeps_it(cluster):
    # Replication is asynchronous: a record written just before the primary dies can be missing
    # on the replica that is promoted (seen here: a key set and SIGKILLed at once was gone), and
    # then nothing recovers it. Ingest waits for a replica before its 202 (count_received).
    states = SubmissionStates(connect(parse_redis_address(cluster.url(7), cluster.MASTER)))
    new = NewSubmission(uuid.uuid4().hex, writer="alice", webhook_id=f"msg_{uuid.uuid4().hex}", received_at=now_iso())
    assert states.create_many([new]) == [None]
    assert states.count_received([new], replicas=1) >= 1  # what the 202 waits for
    old = cluster.kill_primary()  # at once: nothing more is written, no time to replicate

    cluster.wait_for_new_primary(old.port, timeout=30)
    record = poll(lambda: states.get(new.id), timeout=30, what="the record on the new primary")
    assert record["state"] == "received"


def test_with_its_replicas_gone_ingest_still_accepts_after_a_bounded_wait(cluster):
    states = SubmissionStates(connect(parse_redis_address(cluster.url(8), cluster.MASTER)))
    for replica in cluster.replicas:
        replica.stop()
    new = NewSubmission(uuid.uuid4().hex, writer="alice", webhook_id=f"msg_{uuid.uuid4().hex}", received_at=now_iso())
    assert states.create_many([new]) == [None]
    assert states.count_received([new], replicas=1) == 0  # no replica: it says so, and returns
    assert (states.get(new.id) or {}).get("state") == "received"
