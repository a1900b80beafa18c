"""Content rules. Pure: a submission in, every problem with it out."""

from __future__ import annotations

import re
from datetime import datetime

from shared.errors import Problem
from shared.models import Review, ReviewSubmission
from shared.parsing import split_paragraphs

CERTIFICATES = ("U", "PG", "12A", "12", "15", "18", "R18")
MIN_SENTENCES = 3
MAX_TITLE = 200
MAX_AUTHOR = 99  # Google's review snippets want the author's name under 100 characters.
MAX_NAME = 100
MAX_NOTE = 500
FIRST_FILM_YEAR = 1888

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")


def count_sentences(text: str) -> int:
    """Sentences of at least three words; 'Wow.' alone is not a review."""
    pieces = _SENTENCE_END.split(text)
    return sum(1 for piece in pieces[:-1] if len(piece.split()) >= 3) + (1 if len(pieces[-1].split()) >= 3 else 0)


def normalise_certificate(value: str) -> str:
    return value.strip().upper().replace(" ", "")


def check_submission(sub: ReviewSubmission, *, now: datetime) -> list[Problem]:
    problems: list[Problem] = []

    def need(condition: bool, field: str, message: str) -> None:
        if not condition:
            problems.append(Problem(field, message))

    need(bool(sub.title), "title", "the title is empty")
    need(len(sub.title) <= MAX_TITLE, "title", f"the title is {len(sub.title)} characters; the limit is {MAX_TITLE}")
    need(bool(sub.author), "author", "the author's name is empty")
    need(
        len(sub.author) <= MAX_AUTHOR,
        "author",
        f"the author's name is {len(sub.author)} characters; it must be under {MAX_AUTHOR + 1}",
    )
    certificate = normalise_certificate(sub.certificate)
    need(
        certificate in CERTIFICATES,
        "certificate",
        f"{sub.certificate!r} is not a BBFC certificate; use one of {', '.join(CERTIFICATES)}",
    )
    need(
        0 <= sub.rating <= 5 and float(sub.rating * 2).is_integer(),
        "rating",
        f"{sub.rating} is not a rating; use 0 to 5 stars in steps of a half",
    )
    need(
        1 <= sub.runtime_minutes <= 600,
        "runtime_minutes",
        f"{sub.runtime_minutes} minutes is not a film's runtime; it must be between 1 and 600",
    )
    if sub.year is not None:
        need(
            FIRST_FILM_YEAR <= sub.year <= now.year + 5,
            "year",
            f"{sub.year} is not a plausible release year ({FIRST_FILM_YEAR} to {now.year + 5})",
        )
    sentences = count_sentences(" ".join(split_paragraphs(sub.body)))
    need(
        sentences >= MIN_SENTENCES,
        "body",
        f"the review has {sentences} sentence{'s' if sentences != 1 else ''}; write at least {MIN_SENTENCES}",
    )
    directors = [d for d in sub.directors if d]
    need(bool(directors), "directors", "name at least one director")
    for field, names in (("directors", sub.directors), ("cast", sub.cast)):
        for name in names:
            need(bool(name), field, "a name is empty")
            need(len(name) <= MAX_NAME, field, f"the name {name[:40]!r}… is over {MAX_NAME} characters")
    if sub.note is not None:
        need(len(sub.note) <= MAX_NOTE, "note", f"the note is {len(sub.note)} characters; the limit is {MAX_NOTE}")
    if sub.publish_at is not None:
        need(sub.publish_at.tzinfo is not None, "publish_at", "give a time zone, as in 2026-01-31T09:00:00Z")
    return _dedupe(problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    # Several checks on one field (empty, then too long) can both fire; keep one each.
    seen: dict[str, Problem] = {}
    for problem in problems:
        seen.setdefault(problem.field, problem)
    return list(seen.values())


def build_review(
    sub: ReviewSubmission,
    *,
    id: str,
    writer: str,
    slug: str,
    revision: int,
    date_published: datetime,
    date_modified: datetime | None = None,
) -> Review:
    return Review(
        id=id,
        writer=writer,
        slug=slug,
        revision=revision,
        title=sub.title,
        year=sub.year,
        certificate=normalise_certificate(sub.certificate),
        runtime_minutes=sub.runtime_minutes,
        directors=[d for d in sub.directors if d],
        cast=[c for c in sub.cast if c],
        rating=float(sub.rating),
        paragraphs=split_paragraphs(sub.body),
        author=sub.author,
        note=sub.note or None,
        date_published=date_published,
        date_modified=date_modified,
        publish_at=sub.publish_at,
    )
