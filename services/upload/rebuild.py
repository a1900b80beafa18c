"""The rebuild task: write every page, the index and the feeds again from the catalogue's state.

``marquee reconcile`` sends it once it has restored the catalogue's entries from the publish
store after Redis lost its data (shared/catalogue.py): the restore gives every review its
place again, so any page may have changed. On the upload queue, as everything that
writes public objects is. Sent again, it writes nothing that is already right.
"""

from __future__ import annotations

import redis

from services.upload.catalogue_store import rewrite
from shared.broker.celery_app import app
from shared.errors import TransientError
from shared.pipeline import get_runtime
from shared.queues import task_name


@app.task(
    name=task_name("rebuild"),
    ignore_result=True,
    autoretry_for=(TransientError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
)
def rebuild() -> int:
    rt = get_runtime()
    return len(rewrite(rt.states.redis, rt.publish, base_url=rt.settings.public_base_url).written)
