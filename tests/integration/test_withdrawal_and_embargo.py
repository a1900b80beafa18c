"""Withdrawing a published review, and holding one until its embargo lifts."""

from __future__ import annotations

import json
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.writers import sign
from tests.conftest import fixture_bytes
from tests.support.processes import RedisServer, Stack, poll

pytestmark = pytest.mark.integration


def review(**changes) -> bytes:
    base = json.loads(fixture_bytes("glasshouse.json")) | {"title": f"Held {uuid.uuid4().hex[:8]}"}
    return json.dumps(base | changes).encode()


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def published(stack, body: bytes) -> dict:
    record = stack.wait_for(stack.submit(body).json()["id"])
    assert record["state"] == "published", record
    return record


def test_a_writer_withdraws_a_published_review_everywhere_but_the_archive(local_stack):
    record = published(local_stack, review())
    manifest = httpx.get(record["urls"]["manifest"]).json()

    def in_feed() -> bool:
        feed = local_stack.client.get("/site/feeds/reviews.json").json()
        return any(item["_marquee"]["slug"] == record["slug"] for item in feed["items"])

    assert in_feed()
    response = local_stack.withdraw(record["id"])
    assert response.status_code == 202, response.text

    after = local_stack.wait_for(record["id"], "retracted")
    assert after["history"][-1]["stage"] == "retract"
    for url in [record["urls"]["manifest"], *(a["url"] for a in manifest["assets"])]:
        assert httpx.get(url).status_code == 404, url
    archive = Path(local_stack.env["MARQUEE_ARCHIVE_URL"].removeprefix("file://"))
    assert json.loads((archive / "submissions" / record["id"] / "request.json").read_bytes())[
        "body"
    ]  # the request is kept
    [event] = local_stack.events("review.retracted", record["id"])
    # It names the revision withdrawn, by its own manifest's address: gone now.
    assert event["data"]["revision"] == manifest["revision"]
    assert event["data"]["manifest_url"].endswith(f"/reviews/{record['slug']}/r/{manifest['revision']}/manifest.json")
    assert httpx.get(event["data"]["manifest_url"]).status_code == 404
    assert not in_feed()  # out of the feeds and the index too
    assert record["slug"] not in local_stack.client.get("/site/index.html").text


def test_only_the_writer_who_sent_it_may_withdraw_it(local_stack):
    record = published(local_stack, review())
    assert local_stack.withdraw(record["id"], secret=local_stack.other_secret).status_code == 401
    assert local_stack.withdraw("0" * 32).status_code == 404
    assert local_stack.status(record["id"])["state"] == "published"
    assert httpx.get(record["urls"]["manifest"]).status_code == 200


def test_a_rejected_review_cannot_be_withdrawn(local_stack):
    rejected = local_stack.wait_for(local_stack.submit(review(rating=8)).json()["id"])
    response = local_stack.withdraw(rejected["id"])
    assert response.status_code == 409 and "rejected" in response.json()["detail"]


def test_an_embargoed_review_is_scheduled_and_nothing_is_public_before_its_time(local_stack):
    publish_at = datetime.now(UTC) + timedelta(seconds=5)
    submission_id = local_stack.submit(review(publish_at=publish_at.isoformat())).json()["id"]
    held = local_stack.wait_for(submission_id, "scheduled", timeout=30)
    assert datetime.fromisoformat(held["scheduled_for"]) == publish_at
    slug = held["slug"]
    assert local_stack.client.get(f"/site/reviews/{slug}/manifest.json").status_code == 404
    assert local_stack.client.get(f"/site/reviews/{slug}/index.html").status_code == 404

    record = local_stack.wait_for(submission_id, "published", timeout=30)
    assert datetime.now(UTC) >= publish_at
    went_live = datetime.fromisoformat(record["history"][-1]["at"].replace("Z", "+00:00"))
    assert went_live >= publish_at
    assert httpx.get(record["urls"]["manifest"]).json()["published_at"].startswith(publish_at.isoformat()[:19])


def test_withdrawing_an_embargoed_review_means_it_never_appears(local_stack):
    submission_id = local_stack.submit(review(publish_at=in_seconds(3))).json()["id"]
    held = local_stack.wait_for(submission_id, "scheduled", timeout=30)
    assert local_stack.withdraw(submission_id).status_code == 202
    local_stack.wait_for(submission_id, "retracted", timeout=30)
    deadline = datetime.fromisoformat(held["scheduled_for"]) + timedelta(seconds=3)
    # Past the embargo and the next release sweeps, still nothing public.
    poll(lambda: datetime.now(UTC) > deadline, timeout=15, what="the embargo to pass")
    assert local_stack.client.get(f"/site/reviews/{held['slug']}/manifest.json").status_code == 404
    assert local_stack.status(submission_id)["state"] == "retracted"


@pytest.fixture
def own_stack(tmp_path):
    redis_server = RedisServer(tmp_path / "redis").start()
    stack = Stack(
        tmp_path / "stack",
        redis_url=redis_server.url,
        archive_url=str(tmp_path / "archive"),
        publish_url=str(tmp_path / "publish"),
        extra_env={"MARQUEE_SWEEP_INTERVAL": "1"},  # a Redis that forgot is noticed within a second
    )
    stack.start()
    yield stack, redis_server
    stack.stop()
    redis_server.stop()


def test_embargoes_survive_worker_and_redis_restarts(own_stack):
    stack, redis_server = own_stack
    soon = stack.submit(review(publish_at=in_seconds(8))).json()["id"]
    far = stack.submit(review(publish_at=in_seconds(24 * 3600))).json()["id"]
    for submission_id in (soon, far):
        stack.wait_for(submission_id, "scheduled", timeout=30)

    for process in [stack.workers["upload"], stack.beat]:
        process.send_signal(signal.SIGKILL)
        process.wait()
    redis_server.restart()  # SIGTERM, then the same port and append-only file
    stack.start_worker("upload")
    stack.beat = stack._spawn("beat", ["beat", "--schedule-file", str(stack.dir / "beat-schedule")])

    assert stack.wait_for(soon, "published", timeout=45)["state"] == "published"
    assert stack.status(far)["state"] == "scheduled"
    assert stack.redis.zscore("marquee:schedule", far) == pytest.approx(time.time() + 24 * 3600, abs=120)


def test_a_withdrawn_review_stays_withdrawn_when_redis_forgets_and_the_stack_repairs_itself(own_stack):
    stack, _ = own_stack
    record = published(stack, review())
    assert stack.withdraw(record["id"]).status_code == 202
    stack.wait_for(record["id"], "retracted")
    stack.redis.flushall()

    # Nobody runs anything: the sweeper finds the epoch gone and reconciles by itself.
    after = stack.wait_for(record["id"], "retracted", timeout=60)
    assert after["history"][-1]["stage"] == "reconcile"
    assert httpx.get(record["urls"]["manifest"]).status_code == 404
    assert stack.events("review.published", record["id"]) == []


# --- withdrawal touches only its own --------------------------------------------------------


def test_withdrawing_a_superseded_submission_is_refused_naming_the_live_one(local_stack):
    title = f"Superseded {uuid.uuid4().hex[:8]}"
    first = published(local_stack, review(title=title))
    second = published(local_stack, review(title=title, note="Revised."))
    assert second["slug"] == first["slug"]

    response = local_stack.withdraw(first["id"])
    assert response.status_code == 409, response.text
    assert second["id"] in response.json()["detail"]  # the writer learns which one is live
    manifest = httpx.get(second["urls"]["manifest"])
    assert manifest.status_code == 200 and manifest.json()["id"] == second["id"]
    assert local_stack.status(second["id"])["state"] == "published"


def test_withdrawing_a_scheduled_revision_cancels_only_its_schedule(local_stack):
    title = f"Scheduled revision {uuid.uuid4().hex[:8]}"
    live = published(local_stack, review(title=title))
    later = local_stack.submit(review(title=title, note="Coming later.", publish_at=in_seconds(3600))).json()["id"]
    local_stack.wait_for(later, "scheduled", timeout=30)

    assert local_stack.withdraw(later).status_code == 202
    local_stack.wait_for(later, "retracted", timeout=30)
    assert local_stack.redis.zscore("marquee:schedule", later) is None
    manifest = httpx.get(live["urls"]["manifest"])
    assert manifest.status_code == 200 and manifest.json()["id"] == live["id"]  # the live revision stays
    assert local_stack.status(live["id"])["state"] == "published"
    for asset in manifest.json()["assets"]:
        assert httpx.get(asset["url"]).status_code == 200, asset["url"]


def test_withdrawing_the_live_revision_removes_every_revision_of_it(local_stack):
    title = f"Live revision {uuid.uuid4().hex[:8]}"
    first = published(local_stack, review(title=title))
    old = httpx.get(first["urls"]["manifest"]).json()
    second = published(local_stack, review(title=title, note="Revised."))
    new = httpx.get(second["urls"]["manifest"]).json()

    assert local_stack.withdraw(second["id"]).status_code == 202
    local_stack.wait_for(second["id"], "retracted")
    for url in [
        second["urls"]["manifest"],
        second["urls"]["article"],
        *(a["url"] for a in old["assets"] + new["assets"]),
    ]:
        assert httpx.get(url).status_code == 404, url


def signed_withdrawal(stack, submission_id: str, *, body: bytes | None = None) -> dict[str, str]:
    """The headers a writer sends to withdraw ``submission_id``, and the body they sign."""
    body = json.dumps({"id": submission_id}).encode() if body is None else body
    headers = sign(stack.secret, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=int(time.time()), body=body)
    return {**headers, "content-type": "application/json"}


def test_a_withdrawal_signed_for_one_review_cannot_withdraw_another(local_stack):
    mine, other = published(local_stack, review()), published(local_stack, review())
    body = json.dumps({"id": mine["id"]}).encode()
    headers = signed_withdrawal(local_stack, mine["id"], body=body)
    # The same signed request, sent against the other review within the five minutes.
    response = local_stack.client.request("DELETE", f"/v1/reviews/{other['id']}", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert mine["id"] in response.json()["detail"] and other["id"] in response.json()["detail"]
    # So is one signed over an empty body, as withdrawals were: it names no review at all.
    empty = signed_withdrawal(local_stack, other["id"], body=b"")
    refused = local_stack.client.request("DELETE", f"/v1/reviews/{other['id']}", headers=empty)
    assert refused.status_code == 400, refused.text
    assert f'{{"id": "{other["id"]}"}}' in refused.json()["detail"]  # it says what to send
    assert local_stack.status(other["id"])["state"] == "published"
    assert httpx.get(other["urls"]["manifest"]).status_code == 200
    # The request signed for its own review still withdraws it.
    response = local_stack.client.request("DELETE", f"/v1/reviews/{mine['id']}", content=body, headers=headers)
    assert response.status_code == 202, response.text


def test_a_replayed_withdrawal_is_refused_as_already_used(local_stack):
    submission_id = local_stack.submit(review(publish_at=in_seconds(24 * 3600))).json()["id"]
    local_stack.wait_for(submission_id, "scheduled", timeout=30)
    body = json.dumps({"id": submission_id}).encode()
    headers = signed_withdrawal(local_stack, submission_id, body=body)
    first = local_stack.client.request("DELETE", f"/v1/reviews/{submission_id}", content=body, headers=headers)
    assert first.status_code == 202, first.text
    again = local_stack.client.request("DELETE", f"/v1/reviews/{submission_id}", content=body, headers=headers)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert headers["webhook-id"] in again.json()["detail"] and "already used" in again.json()["detail"]
    local_stack.wait_for(submission_id, "retracted", timeout=30)
