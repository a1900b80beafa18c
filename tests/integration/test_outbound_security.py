"""Outbound security on the real stack, over real HTTP: callbacks are signed with secrets of
their own (never the writer's submitting secret), rotations overlap, and a delivery the SSRF
guard refuses fails at once, saying why, where an operator looks."""

from __future__ import annotations

import json
import uuid

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.outbound.deliveries import Deliveries
from shared.writers import new_secret
from tests.conftest import fixture_bytes
from tests.support.processes import poll, rewrite
from tests.support.receivers import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start(respond=lambda n, r: (204, {}), **where) -> Receiver:
        started.append(Receiver(respond, **where))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


def put_writer(stack, writer: str, entry: dict) -> None:
    data = json.loads(stack.writers_file.read_text())
    data["writers"][writer] = entry
    rewrite(stack.writers_file, json.dumps(data))


def submit_as(stack, writer: str, secret: str) -> str:
    review = json.loads(fixture_bytes("glasshouse.json")) | {"title": f"Outbound {uuid.uuid4().hex[:8]}"}
    response = stack.submit(json.dumps(review).encode(), writer=writer, secret=secret)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def deliveries_to(receiver: Receiver, submission_id: str) -> list:
    return [r for r in receiver.received if r.json()["data"]["id"] == submission_id]


def failed_delivery(stack, submission_id: str) -> dict:
    deliveries = Deliveries(stack.redis)
    return poll(
        lambda: next((d for d in deliveries.failed() if d["submission_id"] == submission_id), None),
        timeout=30,
        what="the failed delivery",
    )


def test_callbacks_verify_with_the_callback_secrets_never_the_inbound_one_and_both_during_a_rotation(
    local_stack, receivers
):
    callback = receivers()
    writer, inbound, old, new = f"rot-{uuid.uuid4().hex[:6]}", new_secret(), new_secret(), new_secret()
    entry = {"secrets": [inbound], "callback_url": callback.url, "callback_secrets": [old, new]}
    put_writer(local_stack, writer, entry)

    during = submit_as(local_stack, writer, inbound)
    (request,) = poll(lambda: deliveries_to(callback, during), timeout=30, what="the callback during the rotation")
    assert len(request.headers["webhook-signature"].split(" ")) == 2  # v1,<by old> v1,<by new>
    Webhook(old).verify(request.body, request.headers)  # raises on a bad signature
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(inbound).verify(request.body, request.headers)  # what the writer submits with

    # The receiver has moved to the new secret: the old one is removed, and no longer signs.
    put_writer(local_stack, writer, entry | {"callback_secrets": [new]})
    after = submit_as(local_stack, writer, inbound)
    (request,) = poll(lambda: deliveries_to(callback, after), timeout=30, what="the callback after the rotation")
    Webhook(new).verify(request.body, request.headers)
    for other in (old, inbound):
        with pytest.raises(WebhookVerificationError):
            Webhook(other).verify(request.body, request.headers)


def test_a_writer_without_callback_secrets_submits_but_gets_no_callback_and_the_failure_says_why(
    local_stack, receivers
):
    callback = receivers()
    writer, inbound = f"old-{uuid.uuid4().hex[:6]}", new_secret()
    put_writer(local_stack, writer, {"secrets": [inbound], "callback_url": callback.url})  # the shape of before

    submission = submit_as(local_stack, writer, inbound)  # ingest still takes it
    assert local_stack.wait_for(submission)["state"] == "published"
    failed = failed_delivery(local_stack, submission)
    assert failed["subscriber"] == f"writer:{writer}" and failed["attempts"] == "0"
    assert failed["last_error"].startswith(f"refused: writer '{writer}' has no callback_secrets")
    assert callback.received == []

    listed = json.loads(local_stack.marquee("failed", "--json", "--source", "webhook").stdout)
    assert any(f["id"] == failed["id"] and "no callback_secrets" in f["error"] for f in listed)
    log = (local_stack.dir / "worker-notify.log").read_text()
    assert f"writer '{writer}' has a callback_url but no callback_secrets" in log  # said when the file loaded
    assert inbound not in log and inbound.removeprefix("whsec_") not in log


def test_a_delivery_to_a_name_that_leads_to_a_refused_address_fails_at_once_and_says_why(local_stack, receivers):
    # Loaded, the URL is a name and passes; delivered, it resolves to 127.0.0.2, a loopback
    # address the stack does not allow (MARQUEE_OUTBOUND_ALLOW is 127.0.0.1/32), where a
    # receiver waits to catch anything that got through.
    guarded = receivers(host="127.0.0.2")
    name = f"inside-{uuid.uuid4().hex[:6]}.marquee.test"
    local_stack.add_host(name, "127.0.0.2")
    subscriber = f"inside-{uuid.uuid4().hex[:6]}"
    secret = local_stack.subscribe(subscriber, f"http://{name}:{guarded.port}/hook", "review.published")
    try:
        check_refused(local_stack, name=name, secret=secret, guarded=guarded)
    finally:  # the session's stack is shared: later tests' reviews are not delivered here
        local_stack.unsubscribe(subscriber)


def check_refused(local_stack, *, name: str, secret: str, guarded) -> None:

    submission = submit_as(local_stack, "alice", local_stack.secret)
    assert local_stack.wait_for(submission)["state"] == "published"  # a delivery never fails the review
    failed = failed_delivery(local_stack, submission)
    assert failed["last_error"].startswith(f"refused: {name} resolves to 127.0.0.2, a loopback address")
    assert "MARQUEE_OUTBOUND_ALLOW" in failed["last_error"]
    assert failed["attempts"] == "0" and guarded.received == []  # nothing sent, and no retry

    listed = json.loads(local_stack.marquee("failed", "--json", "--source", "webhook").stdout)
    assert any(f["id"] == failed["id"] and "127.0.0.2, a loopback address" in f["error"] for f in listed)
    log = (local_stack.dir / "worker-notify.log").read_text()
    refusals = [line for line in log.splitlines() if "webhook.refused" in line and failed["id"] in line]
    assert len(refusals) == 1 and name in refusals[0]
    assert secret not in log and secret.removeprefix("whsec_") not in log
