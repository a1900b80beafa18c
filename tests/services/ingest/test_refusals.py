"""What a writer is told when ingest refuses a review, over real HTTP: every problem at once,
an unsigned title where the writer requires a signed one, and a content type the body belies."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from shared.writers import new_secret
from tests.conftest import fixture_bytes, fixture_json

pytestmark = pytest.mark.integration

THREE_PROBLEMS = """Title: The Lamplighter
Cert (UK): 21
Runtime: -5 mins
Director: Ada Quill
Cast: Ben Ross
Rating *******
The Lamplighter follows one night in a town without power. Quill keeps the camera close and the talk sparse. It is a small film that earns its ending.

Written by Sam Okonjo
"""


def problem(response, status: int) -> dict[str, str]:
    """The problem document's errors, by field, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    fields = [e["field"] for e in body["errors"]]
    assert len(fields) == len(set(fields)), fields  # one entry a field
    return {e["field"]: e["message"] for e in body["errors"]}


def test_a_text_review_with_three_problems_is_refused_once_naming_all_three(local_stack):
    errors = problem(local_stack.submit(THREE_PROBLEMS.encode(), content_type="text/plain; charset=utf-8"), 422)
    assert set(errors) == {"runtime_minutes", "certificate", "rating"}
    assert "'-5 mins'" in errors["runtime_minutes"]
    assert "'21' is not a BBFC certificate" in errors["certificate"]
    assert "7 is not a rating" in errors["rating"]


def test_a_json_review_with_three_problems_is_refused_once_naming_all_three(local_stack):
    review = fixture_json("glasshouse.json") | {"runtime_minutes": "-5 mins", "certificate": "21", "rating": 7}
    errors = problem(local_stack.submit(json.dumps(review).encode()), 422)
    assert set(errors) == {"runtime_minutes", "certificate", "rating"}
    assert errors["runtime_minutes"] == "must be a whole number"
    assert "'21' is not a BBFC certificate" in errors["certificate"]
    assert "7 is not a rating" in errors["rating"]


def test_a_readable_review_with_content_problems_is_still_accepted_then_rejected(local_stack):
    # Nothing unreadable: ingest takes it, and the validate stage names every problem (as before).
    review = fixture_json("glasshouse.json") | {"title": "Glasshouse Accepted", "certificate": "21", "rating": 7}
    response = local_stack.submit(json.dumps(review).encode())
    assert response.status_code == 202, response.text
    record = local_stack.wait_for(response.json()["id"])
    assert record["state"] == "rejected" and {e["field"] for e in record["errors"]} == {"certificate", "rating"}


def test_a_json_review_missing_its_body_field_is_422_not_400(local_stack):
    # The review's "body" field is a field like any other; 400 is for a request body that cannot be read.
    review = fixture_json("glasshouse.json")
    del review["body"]
    errors = problem(local_stack.submit(json.dumps(review | {"rating": 9}).encode()), 422)
    assert errors == {"body": "is required", "rating": "9 is not a rating; use 0 to 5 stars in steps of a half"}


# --- Say what was signed ------------------------------------------------------------------

UNTITLED = fixture_bytes("untitled-circus.txt")


def add_writer(stack, name: str, **entry) -> str:
    """A writer of this test's own in the running stack's writers file (re-read on change)."""
    secret = new_secret()
    writers = json.loads(stack.writers_file.read_text())
    writers["writers"][name] = {"secrets": [secret], **entry}
    stack.writers_file.write_text(json.dumps(writers))
    later = time.time() + 2  # a new mtime even on a coarse-clocked filesystem
    os.utime(stack.writers_file, (later, later))
    return secret


@pytest.fixture(scope="module")
def strict_writer(local_stack) -> tuple[str, str]:
    """A writer whose entry requires signed titles: (name, secret)."""
    name = f"strict-{uuid.uuid4().hex[:8]}"
    return name, add_writer(local_stack, name, require_signed_title=True)


def test_an_unsigned_title_is_refused_for_a_writer_who_requires_signed_ones(local_stack, strict_writer):
    name, secret = strict_writer
    response = local_stack.submit(
        UNTITLED, content_type="text/plain", params={"title": "The Quiet Elephant"}, writer=name, secret=secret
    )
    errors = problem(response, 422)
    assert set(errors) == {"title"} and errors["title"].startswith("the title must be in the signed body")
    assert "The Quiet Elephant" not in response.text


def test_a_signed_title_is_accepted_for_that_writer_and_recorded_as_body(local_stack, strict_writer):
    name, secret = strict_writer
    titled = b"Title: The Quiet Elephant Signed\n" + UNTITLED
    response = local_stack.submit(titled, content_type="text/plain", writer=name, secret=secret)
    assert response.status_code == 202, response.text
    assert local_stack.status(response.json()["id"])["title_source"] == "body"


def test_the_status_says_whether_the_title_was_signed(local_stack):
    query = local_stack.submit(UNTITLED, content_type="text/plain", params={"title": "The Quiet Elephant Query"})
    json_review = fixture_json("glasshouse.json") | {"title": "Glasshouse Source"}
    # A JSON review's title is its body's: a ?title= beside it is ignored, and recorded as such.
    body = local_stack.submit(json.dumps(json_review).encode(), params={"title": "Ignored"})
    assert query.status_code == body.status_code == 202, (query.text, body.text)
    assert local_stack.status(query.json()["id"])["title_source"] == "query"
    assert local_stack.status(body.json()["id"])["title_source"] == "body"


# --- Content type against the body -----------------------------------------------------------


def test_a_json_object_sent_as_text_gets_415_naming_both(local_stack):
    response = local_stack.submit(fixture_bytes("glasshouse.json"), content_type="text/plain; charset=utf-8")
    errors = problem(response, 415)
    detail = response.json()["detail"]
    assert "text/plain" in detail and "a JSON object" in detail and "application/json" in detail
    assert set(errors) == {"content-type"}


def test_a_text_review_sent_as_json_gets_415_naming_both(local_stack):
    response = local_stack.submit(fixture_bytes("night-ferry.txt"), content_type="application/json")
    errors = problem(response, 415)
    detail = response.json()["detail"]
    assert "application/json" in detail and "not JSON" in detail and "'Title: The Night Ferry'" in detail
    assert "text/plain" in detail and set(errors) == {"content-type"}


def test_broken_json_sent_as_json_is_still_400_saying_where(local_stack):
    errors = problem(local_stack.submit(b'{"title": "Glasshouse",'), 400)
    assert "not valid JSON" in errors["body"]


def test_text_that_begins_with_a_brace_is_still_read_as_text(local_stack):
    # Only a body that is a JSON object from end to end is taken for JSON: this one is read as
    # text, and the text parser says what it makes of it (its first line is no header).
    text = b"{draft} " + fixture_bytes("night-ferry.txt")
    errors = problem(local_stack.submit(text, content_type="text/plain"), 422)
    assert "title" in errors and "content-type" not in errors
