"""Content rules, and the review a submission that meets them becomes. Pure.

The rules themselves live in shared/content_rules.py, because ingest names them too when it
refuses a review (so that a writer hears of every problem at once); they are re-exported
here, where the stage's readers look for them.
"""

from __future__ import annotations

from datetime import datetime

from shared.content_rules import (
    CERTIFICATES,
    FIRST_FILM_YEAR,
    MAX_AUTHOR,
    MAX_NAME,
    MAX_NOTE,
    MAX_TITLE,
    MIN_SENTENCES,
    check_submission,
    count_sentences,
    normalise_certificate,
)
from shared.models import Review, ReviewSubmission
from shared.parsing import split_paragraphs

__all__ = [
    "CERTIFICATES",
    "FIRST_FILM_YEAR",
    "MAX_AUTHOR",
    "MAX_NAME",
    "MAX_NOTE",
    "MAX_TITLE",
    "MIN_SENTENCES",
    "build_review",
    "check_submission",
    "count_sentences",
]


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
        title_source=sub.title_source,
    )
