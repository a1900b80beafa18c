"""Per-writer rate limits, kept in Redis so every ingest process shares one count."""

from __future__ import annotations

import functools
import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, redis_url: str, default: str):
        self.default = default
        parse(default)  # checked at start-up, so a typo fails loudly
        self.limiter = MovingWindowRateLimiter(storage_from_string(redis_url))

    def wait_for(self, writer: str, *, rate: str | None = None) -> int | None:
        """Count one request; None if it is within the limit, else the seconds to wait."""
        item = _item(rate or self.default)
        if self.limiter.hit(item, "writer", writer):
            return None
        reset = self.limiter.get_window_stats(item, "writer", writer).reset_time
        return max(1, math.ceil(reset - time.time()))


@functools.lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)
