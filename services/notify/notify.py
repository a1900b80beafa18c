"""The notify task: mark the review published, append ``review.published``, tell subscribers."""

from __future__ import annotations

import json

from shared.broker.celery_app import app
from shared.models import State
from shared.pipeline import StageTask, get_runtime
from shared.queues import task_name
from shared.state import now_iso


@app.task(name=task_name("notify"), base=StageTask)
def notify(submission_id: str) -> None:
    rt = get_runtime()
    record = rt.states.fields(submission_id, "writer", "slug", "urls")  # what the event says, nothing more
    if record is None:
        return
    urls = json.loads(record["urls"] or "{}")
    event = {
        "type": "review.published",
        "id": submission_id,
        "writer": record["writer"],
        "slug": record["slug"],
        "manifest_url": urls.get("manifest", ""),
        "article_url": urls.get("article", ""),
        "at": now_iso(),
    }
    # One Lua script moves the state and appends the event, so a second run appends
    # nothing; announcing again is a no-op for deliveries already recorded.
    if rt.states.advance(submission_id, State.PUBLISHED, stage="notify", event=event) == State.PUBLISHED:
        rt.announce(event)
