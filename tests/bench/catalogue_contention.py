"""How many publications a second the catalogue (index page, pages, feeds) takes, and with how many retries.

Every publication records its entry in Redis, then re-renders and rewrites the index,
its page and both feeds, and checks the catalogue's version: if another publication
changed it meanwhile, it renders and writes again (``catalogue_store._write``). So the
catalogue is shared, optimistic state, and concurrent uploads can make each other
redo work. This runs ``catalogue_store.publish`` flat out from K processes against one
redis-server and one local store, and counts publications per second and rounds per
publication.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from services.social.samples import review as sample_review
from services.upload.catalogue_store import CatalogueBusy, publish
from shared.connection import connect
from shared.storage import open_store


def _publisher(args) -> dict:
    index, redis_url, store_root, seconds, start_at = args
    client = connect(redis_url)
    store = open_store(store_root, public=True)
    while time.time() < start_at:
        time.sleep(0.001)  # all publishers start together
    rounds, busy, n = [], 0, 0
    deadline = start_at + seconds
    while time.time() < deadline:
        n += 1
        now = datetime.now(UTC)
        review = sample_review(
            id=os.urandom(16).hex(),
            slug=f"contention-{index}-{n}",
            title=f"Contention {index} {n}",
            date_published=now,
            date_modified=now,
        )
        try:
            rounds.append(publish(client, store, review, base_url="http://127.0.0.1/site").rounds)
        except CatalogueBusy:
            busy += 1
    return {"rounds": rounds, "busy": busy}


def run(redis_url: str, store_root: Path, *, processes: int, seconds: float = 5.0) -> dict:
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 1.0
    with context.Pool(processes) as pool:
        results = pool.map(_publisher, [(i, redis_url, str(store_root), seconds, start_at) for i in range(processes)])
    rounds = [r for result in results for r in result["rounds"]]
    return {
        "processes": processes,
        "publications_per_second": len(rounds) / seconds,
        "rounds_mean": statistics.fmean(rounds) if rounds else None,
        "rounds_max": max(rounds) if rounds else None,
        "busy": sum(result["busy"] for result in results),
    }
