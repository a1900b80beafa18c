"""Recent submissions and where their time went, stage by stage (the /ops page's timelines)."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from typing import cast

import redis

from shared.observability.metrics import RECENT_SUBMISSIONS_KEY
from shared.operations.failure_sources import FINAL_STATES, NEXT_TASKS


def _parse_at(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError):
        return None


def timeline(history: list[dict], *, state: str, now: float | None = None) -> list[dict]:
    """Time spent in each stage: each history entry closes the segment of the stage that
    made it; a submission still in progress has an open segment for what it waits on."""
    now = time.time() if now is None else now
    segments = []
    # A note (a rollback, days later) records an event, not time spent in a stage.
    history = [entry for entry in history if not entry.get("note")]
    for before, after in itertools.pairwise(history):
        start, end = _parse_at(before.get("at", "")), _parse_at(after.get("at", ""))
        if start is None or end is None:
            continue
        stage = after.get("stage", "")
        segments.append(
            {
                "stage": stage,
                "state": after.get("state", ""),
                "seconds": max(end - start, 0.0),
                "open": False,
                "failed": after.get("state") == "failed",
                # The time before an operator's retry was spent failed, waiting for them.
                "label": "awaiting retry" if stage == "retry" else stage,
            }
        )
    if history and state not in FINAL_STATES:
        start = _parse_at(history[-1].get("at", ""))
        if start is not None:
            waiting_on = "+".join(NEXT_TASKS.get(state, ("?",)))
            segments.append(
                {
                    "stage": waiting_on,
                    "state": f"in {waiting_on}",
                    "seconds": max(now - start, 0.0),
                    "open": True,
                    "failed": False,
                    "label": waiting_on,
                }
            )
    total = sum(s["seconds"] for s in segments) or 1.0
    for segment in segments:
        segment["percent"] = round(100 * segment["seconds"] / total, 2)
    return segments


def recent_submissions(client: redis.Redis, *, limit: int = 20, now: float | None = None) -> list[dict]:
    """The latest submissions (newest first), each with its record and timeline."""
    now = time.time() if now is None else now
    ids = cast("list[str]", client.zrevrange(RECENT_SUBMISSIONS_KEY, 0, limit - 1))  # decoded (shared.connection): str
    with client.pipeline(transaction=False) as pipe:
        for id in ids:
            pipe.hgetall(f"marquee:sub:{id}")
            pipe.lrange(f"marquee:sub:{id}:history", 0, -1)
        replies = pipe.execute()
    found = []
    for id, record, history in zip(ids, replies[::2], replies[1::2], strict=True):
        if not record:
            continue
        entries = [json.loads(h) for h in history]
        segments = timeline(entries, state=record.get("state", ""), now=now)
        found.append(
            {
                "id": id,
                "writer": record.get("writer", ""),
                "state": record.get("state", ""),
                "slug": record.get("slug", ""),
                "received_at": record.get("received_at", ""),
                "history": entries,
                "timeline": segments,
                "total_seconds": sum(s["seconds"] for s in segments),
                "errors": json.loads(record.get("errors") or "[]"),
                "urls": json.loads(record.get("urls") or "{}"),
            }
        )
    return found
