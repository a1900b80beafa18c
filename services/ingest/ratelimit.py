"""Per-writer rate limits, kept in Redis so every ingest process shares one count.

The limiter is the ``limits`` library's moving window, through its asyncio storage:
counting is a Redis round trip awaited on the event loop, not a thread.

Requests arriving together are counted together, as the acceptor accepts them: while
one count is in flight the next requests gather, and each writer's are counted in one
hit whose cost is their number. Under load that is one round trip for a batch instead
of one per request (the round trip was ~15 % of a webhook's CPU); a lone request is a
batch of one and waits for nothing. The answers are what one hit per request would
give: if a writer's batch does not fit whole, its requests are counted one by one, and
those past the limit are refused.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from shared.connection import RedisAddress, parse_redis_address, sentinel_options


class RateLimiter:
    def __init__(self, redis: RedisAddress | str, default: str):
        self.default = default
        parse(default)  # checked at start-up, so a typo fails loudly
        address = parse_redis_address(redis) if isinstance(redis, str) else redis
        self.limiter = MovingWindowRateLimiter(_storage(address))
        self._waiting: list[tuple[str, str, asyncio.Future[int | None]]] = []
        self._drain_task: asyncio.Task | None = None  # held: asyncio keeps only weak references to tasks

    async def wait_for(self, writer: str, *, rate: str | None = None) -> int | None:
        """Count one request; None if it is within the limit, else the seconds to wait."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        self._waiting.append((writer, rate or self.default, future))
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            groups: dict[tuple[str, str], list[asyncio.Future[int | None]]] = defaultdict(list)
            for writer, rate, future in taken:
                groups[(writer, rate)].append(future)
            await asyncio.gather(
                *(self._answer(futures, writer=writer, rate=rate) for (writer, rate), futures in groups.items())
            )

    async def _answer(self, futures: list[asyncio.Future[int | None]], *, writer: str, rate: str) -> None:
        waits: Sequence[int | Exception | None]
        try:
            waits = await self._count(writer, _item(rate), len(futures))
        except Exception as exc:  # noqa: BLE001 - Redis is down: each request hears it (a 503)
            waits = [exc] * len(futures)
        for future, wait in zip(futures, waits, strict=True):
            if future.done():  # its client hung up; its request was counted all the same
                continue
            if isinstance(wait, Exception):
                future.set_exception(wait)
            else:
                future.set_result(wait)

    async def _count(self, writer: str, item: RateLimitItem, n: int) -> list[int | None]:
        """Count ``n`` requests from ``writer``: for each, None or the seconds to wait."""
        admitted = n if await self.limiter.hit(item, "writer", writer, cost=n) else 0
        if admitted == 0 and n > 1:
            # The batch does not fit whole: admit as many as still fit, one by one.
            while admitted < n and await self.limiter.hit(item, "writer", writer):
                admitted += 1
        if admitted == n:
            return [None] * n
        reset = (await self.limiter.get_window_stats(item, "writer", writer)).reset_time
        return [None] * admitted + [max(1, math.ceil(reset - time.time()))] * (n - admitted)


def _storage(address: RedisAddress):  # -> limits' async storage (its base class is not exported)
    """The limits library's storage for ``address``, on redis-py's asyncio client (the one package
    Marquee already talks to Redis with): its ``redis+sentinel`` storage for Sentinels."""
    if not address.uses_sentinel:
        return storage_from_string(f"async+{address.url}", implementation="redispy")
    hosts = ",".join(f"{host}:{port}" for host, port in address.sentinels)
    options: dict[str, Any] = {
        "db": address.db,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "use_replicas": False,  # a replica may lag: a count read there could let a writer past the limit
        "sentinel_kwargs": sentinel_options(address),
    }
    if address.password:
        options["password"] = address.password
    if address.username:
        options["username"] = address.username
    return storage_from_string(f"async+redis+sentinel://{hosts}/{address.master}", implementation="redispy", **options)


@functools.lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)
