"""The ingest service over real HTTP: authentication, limits, problem bodies, deduplication."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.writers import new_secret
from tests.conftest import fixture_bytes

pytestmark = pytest.mark.integration

REVIEW = fixture_bytes("glasshouse.json")


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def submission_count(stack) -> int:
    return sum(1 for key in stack.redis.scan_iter("marquee:sub:*") if key.count(":") == 2)


@pytest.mark.parametrize("attempt", ["wrong secret", "stale", "future", "unknown writer", "other writer", "unsigned"])
def test_requests_that_cannot_be_authenticated_get_401_with_no_hint(local_stack, attempt):
    before = submission_count(local_stack)
    cases: dict[str, dict[str, Any]] = {
        "wrong secret": {"secret": new_secret()},
        # Half a minute past the 300 s tolerance, so that a slow machine's delay in
        # delivering the request cannot bring it back within it.
        "stale": {"timestamp": int(time.time()) - 330},
        "future": {"timestamp": int(time.time()) + 330},
        "unknown writer": {"writer": "mallory"},
        "other writer": {"secret": local_stack.other_secret},  # bob's secret, alice's path
    }
    kwargs = cases.get(attempt, {})
    if attempt == "unsigned":
        response = local_stack.client.post(
            "/v1/writers/alice/reviews", content=REVIEW, headers={"content-type": "application/json"}
        )
    else:
        response = local_stack.submit(REVIEW, **kwargs)
    body = assert_problem(response, 401)
    assert body["detail"] == (
        "The request could not be authenticated. Sign it per Standard Webhooks with a current timestamp."
    )
    assert submission_count(local_stack) == before


def test_malformed_json_gets_400_naming_the_problem(local_stack):
    body = assert_problem(local_stack.submit(b'{"title": "Glasshouse",'), 400)
    assert body["errors"][0]["field"] == "body" and "not valid JSON" in body["errors"][0]["message"]


def test_wrongly_typed_fields_get_422_with_one_error_each(local_stack):
    review = json.loads(REVIEW) | {"rating": "four", "directors": "Anneke Voss"}
    body = assert_problem(local_stack.submit(json.dumps(review).encode()), 422)
    assert {e["field"] for e in body["errors"]} == {"rating", "directors"}


def test_a_text_review_without_a_title_is_refused_saying_so(local_stack):
    body = assert_problem(local_stack.submit(fixture_bytes("untitled-circus.txt"), content_type="text/plain"), 422)
    assert [e["field"] for e in body["errors"]] == ["title"]


def test_a_body_over_1_mib_gets_413(local_stack):
    big = b'{"body": "' + b"x" * (1024 * 1024) + b'"}'
    assert_problem(local_stack.submit(big), 413)


def test_a_chunked_body_over_1_mib_gets_413_too(local_stack):
    # No Content-Length to trust: the service counts what arrives.
    from shared.writers import sign

    big = b"x" * (1024 * 1024 + 10)
    headers = sign(local_stack.secret, msg_id="msg_chunked", timestamp=int(time.time()), body=big)
    response = local_stack.client.post(
        "/v1/writers/alice/reviews",
        content=iter([big[:500_000], big[500_000:]]),
        headers={**headers, "content-type": "text/plain"},
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("content_type", ["text/html", "application/xml", "multipart/form-data; boundary=x"])
def test_other_content_types_get_415(local_stack, content_type):
    assert_problem(local_stack.submit(REVIEW, content_type=content_type), 415)


def test_a_repeated_webhook_id_returns_the_first_submission_and_queues_nothing(local_stack):
    body = REVIEW.replace(b"Glasshouse", b"Glasshouse Again")
    first = local_stack.submit(body, msg_id="msg_repeat_1")
    before = submission_count(local_stack)
    again = local_stack.submit(body, msg_id="msg_repeat_1")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert submission_count(local_stack) == before
    record = local_stack.wait_for(first.json()["id"])
    assert [h["state"] for h in record["history"]].count("received") == 1
    # Another writer may use the same webhook-id: ids are per sender.
    other = local_stack.submit(body, msg_id="msg_repeat_1", writer="bob", secret=local_stack.other_secret)
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]


def test_a_rotated_secret_still_verifies(local_stack):
    writers = json.loads(local_stack.writers_file.read_text())
    old_secret = writers["writers"]["alice"]["secrets"][0]
    assert (
        local_stack.submit(REVIEW.replace(b"Glasshouse", b"Glasshouse Old Key"), secret=old_secret).status_code == 202
    )


def test_status_reveals_state_never_the_reviews_text(local_stack):
    submission_id = local_stack.submit(REVIEW.replace(b"Glasshouse", b"Glasshouse Status")).json()["id"]
    record = local_stack.wait_for(submission_id)
    assert set(record) == {
        "id",
        "writer",
        "state",
        "slug",
        "title_source",
        "errors",
        "urls",
        "history",
        "scheduled_for",
        "superseded_by",
    }
    assert record["writer"] == "alice" and len(submission_id) == 32 and record["superseded_by"] is None
    assert "botanist" not in json.dumps(record)


@pytest.mark.parametrize("submission_id", ["0" * 32, "not-an-id", "../../etc/passwd"])
def test_unknown_ids_get_404(local_stack, submission_id):
    assert_problem(local_stack.client.get(f"/v1/reviews/{submission_id}"), 404)


def test_health_and_readiness(local_stack):
    assert local_stack.client.get("/healthz").json() == {"status": "ok"}
    assert local_stack.client.get("/readyz").json() == {"status": "ready"}


def add_writer(stack, name: str) -> str:
    from shared.writers import new_secret as make_secret

    secret = make_secret()
    writers = json.loads(stack.writers_file.read_text())
    writers["writers"][name] = {"secrets": [secret]}
    stack.writers_file.write_text(json.dumps(writers))
    return secret


def test_a_writer_over_the_rate_limit_gets_429_with_retry_after(local_stack):
    writer = f"rate-{os.getpid()}-{int(time.time())}"
    secret = add_writer(local_stack, writer)
    # Signed but unreadable bodies count against the limit without queueing anything.
    answers = [local_stack.submit(b"{", writer=writer, secret=secret).status_code for _ in range(60)]
    assert answers == [400] * 60
    refused = local_stack.submit(REVIEW, writer=writer, secret=secret)
    body = assert_problem(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60 and "60/minute" in body["detail"]
    # Others are not held back by one writer's burst.
    assert local_stack.submit(b"{").status_code == 400


def test_the_same_webhook_delivered_five_times_at_once_is_one_submission_and_one_publication(local_stack):
    body = REVIEW.replace(b"Glasshouse", f"Glasshouse Burst {time.time_ns()}".encode())
    msg_id = f"msg_burst_{time.time_ns()}"
    before = submission_count(local_stack)
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: local_stack.submit(body, msg_id=msg_id), range(5)))
    assert [a.status_code for a in answers] == [202] * 5
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1 and submission_count(local_stack) == before + 1
    (submission_id,) = ids
    assert local_stack.wait_for(submission_id)["state"] == "published"
    assert len(local_stack.events("review.published", submission_id)) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deep enough to exhaust a recursive parser
        b'{"title": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        b'{"cast": [' + b",".join([b"[]"] * 50_000) + b"]}",  # wide rather than deep
    ],
    ids=["deep", "deep-field", "wide"],
)
def test_deeply_nested_or_wide_json_gets_400_naming_the_limit(local_stack, body):
    problem = assert_problem(local_stack.submit(body, writer="fuzz", secret=local_stack.fuzz_secret), 400)
    assert "limit" in problem["detail"] and problem["errors"][0]["field"] == "body"


def test_an_unsigned_withdrawal_over_the_size_limit_gets_413_not_500(local_stack):
    record_id = local_stack.submit(REVIEW.replace(b"Glasshouse", b"Glasshouse Big Delete")).json()["id"]
    response = local_stack.client.request("DELETE", f"/v1/reviews/{record_id}", content=b"x" * (2 * 1024 * 1024))
    assert_problem(response, 413)
    # Without a Content-Length to go by, counted as it arrives.
    chunked = local_stack.client.request(
        "DELETE", f"/v1/reviews/{record_id}", content=iter([b"x" * (1024 * 1024), b"x" * (1024 * 1024)])
    )
    assert_problem(chunked, 413)


@pytest.mark.parametrize(
    "body, says",
    [
        (b"withdraw it", "not valid JSON"),
        (b'{"id": "ID", "reason": "typo"}', "nothing else"),
        (b'["ID"]', "nothing else"),
        (b"[" * 500 + b"]" * 500, "limit"),
    ],
    ids=["not-json", "extra-field", "not-an-object", "deep"],
)
def test_a_withdrawal_whose_body_does_not_name_the_review_gets_400_saying_what_to_send(local_stack, body, says):
    from shared.writers import sign

    submission_id = local_stack.submit(REVIEW.replace(b"Glasshouse", b"Glasshouse Body")).json()["id"]
    body = body.replace(b"ID", submission_id.encode())
    headers = sign(local_stack.secret, msg_id=f"msg_{time.time_ns()}", timestamp=int(time.time()), body=body)
    response = local_stack.client.request("DELETE", f"/v1/reviews/{submission_id}", content=body, headers=headers)
    problem = assert_problem(response, 400)
    assert says in problem["detail"] and f'{{"id": "{submission_id}"}}' in problem["detail"]


@pytest.mark.parametrize(
    "broken",
    ['{"writers": {"alice": {"secrets": ["whsec_', '{"writers": {"alice": {"secrets": ["plain-password"]}}}'],
    ids=["half-written", "invalid"],
)
def test_a_broken_writers_file_is_refused_and_the_last_good_one_stays_in_force(local_stack, broken):
    good = local_stack.writers_file.read_text()
    log = local_stack.dir / "ingest.log"
    offset = log.stat().st_size
    assert local_stack.submit(b"{").status_code == 400  # the good file is loaded
    try:
        local_stack.writers_file.write_text(broken)
        later = time.time() + 2  # a new mtime even on a coarse-clocked filesystem
        os.utime(local_stack.writers_file, (later, later))
        for _ in range(3):
            assert local_stack.submit(b"{").status_code == 400  # authenticated by the last good copy
        lines = [line for line in log.read_text()[offset:].splitlines() if "writers" in line and "refused" in line]
        assert len(lines) == 1, lines  # one line per refused version, not one per request
        assert str(local_stack.writers_file) in lines[0]
        for writer in json.loads(good)["writers"].values():
            assert all(secret.removeprefix("whsec_") not in lines[0] for secret in writer["secrets"])
        assert "plain-password" not in lines[0]
    finally:
        local_stack.writers_file.write_text(good)
        later = time.time() + 4
        os.utime(local_stack.writers_file, (later, later))
    assert local_stack.submit(b"{").status_code == 400
