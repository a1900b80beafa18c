"""Publish cost against catalogue size: the upload stage's cost for one more review.

Run as its own process (``python -m tests.bench.publish_cost --seed N``) with the
services' environment, so it has a runtime of its own. It seeds the catalogue with N
entries through ``catalogue_store.Catalogue.record`` (pipelined, straight into Redis:
no pipeline run needed for 10,000), then, for each of ``--runs`` new reviews, prepares
what the earlier stages would have left (the review and every output file in the
archive, made by the same pure generators; the state at ``social_ready``) and times
the upload task itself, called in-process: wall and CPU time, the store operations it
made (counted by a wrapper round each store) and the Redis commands it made
(server-side INFO commandstats, commands run inside Lua scripts included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis

from services.render.article import public_review, render_article
from services.social.instagram import instagram_files
from services.social.samples import review as sample_review
from services.social.youtube import youtube_files
from services.upload import catalogue_store
from services.upload import upload as upload_module
from services.upload.catalogue import entry_fields
from shared.keys import (
    content_type_for,
    output_key,
    public_url,
    published_key,
    review_key,
)
from shared.models import State
from shared.pipeline import get_runtime
from tests.bench.common import commandstats, stats_delta


class CountingStore:
    """A store that counts each operation by name."""

    def __init__(self, store):
        self._store = store
        self.url = store.url
        self.counts: dict[str, int] = {}

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self.counts[name] = self.counts.get(name, 0) + 1
            if name == "copy" and isinstance(args[0], CountingStore):
                args = (args[0]._store, *args[1:])  # store to store, as upload copies unwrapped
            return attr(*args, **kwargs)

        return counted


def seed(client: redis.Redis, count: int, *, base_url: str) -> float:
    """Record ``count`` entries in the catalogue, 1,000 to a pipeline; return the seconds it took."""
    template = sample_review()
    started = time.perf_counter()
    catalogue = catalogue_store.Catalogue(client)
    first = datetime(2024, 1, 1, tzinfo=UTC)
    for start in range(0, count, 1000):
        with client.pipeline(transaction=False) as pipe:
            for i in range(start, min(count, start + 1000)):
                slug = f"seeded-review-{i}"
                when = first + timedelta(minutes=i)
                fields = entry_fields(template, image_key=published_key(slug, "instagram/card.jpg"))
                fields |= {"slug": slug, "title": f"Seeded Review {i}", "updated": when.isoformat()}
                catalogue.record(fields, published=when, pipe=pipe)
            pipe.execute()
    return time.perf_counter() - started


def prepare(rt, index: int) -> str:
    """A review as the social stage leaves it: archived outputs, state social_ready."""
    submission_id = os.urandom(16).hex()
    slug = f"publish-cost-{index}-{submission_id[:6]}"
    now = datetime.now(UTC)
    review = sample_review(
        id=submission_id,
        writer="bench",
        slug=slug,
        title=f"Publish Cost {index}",
        date_published=now,
        date_modified=now,
    )
    base = rt.settings.public_base_url

    def url(name):
        return public_url(base, published_key(slug, name))

    files = {
        "review.json": json.dumps(public_review(review, article_url=url("index.html")), indent=2).encode(),
        "index.html": render_article(
            review, article_url=url("index.html"), image_url=url("instagram/card.jpg")
        ).encode(),
    }
    files |= instagram_files(review, article_url=url("index.html"), card_url=url("instagram/card.jpg"))
    files |= youtube_files(review, article_url=url("index.html"), thumbnail_url=url("youtube/thumbnail.jpg"))
    rt.archive.put(review_key(submission_id), review.model_dump_json().encode(), content_type="application/json")
    for name, data in files.items():
        rt.archive.put(output_key(submission_id, name), data, content_type=content_type_for(name))
    rt.states.create(submission_id, writer="bench", webhook_id=f"msg_{submission_id}", received_at=now.isoformat())
    for state, stage in ((State.VALIDATED, "validate"), (State.RENDERED, "render"), (State.SOCIAL_READY, "social")):
        rt.states.advance(submission_id, state, stage=stage, **({"slug": slug} if stage == "validate" else {}))
    return submission_id


def measure(seed_count: int, runs: int) -> dict:
    base_rt = get_runtime()
    client = base_rt.states.redis
    client.flushdb()
    used_before = int(client.info("memory")["used_memory"])
    seeded_in = seed(client, seed_count, base_url=base_rt.settings.public_base_url)
    used_after = int(client.info("memory")["used_memory"])
    rows: list[dict[str, Any]] = []
    for i in range(runs + 1):  # the first one warms up templates and fonts, and is dropped
        submission_id = prepare(base_rt, i)
        archive, publish = CountingStore(base_rt.archive), CountingStore(base_rt.publish)
        rt = replace(base_rt, archive=archive, publish=publish)
        upload_module.get_runtime = cast("Any", lambda rt=rt: rt)  # a stand-in for the cached one
        catalogue_seconds = []
        original = upload_module.add_to_catalogue

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                catalogue_seconds.append(time.perf_counter() - t)

        upload_module.add_to_catalogue = timed
        stats = commandstats(client)
        wall, cpu = time.perf_counter(), time.process_time()
        upload_module.upload(submission_id)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        commands = stats_delta(stats, commandstats(client))
        upload_module.add_to_catalogue = original
        state = cast("str | None", client.hget(f"marquee:sub:{submission_id}", "state"))  # decoded: str
        if state != State.UPLOADED:
            raise RuntimeError(f"upload left {submission_id} {state}")
        rows.append(
            {
                "wall": wall,
                "cpu": cpu,
                "catalogue": catalogue_seconds[0],
                "redis_commands": sum(commands.values()),
                "commands": commands,
                "store_ops": {"archive": archive.counts, "publish": publish.counts},
            }
        )
    rows = rows[1:]
    return {
        "seed": seed_count,
        "runs": runs,
        "seeded_seconds": seeded_in,
        "redis_bytes_per_entry": (used_after - used_before) / max(1, seed_count),
        "catalogue_count": int(client.get(catalogue_store.KEYS[3]) or 0),
        "wall_ms": statistics.median(r["wall"] for r in rows) * 1000,
        "wall_ms_p90": sorted(r["wall"] for r in rows)[int(0.9 * (len(rows) - 1))] * 1000,
        "cpu_ms": statistics.median(r["cpu"] for r in rows) * 1000,
        "catalogue_ms": statistics.median(r["catalogue"] for r in rows) * 1000,
        "redis_commands": statistics.median(r["redis_commands"] for r in rows),
        "commands": rows[-1]["commands"],
        "store_ops": rows[-1]["store_ops"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print("BENCH-JSON " + json.dumps(measure(args.seed, args.runs)))


if __name__ == "__main__":
    main()
