from datetime import UTC, datetime

import pytest

from services.validate.rules import build_review, check_submission, count_sentences
from shared.models import ReviewSubmission
from shared.parsing import parse_json_review
from tests.conftest import fixture_bytes

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def submission(**changes) -> ReviewSubmission:
    return parse_json_review(fixture_bytes("glasshouse.json")).model_copy(update=changes)


def problems(**changes) -> dict[str, str]:
    return {p.field: p.message for p in check_submission(submission(**changes), now=NOW)}


def test_a_good_review_has_no_problems():
    assert problems() == {}


@pytest.mark.parametrize("certificate", ["U", "PG", "12A", "12a", "12", "15", "18", "R18", " 15 "])
def test_bbfc_certificates_are_accepted(certificate):
    assert "certificate" not in problems(certificate=certificate)


@pytest.mark.parametrize("certificate", ["XX", "PG-13", "R", "", "16"])
def test_other_certificates_are_named(certificate):
    assert "not a BBFC certificate" in problems(certificate=certificate)["certificate"]


@pytest.mark.parametrize("rating", [0, 0.5, 2.5, 5])
def test_ratings_in_half_steps_from_0_to_5(rating):
    assert "rating" not in problems(rating=rating)


@pytest.mark.parametrize("rating", [-1, 5.5, 7, 3.3, 4.75])
def test_other_ratings_are_named(rating):
    assert "0 to 5 stars in steps of a half" in problems(rating=rating)["rating"]


@pytest.mark.parametrize(("runtime", "ok"), [(0, False), (1, True), (600, True), (601, False), (-5, False)])
def test_runtime_between_1_and_600_minutes(runtime, ok):
    assert ("runtime_minutes" not in problems(runtime_minutes=runtime)) == ok


def test_every_problem_is_reported_at_once_one_per_field():
    found = problems(certificate="XX", rating=9, runtime_minutes=0, author="", title="t" * 201, body="Too short.")
    assert set(found) == {"certificate", "rating", "runtime_minutes", "author", "title", "body"}


def test_author_names_must_be_under_100_characters():
    assert "author" not in problems(author="a" * 99)
    assert "under 100" in problems(author="a" * 100)["author"]


def test_a_body_needs_a_few_sentences():
    assert "write at least 3" in problems(body="One. Two words. Fine.")["body"]
    assert "body" not in problems(body="This is the first one. Here is a second one! And is this a third one?")


def test_sentences_of_fewer_than_three_words_do_not_count():
    assert count_sentences("Wow. Great film. It really is very good. I loved the ending a lot.") == 2


def test_directors_year_and_publish_at_are_checked():
    assert "directors" in problems(directors=[])
    assert "year" in problems(year=1700)
    assert "year" not in problems(year=1895)
    assert "time zone" in problems(publish_at=datetime(2026, 1, 1))["publish_at"]


def test_build_review_normalises_what_was_read():
    review = build_review(
        submission(certificate="12a", directors=["A", ""]),
        id="x" * 32,
        writer="alice",
        slug="glasshouse-2025",
        revision=1,
        date_published=NOW,
    )
    assert review.certificate == "12A" and review.directors == ["A"]
    assert len(review.paragraphs) == 2 and review.rating == 4.0
