"""The sweep task: repair a Redis that lost its data, then send stalled submissions on.

Run by beat every ``MARQUEE_SWEEP_INTERVAL`` seconds; the work is in
shared/operations/recovery.py and shared/operations/sweeper.py.
"""

from __future__ import annotations

import logging

import redis
from celery.signals import beat_init

from shared.broker.celery_app import app
from shared.errors import MarqueeError
from shared.operations.failure_sources import send_stage
from shared.operations.recovery import claim_epoch_at_start, recover_lost_state
from shared.operations.sweeper import sweep as sweep_stalled
from shared.pipeline import get_runtime
from shared.queues import task_name

log = logging.getLogger("marquee.sweep")


@beat_init.connect
def check_epoch_on_beat_init(sender=None, **_) -> None:
    """A new stack (a Redis that knows every archived submission) gets its epoch at once,
    so its first sweep does not mistake it for one that lost its data."""
    try:
        rt = get_runtime()
        claim_epoch_at_start(rt.states.redis, rt.archive)
    except (redis.RedisError, MarqueeError, OSError):
        log.warning("could not check the epoch at start; the first sweep will", exc_info=True)


@app.task(name=task_name("sweep"), ignore_result=True)
def sweep() -> dict[str, object]:
    rt = get_runtime()
    recovery = recover_lost_state(rt)
    if recovery in ("busy", "noticed", "partial"):
        return {"recovery": recovery}  # the stall index is being rebuilt: sweep once it is whole
    stalls = sweep_stalled(
        rt.states.redis,
        stalled_after=rt.settings.stalled_after,
        max_resends=rt.settings.sweep_max_resends,
        send=send_stage,
        announce=rt.announce,
    )
    return {"recovery": recovery, "stalls": [stall.action for stall in stalls]}
