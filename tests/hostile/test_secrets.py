"""Secrets stay secret: no writer, subscriber or ops secret in logs, status, errors,
events, Redis, the archive or anything published, after a run that used them all."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import fixture_bytes
from tests.support.processes import poll
from tests.support.receivers import Receiver

pytestmark = pytest.mark.integration


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_no_secret_appears_anywhere_a_person_or_consumer_can_read(local_stack):
    hook = Receiver(lambda n, r: (200, {}))
    subscriber_secret = local_stack.subscribe(
        f"audit-{uuid.uuid4().hex[:6]}", hook.url, "review.published", "review.rejected"
    )
    try:
        review = json.loads(fixture_bytes("glasshouse.json"))
        ok = local_stack.submit(json.dumps(review | {"title": f"Secret {uuid.uuid4().hex[:6]}"}).encode())
        bad = local_stack.submit(json.dumps(review | {"rating": 11}).encode())
        wrong = local_stack.submit(json.dumps(review).encode(), secret=local_stack.other_secret)  # bob's, on alice
        assert (ok.status_code, bad.status_code, wrong.status_code) == (202, 202, 401)
        answers = [wrong.text, local_stack.client.get("/v1/reviews/" + "0" * 32).text]
        for response in (ok, bad):
            local_stack.wait_for(response.json()["id"])
            answers.append(local_stack.client.get(f"/v1/reviews/{response.json()['id']}").text)
        poll(lambda: len(hook.received) >= 2, timeout=30, what="the webhooks")
    finally:
        hook.stop()

    writers = json.loads(local_stack.writers_file.read_text())["writers"]
    secrets = {s for w in writers.values() for s in (*w["secrets"], *w.get("callback_secrets", []))}
    secrets |= {subscriber_secret}
    needles = secrets | {s.removeprefix("whsec_") for s in secrets}  # the key alone counts too
    if token := local_stack.env.get("MARQUEE_OPS_TOKEN"):
        needles.add(token)

    haystacks: dict[str, str] = {f"answer {i}": text for i, text in enumerate(answers)}
    archive = Path(local_stack.env["MARQUEE_ARCHIVE_URL"].removeprefix("file://"))
    publish = Path(local_stack.env["MARQUEE_PUBLISH_URL"])
    for path in [*local_stack.dir.glob("*.log"), *files_under(archive, publish)]:
        haystacks[str(path)] = path.read_bytes().decode(errors="replace")
    for key in local_stack.redis.scan_iter("*"):
        kind = local_stack.redis.type(key)
        value = {
            "string": local_stack.redis.get,
            "hash": local_stack.redis.hgetall,
            "list": lambda k: local_stack.redis.lrange(k, 0, -1),
            "set": local_stack.redis.smembers,
            "zset": lambda k: local_stack.redis.zrange(k, 0, -1),
            "stream": local_stack.redis.xrange,
        }[kind](key)
        haystacks[f"redis {key}"] = f"{key} {value}"
    haystacks["webhook bodies"] = " ".join(r.body.decode() for r in hook.received)

    assert len(haystacks) > 20
    leaks = [(where, needle[:12] + "…") for where, text in haystacks.items() for needle in needles if needle in text]
    assert leaks == []
