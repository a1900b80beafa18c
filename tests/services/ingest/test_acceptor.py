"""Accepting submissions in batches, against a real redis-server and a local archive."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.ingest.acceptor import Acceptor, Submission, accept_batch
from shared.errors import StorageUnavailable
from shared.keys import request_key
from shared.observability import metrics
from shared.pipeline import Runtime
from shared.state import SubmissionStates
from shared.storage import LocalStore


class FlakyArchive(LocalStore):
    """A local store whose disk refuses any request whose body contains ``FAIL``."""

    def put(self, key, data, **kwargs):
        if b"FAIL" in data:
            raise StorageUnavailable(f"cannot write {key}: No space left on device")
        super().put(key, data, **kwargs)


class Queue(list):
    """Where accepted ids are sent on; each call is one batch's messages."""

    def __call__(self, ids: list[str]) -> None:
        self.append(list(ids))


@pytest.fixture
def client(redis_server):
    connection = redis.Redis.from_url(redis_server.url.replace("/0", "/12"), decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def rt(client, tmp_path):
    # accept_batch reads only the state and the archive.
    return Runtime(
        settings=cast(Any, None),  # not read
        states=SubmissionStates(client),
        archive=FlakyArchive(tmp_path / "archive", url=f"file://{tmp_path}/archive"),
        publish=cast(Any, None),  # not read
    )


@pytest.fixture
def writers():
    with ThreadPoolExecutor(4) as pool:
        yield pool


def submission(webhook_id: str, body: bytes = b'{"title": "Fine"}', writer: str = "alice") -> Submission:
    return Submission(writer=writer, webhook_id=webhook_id, content_type="application/json", title=None, body=body)


def accepted(client) -> int:
    return int(client.hget(metrics.COUNTERS_KEY, '["marquee_submissions_accepted_total",[]]') or 0)


def test_a_batch_is_stored_recorded_and_queued_once_per_new_webhook_id(rt, client, writers):
    assert rt.states.create("0" * 32, writer="alice", webhook_id="msg_old", received_at="2026") is None  # earlier
    batch = [submission(f"msg_{n}", body=f'{{"n": {n}}}'.encode()) for n in range(4)]
    batch += [submission("msg_0"), submission("msg_old"), submission("msg_0", writer="bob")]
    queue = Queue()

    outcomes = accept_batch(rt, batch, writers=writers, queue=queue)

    new = outcomes[:4]
    assert len(set(new)) == 4
    assert outcomes[4] == new[0]  # the same webhook-id again, in the same batch
    assert outcomes[5] == "0" * 32
    assert outcomes[6] not in new  # webhook-ids are per writer
    assert queue == [[*new, outcomes[6]]]  # one batch of messages, each new submission once
    for n, id in enumerate(new):
        assert isinstance(id, str)  # a new submission's id, not a refusal
        request = json.loads(rt.archive.get(request_key(id)))
        assert request["body"].encode() == f'{{"n": {n}}}'.encode()
        assert (request["writer"], request["webhook_id"], request["id"]) == ("alice", f"msg_{n}", id)
        record = rt.states.get(id)
        assert (record["state"], record["writer"]) == ("received", "alice")
        assert [step["state"] for step in record["history"]] == ["received"]
    assert accepted(client) == 5 + 1  # and the earlier one
    assert len(list(rt.archive.root.rglob("request.json"))) == 5  # repeats leave no copy


def test_a_failed_archive_write_refuses_only_its_submission_and_claims_nothing(rt, client, writers):
    batch = [submission("msg_a"), submission("msg_b", body=b"FAIL"), submission("msg_c"), submission("msg_b")]
    queue = Queue()

    outcomes = accept_batch(rt, batch, writers=writers, queue=queue)

    assert isinstance(outcomes[1], StorageUnavailable)
    assert queue == [[outcomes[0], outcomes[2], outcomes[3]]]  # the repeat that could be stored is accepted
    assert all(rt.states.get(outcomes[i])["state"] == "received" for i in (0, 2, 3))
    assert accepted(client) == 3


def test_a_queue_that_cannot_be_reached_refuses_the_batch_and_frees_its_webhook_ids(rt, writers):
    def unreachable(ids):
        raise redis.ConnectionError("Connection refused")

    batch = [submission("msg_a"), submission("msg_b"), submission("msg_a")]
    outcomes = accept_batch(rt, batch, writers=writers, queue=unreachable)

    assert all(isinstance(outcome, redis.ConnectionError) for outcome in outcomes)  # the repeat too
    assert rt.states.create("f" * 32, writer="alice", webhook_id="msg_a", received_at="2026") is None
    assert rt.states.create("e" * 32, writer="alice", webhook_id="msg_b", received_at="2026") is None
    assert not list(rt.archive.root.rglob("request.json"))  # nor their archived copies


def test_requests_arriving_together_are_accepted_in_batches(rt):
    queue = Queue()
    acceptor = Acceptor(rt, queue=queue)

    async def send_all():
        return await asyncio.gather(*(acceptor.accept(submission(f"msg_{n}")) for n in range(30)))

    ids = asyncio.run(send_all())

    assert len(set(ids)) == 30
    assert sorted(id for batch in queue for id in batch) == sorted(ids)
    assert len(queue) < 30  # not one batch per request
    assert all(rt.states.get(id)["state"] == "received" for id in ids)


def test_a_broken_redis_answers_every_request_of_its_batch(tmp_path):
    # Nothing listens on the discard port; no retries, so the test does not wait out their backoff.
    dead = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    runtime = Runtime(
        settings=cast(Any, None),  # not read
        states=SubmissionStates(dead),
        archive=LocalStore(tmp_path, url=f"file://{tmp_path}"),
        publish=cast(Any, None),  # not read
    )
    acceptor = Acceptor(runtime, queue=Queue())

    async def send_two():
        return await asyncio.gather(
            *(acceptor.accept(submission(f"msg_{n}")) for n in range(2)), return_exceptions=True
        )

    outcomes = asyncio.run(send_two())
    assert all(isinstance(outcome, redis.ConnectionError) for outcome in outcomes)
