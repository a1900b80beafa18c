"""The Celery broker transport: kombu's Redis transport with a fix, so that workers
survive Redis going away while they hold a message, and one client per channel.

Why (kombu 5.7.0, celery 5.7.0, found by `make chaos` scenario 2): when the broker
connection breaks, Celery's consumer tears it down twice
(celery/worker/consumer/consumer.py, ``on_connection_error_after_connected``:
``connection.collect()``, then ``connection.close()``). Each closes the channel the
tasks are consumed on. kombu's ``Channel.close()`` (kombu/transport/redis.py) first
reads the reply of the BRPOP it has in flight and lets only ``Empty`` pass; with Redis
gone that read raises a connection error, so the first close stops before the channel
is marked closed, and ``collect()`` then detaches the transport (kombu/connection.py,
``_do_close_transport``: ``transport.client = None``). The second close gets past the
BRPOP and, if a message was delivered but not yet acknowledged (always, under load,
with acks late), hands it back to Redis through the detached transport:
``AttributeError: 'NoneType' object has no attribute 'hostname'`` in
``Channel._connparams``. That is not a connection error, so Celery does not retry:
the worker logs "Unrecoverable error" and exits, and its queue stops moving.

The fix: a connection error while reading that BRPOP reply is the expected state of
a broken connection (there is no reply to read), so swallow it and finish closing the
channel while the transport is still attached. Then the second close is a no-op and the
consumer reconnects as designed. Messages the worker held come back as Celery intends:
restored at once if Redis is up again, otherwise after the visibility timeout.

A second path ends the same way: a pool process whose publish (a hand-off, or a task's
retry) met the lost connection has had its channel closed by kombu's retry logic, and
the next publish on it reads the detached transport: the same AttributeError, so the
task cannot retry and ends failed. ``_connparams`` below raises a connection error
instead, which kombu's publish retries (``Connection.ensure``) answer by reconnecting
and reviving the producer on a fresh channel.

The same fix applies to kombu's Sentinel transport (``SentinelChannel`` subclasses the Redis
``Channel`` and inherits ``close``, ``_brpop_read``, ``_create_client`` and ``_connparams``
unchanged; it only builds its pool through the Sentinels): ``SentinelChannel`` below puts the
fixed methods in front of it. tests/shared/broker/test_redis_broker_upstream.py checks both.

Loaded through ``broker_transport`` in shared/broker/celeryconfig.py; drop it once kombu's own
``Channel.close()`` tolerates the error.
"""

from queue import Empty

import redis.exceptions
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def close(self):
        if self._in_poll:  # type: ignore[attr-defined]  # kombu's stubs (celery-types) leave out the Channel's private members
            try:
                self._brpop_read()  # type: ignore[attr-defined]  # (not in the stubs) resets _in_poll, so kombu's close does not read again
            except Empty:
                pass
            except self.connection_errors:  # type: ignore[attr-defined]  # kombu sets it on the Channel; the stubs leave it out
                pass  # the connection is gone: nothing left to read; close the rest below
        super().close()

    def _create_client(self, asynchronous=False):
        # kombu builds a new redis.Redis (copying ~170 response callbacks) for every
        # publish, unacked append and ack: a quarter of a hand-off's CPU. One client per
        # channel, on the channel's own pool, does the same work.
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]  # private, not in the stubs
        client = self.__dict__.get("_sync_client")
        if client is None or client.connection_pool is not self.pool:
            client = self._sync_client = super()._create_client()  # type: ignore[misc]  # private, not in the stubs
        return client

    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:  # closed, or its transport detached
            raise redis.exceptions.ConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]  # private, not in the stubs


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel with the fix above: our methods first, then kombu's Sentinel pool."""


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
