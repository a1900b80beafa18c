"""The instagram task: the Instagram teaser for a rendered review."""

from __future__ import annotations

from services.social.teasers import instagram_post
from services.social.teaser_task import make_teaser
from shared.celery_app import app
from shared.queues import task_name
from shared.stage import StageTask


@app.task(name=task_name("instagram"), base=StageTask)
def instagram(submission_id: str) -> None:
    make_teaser(submission_id, part="instagram", build=instagram_post)
