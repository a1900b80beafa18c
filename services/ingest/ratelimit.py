"""Per-writer rate limits, kept in Redis so every ingest process shares one count.

The limiter is the ``limits`` library's moving window, through its asyncio storage:
counting a request is one Redis round trip awaited on the event loop, not a thread.
"""

from __future__ import annotations

import functools
import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.aio.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, redis_url: str, default: str):
        self.default = default
        parse(default)  # checked at start-up, so a typo fails loudly
        # redis-py's asyncio client: the one package Marquee already talks to Redis with.
        self.limiter = MovingWindowRateLimiter(storage_from_string(f"async+{redis_url}", implementation="redispy"))

    async def wait_for(self, writer: str, *, rate: str | None = None) -> int | None:
        """Count one request; None if it is within the limit, else the seconds to wait."""
        item = _item(rate or self.default)
        if await self.limiter.hit(item, "writer", writer):
            return None
        reset = (await self.limiter.get_window_stats(item, "writer", writer)).reset_time
        return max(1, math.ceil(reset - time.time()))


@functools.lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)
