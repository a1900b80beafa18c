"""Outbound webhooks to real HTTP receivers on loopback, from the real stack."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from standardwebhooks import Webhook

from shared.outbound.deliveries import Deliveries
from tests.conftest import fixture_bytes
from tests.support.event_contract import violations
from tests.support.processes import poll
from tests.support.receivers import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture
def receivers():
    """Start webhook receivers; afterwards, every body any of them got must match its
    event type's schema in docs/schemas/, as a subscriber would validate it."""
    started: list[Receiver] = []

    def start(respond) -> Receiver:
        started.append(Receiver(respond))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()
    problems = [
        f"{r.json().get('type')}: {p}" for receiver in started for r in receiver.received for p in violations(r.json())
    ]
    assert problems == [], problems


def submit(stack, **changes) -> str:
    review = json.loads(fixture_bytes("glasshouse.json")) | {"title": f"Hook {uuid.uuid4().hex[:8]}"} | changes
    response = stack.submit(json.dumps(review).encode())
    assert response.status_code == 202
    return response.json()["id"]


def deliveries_to(receiver: Receiver, submission_id: str) -> list:
    return [r for r in receiver.received if r.json()["data"]["id"] == submission_id]


def test_subscribers_get_each_event_they_asked_for_signed(local_stack, receivers):
    accept_all = receivers(lambda n, r: (204, {}))
    secret = local_stack.subscribe(
        f"site-{uuid.uuid4().hex[:6]}", accept_all.url, "review.published", "review.rejected"
    )
    published, rejected = submit(local_stack), submit(local_stack, rating=9)
    for sid in (published, rejected):
        local_stack.wait_for(sid)
    got = poll(
        lambda: (
            len(deliveries_to(accept_all, published)) == 1
            and len(deliveries_to(accept_all, rejected)) == 1
            and accept_all.received
        ),
        timeout=30,
        what="both deliveries",
    )
    for request in got:
        Webhook(secret).verify(request.body, request.headers)  # raises on a bad signature
    by_id = {r.json()["data"]["id"]: r.json() for r in got}
    # The body is the envelope the stream holds, byte for byte the same event.
    assert by_id[published] == local_stack.events("review.published", published)[0]
    assert by_id[rejected] == local_stack.events("review.rejected", rejected)[0]
    assert by_id[published]["schema_version"] == 1
    revision = by_id[published]["data"]["revision"]
    assert by_id[published]["data"]["manifest_url"].endswith(f"/r/{revision}/manifest.json")
    assert httpx.get(by_id[published]["data"]["manifest_url"]).json()["id"] == published
    assert by_id[rejected]["data"]["errors"][0]["field"] == "rating"


def test_an_unsubscribed_event_type_is_not_sent(local_stack, receivers):
    only_rejections = receivers(lambda n, r: (200, {}))
    local_stack.subscribe(f"moderation-{uuid.uuid4().hex[:6]}", only_rejections.url, "review.rejected")
    sid = submit(local_stack)
    local_stack.wait_for(sid)
    rejected = submit(local_stack, certificate="XX")
    poll(lambda: deliveries_to(only_rejections, rejected), timeout=30, what="the rejection")
    assert deliveries_to(only_rejections, sid) == []


def test_failures_are_retried_honouring_retry_after_with_one_webhook_id(local_stack, receivers):
    flaky = receivers(lambda n, r: (503, {"Retry-After": "1"}) if n <= 2 else (200, {}))
    local_stack.subscribe(f"flaky-{uuid.uuid4().hex[:6]}", flaky.url, "review.published")
    sid = submit(local_stack)
    attempts = poll(
        lambda: len(deliveries_to(flaky, sid)) == 3 and deliveries_to(flaky, sid), timeout=40, what="3 attempts"
    )
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    gap = int(attempts[-1].headers["webhook-timestamp"]) - int(attempts[0].headers["webhook-timestamp"])
    assert gap >= 2 - 1  # two Retry-After waits of a second (timestamps have whole-second precision)
    record = Deliveries(local_stack.redis).get(attempts[0].headers["webhook-id"])
    assert record is not None
    poll(
        lambda: (Deliveries(local_stack.redis).get(record["id"]) or {}).get("state") == "delivered",
        timeout=10,
        what="delivered",
    )


def failed_to(deliveries: Deliveries, subscriber: str, submission_id: str) -> list[dict]:
    """The failed deliveries of one submission to one subscriber (the session's stack has
    other tests' subscribers too, some failing on purpose)."""
    return [d for d in deliveries.failed() if d["submission_id"] == submission_id and d["subscriber"] == subscriber]


def test_redirects_are_not_followed_and_a_failed_delivery_can_be_replayed(local_stack, receivers):
    target = receivers(lambda n, r: (200, {}))
    behaviour = {"redirect": True}
    redirector = receivers(lambda n, r: (302, {"Location": target.url}) if behaviour["redirect"] else (200, {}))
    name = f"moved-{uuid.uuid4().hex[:6]}"
    local_stack.subscribe(name, redirector.url, "review.published")
    sid = submit(local_stack)
    deliveries = Deliveries(local_stack.redis)
    failed = poll(lambda: failed_to(deliveries, name, sid), timeout=30, what="a failed delivery")
    assert "HTTP 302" in failed[0]["last_error"] and target.received == []
    assert local_stack.status(sid)["state"] == "published"  # a delivery never fails the review

    # An operator sees it with the failed submissions, and replays it the same way.
    listed = local_stack.marquee("failed", "--json", "--source", "webhook")
    assert failed[0]["id"] in {f["id"] for f in json.loads(listed.stdout)}
    behaviour["redirect"] = False
    done = local_stack.marquee("retry", "--source", "webhook", failed[0]["id"])
    assert done.returncode == 0, done.stdout + done.stderr
    poll(lambda: (deliveries.get(failed[0]["id"]) or {}).get("state") == "delivered", timeout=30, what="the replay")
    assert len(deliveries_to(redirector, sid)) == 2
    metrics = local_stack.client.get("/metrics", headers=local_stack.ops_headers).text
    assert 'marquee_webhook_deliveries_total{result="failed"}' in metrics


def test_a_receiver_that_always_fails_is_given_up_after_a_bounded_schedule(local_stack, receivers):
    down = receivers(lambda n, r: (500, {"Retry-After": "0"}))
    name = f"down-{uuid.uuid4().hex[:6]}"
    local_stack.subscribe(name, down.url, "review.published")
    sid = submit(local_stack)
    deliveries = Deliveries(local_stack.redis)
    failed = poll(lambda: failed_to(deliveries, name, sid), timeout=60, what="giving up")
    assert failed[0]["attempts"] == "8" and "gave up after 8 attempt(s): HTTP 500" in failed[0]["last_error"]
    assert len(deliveries_to(down, sid)) == 8


def test_a_slow_receiver_does_not_delay_publication(local_stack, receivers):
    release = {"at": time.monotonic() + 4}

    def slow(n, r):
        while time.monotonic() < release["at"]:
            time.sleep(0.05)  # polling toward the deadline set above
        return 200, {}

    hanging = receivers(slow)
    local_stack.subscribe(f"slow-{uuid.uuid4().hex[:6]}", hanging.url, "review.published")
    sid = submit(local_stack)
    assert local_stack.wait_for(sid, timeout=3.5)["state"] == "published"
    assert time.monotonic() < release["at"]  # published while the receiver still held its delivery
    poll(lambda: deliveries_to(hanging, sid), timeout=30, what="the slow delivery")


def test_a_writer_with_a_callback_hears_about_their_own_reviews_only(local_stack, receivers):
    from shared.writers import new_secret

    callback = receivers(lambda n, r: (200, {}))
    writers = json.loads(local_stack.writers_file.read_text())
    carol_secret, carol_callback_secret = new_secret(), new_secret()
    writers["writers"]["carol"] = {
        "secrets": [carol_secret],
        "callback_url": callback.url,
        "callback_secrets": [carol_callback_secret],
    }
    local_stack.writers_file.write_text(json.dumps(writers))

    review = json.loads(fixture_bytes("glasshouse.json"))
    mine = local_stack.submit(
        json.dumps(review | {"title": "Carol's Film"}).encode(), writer="carol", secret=carol_secret
    )
    bad = local_stack.submit(
        json.dumps(review | {"title": "Carol's Bad", "rating": 6}).encode(), writer="carol", secret=carol_secret
    )
    other = submit(local_stack)  # alice's
    ids = [r.json()["id"] for r in (mine, bad)]
    for sid in (*ids, other):
        local_stack.wait_for(sid)
    poll(lambda: all(deliveries_to(callback, sid) for sid in ids), timeout=30, what="carol's callbacks")
    types = {r.json()["data"]["id"]: r.json()["type"] for r in callback.received}
    assert types == {ids[0]: "review.published", ids[1]: "review.rejected"}
    for request in callback.received:
        Webhook(carol_callback_secret).verify(request.body, request.headers)
