"""The article page and its public JSON, from a validated review. Pure functions.

Templates are files, autoescaped; what a writer sent only ever fills them in, it is
never compiled as a template itself.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from shared.models import Review

_env = Environment(
    loader=PackageLoader("services.render", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def stars_text(rating: float) -> str:
    """What a screen reader says, and what people search for: "3.5 out of 5 stars"."""
    return f"{rating:g} out of 5 stars"


def stars_glyphs(rating: float) -> str:
    full = int(rating)
    half = "½" if rating - full >= 0.5 else ""
    return "★" * full + half + "☆" * (5 - full - (1 if half else 0))


def format_runtime(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    return f"{hours}h {mins:02d}m" if hours else f"{mins} min"


def json_ld(review: Review, *, article_url: str, image_url: str | None = None) -> dict[str, Any]:
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
    return {
        "@context": "https://schema.org",
        "@type": "Review",
        "name": f"{review.title} review",
        "url": article_url,
        "itemReviewed": movie,
        "reviewRating": {"@type": "Rating", "ratingValue": review.rating, "bestRating": 5, "worstRating": 0},
        "author": {"@type": "Person", "name": review.author},
        "datePublished": review.date_published.date().isoformat(),
        "reviewBody": review.paragraphs[0] if review.paragraphs else "",
    }


def _script_json(data: dict[str, Any]) -> Markup:
    # Inside <script>, "</script>" or "<!--" in a title would end the block early;
    # escaping <, > and & keeps the JSON identical to a parser and inert to HTML.
    text = json.dumps(data, ensure_ascii=False)
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def summary(review: Review, *, limit: int = 160) -> str:
    first = review.paragraphs[0] if review.paragraphs else ""
    if len(first) <= limit:
        return first
    return first[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def render_article(review: Review, *, article_url: str, image_url: str | None = None) -> str:
    template = _env.get_template("article.html")
    return template.render(
        review=review,
        article_url=article_url,
        image_url=image_url,
        description=summary(review),
        stars=stars_glyphs(review.rating),
        stars_label=stars_text(review.rating),
        runtime=format_runtime(review.runtime_minutes),
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
        "year": review.year,
        "certificate": review.certificate,
        "runtime_minutes": review.runtime_minutes,
        "directors": review.directors,
        "cast": review.cast,
        "rating": review.rating,
        "best_rating": 5,
        "author": review.author,
        "note": review.note,
        "paragraphs": review.paragraphs,
        "date_published": review.date_published.isoformat(),
    }
