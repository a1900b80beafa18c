"""``python -m tests.bench.redis_capacity``: how many reviews a second one Redis primary can carry.

In one run, on a Redis with Sentinel failover (a primary, two replicas, three Sentinels:
tests/support/sentinel.py) and the real stack pointed at the Sentinels:

1. the idle background: the commands the stack sends with nothing to do (workers' polling,
   heartbeats, the sweeper), counted with ``INFO commandstats`` over a quiet spell;
2. ``--reviews`` reviews published, all offered at once: the primary's commands
   (``INFO commandstats``, commands run inside Lua scripts included) and its CPU
   (``/proc/<pid>/stat``) before and after, less the idle background for as long;
3. ``redis-benchmark`` against the same primary, its replicas attached: the commands a second
   it sustains, one at a time (50 clients) and pipelined 16 deep, and a two-command script.

docs/SCALING.md divides the one by the other. The result is printed and written to
var/redis-capacity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.__main__ import redis_benchmark_on
from tests.bench.common import REPO, commandstats, machine, review_bytes, slug_for, stats_delta, unique_title
from tests.support.processes import Stack, poll
from tests.support.sentinel import SentinelCluster

IDLE_SECONDS = 10.0  # the quiet spell the background is measured over


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def measure(root: Path, reviews: int) -> dict:
    cluster = SentinelCluster(root / "sentinel").start()
    try:
        stack = Stack(
            root / "stack",
            redis_url=cluster.url(),
            redis_sentinel_master=cluster.MASTER,
            archive_url=str(root / "archive"),
            publish_url=str(root / "publish"),
            concurrency=2,
        ).start()
        primary = cluster.primary
        assert primary.process is not None
        try:
            warm = stack.submit(review_bytes(unique_title("Warm"))).json()["id"]  # imports, fonts, scripts loaded
            stack.wait_for(warm, timeout=120)

            before, started = commandstats(stack.redis), time.monotonic()
            time.sleep(IDLE_SECONDS)  # a measuring spell, not a wait for something to happen
            idle = stats_delta(before, commandstats(stack.redis))
            idle_rate = {name: calls / (time.monotonic() - started) for name, calls in idle.items()}

            before, cpu_before, started = commandstats(stack.redis), cpu_seconds(primary.process.pid), time.monotonic()
            manifests = []
            for _ in range(reviews):
                title = unique_title("Capacity")
                response = stack.submit(review_bytes(title))
                assert response.status_code == 202, response.text
                manifests.append(root / "publish" / "reviews" / slug_for(title) / "manifest.json")
            # Published when its manifest is in the publish store (a directory here): looking
            # there sends Redis nothing, so every command counted is the pipeline's.
            poll(
                lambda: all(m.exists() for m in manifests),
                timeout=60 + 5 * reviews,
                what=f"{reviews} reviews to publish",
                interval=0.5,
            )
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(primary.process.pid) - cpu_before
            busy = stats_delta(before, commandstats(stack.redis))
        finally:
            stack.stop()
        per_review = {
            name: round((calls - idle_rate.get(name, 0.0) * elapsed) / reviews, 1) for name, calls in busy.items()
        }
        per_review = {name: n for name, n in sorted(per_review.items(), key=lambda kv: -kv[1]) if n >= 0.5}
        benchmark = redis_benchmark_on(primary.port)
        return {
            "at": datetime.now(UTC).isoformat(timespec="minutes"),
            "machine": machine(),
            "reviews": reviews,
            "seconds": round(elapsed, 1),
            "idle_commands_per_second": round(sum(idle_rate.values()), 1),
            "commands_per_review": round(sum(per_review.values()), 1),
            "by_command": per_review,
            "redis_cpu_ms_per_review": round(1000 * cpu / reviews, 2),
            "redis_benchmark": benchmark,
        }
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.redis_capacity", description=__doc__)
    parser.add_argument("--reviews", type=int, default=60, help="reviews published (default 60)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="marquee-redis-capacity-") as root:
        result = measure(Path(root), args.reviews)
    text = json.dumps(result, indent=2)
    print(text)
    out = REPO / "var" / "redis-capacity.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
