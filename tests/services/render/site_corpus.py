"""Every kind of public page the site produces, written to a directory as the publish store holds them.

The review fixtures read as the pipeline reads them (parse, then the content rules'
``build_review``), variants at the edges (no year, no cast, 0 and 5 stars, the longest
title and name, a revision, no share image), writer text from ``fixtures/hostile.json``,
and the catalogue's index.html and pages built from entries for all of them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.render.article import render_article
from services.upload.catalogue import (
    PAGE_SIZE,
    Snapshot,
    entry_fields,
    make_entry,
    newest_page,
    objects_for,
    tag_prefix,
)
from services.validate.rules import MAX_AUTHOR, MAX_TITLE, build_review
from shared.models import Review
from shared.parsing import parse_submission
from shared.slugs import make_slug

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HOSTILE: list[str] = json.loads((FIXTURES / "hostile.json").read_text())["strings"]
BASE_URL = "https://reviews.example/site"
START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _review(
    submission, *, n: int, slug: str | None = None, revision: int = 1, modified: datetime | None = None
) -> Review:
    slug = slug or make_slug(submission.title, submission.year)
    published = START + timedelta(hours=n)
    return build_review(
        submission,
        id=f"{n:032x}",
        writer="alice",
        slug=slug,
        revision=revision,
        date_published=published,
        date_modified=modified or published,
    )


def fixture_reviews() -> list[Review]:
    reviews = []
    for n, (name, content_type, title) in enumerate(
        [
            ("glasshouse.json", "application/json", None),
            ("night-ferry.txt", "text/plain", None),
            ("untitled-circus.txt", "text/plain", "The Quiet Elephant"),
        ]
    ):
        submission = parse_submission(
            (FIXTURES / "reviews" / name).read_bytes(), content_type=content_type, title=title
        )
        reviews.append(_review(submission, n=n))
    return reviews


def edge_reviews() -> list[Review]:
    glasshouse = parse_submission(
        (FIXTURES / "reviews" / "glasshouse.json").read_bytes(), content_type="application/json"
    )
    changes: list[dict[str, Any]] = [
        {"title": "Bare", "year": None, "cast": [], "note": None, "rating": 0},
        {
            "title": "Perfect",
            "rating": 5,
            "directors": ["A. Director", "B. Director", "C. Director"],
            "cast": [f"Actor Number {i}" for i in range(30)],
        },
        {"title": ("Longest Title " * 20)[:MAX_TITLE].strip(), "author": ("Author " * 20)[:MAX_AUTHOR].strip()},
        {"title": "Unbreakable" + "x" * 120, "author": "Firstname" + "y" * 80},
        {"title": "Amélie", "year": 2001, "rating": 4.5, "note": "Ein Film – «très» joli — 日本語も"},
    ]
    reviews = [_review(glasshouse.model_copy(update=c), n=10 + i) for i, c in enumerate(changes)]
    revised = glasshouse.model_copy(update={"title": "Revised", "rating": 2.5})
    reviews.append(_review(revised, n=20, revision=3, modified=START + timedelta(days=3)))
    return reviews


def hostile_reviews() -> list[Review]:
    glasshouse = parse_submission(
        (FIXTURES / "reviews" / "glasshouse.json").read_bytes(), content_type="application/json"
    )
    reviews = []
    for i, attack in enumerate(HOSTILE):
        submission = glasshouse.model_copy(
            update={
                "title": attack,
                "author": attack[:MAX_AUTHOR],
                "directors": [attack[:100]],
                "cast": [attack[:100], "Real Name"],
                "note": attack,
                "body": f"{attack}\n\n{glasshouse.body}",
            }
        )
        reviews.append(_review(submission, n=100 + i, slug=f"hostile-{i}"))
    control = glasshouse.model_copy(update={"title": "Bell\x07 and\x00 null\ufffe", "author": "Esc\x1bape"})
    reviews.append(_review(control, n=200, slug="control-characters"))
    return reviews


def all_reviews() -> list[Review]:
    return fixture_reviews() + edge_reviews() + hostile_reviews()


def article_url(review: Review) -> str:
    return f"{BASE_URL}/reviews/{review.slug}/index.html"


def snapshot_of(reviews: list[Review]) -> Snapshot:
    entries = {}
    for seq, review in enumerate(reviews, start=1):
        image = None if seq % 3 == 0 else f"reviews/{review.slug}/instagram/card.jpg"
        entries[seq] = make_entry(
            entry_fields(review, image_key=image), seq=seq, published=review.date_published.isoformat()
        )
    return Snapshot(version=1, count=len(reviews), tag=tag_prefix(BASE_URL, START.date()), entries=entries)


def build_site(root: Path) -> dict[str, Path]:
    """Write every page; return them by key (``reviews/<slug>/index.html``, ``index.html``, ``pages/1.html``…)."""
    pages: dict[str, Path] = {}

    def write(key: str, data: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        pages[key] = path

    reviews = all_reviews()
    for i, review in enumerate(reviews):
        image = None if i % 4 == 3 else f"{BASE_URL}/reviews/{review.slug}/instagram/card.jpg"
        write(
            f"reviews/{review.slug}/index.html",
            render_article(review, article_url=article_url(review), image_url=image).encode(),
        )
    snapshot = snapshot_of(reviews)
    assert newest_page(snapshot.count) >= 2, "the corpus should fill more than one page"
    every_page = range(1, newest_page(snapshot.count) + 1)
    for key, data, _ in objects_for(snapshot, pages=every_page, base_url=BASE_URL):
        if key.endswith(".html"):
            write(key, data)
    empty = Snapshot(version=0, count=0, tag=snapshot.tag, entries={})
    for key, data, _ in objects_for(empty, pages=[], base_url=BASE_URL):
        if key == "index.html":
            write("empty/index.html", data)
    assert len(reviews) > PAGE_SIZE
    return pages
