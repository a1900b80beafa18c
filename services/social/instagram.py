"""The instagram task: the Instagram card, caption and post for a rendered review.

Stores ``instagram/card.jpg``, ``instagram/caption.txt``, ``instagram/post.json`` and,
last, the marker ``instagram.json``. The work is in ``teasers.instagram_files`` (pure).
"""

from __future__ import annotations

from services.social.teaser_task import asset_url, make_teaser
from services.social.teasers import instagram_files
from shared.celery_app import app
from shared.models import Review
from shared.queues import task_name
from shared.stage import Runtime, StageTask


def build(review: Review, rt: Runtime) -> dict[str, bytes]:
    return instagram_files(
        review,
        article_url=asset_url(rt, review, "index.html"),
        card_url=asset_url(rt, review, "instagram/card.jpg"),
    )


@app.task(name=task_name("instagram"), base=StageTask)
def instagram(submission_id: str) -> None:
    make_teaser(submission_id, part="instagram", build=build)
