"""Every problem at once: a refusal names what could not be read and what is wrong with the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.content_rules import check_fields, every_problem
from shared.errors import MalformedSubmission
from shared.parsing import parse_submission
from tests.conftest import fixture_bytes, fixture_json

NOW = datetime(2026, 6, 1, tzinfo=UTC)

THREE_PROBLEMS = """Title: The Lamplighter
Cert (UK): 21
Runtime: -5 mins
Director: Ada Quill
Rating *******
The Lamplighter follows one night in a town without power. Quill keeps the camera close. It earns its end.

Written by Sam Okonjo
"""


def refusal(body: bytes, content_type: str, **kwargs) -> MalformedSubmission:
    with pytest.raises(MalformedSubmission) as caught:
        parse_submission(body, content_type=content_type, **kwargs)
    return caught.value


def by_field(problems) -> dict[str, str]:
    return {p.field: p.message for p in problems}


def test_a_text_review_with_three_problems_names_all_three():
    problems = by_field(every_problem(refusal(THREE_PROBLEMS.encode(), "text/plain"), now=NOW))
    assert problems == {
        "runtime_minutes": "cannot read '-5 mins' as a runtime; write '126 mins' or '2h 6m'",
        "certificate": "'21' is not a BBFC certificate; use one of U, PG, 12A, 12, 15, 18, R18",
        "rating": "7 is not a rating; use 0 to 5 stars in steps of a half",
    }


def test_a_json_review_with_three_problems_names_all_three():
    review = fixture_json("glasshouse.json") | {"runtime_minutes": "-5 mins", "certificate": "21", "rating": 7}
    problems = by_field(every_problem(refusal(json.dumps(review).encode(), "application/json"), now=NOW))
    assert set(problems) == {"runtime_minutes", "certificate", "rating"}
    assert problems["runtime_minutes"] == "must be a whole number"


def test_the_readable_fields_are_judged_as_read_stripped_and_cleaned():
    review = fixture_json("glasshouse.json") | {"rating": "four", "title": "  " + "x" * 201 + " ", "extra": 1}
    exc = refusal(json.dumps(review).encode(), "application/json")
    assert exc.readable is not None and "rating" not in exc.readable and "extra" not in exc.readable
    problems = by_field(every_problem(exc, now=NOW))
    assert problems == {
        "rating": "must be a number from 0 to 5",
        "extra": "is not a field of a review",
        "title": "the title is 201 characters; the limit is 200",
    }


def test_a_field_that_cannot_be_read_is_named_once_with_why():
    # The runtime is named for being unreadable, not judged again as a number.
    exc = refusal(THREE_PROBLEMS.replace("Runtime: -5 mins\n", "").encode(), "text/plain")
    assert by_field(every_problem(exc, now=NOW))["runtime_minutes"].startswith("no runtime line found")


def test_a_body_that_cannot_be_read_at_all_has_nothing_else_to_judge():
    exc = refusal(b'{"title": ', "application/json")
    assert exc.readable is None and [p.field for p in every_problem(exc, now=NOW)] == ["body"]


def test_absent_fields_are_not_judged():
    assert check_fields({}, now=NOW) == []
    assert by_field(check_fields({"rating": 6}, now=NOW)) == {
        "rating": "6 is not a rating; use 0 to 5 stars in steps of a half"
    }


def test_a_good_review_read_whole_has_no_problems_left():
    submission = parse_submission(fixture_bytes("night-ferry.txt"), content_type="text/plain")
    assert check_fields(dict(submission), now=NOW) == []
