"""Per-writer rate limits, kept in Redis so every ingest process shares one count."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, redis_url: str, rate: str):
        self.item = parse(rate)  # e.g. "60/minute"; checked at start-up, so a typo fails loudly
        self.limiter = MovingWindowRateLimiter(storage_from_string(redis_url))

    def wait_for(self, writer: str) -> int | None:
        """Count one request; None if it is within the limit, else the seconds to wait."""
        if self.limiter.hit(self.item, "writer", writer):
            return None
        reset = self.limiter.get_window_stats(self.item, "writer", writer).reset_time
        return max(1, math.ceil(reset - time.time()))
