"""The social task: a rendered review's Instagram post and YouTube teaser.

Stores under the submission's output prefix, part by part, ``instagram/card.jpg``,
``instagram/caption.txt``, ``instagram/post.json``, then the marker ``instagram.json``;
``youtube/thumbnail.jpg``, ``youtube/teaser.json``, then the marker ``youtube.json``.
The work is in pure functions (``instagram.instagram_files`` / ``youtube.youtube_files``).

Each marker is written after its part's other files, so its presence means the part is
whole: a redelivered message skips a part whose marker exists and makes again one that
died halfway. Once both exist the review is social_ready and goes to upload.
"""

from __future__ import annotations

from services.social.instagram import instagram_files
from services.social.youtube import youtube_files
from shared.broker.celery_app import app
from shared.keys import SOCIAL_PARTS, content_type_for, output_key, published_key
from shared.models import Review, State
from shared.pipeline import Runtime, StageTask, get_runtime, hand_off, should_hand_off
from shared.queues import task_name


def asset_url(rt: Runtime, review: Review, name: str) -> str:
    """Where a published asset of this review will be, e.g. ``instagram/card.jpg``."""
    return rt.public_url(published_key(review.slug, name))


def part_files(part: str, review: Review, rt: Runtime) -> dict[str, bytes]:
    """A part's files, by name under the output prefix, its marker ``<part>.json`` among them."""
    article_url = asset_url(rt, review, "index.html")
    if part == "instagram":
        return instagram_files(review, article_url=article_url, card_url=asset_url(rt, review, "instagram/card.jpg"))
    return youtube_files(review, article_url=article_url, thumbnail_url=asset_url(rt, review, "youtube/thumbnail.jpg"))


@app.task(name=task_name("social"), base=StageTask)
def social(submission_id: str) -> None:
    rt = get_runtime()
    todo = [part for part in SOCIAL_PARTS if rt.archive.head(output_key(submission_id, f"{part}.json")) is None]
    if todo:
        review = rt.load_review(submission_id)
        for part in todo:
            files, marker = part_files(part, review, rt), f"{part}.json"
            for name in [*(n for n in files if n != marker), marker]:
                rt.archive.put(output_key(submission_id, name), files[name], content_type=content_type_for(name))
    if should_hand_off(rt.states.advance(submission_id, State.SOCIAL_READY, stage="social"), State.SOCIAL_READY):
        hand_off("upload", submission_id)
