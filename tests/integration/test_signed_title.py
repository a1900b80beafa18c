"""Where a published title came from, through the real pipeline: the status and review.json
say whether it was in the signed body or the unsigned ?title=; and a rejection names every
problem at once, the revision's among them."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.conftest import fixture_bytes, fixture_json
from tests.support.event_contract import published_violations

pytestmark = pytest.mark.integration


def published_review_json(stack, response) -> tuple[dict, dict]:
    """(status, review.json fetched over HTTP as a consumer would) once published."""
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "published", record["errors"]
    return record, httpx.get(record["urls"]["review"], timeout=10).json()


def test_a_query_title_is_recorded_as_query_in_the_status_and_review_json(stack):
    title = f"The Quiet Elephant {uuid.uuid4().hex[:6]}"
    queried = stack.submit(fixture_bytes("untitled-circus.txt"), content_type="text/plain", params={"title": title})
    record, review = published_review_json(stack, queried)
    assert record["title_source"] == review["title_source"] == "query"
    assert review["title"] == title
    assert published_violations("review.json", review) == []

    signed = f"Title: {title} Signed\n".encode() + fixture_bytes("untitled-circus.txt")
    record, review = published_review_json(stack, stack.submit(signed, content_type="text/plain"))
    assert record["title_source"] == review["title_source"] == "body"
    assert published_violations("review.json", review) == []


def test_a_rejection_names_the_content_problems_and_the_revision_together(local_stack):
    review = fixture_json("glasshouse.json") | {"title": "Glasshouse Both", "rating": 9, "replaces": "0" * 32}
    response = local_stack.submit(json.dumps(review).encode())
    assert response.status_code == 202, response.text
    record = local_stack.wait_for(response.json()["id"])
    assert record["state"] == "rejected"
    assert {e["field"] for e in record["errors"]} == {"rating", "replaces"}
    [event] = local_stack.events("review.rejected", response.json()["id"])
    assert event["data"]["errors"] == record["errors"]
