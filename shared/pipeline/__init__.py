"""The stage runtime: what every stage task is built on.

- ``runtime``: the settings, submission states and stores a task works with;
- ``handoff``: queueing the next stage for a submission (ids, never payloads);
- ``stage_task``: the base task (transient errors retried with backoff, the rest fail
  loudly) and the record of a submission's failure once a stage gives up.
"""

from shared.pipeline.handoff import hand_off, hand_off_many, should_hand_off
from shared.pipeline.runtime import Runtime, announce_one_host_stores, get_runtime
from shared.pipeline.stage_task import StageTask

__all__ = [
    "Runtime",
    "StageTask",
    "announce_one_host_stores",
    "get_runtime",
    "hand_off",
    "hand_off_many",
    "should_hand_off",
]
