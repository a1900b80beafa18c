"""The text parser and the validators, fuzzed with random and mutated documents in the
seed's format: every input is either read, or refused with reasons naming fields; every
read one either passes the rules and renders, or is rejected with reasons. No crash."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from services.render.article import public_review, render_article
from services.social.instagram import instagram_files
from services.social.youtube import youtube_files
from services.validate.rules import build_review, check_submission
from shared.errors import MalformedSubmission
from shared.models import ReviewSubmission
from shared.parsing import parse_submission
from shared.site.formatting import clean
from tests.conftest import fixture_bytes

SEED_LINES = fixture_bytes("night-ferry.txt").decode().split("\n")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
FIELDS = {
    "title",
    "year",
    "certificate",
    "runtime_minutes",
    "directors",
    "cast",
    "rating",
    "body",
    "author",
    "note",
    "publish_at",
    "replaces",
}

NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
HEADER_VALUES = (
    st.sampled_from(
        [
            "",
            "15",
            "XX",
            "2h 6m",
            "999 mins",
            "-3",
            "★★★★★★★",
            "½",
            "*****½",
            "0/5",
            "1e309",
            "Jo, , Sam",
            "\u00a0",
            "{{ 7*7 }}",
            "<b>x</b>",
        ]
    )
    | NOISE
)


@st.composite
def mutated_documents(draw) -> str:
    lines = list(SEED_LINES)
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(["drop", "duplicate", "swap", "noise", "rewrite_header", "spaces"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if action == "drop":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "noise":
            lines.insert(i, draw(NOISE))
        elif action == "rewrite_header" and ":" in lines[i][:20]:
            lines[i] = lines[i].split(":", 1)[0] + ":" + draw(HEADER_VALUES)
        elif action == "spaces":
            lines[i] = draw(st.sampled_from(["\u00a0", "\t", "  ", "\u200b"])) + lines[i] + "\u00a0 "
    return "\n".join(lines)


def read_or_refuse(text: str, title: str | None) -> ReviewSubmission | None:
    try:
        return parse_submission(text.encode(), content_type="text/plain", title=title)
    except MalformedSubmission as refused:
        assert refused.problems and all(p.field and p.message for p in refused.problems)
        return None


def judge(submission: ReviewSubmission) -> None:
    problems = check_submission(submission, now=NOW)
    assert all(p.field in FIELDS and p.message for p in problems), problems
    if problems:
        return  # rejected, with reasons
    review = build_review(submission, id="f" * 32, writer="fuzz", slug="fuzz", revision=1, date_published=NOW)
    url = "https://reviews.example/reviews/fuzz/index.html"
    # The title is on the page as the template writes it: escaped (<, >, &, quotes), and
    # without the code points no page may carry.
    assert str(escape(clean(review.title))) in render_article(review, article_url=url)
    public_review(review, article_url=url)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=mutated_documents(), title=st.none() | NOISE)
def test_mutated_seed_format_documents_are_read_or_refused_with_reasons(text, title):
    submission = read_or_refuse(text, title)
    if submission is not None:
        judge(submission)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=400), title=st.none() | NOISE)
def test_random_text_is_read_or_refused_with_reasons(text, title):
    submission = read_or_refuse(text, title)
    if submission is not None:
        judge(submission)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=mutated_documents())
def test_whatever_passes_the_rules_also_makes_its_teasers(text):
    submission = read_or_refuse(text, "A Title")
    if submission is None or check_submission(submission, now=NOW):
        return
    review = build_review(submission, id="f" * 32, writer="fuzz", slug="fuzz", revision=1, date_published=NOW)
    url = "https://reviews.example/reviews/fuzz/index.html"
    instagram = instagram_files(review, article_url=url, card_url=url.replace("index.html", "instagram/card.jpg"))
    youtube = youtube_files(review, article_url=url, thumbnail_url=url.replace("index.html", "youtube/thumbnail.jpg"))
    assert instagram and youtube
