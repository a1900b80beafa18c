"""The release task: hand embargoed reviews whose time has come back to upload.

Run every few seconds by Celery beat. The embargo lives in a Redis sorted set
(persisted with the rest of Redis), so it survives worker and Redis restarts, and
a review held for months costs nothing while it waits.
"""

from __future__ import annotations

import time

from shared.broker.celery_app import app
from shared.pipeline import get_runtime, hand_off
from shared.queues import task_name


@app.task(name=task_name("release"), ignore_result=True)
def release() -> int:
    rt = get_runtime()
    due = rt.states.take_due(now=time.time())
    for submission_id in due:
        hand_off("upload", submission_id)
    return len(due)
