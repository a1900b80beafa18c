"""The article page and its public JSON, from a validated review. Pure functions.

The page uses the site's templates and look (``shared/site``), as the index pages
built by the upload stage do, so every public page looks alike.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from markupsafe import Markup

from shared.models import Review
from shared.site.formatting import clean, format_date, format_runtime, shorten, star_kinds, stars_glyphs, stars_text
from shared.site.look import BEST_RATING, LANGUAGE, SITE_NAME, WORST_RATING
from shared.site.templates import page_context, templates

MAX_JSON_LD_NAME = 99  # Google's review snippets want the author's name under 100 characters


def _short_name(name: str) -> str:
    return name if len(name) <= MAX_JSON_LD_NAME else name[: MAX_JSON_LD_NAME - 1].rstrip() + "…"


def json_ld(review: Review, *, article_url: str, image_url: str | None = None) -> dict[str, Any]:
    """schema.org ``Review`` of a ``Movie``, as Google's review snippets ask for it."""
    movie: dict[str, Any] = {
        "@type": "Movie",
        "name": review.title,
        "director": [{"@type": "Person", "name": name} for name in review.directors],
        "actor": [{"@type": "Person", "name": name} for name in review.cast],
    }
    if review.year:
        movie["dateCreated"] = str(review.year)
    if image_url:
        movie["image"] = image_url
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Review",
        "name": f"{review.title} review",
        "url": article_url,
        "inLanguage": LANGUAGE,
        "itemReviewed": movie,
        "reviewRating": {
            "@type": "Rating",
            "ratingValue": review.rating,
            "bestRating": BEST_RATING,
            "worstRating": WORST_RATING,
        },
        "author": {"@type": "Person", "name": _short_name(review.author)},
        "publisher": {"@type": "Organization", "name": SITE_NAME},
        "datePublished": review.date_published.date().isoformat(),
        "reviewBody": review.paragraphs[0] if review.paragraphs else "",
    }
    if modified := _modified(review):
        data["dateModified"] = modified.isoformat()
    if image_url:
        data["image"] = image_url
    return data


def _modified(review: Review) -> datetime | None:
    """A later revision's date (it differs from the first publication's); None for the first."""
    if review.date_modified is not None and review.date_modified != review.date_published:
        return review.date_modified
    return None


def _script_json(data: dict[str, Any]) -> Markup:
    # Inside <script>, "</script>" or "<!--" in a title would end the block early;
    # escaping <, > and & keeps the JSON identical to a parser and inert to HTML.
    # json.dumps escapes C0 controls itself; what else HTML forbids is dropped.
    text = clean(json.dumps(data, ensure_ascii=False))
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def summary(review: Review, *, limit: int = 160) -> str:
    first = review.paragraphs[0] if review.paragraphs else ""
    return shorten(first, limit)


def render_article(review: Review, *, article_url: str, image_url: str | None = None) -> str:
    """``reviews/<slug>/index.html``; links to the index and feeds are relative to it."""
    template = templates.get_template("article.html")
    stars_label = stars_text(review.rating)
    modified = _modified(review)
    return template.render(
        **page_context(root="../../"),
        review=review,
        article_url=article_url,
        image_url=image_url,
        image_alt=f"{review.title}: {stars_label}, reviewed by {review.author}",
        description=summary(review),
        share_title=f"{review.title} review — {stars_label}",
        stars=stars_glyphs(review.rating),
        star_kinds=star_kinds(review.rating),
        stars_label=stars_label,
        score=f"{review.rating:g}",
        runtime=format_runtime(review.runtime_minutes),
        published=format_date(review.date_published),
        modified=modified,
        modified_label=format_date(modified) if modified else None,
        json_ld=_script_json(json_ld(review, article_url=article_url, image_url=image_url)),
    )


def public_review(review: Review, *, article_url: str) -> dict[str, Any]:
    """``review.json``: the review as data, for channels that lay it out themselves."""
    return {
        "id": review.id,
        "slug": review.slug,
        "revision": review.revision,
        "url": article_url,
        "title": review.title,
        # "body": the title was in the signed body; "query": it came from the unsigned ?title=.
        "title_source": review.title_source,
        "year": review.year,
        "certificate": review.certificate,
        "runtime_minutes": review.runtime_minutes,
        "directors": review.directors,
        "cast": review.cast,
        "rating": review.rating,
        "best_rating": BEST_RATING,
        "author": review.author,
        "note": review.note,
        "paragraphs": review.paragraphs,
        "date_published": review.date_published.isoformat(),
        # This revision's date; the first revision's is its date_published.
        "date_modified": (review.date_modified or review.date_published).isoformat(),
    }
