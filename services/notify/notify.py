"""The notify task: mark the review published and append ``review.published`` to the stream."""

from __future__ import annotations

from shared.celery_app import app
from shared.models import State
from shared.queues import task_name
from shared.stage import StageTask, get_runtime
from shared.state import now_iso


@app.task(name=task_name("notify"), base=StageTask)
def notify(submission_id: str) -> None:
    rt = get_runtime()
    record = rt.states.get(submission_id)
    if record is None or record["state"] == State.PUBLISHED:
        return
    event = {
        "type": "review.published",
        "id": submission_id,
        "writer": record["writer"],
        "slug": record.get("slug", ""),
        "manifest_url": record["urls"].get("manifest", ""),
        "article_url": record["urls"].get("article", ""),
        "at": now_iso(),
    }
    # One Lua script moves the state and appends the event, so a second run appends nothing.
    rt.states.advance(submission_id, State.PUBLISHED, stage="notify", event=event)
