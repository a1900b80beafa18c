"""The youtube task: the YouTube thumbnail and teaser for a rendered review.

Stores ``youtube/thumbnail.jpg``, ``youtube/teaser.json`` and, last, the marker
``youtube.json``. The work is in ``teasers.youtube_files`` (pure).
"""

from __future__ import annotations

from services.social.teaser_task import asset_url, make_teaser
from services.social.teasers import youtube_files
from shared.celery_app import app
from shared.models import Review
from shared.queues import task_name
from shared.stage import Runtime, StageTask


def build(review: Review, rt: Runtime) -> dict[str, bytes]:
    return youtube_files(
        review,
        article_url=asset_url(rt, review, "index.html"),
        thumbnail_url=asset_url(rt, review, "youtube/thumbnail.jpg"),
    )


@app.task(name=task_name("youtube"), base=StageTask)
def youtube(submission_id: str) -> None:
    make_teaser(submission_id, part="youtube", build=build)
