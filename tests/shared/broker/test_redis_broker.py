"""shared/broker/redis_broker.py: a channel whose Redis goes away while its BRPOP is in flight
still closes, so a worker holding a message reconnects instead of dying."""

import contextlib
from typing import Any

import kombu

from shared.broker.redis_broker import Transport
from tests.support.processes import RedisServer


def test_a_channel_closes_when_redis_goes_away_during_its_brpop(tmp_path):
    server = RedisServer(tmp_path / "redis").start()  # its own: this test stops it
    try:
        connection = kombu.Connection(server.url, transport=Transport)
        channel: Any = connection.default_channel  # a redis Channel: kombu's stubs give the bare StdChannel
        queue = kombu.Queue("q", kombu.Exchange("q", "direct"), "q")
        kombu.Consumer(channel, [queue], callbacks=[lambda body, message: None]).consume()
        transport: Any = connection.transport  # the redis Transport, whose cycle kombu's stubs leave out
        transport.cycle._register_BRPOP(channel)  # a BRPOP in flight, as a worker always has
        server.stop()
        with contextlib.suppress(*connection.connection_errors):
            channel.close()
        # kombu's own close raises before this point and leaves the channel open; Celery
        # then detaches the transport and closes the channel again, which crashes the worker.
        assert channel.closed
        connection.close()  # what Celery does next: no AttributeError now
    finally:
        server.stop()
