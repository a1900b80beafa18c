"""Per-writer rate limits against a real redis-server: concurrent requests are counted together."""

from __future__ import annotations

import asyncio

import pytest
import redis

from services.ingest.ratelimit import RateLimiter

DB = "/13"


@pytest.fixture
def client(own_redis_server):
    connection = redis.Redis.from_url(own_redis_server.url.replace("/0", DB), decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()


def limit_scripts_run(client: redis.Redis) -> int:
    """Lua scripts redis-server has run (the moving window is one)."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


async def counted_together(limiter: RateLimiter, writers: list[str], *, rate: str | None = None) -> list[int | None]:
    return await asyncio.gather(*(limiter.wait_for(writer, rate=rate) for writer in writers))


def test_requests_arriving_together_are_counted_in_one_round_trip_per_writer(client, own_redis_server):
    async def run() -> tuple[list[int | None], int]:
        limiter = RateLimiter(own_redis_server.url.replace("/0", DB), "100/minute")
        await limiter.wait_for("alice")  # loads the script, so the count below is the batch's
        before = limit_scripts_run(client)
        waits = await counted_together(limiter, ["alice"] * 20 + ["bob"] * 5)
        return waits, limit_scripts_run(client) - before

    waits, scripts = asyncio.run(run())

    assert waits == [None] * 25
    # The first request's count goes alone; those that gathered behind it, one per writer.
    assert scripts <= 3
    # Every request was counted: alice's window holds 21 entries.
    assert [client.llen(key) for key in client.keys("*alice*")] == [21]


def test_a_batch_over_the_limit_admits_as_many_as_fit_and_refuses_the_rest_with_the_wait(client, own_redis_server):
    async def run() -> list[int | None]:
        limiter = RateLimiter(own_redis_server.url.replace("/0", DB), "100/minute")
        return await counted_together(limiter, ["carol"] * 8 + ["dave"] * 3, rate="5/minute")

    waits = asyncio.run(run())

    assert waits[:5] == [None] * 5
    assert all(wait is not None and 1 <= wait <= 60 for wait in waits[5:8])
    # Another writer's requests in the same batch are not held back.
    assert waits[8:] == [None] * 3


def test_a_lost_redis_is_told_to_every_request_of_the_batch():
    limiter = RateLimiter("redis://127.0.0.1:1/0", "100/minute")  # nothing listens on port 1

    async def attempt() -> list:
        return await asyncio.gather(*(limiter.wait_for("erin") for _ in range(3)), return_exceptions=True)

    answers = asyncio.run(attempt())
    assert len(answers) == 3 and all(isinstance(answer, Exception) for answer in answers)
