"""A consumer holding a manifest reads exactly the bytes it promises, while a revision of the
review is published and after: on the local store and on S3 over HTTP.

Each revision's assets live under keys of their own that never change
(``reviews/<slug>/r/<revision>/…``); the manifest lists those, and is switched last."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid

import httpx
import pytest

from tests.conftest import fixture_bytes
from tests.support.processes import poll

pytestmark = pytest.mark.integration

ROUNDS_AFTER = 3


def review(**changes) -> bytes:
    return json.dumps(json.loads(fixture_bytes("glasshouse.json")) | changes).encode()


def published(stack, body: bytes) -> dict:
    response = stack.submit(body)
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "published", record["errors"]
    return record


def test_a_consumer_reading_through_an_old_manifest_gets_its_bytes_before_during_and_after_a_revision(stack):
    title = f"Consistent {uuid.uuid4().hex[:6]}"
    first = published(stack, review(title=title, rating=2))
    old = httpx.get(first["urls"]["manifest"], timeout=10).json()

    rounds: list[tuple[str, list[str]]] = []  # (phase, every asset that did not match)
    phase = ["before"]
    stop = threading.Event()

    def consume() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                wrong = []
                for asset in old["assets"]:
                    response = client.get(asset["url"])
                    if response.status_code != 200 or hashlib.sha256(response.content).hexdigest() != asset["sha256"]:
                        wrong.append(f"{asset['key']}: {response.status_code}")
                rounds.append((phase[0], wrong))

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    try:
        poll(lambda: len(rounds) >= 1, timeout=30, what="a first round of reads")
        phase[0] = "during"
        second = published(stack, review(title=title, rating=4.5, note="Seen again."))
        phase[0] = "after"
        count = len(rounds)
        poll(lambda: len(rounds) >= count + ROUNDS_AFTER, timeout=30, what="rounds of reads after the switch")
    finally:
        stop.set()
        consumer.join(30)

    new = httpx.get(second["urls"]["manifest"], timeout=10).json()
    assert new["revision"] == old["revision"] + 1 and new["id"] == second["id"]
    assert {p for p, _ in rounds} == {"before", "during", "after"}, rounds
    assert all(not wrong for _, wrong in rounds), [r for r in rounds if r[1]]
    # The stable page now shows the new revision; the old manifest's own copies did not move.
    assert "4.5 out of 5 stars" in httpx.get(second["urls"]["article"], timeout=10).text
