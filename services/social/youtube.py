"""The youtube task: the YouTube teaser for a rendered review."""

from __future__ import annotations

from services.social.teasers import youtube_teaser
from services.social.teaser_task import make_teaser
from shared.celery_app import app
from shared.queues import task_name
from shared.stage import StageTask


@app.task(name=task_name("youtube"), base=StageTask)
def youtube(submission_id: str) -> None:
    make_teaser(submission_id, part="youtube", build=youtube_teaser)
