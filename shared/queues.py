"""The pipeline's shape, in one place: its queues and the tasks that consume them.

Each task lives in ``services/<queue>/<task>.py`` and is named ``marquee.<task>``. Each
stage is one task named after its queue; a few more tasks share a stage's queue.
"""

from __future__ import annotations

QUEUES = ("validate", "render", "social", "upload", "notify", "video")

# Housekeeping that beat runs on a timer and no stage owns: the sweeper. Every stage worker
# serves this queue beside its own (``marquee worker``), so it needs no worker of its own,
# keeps running while any worker does, and waits behind at most one run, never behind a
# stage's backlog.
MAINTENANCE_QUEUE = "maintenance"
ALL_QUEUES = (*QUEUES, MAINTENANCE_QUEUE)

TASK_QUEUES = {
    "validate": "validate",
    "render": "render",
    "social": "social",
    "upload": "upload",
    "notify": "notify",
    "deliver": "notify",  # outbound webhooks: beside notify, never in the publication's way
    "retract": "upload",  # only the upload service writes (and deletes) public objects
    "release": "upload",  # lifts embargoes whose time has come; run every few seconds by beat
    "rebuild": "upload",  # writes every index page and feed again, after reconcile restored the catalogue
    "rollback": "upload",  # an operator's: makes a kept revision live again, under the slug's lease
    "video": "video",  # the teaser video, after publication: a slow encode holds back no other stage
    "publish_video": "upload",  # the video joins its published revision (only upload writes public files)
    "sweep": MAINTENANCE_QUEUE,  # sends stalled submissions on, and repairs a Redis that lost its data
}

# The tasks a submission passes through on its way to publication.
STAGE_TASKS = ("validate", "render", "social", "upload", "notify", "retract")


def task_name(task: str) -> str:
    return f"marquee.{task}"


def task_module(task: str) -> str:
    return f"services.{TASK_QUEUES[task]}.{task}"
