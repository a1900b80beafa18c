"""The notify task: mark the review published, append ``review.published``, tell subscribers."""

from __future__ import annotations

import json

from shared.broker.celery_app import app
from shared.envelope import envelope, revision_manifest_url
from shared.models import State
from shared.pipeline import StageTask, get_runtime, hand_off
from shared.queues import task_name
from shared.state import now_iso


@app.task(name=task_name("notify"), base=StageTask)
def notify(submission_id: str) -> None:
    rt = get_runtime()
    # What the event says, nothing more: validate recorded the revision and its manifest's address.
    record = rt.states.fields(submission_id, "writer", "slug", "revision", "manifest_url", "urls")
    if record is None:
        return
    if record["revision"] and record["manifest_url"]:
        revision, manifest_url = int(record["revision"]), record["manifest_url"]
    else:  # a record from before validate kept them: the archived review knows
        review = rt.load_review(submission_id)
        revision = review.revision
        manifest_url = revision_manifest_url(rt.settings.public_base_url, review.slug, review.revision)
    event = envelope(
        "review.published",
        id=submission_id,
        writer=record["writer"],
        slug=record["slug"],
        revision=revision,
        manifest_url=manifest_url,
        timestamp=now_iso(),
        article_url=json.loads(record["urls"] or "{}").get("article", ""),
    )
    # One Lua script moves the state and appends the event, so a second run appends
    # nothing; announcing again is a no-op for deliveries already recorded.
    if rt.states.advance(submission_id, State.PUBLISHED, stage="notify", event=event) == State.PUBLISHED:
        rt.announce(event)
        # The teaser video, after the fact and on its own queue: the article never waits for it.
        if rt.settings.video_enabled:
            hand_off("video", submission_id)
