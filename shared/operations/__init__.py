"""What operators see and do, one implementation behind ``marquee queues|failed|retry|reconcile``,
the ingest service's /ops page and its /metrics, so all three always agree.

- ``queues``: what each stage queue holds (waiting, held by workers, oldest age, consumers);
- ``failure_sources``: what failed, from every source, and an operator's retry;
- ``timelines``: recent submissions and where their time went;
- ``reconcile``: Redis rebuilt from the archive, and what was lost sent on again;
- ``collector``: the Prometheus view of all of it.
"""

from shared.operations.failure_sources import (
    FAILURE_SOURCES,
    FINAL_STATES,
    NEXT_TASKS,
    Failure,
    RetryOutcome,
    SubmissionFailures,
    WebhookFailures,
    failed_count,
    failures,
    register,
    retry,
)
from shared.operations.queues import QueueStats, decode_message, in_flight, queue_stats
from shared.operations.timelines import recent_submissions, timeline

__all__ = [
    "FAILURE_SOURCES",
    "FINAL_STATES",
    "NEXT_TASKS",
    "Failure",
    "QueueStats",
    "RetryOutcome",
    "SubmissionFailures",
    "WebhookFailures",
    "decode_message",
    "failed_count",
    "failures",
    "in_flight",
    "queue_stats",
    "recent_submissions",
    "register",
    "retry",
    "timeline",
]
