"""The one way every process connects to Redis: decoded strings, bounded waits, health checks."""

from __future__ import annotations

import functools

import redis


@functools.lru_cache(maxsize=4)
def connect(url: str) -> redis.Redis:
    """A client for ``url``, one per URL in a process (it pools its own connections)."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )
