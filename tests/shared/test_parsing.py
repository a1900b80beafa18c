"""The text format's quirks, as scraped pages carry them, and JSON's shape checks."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import MalformedSubmission
from shared.parsing import (
    clean_text,
    media_type_problem,
    parse_json_review,
    parse_submission,
    parse_text_review,
    read_rating,
    read_runtime,
    split_paragraphs,
)
from tests.conftest import fixture_bytes


def problems_of(call) -> dict[str, str]:
    with pytest.raises(MalformedSubmission) as caught:
        call()
    return {p.field: p.message for p in caught.value.problems}


def test_the_seed_format_is_read_field_by_field():
    review = parse_text_review(fixture_bytes("night-ferry.txt").decode())
    assert review.title == "The Night Ferry"
    assert review.certificate == "15"
    assert review.runtime_minutes == 104
    assert review.directors == ["Ines Valdrada"]
    assert review.cast == ["Oskar Lindqvist", "Maren Achterberg", "Jules Paget"]
    assert review.rating == 3.5
    assert review.author == "Dana Whitlock"
    assert review.note == "The Night Ferry is in cinemas from 3 March"


def test_the_body_keeps_its_paragraphs_and_drops_the_sites_furniture():
    review = parse_text_review(fixture_bytes("night-ferry.txt").decode())
    paragraphs = split_paragraphs(review.body)
    assert len(paragraphs) == 3  # runs of blank lines are one break
    assert paragraphs[0].startswith("The Night Ferry takes a single overnight crossing")
    assert "ship’s corridors" in paragraphs[0]  # curly quotes are text, kept as sent
    assert "“seen everything twice”" in paragraphs[2]
    for text in (review.body, review.note or ""):
        assert "Follow Us" not in text and "App Store" not in text and "•" not in text
        assert "\u00a0" not in text and not any(line != line.strip() for line in text.split("\n"))


def test_non_breaking_spaces_and_trailing_blanks_are_spaces():
    assert clean_text("Cert (UK):\u00a015\u00a0  \r\nRating ***\u00a0\u00a0") == "Cert (UK): 15\nRating ***"


def test_a_title_comes_from_a_header_line_else_the_query():
    text = fixture_bytes("untitled-circus.txt").decode()
    assert parse_text_review(text, title="The Quiet Elephant").title == "The Quiet Elephant"
    assert parse_text_review("Title: From The Header\n" + text, title="ignored").title == "From The Header"
    problems = problems_of(lambda: parse_text_review(text))
    assert set(problems) == {"title"} and "?title=" in problems["title"]


def test_a_text_review_missing_its_lines_names_each_one():
    problems = problems_of(lambda: parse_text_review("Title: Bare\n\nJust a body. With words in it. And more."))
    assert set(problems) == {"certificate", "directors", "author", "runtime_minutes", "rating"}
    assert "Written by" in problems["author"]


def test_an_unreadable_rating_or_runtime_is_named_with_what_was_sent():
    text = fixture_bytes("night-ferry.txt").decode().replace("***½", "excellent!").replace("104 mins", "long")
    problems = problems_of(lambda: parse_text_review(text))
    assert set(problems) == {"runtime_minutes", "rating"}
    assert "'long'" in problems["runtime_minutes"] and "'excellent!'" in problems["rating"]


@pytest.mark.parametrize(
    ("text", "stars"),
    [
        ("***", 3),
        ("★★★★☆", 4),
        ("****½", 4.5),
        ("4½", 4.5),
        ("3.5/5", 3.5),
        ("3 stars", 3),
        ("★★★½☆", 3.5),
        ("½", 0.5),
        ("0/5", 0),
        ("*****", 5),
    ],
)
def test_ratings_are_read_as_a_human_would(text, stars):
    assert read_rating(text) == stars


@pytest.mark.parametrize("text", ["great", "", "three", "A+"])
def test_ratings_that_are_not_ratings_are_none(text):
    assert read_rating(text) is None


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("126 mins", 126),
        ("126", 126),
        ("2h 6m", 126),
        ("1 hr 45 mins", 105),
        ("2:06", 126),
        ("2h", 120),
        ("95 minutes", 95),
        ("2 hours 10 minutes", 130),
        ("1h38m", 98),
    ],
)
def test_runtimes_are_read_as_a_human_would(text, minutes):
    assert read_runtime(text) == minutes


@pytest.mark.parametrize("text", ["two hours", "", "long", "1.5h"])
def test_runtimes_that_are_not_runtimes_are_none(text):
    assert read_runtime(text) is None


def test_a_sentence_starting_with_a_header_word_stays_in_the_body():
    text = (
        fixture_bytes("night-ferry.txt")
        .decode()
        .replace("The Night Ferry takes", "Rating this film was hard. The Night Ferry takes")
    )
    review = parse_text_review(text)
    assert review.rating == 3.5 and split_paragraphs(review.body)[0].startswith("Rating this film was hard.")


def test_json_with_wrong_types_names_each_field():
    body = (
        b'{"title": 1, "certificate": "15", "runtime_minutes": "long", "directors": "Solo", '
        b'"rating": true, "body": "x", "author": "A", "colour": "red"}'
    )
    problems = problems_of(lambda: parse_json_review(body))
    assert problems == {
        "title": "must be text",
        "runtime_minutes": "must be a whole number",
        "directors": "must be a list",
        "rating": "must be a number from 0 to 5",
        "colour": "is not a field of a review",
    }


def test_json_missing_fields_are_each_required():
    problems = problems_of(lambda: parse_json_review(b'{"title": "Only a title"}'))
    assert set(problems) == {"certificate", "runtime_minutes", "directors", "rating", "body", "author"}
    assert all(message == "is required" for message in problems.values())


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"title": ', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
def test_json_that_cannot_be_read_is_a_body_problem(body, fragment):
    problems = problems_of(lambda: parse_json_review(body))
    assert list(problems) == ["body"] and fragment in problems["body"]


def test_text_bodies_must_be_utf8():
    problems = problems_of(lambda: parse_submission(b"Title: \xe9t\xe9", content_type="text/plain"))
    assert list(problems) == ["body"]


def test_a_utf8_bom_is_not_part_of_the_first_header():
    body = "\ufeff".encode() + fixture_bytes("night-ferry.txt")
    assert parse_submission(body, content_type="text/plain").title == "The Night Ferry"


# --- Where the title came from, and the content type against the body ------------------------

UNTITLED = fixture_bytes("untitled-circus.txt")


def test_the_parser_says_where_the_title_came_from():
    assert parse_submission(fixture_bytes("night-ferry.txt"), content_type="text/plain").title_source == "body"
    queried = parse_submission(UNTITLED, content_type="text/plain", title="The Quiet Elephant")
    assert (queried.title, queried.title_source) == ("The Quiet Elephant", "query")
    # A Title: line wins over the query parameter; a JSON review's title is always its body's.
    titled = parse_submission(b"Title: Signed\n" + UNTITLED, content_type="text/plain", title="Unsigned")
    assert (titled.title, titled.title_source) == ("Signed", "body")
    assert parse_json_review(fixture_bytes("glasshouse.json")).title_source == "body"


def test_a_sender_cannot_set_the_title_source():
    review = json.loads(fixture_bytes("glasshouse.json")) | {"title_source": "body"}
    assert problems_of(lambda: parse_json_review(json.dumps(review).encode())) == {
        "title_source": "is not a field of a review"
    }


def test_a_writer_who_requires_signed_titles_gets_no_title_from_the_query():
    problems = problems_of(
        lambda: parse_submission(UNTITLED, content_type="text/plain", title="The Quiet Elephant", signed_title=True)
    )
    assert set(problems) == {"title"} and problems["title"].startswith("the title must be in the signed body")
    signed = parse_submission(b"Title: Signed\n" + UNTITLED, content_type="text/plain", signed_title=True)
    assert signed.title_source == "body"


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b'{"title": "Glasshouse"}', "text/plain", "the header says text/plain, but the body is a JSON object"),
        (b'\xef\xbb\xbf  {"a": [1]}\n', "text/plain", "the body is a JSON object"),
        (b"Title: The Night Ferry\nCert: 15", "application/json", "it begins 'Title: The Night Ferry'"),
        (b"\n  Rating ***", "application/json", "the header says application/json, but the body is not JSON"),
    ],
)
def test_a_content_type_the_body_belies_is_named_with_both(body, content_type, says):
    problem = media_type_problem(body, content_type=content_type)
    assert problem is not None and problem.field == "content-type" and says in problem.message


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{draft} Title: A Film", "text/plain"),  # begins with a brace, but is no JSON object
        (b'["a", "list"]', "text/plain"),  # JSON, but no review in either form: the text parser answers
        (b'{"title": "Glasshouse",', "application/json"),  # broken JSON: 400 saying where, as before
        (b"[1, 2", "application/json"),
        (b"42", "application/json"),  # JSON, not an object: 400 saying so
        (b"null", "application/json"),
        (b"", "application/json"),
        (b"\xe9t\xe9", "application/json"),  # not UTF-8: its own 400
    ],
)
def test_a_body_that_may_be_what_the_header_says_passes(body, content_type):
    assert media_type_problem(body, content_type=content_type) is None


GLASSHOUSE = json.loads(fixture_bytes("glasshouse.json"))
BODIES = st.one_of(
    # JSON reviews, whole or with fields dropped, and any JSON at all
    st.sets(st.sampled_from(sorted(GLASSHOUSE))).map(
        lambda drop: json.dumps({k: GLASSHOUSE[k] for k in GLASSHOUSE if k not in drop})
    ),
    st.recursive(
        st.none() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    ).map(json.dumps),
    # text reviews, whole or with lines dropped, and text that begins like JSON
    st.sets(st.integers(0, 40)).map(
        lambda drop: "\n".join(
            line for i, line in enumerate(fixture_bytes("night-ferry.txt").decode().split("\n")) if i not in drop
        )
    ),
    st.text(max_size=60).map(lambda text: "{" + text),
    st.text(max_size=60),
)


@settings(max_examples=300, deadline=None)
@given(body=BODIES, title=st.none() | st.just("A Title From The Query"))
def test_no_body_is_accepted_under_both_content_types(body, title):
    """The unsigned header can refuse a signed body, never make it say something else."""

    def accepted(content_type: str) -> bool:
        raw = body.encode()
        if media_type_problem(raw, content_type=content_type) is not None:
            return False
        try:
            parse_submission(raw, content_type=content_type, title=title)
        except MalformedSubmission:
            return False
        return True

    assert not (accepted("application/json") and accepted("text/plain")), body
