"""Celery configuration, built from Settings when the app is first used.

Loaded lazily (``config_from_object``) so that importing a task module, as unit
tests and the ingest service do, needs no settings.
"""

import math

from shared.config import get_settings
from shared.connection import sentinel_options
from shared.queues import STAGE_TASKS, TASK_QUEUES, task_name

_settings = get_settings()

_redis = _settings.redis
# The same URL the services use: redis://…, or kombu's own sentinel://…;sentinel://… form,
# whose master's name goes in the transport options (shared/connection.py).
broker_url = _redis.url
# kombu's Redis (or Sentinel) transport with a fix: without it a worker holding a message when
# Redis goes away dies ("Unrecoverable error") instead of reconnecting (shared/broker/redis_broker.py).
broker_transport = (
    "shared.broker.redis_broker:SentinelTransport" if _redis.uses_sentinel else "shared.broker.redis_broker:Transport"
)
broker_connection_retry_on_startup = True
_sentinel_options = (
    {"master_name": _redis.master, "sentinel_kwargs": sentinel_options(_redis)} if _redis.uses_sentinel else {}
)
broker_transport_options = {
    **_sentinel_options,
    "visibility_timeout": _settings.visibility_timeout,
    "unacked_restore_interval": _settings.unacked_restore_interval,
    # Scan on every sweep, so the restore period is the interval itself.
    "unacked_restore_throttle": 1,
    # The lock a worker holds while it sweeps unacknowledged messages back to their
    # queues. A sweep is one ZRANGE and at most ten restores (well under a second), but
    # a worker killed mid-sweep keeps the lock until it expires, and until then nobody
    # restores anything: kombu's default of 300 s held back every lost message for five
    # minutes (make chaos, scenario 1). Three sweep periods, at least 10 s, is ample for
    # a live sweep; a sweep that outran it would still restore each message once, as
    # each restore is a transaction on the unacked hash.
    "unacked_mutex_expire": max(10, 3 * _settings.unacked_restore_interval),
}

# Nothing reads task results: progress lives in the submission's state.
task_ignore_result = True
result_backend = None

# A message is acknowledged only once its task has finished, and one that was running
# in a process that died is handed back to the queue rather than dropped.
task_acks_late = True
task_reject_on_worker_lost = True
# A task whose process dies is sent again at once, counting as an attempt, so a
# message that kills every worker that takes it ends failed instead of looping.
task_retry_on_worker_lost = True
worker_prefetch_multiplier = 1
task_time_limit = _settings.task_time_limit
task_soft_time_limit = _settings.task_soft_time_limit

# Sending a message (a hand-off, a task's retry) while the broker is away is retried for
# MARQUEE_PUBLISH_RETRY_FOR seconds: 0, 0.5, then 1 s apart. Celery's default (three tries in
# 0.6 s) is shorter than any failover, and a task whose retry cannot be sent ends failed
# (Celery turns the error into a Reject): make chaos, scenario 10.
task_publish_retry_policy = {
    "max_retries": math.ceil(_settings.publish_retry_for) + 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}

task_default_queue = "validate"
task_create_missing_queues = True
task_routes = {task_name(task): {"queue": queue} for task, queue in TASK_QUEUES.items()}
task_annotations = {
    task_name(task): {
        "max_retries": _settings.max_retries,
        "retry_backoff_max": _settings.retry_backoff_max,
        "default_retry_delay": 1,  # the countdown after a lost worker; backoff covers the rest
    }
    for task in (*STAGE_TASKS, "rollback")  # rollback takes a slug, not a submission: retried all the same
}

# Embargoes are held in a Redis sorted set and released by this periodic task, not
# by long countdowns, which Redis would redeliver after the visibility timeout.
beat_schedule = {
    "release-embargoes": {"task": task_name("release"), "schedule": _settings.release_interval},
    # A sweep not run within its interval is dropped: the next one does the same work, and
    # workers back from an outage need not run a backlog of them.
    "sweep": {
        "task": task_name("sweep"),
        "schedule": _settings.sweep_every,
        "options": {"expires": _settings.sweep_every},
    },
}

task_serializer = "json"
accept_content = ["json"]
worker_hijack_root_logger = False
worker_send_task_events = False
