"""Shared fixtures. Integration fixtures start real servers on loopback and stop them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.event_contract import EmittedEvents
from tests.support.processes import MotoS3, RedisServer, Stack

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / "reviews" / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


@pytest.fixture(scope="session", autouse=True)
def emitted_events():
    """Every event any stack of the session emitted, read from its marquee:events as it
    stops, must match its type's schema in docs/schemas/: the docs and the code cannot
    drift apart. Torn down last, so it judges every stack, and fails the session if not."""
    emitted = EmittedEvents()

    def check(stack: Stack) -> None:
        emitted.check_stream(stack.redis, where=stack.dir.name)

    processes.STOP_HOOKS.append(check)
    yield emitted
    processes.STOP_HOOKS.remove(check)
    assert not emitted.problems, f"{len(emitted.problems)} event problem(s) against docs/schemas/:\n" + "\n".join(
        emitted.problems[:30]
    )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_redis_server(tmp_path_factory):
    """A redis-server of the test module's own: for tests that read the server's statistics
    (commands, scripts run), which the session's server shares with running workers."""
    server = RedisServer(tmp_path_factory.mktemp("own-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    server = MotoS3(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory, redis_server):
    root = tmp_path_factory.mktemp("local-stack")
    stack = Stack(
        root,
        redis_url=redis_server.url.replace("/0", "/1"),
        archive_url=f"file://{root}/archive",
        publish_url=str(root / "publish"),
    )
    yield stack.start()
    stack.stop()


@pytest.fixture(scope="session")
def s3_stack(tmp_path_factory, redis_server, moto):
    moto.create_bucket("marquee-archive")
    moto.create_bucket("marquee-publish", public_read=True)
    stack = Stack(
        tmp_path_factory.mktemp("s3-stack"),
        redis_url=redis_server.url.replace("/0", "/2"),
        archive_url="s3://marquee-archive/v1",
        publish_url="s3://marquee-publish",
        public_base_url=f"{moto.endpoint}/marquee-publish",
        extra_env=moto.env(),
    )
    yield stack.start()
    stack.stop()


@pytest.fixture(params=["local", "s3"])
def stack(request) -> Stack:
    """The whole pipeline, once over the local store and once over S3 via HTTP."""
    return request.getfixturevalue(f"{request.param}_stack")
