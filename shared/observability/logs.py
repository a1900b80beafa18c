"""One JSON line per stage transition, with the same fields in every service.

``grep <submission id> var/log/*.log`` then tells a submission's whole story: the
ingest service writes its ``received`` line, each worker the line of the state its
stage moved the submission to, and the operator commands (``retry``, ``reconcile``)
theirs. Every transition line has exactly these fields::

    {"event": "transition", "at": "…Z", "id": "…", "writer": "…", "stage": "render",
     "state": "rendered", "task_id": "…" | null, "duration_seconds": 0.042 | null}

``duration_seconds`` is how long the stage's run took up to the transition (a
worker: since its task started; ingest: since the request arrived). Lines go to the
process's real stderr (where ``marquee run`` and the test stacks send each service's
log file), unprefixed, so each is a whole JSON document.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

TRANSITION_FIELDS = ("event", "at", "id", "writer", "stage", "state", "task_id", "duration_seconds")

# Set by the ingest service per request (a monotonic clock reading), so the line
# for ``received`` can say how long accepting the submission took.
request_started: contextvars.ContextVar[float | None] = contextvars.ContextVar("marquee_request_started", default=None)

_logger: logging.Logger | None = None


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def logger() -> logging.Logger:
    """The ``marquee.ops`` logger: message-only lines on the original stderr."""
    global _logger
    if _logger is None:
        log = logging.getLogger("marquee.ops")
        if not log.handlers:
            # sys.__stderr__: Celery replaces sys.stderr in workers with a proxy that
            # would prefix each line; the original is the process's log file.
            handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        _logger = log
    return _logger


def event(name: str, **fields: object) -> None:
    """Write one JSON line: ``{"event": name, "at": …, **fields}``."""
    with contextlib.suppress(Exception):  # a log line never breaks the pipeline
        logger().info(json.dumps({"event": name, "at": _now_iso(), **fields}, ensure_ascii=False, default=str))


def transition(
    id: str,
    *,
    writer: str | None,
    stage: str,
    state: str,
    task_id: str | None = None,
    duration_seconds: float | None = None,
) -> None:
    event(
        "transition",
        id=id,
        writer=writer or None,
        stage=stage,
        state=str(state),
        task_id=task_id,
        duration_seconds=None if duration_seconds is None else round(duration_seconds, 6),
    )
