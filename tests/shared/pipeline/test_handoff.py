"""shared/pipeline/handoff.py's hand-offs publish Celery's own task messages, as ``send_task`` would.

The hand-offs skip ``send_task``'s per-message routing and declaring (for speed), so
this checks, against a real redis-server, that what lands in each queue is the message
a worker expects: the same headers and properties ``send_task`` writes, the task's
arguments, and the ``sent_at`` stamp the queue-age metrics read.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import redis

from tests.support.processes import REPO, Stack

SEND = """
from shared.broker.celery_app import app
from shared.pipeline import hand_off, hand_off_many
hand_off_many([("validate", "a" * 32), ("social", "b" * 32)])
hand_off("upload", "c" * 32)
app.send_task("marquee.notify", args=["d" * 32])  # Celery's own way, for comparison
"""


def queued(client: redis.Redis, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def test_hand_offs_queue_the_message_send_task_would(tmp_path, redis_server) -> None:
    url = redis_server.url.replace("/0", "/6")
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    stack = Stack(
        tmp_path, redis_url=url, archive_url=f"file://{tmp_path}/archive", publish_url=str(tmp_path / "publish")
    )
    before = time.time()
    subprocess.run([sys.executable, "-c", SEND], env=stack.env, cwd=REPO, check=True, timeout=60)

    reference = queued(client, "notify")[0]
    sent = {queue: queued(client, queue) for queue in ("validate", "social", "upload")}
    assert {queue: len(messages) for queue, messages in sent.items()} == {"validate": 1, "social": 1, "upload": 1}
    for queue, letter in (("validate", "a"), ("social", "b"), ("upload", "c")):
        message = sent[queue][0]
        assert message["headers"]["task"] == f"marquee.{queue}"
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert (args, kwargs) == ([letter * 32], {})
        assert message["properties"]["delivery_info"] == {"exchange": "", "routing_key": queue}
        assert before <= message["headers"]["sent_at"] <= time.time()
        # Nothing a worker reads is missing (or extra) against Celery's own message.
        assert message["headers"].keys() == reference["headers"].keys()
        assert message["properties"].keys() - {"reply_to"} == reference["properties"].keys() - {"reply_to"}
        for field in ("content-type", "content-encoding"):
            assert message[field] == reference[field]
        assert message["properties"]["delivery_mode"] == reference["properties"]["delivery_mode"]
        assert message["properties"]["priority"] == reference["properties"]["priority"]
