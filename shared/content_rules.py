"""Content rules: whether what a review says is acceptable. Pure: fields in, every problem out.

The validate stage judges each readable review by them. Ingest uses them too, for one
case alone: a review it refuses because part of it cannot be read. Its answer then also
names what is wrong with the parts that could be read, so that a writer hears of every
problem in one answer rather than one per attempt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import MalformedSubmission, Problem
from shared.models import ReviewSubmission
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
    """Every content problem of a readable review, one per field."""
    return check_fields(dict(sub), now=now)


def check_fields(fields: Mapping[str, Any], *, now: datetime) -> list[Problem]:
    """Every content problem of the fields given, one per field. A field that is absent (or
    None) is not judged: it is optional, or its reader has said already what is wrong with it.
    The values are as ``ReviewSubmission`` reads them (its types, stripped)."""
    problems: list[Problem] = []

    def need(condition: bool, field: str, message: str) -> None:
        if not condition:
            problems.append(Problem(field, message))

    if (title := fields.get("title")) is not None:
        need(bool(title), "title", "the title is empty")
        need(len(title) <= MAX_TITLE, "title", f"the title is {len(title)} characters; the limit is {MAX_TITLE}")
    if (author := fields.get("author")) is not None:
        need(bool(author), "author", "the author's name is empty")
        need(
            len(author) <= MAX_AUTHOR,
            "author",
            f"the author's name is {len(author)} characters; it must be under {MAX_AUTHOR + 1}",
        )
    if (certificate := fields.get("certificate")) is not None:
        need(
            normalise_certificate(certificate) in CERTIFICATES,
            "certificate",
            f"{certificate!r} is not a BBFC certificate; use one of {', '.join(CERTIFICATES)}",
        )
    if (rating := fields.get("rating")) is not None:
        need(
            0 <= rating <= 5 and float(rating * 2).is_integer(),
            "rating",
            f"{_number(rating)} is not a rating; use 0 to 5 stars in steps of a half",
        )
    if (runtime := fields.get("runtime_minutes")) is not None:
        need(
            1 <= runtime <= 600,
            "runtime_minutes",
            f"{runtime} minutes is not a film's runtime; it must be between 1 and 600",
        )
    if (year := fields.get("year")) is not None:
        need(
            FIRST_FILM_YEAR <= year <= now.year + 5,
            "year",
            f"{year} is not a plausible release year ({FIRST_FILM_YEAR} to {now.year + 5})",
        )
    if (body := fields.get("body")) is not None:
        sentences = count_sentences(" ".join(split_paragraphs(body)))
        need(
            sentences >= MIN_SENTENCES,
            "body",
            f"the review has {sentences} sentence{'s' if sentences != 1 else ''}; write at least {MIN_SENTENCES}",
        )
    if (directors := fields.get("directors")) is not None:
        need(any(directors), "directors", "name at least one director")
    for field in ("directors", "cast"):
        for name in fields.get(field) or ():
            need(bool(name), field, "a name is empty")
            need(len(name) <= MAX_NAME, field, f"the name {name[:40]!r}… is over {MAX_NAME} characters")
    if (note := fields.get("note")) is not None:
        need(len(note) <= MAX_NOTE, "note", f"the note is {len(note)} characters; the limit is {MAX_NOTE}")
    if (publish_at := fields.get("publish_at")) is not None:
        need(publish_at.tzinfo is not None, "publish_at", "give a time zone, as in 2026-01-31T09:00:00Z")
    return _dedupe(problems)


def every_problem(refusal: MalformedSubmission, *, now: datetime) -> list[Problem]:
    """What made ``refusal``, then the content problems of each field that could be read:
    everything a writer has to fix, in one list, one entry per field."""
    named = {problem.field.split(".")[0] for problem in refusal.problems}
    readable = check_fields(refusal.readable or {}, now=now)
    return _dedupe([*refusal.problems, *(p for p in readable if p.field not in named)])


def _number(value: float) -> float:
    """7.0 (as the text format's ``*******`` reads) shown as 7, as a writer wrote it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _dedupe(problems: list[Problem]) -> list[Problem]:
    # Several checks on one field (empty, then too long) can both fire; keep one each.
    seen: dict[str, Problem] = {}
    for problem in problems:
        seen.setdefault(problem.field, problem)
    return list(seen.values())
