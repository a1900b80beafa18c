"""The teaser videos still owed: one record per published review whose video is on its way.

A review is ``published`` before its video is made (notify hands off to the ``video``
stage afterwards), so the submission's state cannot say whether a video is still coming,
and the sweeper, which follows submissions to a final state, would never see a video
whose message was lost. notify records the video as *pending* before it hands off;
``publish_video`` records it *done* once the video is public (or has nothing to join).
Each pending video is indexed by when a message for it should next exist
(``PENDING_INDEX``), so the sweeper (shared/operations/sweeper.py) sends on one whose
message was lost, and after a few tries records it as *failed*.
"""

from __future__ import annotations

import time
from typing import Literal

import redis

PENDING_INDEX = "marquee:videos:pending"  # sorted set: submission id → when a message for it should exist
RECORD_TTL_SECONDS = 30 * 24 * 3600
DONE_STATES = ("done", "failed")

# KEYS: the video's record, the pending index. ARGV: TTL, the submission id, when. Returns 1 if
# it recorded the video as pending, 0 if it had a record already (a notify run again).
_EXPECT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'since', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""


def record_key(submission_id: str) -> str:
    return f"marquee:video:{submission_id}"


class PendingVideos:
    def __init__(self, client: redis.Redis):
        self.redis = client

    def expect(self, submission_id: str) -> bool:
        """Record that ``submission_id``'s video is on its way; False if it was recorded before."""
        args: list[str | int | float] = [RECORD_TTL_SECONDS, submission_id, time.time()]
        return bool(self.redis.register_script(_EXPECT)(keys=[record_key(submission_id), PENDING_INDEX], args=args))

    def finish(self, submission_id: str, *, state: Literal["done", "failed"], error: str = "") -> None:
        with self.redis.pipeline() as pipe:
            pipe.hset(record_key(submission_id), mapping={"state": state, "error": error})
            pipe.expire(record_key(submission_id), RECORD_TTL_SECONDS)
            pipe.zrem(PENDING_INDEX, submission_id)
            pipe.execute()

    def get(self, submission_id: str) -> dict | None:
        return self.redis.hgetall(record_key(submission_id)) or None
