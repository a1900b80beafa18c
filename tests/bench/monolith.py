"""Baseline (a): what a user would script instead of Marquee.

The same pure stage functions in a plain loop, in as many processes as the machine has
cores: parse → check → build_review → render_article (+ review.json) → the Instagram and
YouTube generators → write every published file and then the manifest to a local
publish store (the same ``LocalStore``, so the same atomic, fsynced writes) → add it to
the site's index and feeds (the same catalogue code, on its own redis-server). No queue,
no archive, no state, no retries: nothing survives a crash, and nothing tells the writer.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from services.render.article import public_review, render_article
from services.social.instagram import instagram_files
from services.social.youtube import youtube_files
from services.upload.catalogue_store import publish, share_image_key
from services.upload.publishing import (
    ASSET_CACHE_CONTROL,
    IMMUTABLE_CACHE_CONTROL,
    MANIFEST_CACHE_CONTROL,
    build_manifest,
    describe_asset,
)
from services.validate.rules import build_review, check_submission
from shared.connection import connect
from shared.keys import MANIFEST, content_type_for, public_url, published_key, revision_key
from shared.parsing import parse_submission
from shared.slugs import make_slug
from shared.storage import ObjectInfo, open_store
from tests.bench.common import MachineLoad, review_bytes, unique_title

STEPS = ("parse+check", "render", "instagram", "youtube", "write", "catalogue")


def publish_one(body: bytes, *, store, client, base_url: str, timings: dict[str, list[float]]) -> str:
    t = [time.perf_counter()]
    now = datetime.now(UTC)
    submission = parse_submission(body, content_type="application/json", title=None)
    if problems := check_submission(submission, now=now):
        raise ValueError(problems)
    slug = make_slug(submission.title, submission.year)
    review = build_review(
        submission,
        id=os.urandom(16).hex(),
        writer="bench",
        slug=slug,
        revision=1,
        date_published=now,
        date_modified=now,
    )
    t.append(time.perf_counter())

    def url(name: str) -> str:
        return public_url(base_url, published_key(slug, name))

    files = {
        "review.json": json.dumps(
            public_review(review, article_url=url("index.html")), ensure_ascii=False, indent=2
        ).encode(),
        "index.html": render_article(
            review, article_url=url("index.html"), image_url=url("instagram/card.jpg")
        ).encode(),
    }
    t.append(time.perf_counter())
    files |= instagram_files(review, article_url=url("index.html"), card_url=url("instagram/card.jpg"))
    t.append(time.perf_counter())
    files |= youtube_files(review, article_url=url("index.html"), thumbnail_url=url("youtube/thumbnail.jpg"))
    t.append(time.perf_counter())
    assets = []
    for name in sorted(files):
        asset = describe_asset(name, ObjectInfo.of(files[name]), slug=slug, revision=review.revision, base_url=base_url)
        # As upload does: the revision's immutable copy, then the stable key.
        store.put(asset.key, files[name], content_type=asset.content_type, cache_control=IMMUTABLE_CACHE_CONTROL)
        store.put(
            published_key(slug, name), files[name], content_type=asset.content_type, cache_control=ASSET_CACHE_CONTROL
        )
        assets.append(asset)
    manifest = build_manifest(review, assets).model_dump_json(indent=2).encode()
    for key, cache_control in (
        (revision_key(slug, review.revision, MANIFEST), IMMUTABLE_CACHE_CONTROL),
        (published_key(slug, MANIFEST), MANIFEST_CACHE_CONTROL),
    ):
        store.put(key, manifest, content_type=content_type_for(MANIFEST), cache_control=cache_control)
    t.append(time.perf_counter())
    publish(client, store, review, base_url=base_url, image_key=share_image_key(review, assets))
    t.append(time.perf_counter())
    for step, start, end in zip(STEPS, t[:-1], t[1:], strict=True):
        timings[step].append(end - start)
    return slug


def _worker(args) -> dict:
    bodies, publish_url, redis_url, base_url = args
    store = open_store(publish_url, public=True)
    client = connect(redis_url)
    timings: dict[str, list[float]] = {step: [] for step in STEPS}
    cpu = time.process_time()
    for body in bodies:
        publish_one(body, store=store, client=client, base_url=base_url, timings=timings)
    return {"timings": timings, "cpu": time.process_time() - cpu}


def run(
    count: int,
    *,
    publish_root: Path,
    redis_url: str,
    processes: int | None = None,
    size: int = 1000,
    base_url: str = "http://127.0.0.1/site",
) -> dict:
    """Publish ``count`` reviews with ``processes`` processes (default: one per core)."""
    processes = processes or os.cpu_count() or 1
    bodies = [review_bytes(unique_title("Mono"), size=size) for _ in range(count)]
    warm = [review_bytes(unique_title("Warm"), size=size) for _ in range(processes)]
    shares = [bodies[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("fork")
    with context.Pool(processes) as pool:
        pool.map(_worker, [([w], str(publish_root), redis_url, base_url) for w in warm])  # imports, fonts, templates
        started = time.perf_counter()
        with MachineLoad() as load:
            results = pool.map(_worker, [(share, str(publish_root), redis_url, base_url) for share in shares])
        seconds = time.perf_counter() - started
    timings = {step: [x for r in results for x in r["timings"][step]] for step in STEPS}
    per_review = [sum(timings[s][i] for s in STEPS) for i in range(len(timings[STEPS[0]]))]
    from tests.bench.common import summary_ms

    return {
        "count": count,
        "processes": processes,
        "seconds": seconds,
        "throughput": count / seconds,
        "cpu_ms_per_review": 1000 * sum(r["cpu"] for r in results) / count,
        "step_ms": {step: summary_ms(values) for step, values in timings.items()},
        "review_ms": summary_ms(per_review),
        # The pool's CPU, and the catalogue's redis-server's, as ours; the rest of the machine's as others'.
        "machine": load.result(sum(r["cpu"] for r in results), seconds),
    }
