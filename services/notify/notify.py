"""The notify task: mark the review published, append ``review.published``, tell subscribers."""

from __future__ import annotations

import json

from shared.broker.celery_app import app
from shared.envelope import envelope, published_urls, revision_manifest_url
from shared.models import State
from shared.pipeline import StageTask, get_runtime, hand_off
from shared.queues import task_name
from shared.state import now_iso
from shared.videos import PendingVideos


@app.task(name=task_name("notify"), base=StageTask)
def notify(submission_id: str) -> None:
    rt = get_runtime()
    record = rt.states.fields(submission_id, "writer")
    if record is None:
        return
    # What the event and the status name comes from the archived review, not from what
    # validate and upload recorded: after a failover the new primary may lack their writes
    # (replication is asynchronous) while this message, sent after the reconnect, reached
    # it. Written again with the move, so the writer's status has them too.
    review = rt.load_review(submission_id)
    base_url = rt.settings.public_base_url
    urls = published_urls(base_url, review.slug)
    manifest_url = revision_manifest_url(base_url, review.slug, review.revision)
    event = envelope(
        "review.published",
        id=submission_id,
        writer=record["writer"],
        slug=review.slug,
        revision=review.revision,
        manifest_url=manifest_url,
        timestamp=now_iso(),
        article_url=urls["article"],
    )
    # One Lua script moves the state and appends the event, so a second run appends
    # nothing; announcing again is a no-op for deliveries already recorded.
    moved = rt.states.advance(
        submission_id,
        State.PUBLISHED,
        stage="notify",
        event=event,
        slug=review.slug,
        revision=str(review.revision),
        manifest_url=manifest_url,
        urls=json.dumps(urls),
    )
    if moved == State.PUBLISHED:
        rt.announce(event)
        # The teaser video, after the fact and on its own queue: the article never waits for it.
        # Recorded as owed first, so that a lost message is sent on by the sweeper.
        if rt.settings.video_enabled:
            PendingVideos(rt.states.redis).expect(submission_id)
            hand_off("video", submission_id)
