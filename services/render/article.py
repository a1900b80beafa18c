"""The article page and its public JSON, from a validated review. Pure functions.

Templates are files, autoescaped; what a writer sent only ever fills them in, it is
never compiled as a template itself. The index pages (built by the upload stage's
catalogue) use the same templates and stylesheet, so every public page looks alike.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from shared.models import Review

SITE_NAME = "Marquee"
LANGUAGE = "en-GB"  # the pages' lang; reviews are written for a British audience (BBFC certificates)
BEST_RATING = 5
WORST_RATING = 0
MAX_JSON_LD_NAME = 99  # Google's review snippets want the author's name under 100 characters

# Where the catalogue's public files are, from the publish store's root. Pages link to them
# relatively, so the site works wherever it is served from (S3, a CDN, `make run`'s /site/).
INDEX_KEY = "index.html"
JSON_FEED_KEY = "feeds/reviews.json"
ATOM_FEED_KEY = "feeds/reviews.atom"

# The palette, in one place so a test can check every pairing the stylesheet makes
# against WCAG AA (4.5:1 for text). The stylesheet uses these as CSS variables and no
# colour of its own.
PALETTES: dict[str, dict[str, str]] = {
    "light": {
        "ink": "#1b1b1f", "muted": "#55555f", "paper": "#fbfaf7", "card": "#ffffff", "accent": "#b3261e",
        "star": "#a35200", "rule": "#dcd8cf", "mast": "#1b1b1f", "mast-ink": "#f3efe6", "mast-accent": "#f0b454",
    },
    "dark": {
        "ink": "#ecebe6", "muted": "#b4b2aa", "paper": "#141417", "card": "#1e1e23", "accent": "#ff8a80",
        "star": "#f0b454", "rule": "#34343b", "mast": "#0b0b0d", "mast-ink": "#f3efe6", "mast-accent": "#f0b454",
    },
}
# (text colour, background colour) for every place the stylesheet puts text on a background.
TEXT_PAIRS: list[tuple[str, str]] = [
    ("ink", "paper"), ("muted", "paper"), ("accent", "paper"), ("star", "paper"),
    ("ink", "card"), ("muted", "card"), ("accent", "card"), ("star", "card"),
    ("mast-ink", "mast"), ("mast-accent", "mast"), ("paper", "ink"),
]

# Code points HTML forbids in text and XML 1.0 cannot carry at all: controls (but tab and
# newlines), lone surrogates and noncharacters. A writer's text may hold them; no page or
# feed will.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)


def clean(text: str) -> str:
    """``text`` without the code points no page or feed may contain."""
    return _FORBIDDEN.sub("", text)


def _finalize(value: Any) -> Any:
    # Every {{ value }} in every template passes here before it is escaped.
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean(value)
    return value


templates = Environment(
    loader=PackageLoader("services.render", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_finalize,
)


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a ``#rrggbb`` colour."""
    value = colour.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    lighter, darker = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def stars_text(rating: float) -> str:
    """What a screen reader says, and what people search for: "3.5 out of 5 stars"."""
    return f"{rating:g} out of {BEST_RATING} stars"


def stars_glyphs(rating: float) -> str:
    full = int(rating)
    half = "½" if rating - full >= 0.5 else ""
    return "★" * full + half + "☆" * (BEST_RATING - full - (1 if half else 0))


def star_kinds(rating: float) -> list[str]:
    """``["full", "full", "full", "half", "empty"]`` for 3.5: what the stylesheet draws."""
    return ["full" if g == "★" else "half" if g == "½" else "empty" for g in stars_glyphs(rating)]


def format_runtime(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    return f"{hours}h {mins:02d}m" if hours else f"{mins} min"


def format_date(value) -> str:
    return f"{value.day} {value.strftime('%B %Y')}"


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
            "@type": "Rating", "ratingValue": review.rating, "bestRating": BEST_RATING, "worstRating": WORST_RATING,
        },
        "author": {"@type": "Person", "name": _short_name(review.author)},
        "publisher": {"@type": "Organization", "name": SITE_NAME},
        "datePublished": review.date_published.date().isoformat(),
        "reviewBody": review.paragraphs[0] if review.paragraphs else "",
    }
    if _modified(review):
        data["dateModified"] = review.date_modified.isoformat()
    if image_url:
        data["image"] = image_url
    return data


def _modified(review: Review) -> bool:
    """A later revision: its date differs from the first publication's."""
    return review.date_modified is not None and review.date_modified != review.date_published


def _script_json(data: dict[str, Any]) -> Markup:
    # Inside <script>, "</script>" or "<!--" in a title would end the block early;
    # escaping <, > and & keeps the JSON identical to a parser and inert to HTML.
    # json.dumps escapes C0 controls itself; what else HTML forbids is dropped.
    text = clean(json.dumps(data, ensure_ascii=False))
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def summary(review: Review, *, limit: int = 160) -> str:
    first = review.paragraphs[0] if review.paragraphs else ""
    return shorten(first, limit)


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def page_context(*, root: str) -> dict[str, Any]:
    """What every public page's template needs: where the site's root is, and the palette."""
    return {
        "root": root, "site_name": SITE_NAME, "language": LANGUAGE, "palettes": PALETTES,
        "index_href": root + INDEX_KEY, "atom_href": root + ATOM_FEED_KEY, "json_feed_href": root + JSON_FEED_KEY,
    }


def render_article(review: Review, *, article_url: str, image_url: str | None = None) -> str:
    """``reviews/<slug>/index.html``; links to the index and feeds are relative to it."""
    template = templates.get_template("article.html")
    stars_label = stars_text(review.rating)
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
        modified=review.date_modified if _modified(review) else None,
        modified_label=format_date(review.date_modified) if _modified(review) else None,
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
        "best_rating": BEST_RATING,
        "author": review.author,
        "note": review.note,
        "paragraphs": review.paragraphs,
        "date_published": review.date_published.isoformat(),
    }
